"""npatch.library.npu on a CPU: what can be checked without an NPU, against the code it stands for.

* the device-argument wrappers against transfer_to_npu's own functions,
  executed from the torch-npu wheel's source;
* the bool-indexing replacement and both guards against torch's operators,
  and mx_driving's npu_batch_matmul (plain PyTorch, loaded from the wheel);
* the ResNet forward bodies against mmdet's forward, with reference ops in
  place of mx_driving's fused kernels;
* every adapter accepts every call its target accepts (signatures read from
  the target's source).

Nothing here needs torch_npu: the library imports it only inside functions.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from npu_sources import npu_sources, openmmlab1_sources  # noqa: F401  (fixtures)
from npatch.compiler import compile_manifests
from npatch.compiler.resolve import StaticResolver
from npatch.library.npu import torch_ops
from npatch_testutil import run_npatch, run_python


def test_library_imports_without_torch_npu_or_mx_driving() -> None:
    code = """
    import importlib, pkgutil, sys
    import npatch.library.npu as pkg
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"npatch.library.npu.{info.name}")
    assert not any(m.split(".")[0] in ("torch_npu", "mx_driving", "mmcv", "mmdet", "mmdet3d") for m in sys.modules)
    """
    done = run_python(code)
    assert done.returncode == 0, done.stderr


TRANSFER = """
import ast, json, sys
from functools import wraps
import torch
torch.utils.rename_privateuse1_backend("npu")  # as torch_npu does: torch.device('npu:1') is valid
from npatch.library.npu import devices, torch_api

source = open(sys.argv[1]).read()
keep = {"_wrapper_cuda", "_replace_cuda_to_npu_in_kwargs", "_replace_cuda_to_npu_in_list",
        "_replace_cuda_to_npu_in_dict", "_wrapper_hccl", "_compose_wrappers",
        "_patch_is_autocast_enabled", "_patch_set_autocast_enabled"}
tree = ast.parse(source)
funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in keep]
for f in funcs:  # torch._dynamo.disable only hides them from dynamo
    f.decorator_list = [d for d in f.decorator_list if "_dynamo" not in ast.unparse(d)]
lists = [n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "device_kwargs_list"]
ns = {"torch": torch, "wraps": wraps}
exec(compile(ast.Module(body=lists + funcs, type_ignores=[]), "transfer_to_npu.py", "exec"), ns)

def record(name):
    def fn(*args, **kwargs):
        return args, kwargs
    fn.__name__ = name
    return fn

def show(value):
    return repr(value)

D = torch.device
positional = [(), ("cuda",), ("cuda:1",), ("cpu",), ("npu:1",), (D("cuda", 2),), (D("cuda"),), (D("cpu"),),
              (0,), (3,), (True,), ({"cuda:0": "cpu"},), (torch.float32,), (None,), ("cuda", torch.float16)]
keywords = [{}, {"device": "cuda"}, {"device": 1}, {"device": D("cuda", 0)}, {"map_location": {"cuda:1": "cuda:0"}},
            {"device_type": "cuda"}, {"device_ids": [0, 1]}, {"device_ids": ("cuda:0", 1)}, {"device_id": D("cuda", 1)},
            {"device": None}, {"map_location": "cuda:0"}, {"dtype": torch.float32, "device": "cuda:3"}]
mismatch = []
cases = 0
for name in ("to", "zeros"):
    theirs = ns["_wrapper_cuda"](record(name))
    ours = devices.device_args(record(name), {"ints": name == "to"})
    for args in positional:
        for kwargs in keywords:
            a = theirs(*args, **dict(kwargs))
            b = ours(*args, **dict(kwargs))
            cases += 1
            if (tuple(a[0]), a[1]) != (tuple(b[0]), b[1]):
                mismatch.append([name, show(args), show(kwargs), show(a), show(b)])

hccl_theirs = ns["_compose_wrappers"](ns["_wrapper_cuda"], ns["_wrapper_hccl"])(record("init_process_group"))
hccl_ours = devices.distributed_backend(record("init_process_group"), {})
for args, kwargs in [(("nccl",), {}), (("cpu:gloo,cuda:nccl",), {}), (("gloo",), {}), ((), {"backend": "nccl"}),
                     ((), {"backend": "cuda:nccl"}), (("nccl",), {"device_id": D("cuda", 1), "rank": 0}),
                     ((), {"backend": None, "world_size": 2})]:
    a, b = hccl_theirs(*args, **dict(kwargs)), hccl_ours(*args, **dict(kwargs))
    cases += 1
    if (tuple(a[0]), a[1]) != (tuple(b[0]), b[1]):
        mismatch.append(["init_process_group", show(args), show(kwargs), show(a), show(b)])

enabled = lambda device_type=None: device_type
for theirs, ours, calls in [
    (ns["_patch_is_autocast_enabled"](enabled), torch_api.is_autocast_enabled(enabled, {}),
     [((), {}), (("cuda",), {}), (("cpu",), {}), (("cuda:0",), {})]),
    (ns["_patch_set_autocast_enabled"](record("s")), torch_api.set_autocast_enabled(record("s"), {}),
     [((True,), {}), (("cuda", True), {}), ((), {"enabled": True}), ((), {"device_type": "cuda", "enabled": False}),
      (("cpu", True), {})]),
]:
    for args, kwargs in calls:
        a, b = theirs(*args, **dict(kwargs)), ours(*args, **dict(kwargs))
        cases += 1
        if a != b and (tuple(a[0]), a[1]) != (tuple(b[0]), b[1]):
            mismatch.append(["autocast", show(args), show(kwargs), show(a), show(b)])

# the one deliberate difference: only device specs are rewritten, never other strings
path_theirs = ns["_wrapper_cuda"](record("load"))("ckpt_cuda.pt", map_location="cuda:0")
path_ours = devices.device_args(record("load"), {})("ckpt_cuda.pt", map_location="cuda:0")
init_theirs = hccl_theirs("nccl", "file:///tmp/cuda_init")
init_ours = hccl_ours("nccl", "file:///tmp/cuda_init")
print(json.dumps({"cases": cases, "mismatch": mismatch, "path": [path_theirs[0][0], path_ours[0][0]],
                  "map_location": [path_theirs[1]["map_location"], path_ours[1]["map_location"]],
                  "init_method": [init_theirs[0][1], init_ours[0][1]]}))
"""


def test_device_translation_matches_transfer_to_npu(npu_sources) -> None:  # noqa: F811
    done = run_python(TRANSFER, str(npu_sources / "torch_npu" / "contrib" / "transfer_to_npu.py"))
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["cases"] > 350
    assert out["mismatch"] == []
    assert out["map_location"] == ["npu:0", "npu:0"]
    # transfer_to_npu rewrites 'cuda' inside any string; npatch only device specs
    assert out["path"] == ["ckpt_npu.pt", "ckpt_cuda.pt"]
    assert out["init_method"] == ["file:///tmp/npu_init", "file:///tmp/cuda_init"]


def test_generator_proxy_keeps_isinstance_working() -> None:
    from npatch.library.npu.proxies import GeneratorProxy

    generator = GeneratorProxy("cpu")
    assert type(generator) is GeneratorProxy and generator.device == torch.device("cpu")
    assert isinstance(torch.default_generator, GeneratorProxy)
    assert torch.rand(3, generator=generator.manual_seed(0)).equal(torch.rand(3, generator=torch.Generator().manual_seed(0)))


# -- bool indexing ------------------------------------------------------------
@pytest.mark.parametrize("shape", [(7,), (5, 3), (6, 1), (1, 4), (0,), (0, 3)])
def test_tensor_index_equals_indexing_where_the_guard_holds(shape) -> None:
    generator = torch.Generator().manual_seed(len(shape) * 10 + shape[0])
    x = torch.randn(shape, generator=generator)
    for _ in range(5):
        mask = torch.rand(shape[0], generator=generator) > 0.5
        assert torch_ops.tensor_index_guard(x, mask)
        assert torch.equal(torch_ops.tensor_index(x, mask), x[mask])


@pytest.mark.parametrize("x, index", [
    (torch.zeros(4, 3, 2), torch.ones(4, dtype=torch.bool)),   # 3-D tensor
    (torch.zeros(4, 3), torch.ones(4, 3, dtype=torch.bool)),    # 2-D mask
    (torch.zeros(4, 3), torch.ones(3, dtype=torch.bool)),       # mask over the wrong dim
    (torch.zeros(4), torch.tensor([0, 2])),                     # integer index
    (torch.zeros(4), 1),
    (torch.zeros(4), slice(1, 3)),
    (torch.zeros(4), (torch.ones(4, dtype=torch.bool),)),
])
def test_tensor_index_guard_declines_everything_else(x, index) -> None:
    assert not torch_ops.tensor_index_guard(x, index)


# -- batch matmul -------------------------------------------------------------
def _mx_batch_matmul(npu_sources: Path):  # noqa: F811
    path = npu_sources / "mx_driving" / "ops" / "npu_batch_matmul.py"
    spec = importlib.util.spec_from_file_location("mx_npu_batch_matmul", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # plain PyTorch: imports torch only
    return module.npu_batch_matmul


@pytest.mark.parametrize("a_shape, b_shape", [
    ((2, 3, 4, 4), (2, 3, 4, 1)),
    ((2, 1, 6, 6), (1, 5, 6, 1)),
    ((1, 2, 3, 5, 5), (4, 2, 1, 5, 1)),
    ((2, 2, 1, 1, 1, 3, 3), (2, 2, 1, 1, 2, 3, 1)),
])
def test_mx_driving_batch_matmul_equals_matmul_where_the_guard_holds(npu_sources, a_shape, b_shape) -> None:  # noqa: F811
    npu_batch_matmul = _mx_batch_matmul(npu_sources)
    generator = torch.Generator().manual_seed(sum(a_shape))
    a, b = torch.randn(a_shape, generator=generator), torch.randn(b_shape, generator=generator)
    assert torch_ops.batch_matmul_guard(a, b)
    torch.testing.assert_close(npu_batch_matmul(a, b), torch.matmul(a, b))
    half = npu_batch_matmul(a.half(), b.half())
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), torch.matmul(a.half().float(), b.half().float()), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("a, b, extra", [
    (torch.zeros(3, 4, 4), torch.zeros(3, 4, 1), {}),              # 3 dims
    (torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, 5, 1), {}),        # not square
    (torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 2), {}),        # not a column
    (torch.zeros(2, 3, 4, 4), torch.zeros(2, 2, 4, 1), {}),        # batch dims do not broadcast
    (torch.zeros(2, 3, 4, 4), torch.zeros(3, 4, 1), {}),           # different ranks
    (torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 1), {"out": torch.zeros(2, 3, 4, 1)}),
    (torch.zeros(2, 3, 4, 4), 2.0, {}),
])
def test_batch_matmul_guard_declines_everything_else(a, b, extra) -> None:
    assert not torch_ops.batch_matmul_guard(a, b, **extra)


# -- mmdet ResNet -------------------------------------------------------------
RESNET = """
import json
import torch
import torch.nn.functional as F
from mmdet.models.backbones.resnet import ResNet, ResNetV1d
from npatch.library.npu import mmdet as npu

def add_relu(a, b):
    return F.relu(a + b)

torch.manual_seed(0)
results = {}
context = dict(cfg=dict(type="ContextBlock", ratio=1.0 / 4), stages=(False, True, True, True), position="after_conv3")
models = {
    "resnet18": ResNet(depth=18, out_indices=(1, 3)),
    "resnet50-plugins-cp": ResNet(depth=50, plugins=[context], with_cp=True),
    "resnet18-v1d": ResNetV1d(depth=18),
}
x = torch.randn(1, 3, 32, 32)
for name, model in models.items():
    for train in (False, True):
        model.train(train)
        for i, block in enumerate(model.modules()):
            forward = {"BasicBlock": npu._basic_block_forward, "Bottleneck": npu._bottleneck_forward}.get(type(block).__name__)
            if forward is not None:
                inp = torch.randn(1, block.conv1.in_channels, 4, 4, requires_grad=train)
                expected = block.forward(inp)
                got = forward(block, inp, add_relu)
                results[f"{name}/{i}/{type(block).__name__}/{train}"] = bool(torch.equal(expected, got))
        inp = x.clone().requires_grad_(train)
        expected = model.forward(inp)
        got = npu._resnet_forward(model, inp, F.max_pool2d)
        results[f"{name}/ResNet/{train}"] = len(expected) == len(got) and all(torch.equal(e, g) for e, g in zip(expected, got))
print(json.dumps(results))
"""


def test_resnet_forward_bodies_equal_mmdets_with_reference_ops(tmp_path: Path) -> None:
    """DrivingSDK's ResNet bodies, with relu(a + b) and F.max_pool2d for the fused NPU ops, give
    exactly mmdet 3.3's outputs (run under mmcv-lite: mmdet needs mmcv.ops)."""
    script = tmp_path / "resnet.py"
    script.write_text(RESNET)
    done = run_npatch("apply", "mmcv-lite", "--", "python", str(script))
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) > 40
    assert [k for k, ok in results.items() if not ok] == []


# -- signatures ---------------------------------------------------------------
@pytest.mark.parametrize("manifest, legacy", [("torch-npu", False), ("mmcv-npu", False), ("mmcv-npu-v1", True)])
def test_replacements_accept_every_call_their_targets_accept(manifest, legacy, npu_sources, openmmlab1_sources) -> None:  # noqa: F811
    """What `npatch compile` checks, with the sources of the packages an NPU machine has: no replacement
    (npatch's adapters and torch_npu's own functions alike) rejects a call its target accepts."""
    paths = [str(openmmlab1_sources)] * legacy + [str(npu_sources)]
    result = compile_manifests([manifest], resolve="static", paths=paths)
    assert not result.errors, "\n".join(str(d) for d in result.errors)
    resolver = StaticResolver(paths)
    checked = {op.name for op in result.plan.ops if op.kind == "replace" for target in op.targets
               if resolver.callee(target.module, target.qualname) and resolver.callee(*op.source.split(":"))}
    assert len(checked) >= {"torch-npu": 80, "mmcv-npu": 80, "mmcv-npu-v1": 85}[manifest], sorted(checked)


TORCH_OPS = """
import json
import torch
from npatch.compiler import compile_manifests
from npatch.plan import Plan

plan = compile_manifests(["mmcv-npu-torch"]).plan
ops = tuple(op.replace(when=None, when_text=None) for op in plan.ops)  # as if mx_driving were there
names = ("__getitem__", "matmul", "__matmul__")
before = [vars(torch.Tensor).get(n) for n in names], torch.matmul
x = torch.arange(12.0).view(4, 3)
mask = torch.tensor([True, False, True, True])
expected = x[mask]
session = Plan(ops=ops).apply(strict=True)
out = {"statuses": sorted({s.status for s in session.statuses()}),
       "patched": all(n in vars(torch.Tensor) for n in names),
       "bool_index": torch.equal(x[mask], expected),
       "other_index": torch.equal(x[1:3, 0], torch.tensor([3.0, 6.0]))}
a, b = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 5, 1)  # not square: the guard keeps torch's matmul
out["matmul"] = torch.allclose(a @ b, torch.einsum("...ij,...jk->...ik", a, b)) and torch.equal(a.matmul(b), torch.matmul(a, b))
session.stop()
out["restored"] = ([vars(torch.Tensor).get(n) for n in names], torch.matmul) == before
print(json.dumps(out))
"""


def test_guarded_torch_ops_apply_and_restore_on_the_real_tensor_class() -> None:
    """The mmcv-npu-torch ops on a CPU: bool-mask indexing runs through masked_select (plain
    PyTorch), calls the guards decline keep torch's operators, and restore is exact."""
    done = run_python(TORCH_OPS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "statuses": ["applied"], "patched": True, "bool_index": True, "other_index": True, "matmul": True,
        "restored": True}
