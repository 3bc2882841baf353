"""The mmcv-npu manifests against the real sources they name, and against DrivingSDK's patch set.

mmcv-npu (OpenMMLab 2.x) is checked against the installed mmcv-lite 2.2.0,
mmdet 3.3.0 and mmengine 0.10.7 plus the downloaded torch-npu, mx-driving
and mmdet3d 1.4.0 sources; mmcv-npu-v1 against mmcv 1.7.2, mmdet 2.28.2 and
mmdet3d 0.17.3 sources.  DrivingSDK's own default patch set is read by
running its patcher package (pure Python) with the two torch_npu names it
imports stubbed, as bench/drivingsdk.py does.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import REPO, run_python
from npu_sources import mmdet3d_sources, npu_sources, openmmlab1_sources  # noqa: F401  (fixtures)
from npatch.compiler import compile_manifests
from npatch.compiler.static import StaticIndex

#: DrivingSDK targets translated differently on purpose, and why; each reason is checked below
DIFFERENT = {
    "mmcv.ops.SparseConvolution":
        "mmcv.ops never exports SparseConvolution, so DrivingSDK's patch of it always skips; "
        "mmcv-npu-ops replaces it in mmcv.ops.sparse_conv",
    "mmdet3d.evaluation.metrics.output_to_nusc_box":
        "the function is defined in mmdet3d.evaluation.metrics.nuscenes_metric and not re-exported, so "
        "DrivingSDK's patch of it always skips; mmcv-npu-mmdet3d targets it there, opt-in",
}


def _static_problems(result) -> list[str]:
    return [str(d) for d in result.diagnostics
            if d.code != "unverifiable" or "C extension" not in d.message]


def test_mmcv_npu_compiles_statically_with_no_missing_name(npu_sources, mmdet3d_sources) -> None:  # noqa: F811
    result = compile_manifests(["mmcv-npu"], resolve="static", paths=[str(npu_sources), str(mmdet3d_sources)])
    assert _static_problems(result) == []
    assert {m.name for m in result.plan.manifests} == {
        "mmcv-npu", "torch-npu", "numpy-compat", "openmmlab-checkpoint", "mmcv-npu-ops", "mmcv-npu-mmdet", "mmcv-npu-torch", "mmcv-npu-mmdet3d"}


def test_mmcv_npu_v1_compiles_statically_against_openmmlab_1x(npu_sources, openmmlab1_sources) -> None:  # noqa: F811
    result = compile_manifests(["mmcv-npu-v1"], resolve="static", paths=[str(openmmlab1_sources), str(npu_sources)])
    assert _static_problems(result) == []


def test_mmcv_npu_v1_targets_do_not_exist_in_mmcv_2(npu_sources) -> None:  # noqa: F811
    """Negative control: against the installed OpenMMLab 2.x the 1.x-only targets are missing; since the
    manifest's condition (mmcv < 2) is false here, they are reported as unverifiable, not as errors."""
    result = compile_manifests(["mmcv-npu-v1"], resolve="static", paths=[str(npu_sources)])
    assert result.by_code("missing") == [] and result.errors == []
    missing = {d.op for d in result.by_code("unverifiable") if d.off_here}
    assert missing == {"stream", "ddp._run_ddp_forward", "ddp.NPUDistributedDataParallel", "mmcv1-load-checkpoint",
                       "spconv3d.CONV_LAYERS.SubMConv3d", "spconv3d.CONV_LAYERS.SparseConv3d",
                       "spconv3d.CONV_LAYERS.SparseInverseConv3d"}
    assert {d.op for d in result.by_code("unverifiable") if d.package == "mmdet3d"} == {"nuscenes_dataset"}


DRIVINGSDK = """
import json, sys
sys.path.insert(0, sys.argv[1])
import drivingsdk
patcher = drivingsdk.load(sys.argv[2])
from mx_driving.patcher.patch import AtomicPatch, LegacyPatch, RegistryPatch
out = []
for cls in patcher._DEFAULT_PATCH_CLASSES:
    for p in cls.patches():
        if isinstance(p, AtomicPatch):
            repl = p._replacement if isinstance(p._replacement, str) else None
            out += [[cls.name, "attr", t, repl] for t in [p.target, *p.aliases]]
        elif isinstance(p, RegistryPatch):
            out.append([cls.name, "registry", p.registry, p.register_name])
        elif isinstance(p, LegacyPatch):
            out.append([cls.name, "module", p.target_module, None])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def drivingsdk_default(npu_sources) -> list[list]:  # noqa: F811
    """``[patch class name, kind, target, replacement string]`` for DrivingSDK's default patcher."""
    done = run_python(DRIVINGSDK, str(REPO / "bench"), str(npu_sources))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def plans():
    return [compile_manifests([name]).plan for name in ("mmcv-npu", "mmcv-npu-v1")]


def _ours(plans) -> tuple[dict[str, tuple], set[tuple[str, str]]]:
    """Our attribute targets as dotted paths (-> op), and our registry entries as (registry name, entry)."""
    attrs, entries = {}, set()
    for plan in plans:
        for op in plan.ops:
            if op.kind == "register":
                entries.add((op.target.qualname.rpartition(".")[2], op.value))
            for target in op.targets:
                attrs[f"{target.module}.{target.qualname}".rstrip(".")] = op
    return attrs, entries


def test_every_drivingsdk_default_patch_is_translated(drivingsdk_default, plans) -> None:
    attrs, entries = _ours(plans)
    classes = {row[0] for row in drivingsdk_default}
    assert len(classes) == 13, classes  # DrivingSDK 26.2.0.post2: 13 default patch classes
    untranslated = []
    for name, kind, target, _repl in drivingsdk_default:
        if kind == "module":  # NumpyCompat: np.bool / np.float / np.int, in numpy-compat
            assert {f"numpy.{n}" for n in ("bool", "float", "int")} <= {op.name for op in plans[0].ops}
        elif "._module_dict." in target:  # an entry written straight into a registry's dict
            registry, _, entry = target.partition("._module_dict.")
            if (registry.rpartition(".")[2], entry) not in entries:
                untranslated.append(f"{name}: {target}")
        elif target not in attrs and target not in DIFFERENT:
            untranslated.append(f"{name}: {target}")
    assert untranslated == []


def test_deliberate_differences_still_hold(npu_sources, mmdet3d_sources, openmmlab1_sources) -> None:  # noqa: F811
    for paths in ([mmdet3d_sources], [openmmlab1_sources]):
        index = StaticIndex([str(p) for p in paths])
        assert index.lookup("mmcv.ops", "SparseConvolution").status == "missing"
    index = StaticIndex([str(mmdet3d_sources)])
    assert index.lookup("mmdet3d.evaluation.metrics", "output_to_nusc_box").status == "missing"
    assert index.lookup("mmdet3d.evaluation.metrics.nuscenes_metric", "output_to_nusc_box").status == "found"


def test_replacements_named_by_drivingsdk_are_the_same_objects(drivingsdk_default, plans, npu_sources,  # noqa: F811
                                                               openmmlab1_sources) -> None:  # noqa: F811
    """Where DrivingSDK names its replacement (``"mx_driving.SubMConv3d"``), ours is defined at the same place."""
    attrs, _entries = _ours(plans)
    index = StaticIndex([str(npu_sources), str(openmmlab1_sources)])
    compared = 0
    for name, kind, target, repl in drivingsdk_default:
        op = attrs.get(target)
        if repl is None or op is None or op.kind != "replace" or not (op.source or "").split(":")[0].startswith(("mx_driving", "mmcv")):
            continue
        theirs = index.lookup(*index.split(repl))
        ours = index.lookup(*op.source.split(":"))
        assert theirs.status == ours.status == "found", (target, theirs, ours)
        assert theirs.file == ours.file, (target, theirs.file, ours.file)
        compared += 1
    assert compared >= 15


def test_sparse_conv_registry_entries_follow_mmcvs_own_registrations(plans) -> None:
    """mmcv registers its sparse convs without force when mmcv.ops.sparse_conv runs: the entries are
    overridden through that module, so they apply after mmcv's and never collide with them."""
    for plan in plans:
        registers = [op for op in plan.ops if op.kind == "register"]
        assert len(registers) == 3
        assert {op.target.module for op in registers} == {"mmcv.ops.sparse_conv"}
        assert {op.value for op in registers} == {"SubMConv3d", "SparseConv3d", "SparseInverseConv3d"}


def test_without_an_npu_only_the_device_independent_manifests_apply(tmp_path: Path) -> None:
    from npatch_testutil import run_npatch

    report = tmp_path / "report.json"
    code = "import numpy as np, mmengine; assert np.float is float"
    done = run_npatch("apply", "--report", str(report), "mmcv-npu", "--", "python", "-c", textwrap.dedent(code))
    assert done.returncode == 0, done.stderr
    by_manifest: dict[str, set[str]] = {}
    for op in json.loads(report.read_text())["ops"]:
        by_manifest.setdefault(op["manifest"], set()).add(op["status"])
    assert by_manifest.pop("numpy-compat") >= {"applied"}
    # device-independent: mmengine's checkpoint loader is patched wherever mmengine is (it waits for the
    # loader's module, which `import mmengine` does not import)
    assert by_manifest.pop("openmmlab-checkpoint") <= {"applied", "waiting"}
    assert set().union(*by_manifest.values()) == {"skipped"}
