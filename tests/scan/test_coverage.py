"""Each use's status against real compiled manifests: which op handles it at run
time, which rewrite rule changes it, why it is unsupported, or not covered."""
from __future__ import annotations

import pytest

from npatch.compiler import load_plan
from npatch.scan.coverage import Coverage, Names
from npatch.scan.finder import Finder
from npatch.scan.patterns import hooks
from npatch.scan.table import load_table

APIS = load_table()
FINDER = Finder(hooks(APIS))

SNIPPET = """\
import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from flash_attn import flash_attn_func

torch.cuda.synchronize()
torch.cuda.nvtx.range_push("step")
x = torch.zeros(2, device="cuda").cuda()
dist.init_process_group(backend="nccl")
m = DDP(m, device_ids=[0])
a = np.zeros(3, dtype=np.float)
"""


def statuses(manifests: list[str] | None, code: str = SNIPPET) -> list[tuple[int, str, str, str]]:
    plan = load_plan(manifests) if manifests else None
    coverage = Coverage(plan, APIS)
    return [(u.line, u.name, u.status, u.by) for u in map(coverage.classify, FINDER.find(code, "<t>"))]


def test_names_are_compared_where_they_are_defined_found_through_re_exports():
    names = Names()
    # site-packages lies under the standard library's directory on sys.path:
    # the module name must come from the deepest one ("torch...", not "site-packages.torch...")
    assert names.canonical("torch.autocast") == "torch.amp.autocast_mode.autocast"
    assert names.canonical("torch.load") == "torch.serialization.load"
    assert names.canonical("torch.nn.Module.to") == "torch.nn.modules.module.Module.to"   # through a star import
    assert names.family("torch.cuda.amp.GradScaler") == (
        "torch.cuda.amp.grad_scaler.GradScaler", "torch.amp.grad_scaler.GradScaler")        # and its base
    assert names.canonical("not_a_module.x") == "not_a_module.x"


def test_without_a_manifest_only_the_table_speaks():
    got = statuses(None)
    assert {s for _, _, s, _ in got} == {"unsupported", "uncovered"}
    assert (5, "flash_attn.flash_attn_func", "unsupported", next(a.unsupported for a in APIS if a.id == "attention-kernels")) in got
    assert (8, "torch.cuda.nvtx.range_push", "unsupported", next(a.unsupported for a in APIS if a.id == "cuda-graphs")) in got


def test_cuda_to_cpu_names_the_op_that_handles_each_use():
    by_line = {(line, name): (status, by) for line, name, status, by in statuses(["cuda-to-cpu", "numpy-compat"])}
    assert by_line[(7, "torch.cuda.synchronize")] == ("runtime", "cuda.synchronize")
    assert by_line[(8, "torch.cuda.nvtx.range_push")] == ("runtime", "cuda.nvtx.range_push")
    assert by_line[(9, "torch.zeros")] == ("runtime", "factory.zeros")
    assert by_line[(9, "*.cuda")] == ("runtime", "tensor.cuda, module.cuda")
    assert by_line[(10, "torch.distributed.init_process_group")] == ("runtime", "dist.init_process_group")
    assert by_line[(11, "torch.nn.parallel.DistributedDataParallel")] == ("runtime", "ddp.device_ids")
    assert by_line[(12, "numpy.float")] == ("runtime", "numpy.float")
    assert by_line[(5, "flash_attn.flash_attn_func")][0] == "unsupported"


def test_cuda_to_npu_names_the_rule_and_an_unsupported_rule_beats_a_rename():
    by_line = {(line, name): (status, by) for line, name, status, by in statuses(["cuda-to-npu"])}
    assert by_line[(7, "torch.cuda.synchronize")] == ("rewrite", "torch-cuda")
    assert by_line[(8, "torch.cuda.nvtx.range_push")][0] == "unsupported"
    assert by_line[(8, "torch.cuda.nvtx.range_push")][1].startswith("cuda-only-apis: ")
    assert by_line[(9, "torch.zeros")] == ("rewrite", "device-keyword")
    assert by_line[(9, "*.cuda")] == ("rewrite", "cuda-method")
    assert by_line[(10, "torch.distributed.init_process_group")] == ("rewrite", "hccl-keyword")
    assert by_line[(11, "torch.nn.parallel.DistributedDataParallel")] == ("uncovered", "")
    assert by_line[(12, "numpy.float")] == ("uncovered", "")


def test_a_rewrite_rule_switched_off_by_its_condition_covers_nothing(tmp_path):
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[manifest]\nname = "m"\n[options]\non = false\n'
        '[[rewrite]]\nid = "sync"\nwhen = "option(\'on\')"\n'
        'rename = { from = "torch.cuda.synchronize", to = "torch.npu.synchronize" }\n')
    code = "import torch\ntorch.cuda.synchronize()\n"
    assert statuses([str(manifest)], code) == [(2, "torch.cuda.synchronize", "uncovered", "")]
    plan = load_plan([str(manifest)], sets={"on": "true"})
    use = Coverage(plan, APIS).classify(FINDER.find(code, "<t>")[0])
    assert (use.status, use.by) == ("rewrite", "sync")


def test_mmcv_lite_stub_and_replacements_cover_their_ops_and_nothing_else():
    code = ("import mmcv._ext\nfrom mmcv.ops import nms, DeformConv2d\n"
            "keep = nms(b, s, 0.5)\nconv = DeformConv2d(3, 3, 3)\n")
    got = [(line, name, status, by) for line, name, status, by in statuses(["mmcv-lite"], code)]
    assert got == [
        (1, "mmcv._ext", "runtime", "mmcv-ext"),
        (2, "mmcv.ops.nms", "runtime", "nms"),
        (2, "mmcv.ops.DeformConv2d", "uncovered", ""),
        (3, "mmcv.ops.nms", "runtime", "nms"),
        (4, "mmcv.ops.DeformConv2d", "uncovered", ""),
    ]


def test_a_subclass_in_another_package_is_handled_by_an_op_on_its_base_constructor():
    # mmengine's MMDistributedDataParallel subclasses torch's DDP: the op on
    # DistributedDataParallel.__init__ handles its device_ids (read from mmengine's real source)
    code = "from mmengine.model import MMDistributedDataParallel\nm = MMDistributedDataParallel(module=m, device_ids=[0])\n"
    assert statuses(["cuda-to-cpu"], code) == [
        (2, "mmengine.model.MMDistributedDataParallel", "runtime", "ddp.device_ids")]


@pytest.mark.parametrize("code,status", [
    ("d = 'cuda'\n", "runtime"),                          # mapped where devices are consumed
    ("if x.device.type == 'cuda':\n    pass\n", "runtime"),
    ("x.new_thing(device='cuda')\n", "runtime"),
])
def test_values_are_handled_when_the_plan_maps_every_consumer(code, status):
    assert [s for _, _, s, _ in statuses(["cuda-to-cpu"], code)] == [status]
    assert [s for _, _, s, _ in statuses(["numpy-compat"], code)] == ["uncovered"]


def test_an_mmcv_ops_name_counts_only_where_its_module_loads_kernels():
    # point_sample and merge_cells live in mmcv.ops but are pure PyTorch (their
    # modules never load mmcv._ext); DeformConv2d's module does (real mmcv-lite sources)
    code = ("from mmcv.ops import point_sample, DeformConv2d\n"
            "from mmcv.ops.merge_cells import SumCell\n"
            "y = point_sample(x, p)\nc = DeformConv2d(3, 3, 3)\ns = SumCell(3, 3)\n")
    coverage = Coverage(load_plan(["mmcv-lite"]), APIS)
    found = FINDER.find(code, "<t>")
    assert {u.name for u in found} >= {"mmcv.ops.point_sample", "mmcv.ops.merge_cells.SumCell"}
    kept = coverage.assess(found)
    assert [(u.line, u.name, u.status) for u in kept] == [
        (1, "mmcv.ops.DeformConv2d", "uncovered"), (4, "mmcv.ops.DeformConv2d", "uncovered")]
    unknown = FINDER.find("from mmcv.ops.not_there import k\nk()\n", "<t>")
    assert len(coverage.assess(unknown)) == 2          # sources that cannot be read: counted
