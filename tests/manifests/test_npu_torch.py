"""The torch-npu manifest against the real torch-npu 2.14.0 wheel and the real torch.

torch_npu cannot be imported here (it needs Ascend's CANN), so the manifest
is checked three ways without it:

* statically: ``npatch compile torch-npu --resolve static`` finds every name
  in torch and the torch-npu sources; what it cannot see is C-extension code;
* against ``transfer_to_npu.py`` itself: every attribute it maps or wraps has
  its op here (read with ``ast`` from the wheel, so a new torch-npu release
  that maps more shows up as a failure);
* at run time, the ops whose replacements are npatch's own (device-argument
  wrappers, Tensor.cuda, proxies...) are applied to the real torch and
  restored exactly.
"""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import run_python
from npu_sources import npu_sources  # noqa: F401  (fixture)
from npatch.compiler import compile_manifests
from npatch.conditions import evaluate
from npatch.library.npu import devices

#: targets and sources the static check cannot see, all of them C-extension code
#: (torch._C, torch_npu._C): the README lists them
UNVERIFIABLE = {
    # torch.* tensor factories are bound from torch._C._VariableFunctions at import
    *(f"torch:{n}" for n in (
        "logspace", "randint", "hann_window", "rand", "full_like", "ones_like", "rand_like", "randperm", "arange",
        "frombuffer", "normal", "_empty_per_channel_affine_quantized", "empty_strided", "empty_like", "scalar_tensor",
        "tril_indices", "bartlett_window", "ones", "sparse_coo_tensor", "randn", "kaiser_window", "tensor",
        "triu_indices", "as_tensor", "zeros", "randint_like", "full", "eye", "empty", "blackman_window", "zeros_like",
        "range", "sparse_csr_tensor", "randn_like", "from_file", "_cudnn_init_dropout_state", "_empty_affine_quantized",
        "linspace", "hamming_window", "empty_quantized", "_pin_memory", "sparse_compressed_tensor",
        "get_autocast_dtype", "set_autocast_dtype", "is_autocast_enabled", "set_autocast_enabled",
        "get_autocast_gpu_dtype", "set_autocast_gpu_dtype", "Generator", "Event", "_C._host_emptyCache")),
    # methods torch.Tensor / UntypedStorage inherit from torch._C
    *(f"torch:Tensor.{n}" for n in (
        "new_empty", "new_empty_strided", "new_full", "new_ones", "new_tensor", "new_zeros", "to", "pin_memory",
        "cuda", "is_cuda")),
    "torch:UntypedStorage.__new__",
    "torch:distributed.ProcessGroup._get_backend",
    "torch:profiler.ProfilerActivity.CUDA", "torch:profiler.ProfilerActivity.CPU",
    "torch_npu.profiler:ProfilerActivity.NPU", "torch_npu.profiler:ProfilerActivity.CPU",
    "torch_npu._C:_npu_hostEmptyCache",
}


@pytest.fixture(scope="module")
def static_result(npu_sources: Path):  # noqa: F811
    return compile_manifests(["torch-npu"], resolve="static", paths=[str(npu_sources)])


@pytest.fixture(scope="module")
def plan():
    return compile_manifests(["torch-npu"]).plan


@pytest.fixture(scope="module")
def transfer(npu_sources: Path) -> ast.Module:  # noqa: F811
    return ast.parse((npu_sources / "torch_npu" / "contrib" / "transfer_to_npu.py").read_text())


def test_compiles_statically_with_no_missing_name(static_result) -> None:
    problems = [str(d) for d in static_result.diagnostics if d.code != "unverifiable"]
    assert problems == []


def test_only_c_extension_names_are_unverifiable(static_result) -> None:
    unverifiable = {d.message.split(": ", 1)[0] for d in static_result.diagnostics if d.code == "unverifiable"}
    for diagnostic in static_result.by_code("unverifiable"):
        assert "C extension" in diagnostic.message, str(diagnostic)
    assert unverifiable <= UNVERIFIABLE, sorted(unverifiable - UNVERIFIABLE)


def _patch_lists(tree: ast.Module) -> list[tuple[str, str]]:
    """``(torch attribute, torch_npu object)`` pairs of every ``_apply_patches`` list in transfer_to_npu."""
    pairs = []
    for func in tree.body:
        if isinstance(func, ast.FunctionDef) and func.name in ("_patch_cuda", "_patch_profiler"):
            for node in ast.walk(func):
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "patches":
                    pairs += [(item.elts[0].value, ast.unparse(item.elts[1])) for item in node.value.elts]
    return pairs


def _module_all(root: Path, module: str) -> list[str] | None:
    base = root.joinpath(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def _mapped(plan) -> dict[str, str]:
    """``'torch:cuda.x' -> source`` for every replace op and every set_attributes call op."""
    mapped = {}
    for op in plan.ops:
        if op.kind == "replace":
            mapped.update({str(t): op.source for t in op.targets})
        elif op.kind == "call" and op.source.endswith(":set_attributes"):
            mapped.update({f"{op.target.module}:{path}": ref for path, ref in op.options_dict.items()})
    return mapped


#: torch_npu functions whose parameters differ from torch.cuda's: reached through an adapter
#: that calls them (found by the signature check of `npatch compile`)
ADAPTED = {f"cuda.{name}": f"npatch.library.npu.torch_api:{name}"
           for name in ("can_device_access_peer", "get_device_name", "get_device_properties", "memory_snapshot")}


def test_every_torch_cuda_name_transfer_to_npu_maps_has_its_npu_counterpart(npu_sources, transfer, plan) -> None:  # noqa: F811
    """transfer_to_npu copies each name of torch_npu.npu.__all__ (and of .amp, .random...) onto
    torch.cuda; every one that torch.cuda has is mapped here to the same torch_npu name."""
    import importlib

    mapped = _mapped(plan)
    pairs = [(dest, src) for dest, src in _patch_lists(transfer) if src.startswith("torch_npu.npu")]
    assert ("cuda", "torch_npu.npu") in pairs and len(pairs) == 6, pairs
    missing, checked = [], 0
    for dest, src in pairs:
        names = _module_all(npu_sources, src)
        if names is None:  # a module without __all__ is swapped whole (cuda.amp.common, ...)
            parent, _, last = src.rpartition(".")
            checked += 1
            if mapped.get(f"torch:{dest}") != f"{parent}:{last}":
                missing.append(f"torch:{dest} -> {parent}:{last}")
            continue
        torch_module = importlib.import_module(f"torch.{dest}")
        for name in names:
            if not hasattr(torch_module, name):
                continue  # NPU-only: no CUDA code calls it
            checked += 1
            expected = ADAPTED.get(f"{dest}.{name}", f"{src}:{'FloatTensor' if name == 'DoubleTensor' else name}")
            if mapped.get(f"torch:{dest}.{name}") != expected:
                missing.append(f"torch:{dest}.{name} -> {expected} (manifest: {mapped.get(f'torch:{dest}.{name}')})")
    assert missing == [], "\n".join(missing)
    assert checked > 100


def test_profiler_names_transfer_to_npu_maps_are_mapped(transfer, plan) -> None:
    mapped = _mapped(plan)
    pairs = [(dest, src) for dest, src in _patch_lists(transfer) if src.startswith("torch_npu.profiler")]
    assert len(pairs) == 6
    for dest, src in pairs:
        module, _, qualname = src.partition(".profiler.")
        assert mapped.get(f"torch:{dest}") == f"torch_npu.profiler:{qualname}", dest


def _literal(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in transfer_to_npu.py")


@pytest.mark.parametrize("white_list, prefix, owner", [
    ("torch_fn_white_list", "torch:", "torch"),
    ("torch_tensor_fn_white_list", "torch:Tensor.", "torch.Tensor"),
    ("torch_module_fn_white_list", "torch:nn.Module.", "torch.nn.Module"),
    ("torch_cuda_fn_white_list", "torch:cuda.", "torch.cuda"),
])
def test_every_white_listed_function_gets_its_device_arguments_translated(transfer, plan, white_list, prefix, owner) -> None:
    import importlib

    obj = importlib.import_module("torch")
    for part in owner.split(".")[1:]:
        obj = getattr(obj, part)
    wrapped = {str(t) for op in plan.ops if op.kind == "wrap" and op.source == "npatch.library.npu.devices:device_args"
               for t in op.targets}
    names = [n for n in _literal(transfer, white_list) if hasattr(obj, n)]
    assert names
    assert [n for n in names if f"{prefix}{n}" not in wrapped] == []


def test_device_keywords_are_transfer_to_npus(transfer) -> None:
    assert list(devices.DEVICE_KWARGS) == _literal(transfer, "device_kwargs_list")


def test_wrappers_apply_after_the_replacements_they_wrap(plan) -> None:
    replaced = {str(t): op.priority for op in plan.ops if op.kind == "replace" for t in op.targets}
    for op in plan.ops:
        if op.kind == "wrap" and str(op.target) in replaced:
            assert op.priority > replaced[str(op.target)], op.name


@pytest.mark.parametrize("setting, active", [({}, "allow_internal_format.off"),
                                             ({"allow_internal_format": "true"}, "allow_internal_format.on")])
def test_allow_internal_format_is_off_unless_asked(setting, active) -> None:
    plan = compile_manifests(["torch-npu"], sets=setting).plan
    options = plan.options_dict
    calls = {op.name: op for op in plan.ops if op.name.startswith("allow_internal_format.")}
    assert set(calls) == {"allow_internal_format.off", "allow_internal_format.on"}
    # each op's own condition: the manifest's `importable('torch_npu')` is and-ed in front
    assert all(op.when[0] == "and" for op in calls.values())
    on = [name for name, op in calls.items() if evaluate(op.when[2], options)]
    assert on == [active]
    assert calls[active].options_dict == {"allow": active.endswith(".on")}
    assert calls[active].target.module == "torch_npu"


def test_without_torch_npu_the_manifest_does_nothing(tmp_path: Path) -> None:
    from npatch_testutil import run_npatch

    report = tmp_path / "report.json"
    done = run_npatch("apply", "--report", str(report), "torch-npu", "--", "python", "-c",
                      "import torch; assert not torch.cuda.is_available(); assert torch.zeros(1).is_cuda is False")
    assert done.returncode == 0, done.stderr
    import json

    statuses = {op["status"] for op in json.loads(report.read_text())["ops"]}
    assert statuses == {"skipped"}


RUNTIME = """
import json, sys, warnings
import torch
# what torch_npu does at import (torch_npu/_init/registry/backend.py): the
# PrivateUse1 backend is named 'npu' and Tensor.npu / is_npu / Module.npu exist
torch.utils.rename_privateuse1_backend("npu")
torch.utils.generate_methods_for_privateuse1_backend(for_tensor=True, for_module=True, for_storage=True)
import torch.distributed, torch.distributed.fsdp, torch.distributed.pipelining
import torch.distributed.checkpoint.filesystem, torch.utils._device, torch.utils.cpp_extension, torch._dynamo.utils
import torch._inductor.utils, torch._inductor.compile_fx, torch._inductor.autotune_process
import torch._inductor.fx_passes.post_grad, torch._inductor.fx_passes.joint_graph
import torch._inductor.runtime.autotune_cache
from npatch.compiler import compile_manifests
from npatch.plan import Plan
from npatch.runtime.resolve import locate

full = compile_manifests(["torch-npu"]).plan
def ours(op):
    refs = [op.source or "", *(str(v) for _, v in op.options)]
    return (op.source or "").startswith("npatch.library.npu.") and not any("torch_npu" in r for r in refs) \\
        and not op.target.module.startswith("torch_npu")
ops = [op.replace(when=None, when_text=None) for op in full.ops if ours(op)]
before = {}
for op in ops:
    for t in op.targets:
        if t.qualname:
            parent, name = locate(sys.modules[t.module], t.qualname)
            before[str(t)] = (parent, name, vars(parent).get(name, "absent"))
backend_map = dict(torch.distributed.Backend.default_device_backend_map)
with warnings.catch_warnings():
    # torch is imported already, so the session warns about copies of the
    # patched functions held by torch's own modules (as transfer_to_npu leaves them)
    warnings.simplefilter("ignore")
    session = Plan(ops=tuple(ops)).apply(strict=True)
out = {"ops": len(ops), "statuses": sorted({s.status for s in session.statuses()})}
x = torch.zeros(2)
out["is_cuda"] = x.is_cuda
out["backend_map_has_cuda"] = "cuda" in torch.distributed.Backend.default_device_backend_map
def error(call):
    try:
        call()
    except Exception as exc:
        return str(exc)
    return "no error"
out["zeros"] = error(lambda: torch.zeros(2, device="cuda:1"))
out["to"] = error(lambda: x.to(1))
out["cuda"] = error(lambda: x.cuda())
out["generator"] = [type(torch.Generator("cpu")).__name__, isinstance(torch.default_generator, torch.Generator)]
out["device_map_location"] = error(lambda: torch.load("/nonexistent_cuda.pt", map_location="cuda:0"))
session.stop()
out["not_restored"] = [k for k, (p, n, v) in before.items() if vars(p).get(n, "absent") is not v]
out["backend_map_restored"] = torch.distributed.Backend.default_device_backend_map == backend_map
print(json.dumps(out))
"""


def test_npatch_own_replacements_apply_to_real_torch_and_restore_exactly() -> None:
    """Every op whose replacement is npatch's (not torch_npu's) finds its target in the real
    torch, translates 'cuda' to 'npu' and is undone exactly."""
    import json

    done = run_python(textwrap.dedent(RUNTIME))
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["ops"] > 100
    assert out["statuses"] == ["applied"]
    assert out["is_cuda"] is False
    assert out["backend_map_has_cuda"] is False
    # the device reached the dispatcher as 'npu' (no NPU kernels here), never as 'cuda'
    for key in ("zeros", "to", "cuda"):
        assert "PrivateUse1" in out[key] or "npu" in out[key], (key, out[key])
        assert "CUDA" not in out[key], (key, out[key])
    assert "nonexistent_cuda.pt" in out["device_map_location"]  # the path is left alone
    assert out["generator"] == ["GeneratorProxy", True]
    assert out["not_restored"] == []
    assert out["backend_map_restored"] is True
