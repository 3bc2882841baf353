"""Acceptance: real public programs that nobody here wrote, run unmodified under the built-in manifests.

Each program comes from a PyPI distribution, pinned by version and by the
sha256 of the file run (below); none is copied into this repository.  The
installed ones are in the ``test`` extra; nose, pep8 and transforms3d are
downloaded from PyPI at test time (``npu_sources.sources``: ``.py`` files
only, cached per user).  Each runs in a subprocess as a user types it, on data
it makes itself or that this module synthesizes in ``tmp_path``, shrunk only
through its own flags; each first fails without the manifest, as users see it.

=====================================  ============  ==========================================
program                                manifest      covers
=====================================  ============  ==========================================
accelerate 1.15.0 test_merge_weights   cuda-to-cpu   FSDP, 2 processes (``accelerate launch --use_fsdp``)
accelerate 1.15.0 test_ddp_comm_hook   cuda-to-cpu   2-process DDP, ``device_ids``, comm hooks
torchft 0.2.0 http_transport_bench     cuda-to-cpu   ``torch.accelerator`` + ``torch.Stream``
nose 1.3.7 (``python -m nose``)        py-compat     old Python (``collections.Callable``)
transforms3d 0.3.1 tests, under nose   numpy-compat  old NumPy (``np.maximum_sctype``, ``np.float``)
pep8 1.5.7 (``python -m pep8``)        py-compat     old Python (``inspect.getargspec``)
mmdet 3.3.0 tools/train.py, test.py    mmcv-lite     OpenMMLab round trip; mmdet imports ``mmcv._ext``
=====================================  ============  ==========================================

The mmdet round trip itself (train -> test -> ``--resume`` -> ``init_detector``
on a synthesized COCO set) is
``tests/manifests/test_openmmlab_checkpoint.py::test_train_test_resume_and_init_detector_round_trip``,
also marked slow; this module pins its tools and shows they fail without the manifest.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch
from npu_sources import Dist, sources

pytestmark = pytest.mark.slow

#: (distribution, version, path inside it) -> sha256 of the file run.  Upstream (the dists
#: record the repository, not the commit, except transforms3d): huggingface/accelerate v1.15.0,
#: pytorch/torchft v0.2.0, open-mmlab/mmdetection v3.3.0, nose-devs/nose 1.3.7, PyCQA/pycodestyle 1.5.7
PINNED = {
    ("accelerate", "1.15.0", "accelerate/test_utils/scripts/test_merge_weights.py"):
        "af5a2a3ce30ea8b7b9cd67a75964f297d7036db90525a76934d88f341960475f",
    ("accelerate", "1.15.0", "accelerate/test_utils/scripts/test_ddp_comm_hook.py"):
        "93ffb63018cb28d74c1887277936ee19df382b4e56a75184417e8351517d501c",
    ("torchft", "0.2.0", "torchft/checkpointing/http_transport_bench.py"):
        "b5847d0bbe84d2e02b92306c7b5344b38aa74f374eb786badba1988dc3421085",
    ("mmdet", "3.3.0", "mmdet/.mim/tools/train.py"):
        "5f55afe19febf1c9c20d50204492f7f83e021f0f17c57609e7b265d45af92cf0",
    ("mmdet", "3.3.0", "mmdet/.mim/tools/test.py"):
        "432ede714239642fc20174d700af60b1354e8cc529319a68cc453eef95167ee8",
    ("nose", "1.3.7", "nose/core.py"): "6076bd883ec61ac602a839dea10dd0266d6159f81ac7910bd308ff523274297f",
    # upstream matthew-brett/transforms3d at 3582a5db55f8a39a62aa32458d19864c5050bd2e (its _version.py)
    ("transforms3d", "0.3.1", "transforms3d/quaternions.py"):
        "6be9889df8b2ea3f93404bf1485c8c84ce08cb14355ab5885d586438a6071b64",
    ("pep8", "1.5.7", "pep8.py"): "baabc37ddcfc2f345f05918f8d5a6e881e4bb9e23be03cfb3eb28adb7cf1a513",
}

NOSE = Dist("nose", "1.3.7", ("--only-binary=:all:",), data=("usage.txt",))
# an sdist only; pip prepares its metadata with setup.py (distutils + versioneer)
TRANSFORMS3D = Dist("transforms3d", "0.3.1", ("--no-binary=:all:",), packages=("transforms3d",))
PEP8 = Dist("pep8", "1.5.7", ("--only-binary=:all:",))


def installed(path: str) -> Path:
    """The installed file ``path`` (``package/...``), found without importing the package."""
    package, _, rest = path.partition("/")
    return Path(importlib.util.find_spec(package).origin).parent / rest


def pinned(dist: str, version: str, path: str, root: Path | None = None) -> Path:
    """The program file, after checking it is the pinned one."""
    file = root / path if root is not None else installed(path)
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    assert digest == PINNED[dist, version, path], f"{file} is not {dist}=={version}:{path} ({digest})"
    return file


def console(name: str, module: str) -> list[str]:
    """The console script ``name`` next to this interpreter, or ``python -m module``."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


def run(manifests: tuple[str, ...], command: list[str], cwd: Path, env: dict[str, str],
        timeout: float = 600) -> subprocess.CompletedProcess:
    """``command`` as users run it: plain, or under ``npatch apply MANIFEST... --``."""
    if not manifests:
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return run_npatch("apply", *manifests, "--", *command, cwd=cwd, env=env, timeout=timeout)


def fails_plainly(command: list[str], cwd: Path, env: dict[str, str], message: str) -> None:
    """Without a manifest the program must fail, and for the reason the manifest addresses."""
    plain = run((), command, cwd, env)
    assert plain.returncode != 0
    assert message in plain.stderr, plain.stderr[-3000:]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # HF_HOME: no accelerate config of the user's; HOME: nothing written to the user's home
    return clean_env(OMP_NUM_THREADS="1", HF_HOME=str(tmp_path / "hf"), HOME=str(tmp_path / "home"),
                     XDG_CACHE_HOME=str(tmp_path / "cache"))


def accelerate_launch(*flags: str, script: Path) -> list[str]:
    return [*console("accelerate-launch", "accelerate.commands.launch"), *flags, "--num_processes", "2", str(script)]


def test_accelerate_fsdp_merge_weights(tmp_path, env):
    """FSDP (FULL_SHARD, sharded state dict) trains 3 epochs on 2 processes, saves, merges and checks the weights."""
    script = pinned("accelerate", "1.15.0", "accelerate/test_utils/scripts/test_merge_weights.py")
    command = accelerate_launch("--use_fsdp", script=script)

    fails_plainly(command, tmp_path, env, "There are currently no available devices found")

    done = run(("cuda-to-cpu",), command, tmp_path, env)
    assert done.returncode == 0, done.stderr[-3000:]
    # the script does nothing on one process; these lines come only from the 2-process branch
    assert done.stderr.count("Successfully merged FSDP weights") == 4, done.stderr[-3000:]
    assert not (tmp_path / "test_merge_weights_fsdp_weights").exists()  # the script cleans up after itself


def test_accelerate_ddp_comm_hooks(tmp_path, env):
    """2-process DDP with accelerate's 10 communication hook set-ups against a plain
    ``DDP(device_ids=[rank], output_device=rank)``: gradients must match."""
    script = pinned("accelerate", "1.15.0", "accelerate/test_utils/scripts/test_ddp_comm_hook.py")
    command = accelerate_launch("--multi_gpu", script=script)

    fails_plainly(command, tmp_path, env,
                  "device_ids and output_device arguments only work with single-device/multiple-device GPU")

    done = run(("cuda-to-cpu",), command, tmp_path, env)
    assert done.returncode == 0, done.stderr[-3000:]
    for hook, wrapper in [("no", "no"), ("fp16", "no"), ("bf16", "no"), ("power_sgd", "bf16"),
                          ("batched_power_sgd", "fp16"), ("batched_power_sgd", "bf16")]:
        assert f"Test DDP comm hook: {hook}, comm wrapper: {wrapper}" in done.stdout, done.stdout[-3000:]


def test_torchft_http_checkpoint_transport_on_the_accelerator(tmp_path, env):
    """torchft's HTTP checkpoint transport benchmark with ``--device cuda``: it makes
    ``torch.Stream(torch.accelerator.current_accelerator())`` when ``torch.accelerator.is_available()``,
    a 12 MB state dict on the device, serves it and fetches it back (shrunk by its own size flags)."""
    script = pinned("torchft", "0.2.0", "torchft/checkpointing/http_transport_bench.py")
    command = [sys.executable, str(script), "--device", "cuda", "--total-size", "12000000", "--chunk-size", "3000000"]

    fails_plainly(command, tmp_path, env, "Torch not compiled with CUDA enabled")

    done = run_npatch("apply", "cuda-to-cpu", "--coverage", "cov.json", "--", *command, cwd=tmp_path, env=env,
                      timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fetching checkpoint took" in done.stderr
    assert "len(state_dict)=4" in done.stderr
    calls = {op["name"]: op["calls"] for op in json.loads((tmp_path / "cov.json").read_text())["ops"]}
    assert calls["accelerator.is_available"] >= 1 and calls["accelerator.current_accelerator"] >= 1


def test_nose_runs_transforms3d_tests(env):
    """nose 1.3.7 (Python 3.9 at the latest) runs transforms3d 0.3.1's own tests (NumPy 1.x): both manifests needed.

    Two of its tests are left out with nose's own ``-e``, for what no manifest
    restores: ``test_affines`` imports ``numpy.testing.dec`` (gone from NumPy
    1.26 too) and ``test_aa_points`` relies on ``np.array(copy=False)``
    copying, which NumPy 2 changed rather than removed.
    """
    root = sources(NOSE, TRANSFORMS3D)
    pinned("nose", "1.3.7", "nose/core.py", root)
    pinned("transforms3d", "0.3.1", "transforms3d/quaternions.py", root)
    command = [sys.executable, "-m", "nose", "transforms3d", "-e", "test_affines|test_aa_points"]

    fails_plainly(command, root, env, "module 'collections' has no attribute 'Callable'")

    old_python_only = run(("py-compat",), command, root, env)
    assert old_python_only.returncode != 0
    assert "`np.maximum_sctype` was removed in the NumPy 2.0 release" in old_python_only.stderr

    done = run(("py-compat", "numpy-compat"), command, root, env)
    assert done.returncode == 0, done.stderr[-3000:]
    ran = [line for line in done.stderr.splitlines() if line.startswith("Ran ")]
    assert ran and int(ran[0].split()[1]) > 1000, done.stderr[-3000:]
    assert done.stderr.rstrip().endswith("OK")


BAD_STYLE = "import os\ndef f( a ):\n    return os.path.join(a,'x')\n"
GOOD_STYLE = "import os\n\n\ndef f(a):\n    return os.path.join(a, 'x')\n"


def test_pep8_checks_style(tmp_path, env):
    """pep8 1.5.7 (the checker later renamed pycodestyle) calls ``inspect.getargspec``, gone in Python 3.11."""
    root = sources(PEP8)
    pinned("pep8", "1.5.7", "pep8.py", root)
    (tmp_path / "bad.py").write_text(BAD_STYLE)
    (tmp_path / "good.py").write_text(GOOD_STYLE)
    command = [sys.executable, str(root / "pep8.py"), "bad.py", "good.py"]

    fails_plainly(command, tmp_path, env, "module 'inspect' has no attribute 'getargspec'")

    done = run(("py-compat",), command, tmp_path, env)
    assert done.returncode == 1, done.stderr[-3000:]  # pep8's exit status when it reports something
    assert done.stdout.splitlines() == [
        "bad.py:2:1: E302 expected 2 blank lines, found 0",
        "bad.py:2:7: E201 whitespace after '('",
        "bad.py:2:9: E202 whitespace before ')'",
        "bad.py:3:26: E231 missing whitespace after ','",
    ]


def test_mmdet_tools_need_mmcv_lite(tmp_path, env):
    """mmdet 3.3.0's own tools refuse mmcv-lite 2.2.0 without the manifest; the round trip
    under it is ``test_openmmlab_checkpoint.py::test_train_test_resume_and_init_detector_round_trip``."""
    config = installed("mmdet/.mim/configs/retinanet/retinanet_r18_fpn_1x_coco.py")
    for tool in ("train", "test"):
        script = pinned("mmdet", "3.3.0", f"mmdet/.mim/tools/{tool}.py")
        args = [str(config)] + (["missing.pth"] if tool == "test" else []) + ["--work-dir", "work"]
        fails_plainly([sys.executable, str(script), *args], tmp_path, env, "MMCV==2.2.0 is used but incompatible")
