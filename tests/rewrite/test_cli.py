"""`npatch diff` and `npatch test` as users run them (subprocesses, real manifests)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from npatch_testutil import clean_env, npatch_on_terminal, run_npatch

CUDA_CODE = "import torch\n\ndef f(x):\n    torch.cuda.synchronize()\n    return x.cuda()\n"


@pytest.fixture
def project(tmp_path):
    src = tmp_path / "src"
    for i in range(10):
        (src / f"m{i}.py").parent.mkdir(parents=True, exist_ok=True)
        (src / f"m{i}.py").write_text(CUDA_CODE)
    (src / "clean.py").write_text("x = 1\n")
    subprocess.run(["git", "init", "-q", "."], cwd=tmp_path, check=True)
    return tmp_path


def test_diff_prints_a_patch_git_applies_and_a_summary(project):
    out = run_npatch("diff", "cuda-to-npu", "src", "-j", "2", cwd=project)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("--- a/src/m0.py\n+++ b/src/m0.py\n")
    assert "+    torch.npu.synchronize()" in out.stdout and "+import torch_npu" in out.stdout
    assert "npatch diff: 11 files, 10 parsed, 10 to change" in out.stderr and "with 2 processes" in out.stderr
    assert "\r" not in out.stderr                                     # no progress bar without a terminal
    check = subprocess.run(["git", "apply", "--check", "-"], cwd=project, input=out.stdout,
                           text=True, capture_output=True)
    assert check.returncode == 0, check.stderr


def test_check_exits_1_only_when_something_would_change(project):
    assert run_npatch("diff", "cuda-to-npu", "src", "--check", cwd=project).returncode == 1
    clean = run_npatch("diff", "cuda-to-npu", "src/clean.py", "--check", cwd=project)
    assert clean.returncode == 0 and clean.stdout == ""


def test_write_then_nothing_left_to_do(project):
    out = run_npatch("diff", "cuda-to-npu", "src", "--write", "--exclude", "m9.py", cwd=project)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and "9 changed" in out.stderr
    assert "torch.npu.synchronize()" in (project / "src/m0.py").read_text()
    assert (project / "src/m9.py").read_text() == CUDA_CODE
    again = run_npatch("diff", "cuda-to-npu", "src", "--check", "--include", "m[0-8].py", cwd=project)
    assert again.returncode == 0 and again.stdout == ""


def test_report_json_and_bad_arguments(project):
    report = project / "r.json"
    out = run_npatch("diff", "cuda-to-npu", "src", "--report", str(report), cwd=project)
    assert out.returncode == 0
    data = json.loads(report.read_text())
    assert data["manifest"] == "cuda-to-npu" and len(data["changed_files"]) == 10
    assert {c["rule"] for c in data["changes"]} == {"torch-cuda", "cuda-method", "import-torch-npu"}
    assert all(c["line"] > 0 for c in data["changes"])
    bad = run_npatch("diff", "cuda-to-npu", "src", "--report", "r.txt", cwd=project)
    assert bad.returncode == 2 and "must end in .csv or .json" in bad.stderr
    both = run_npatch("diff", "cuda-to-npu", "src", "--write", "--check", cwd=project)
    assert both.returncode == 2
    missing = run_npatch("diff", "cuda-to-npu", "nowhere", cwd=project)
    assert missing.returncode == 2 and "no such file or directory: nowhere" in missing.stderr
    assert "Traceback" not in bad.stderr + both.stderr + missing.stderr


def test_unparsable_file_is_an_error_with_exit_1(project):
    (project / "src/broken.py").write_text("import torch\ntorch.cuda.x(\n")
    out = run_npatch("diff", "cuda-to-npu", "src", cwd=project)
    assert out.returncode == 1
    assert "error src/broken.py: cannot parse" in out.stderr and "Traceback" not in out.stderr
    assert "--- a/src/m0.py" in out.stdout                              # the others still come out


def test_progress_bar_on_a_terminal(tmp_path):
    for i in range(25):
        (tmp_path / f"f{i}.py").write_text(CUDA_CODE)
    code, text = npatch_on_terminal("diff", "cuda-to-npu", ".", "-j", "1", cwd=tmp_path)
    assert code == 0
    assert "25/25 files" in text and "npatch diff: 25 files" in text


def test_npatch_test_verdicts_and_exit_codes(write_manifest):
    good = run_npatch("test", "cuda-to-npu")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "8 rules: 8 validated" in good.stdout
    failing = write_manifest('''
        [manifest]
        name = "t"

        [[rewrite]]
        id = "cuda-method"
        method = { from = "cuda", to = "npu" }
        examples = [{ before = "x.cuda()", after = "x.npu(0)" }, { before = "x.cpu()", after = "x.npu()" }]
        valid = ["y.cuda()"]
    ''')
    out = run_npatch("test", str(failing))
    assert out.returncode == 1
    assert "FAIL       cuda-method  missing, noisy, wrong (3 of 3 cases)" in out.stdout
    empty = write_manifest('[manifest]\nname = "e"\n', name="e.toml")
    out = run_npatch("test", str(empty))
    assert out.returncode == 0 and "no [[rewrite]] rules" in out.stdout
    out = run_npatch("diff", str(empty), str(Path(empty).parent))
    assert out.returncode == 2 and "no [[rewrite]] rules" in out.stderr


def test_rule_conditions_switch_rules_off(write_manifest, tmp_path):
    manifest = write_manifest('''
        [manifest]
        name = "w"

        [[rewrite]]
        id = "never"
        when = "env('NPATCH_TEST_NEVER') == 'yes'"
        method = { from = "cuda", to = "npu" }

        [[rewrite]]
        id = "always"
        method = { from = "half", to = "float" }
    ''')
    code = tmp_path / "c.py"
    code.write_text("x.cuda().half()\n")
    out = run_npatch("diff", str(manifest), str(code), cwd=tmp_path)
    assert "+x.cuda().float()" in out.stdout
    assert "  never   off: when = \"env('NPATCH_TEST_NEVER') == 'yes'\"" in out.stderr
    out = run_npatch("diff", str(manifest), str(code), cwd=tmp_path, env=clean_env(NPATCH_TEST_NEVER="yes"))
    assert "+x.npu().float()" in out.stdout


def test_progress_counts_every_file_as_the_summary_does(tmp_path):
    """Many files the prefilter rules out and some to parse, in worker
    processes: the bar counts all of them, from the first frames on."""
    for i in range(12):
        (tmp_path / f"cuda{i}.py").write_text(CUDA_CODE)
    for i in range(40):
        (tmp_path / f"plain{i}.py").write_text(f"x = {i}\n")
    code, text = npatch_on_terminal("diff", "cuda-to-npu", ".", "-j", "2", cwd=tmp_path)
    assert code == 0
    frames = re.findall(r"\] (\d+)/(\d+) files", text)
    assert frames and {total for _, total in frames} == {"52"}
    assert "npatch diff: 52 files, 12 parsed" in text and "with 2 processes" in text
    counts = [int(done) for done, _ in frames]
    assert counts[0] == 0                           # drawn before the first file is done
    assert counts == sorted(counts) and counts[-1] == 52


def test_worker_processes_and_one_process_print_the_same_bytes(tmp_path):
    """-j 2 and -j 1 over installed mmengine sources: the same diff, byte for byte."""
    import importlib.util
    import shutil

    source = importlib.util.find_spec("mmengine").submodule_search_locations[0]
    shutil.copytree(source, tmp_path / "mmengine", ignore=shutil.ignore_patterns("__pycache__"))
    serial = run_npatch("diff", "cuda-to-npu", "mmengine", "-j", "1", cwd=tmp_path)
    parallel = run_npatch("diff", "cuda-to-npu", "mmengine", "-j", "2", cwd=tmp_path)
    assert serial.returncode == parallel.returncode == 0, serial.stderr + parallel.stderr
    assert serial.stdout.count("\n--- a/") >= 5
    assert serial.stdout == parallel.stdout
    assert "with 1 process" in serial.stderr and "with 2 processes" in parallel.stderr


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_skipped_matches_name_their_line_without_report(tmp_path, jobs):
    """The summary said ``a.py:?`` for a skipped match unless --report asked for positions."""
    (tmp_path / "a.py").write_text("import os\nimport torch.cuda.nccl\n\n\ndef f():\n    return torch.cuda.nccl.version()\n")
    (tmp_path / "b.py").write_text("x = 1\n")
    proc = run_npatch("diff", "cuda-to-npu", ".", "-j", jobs, cwd=tmp_path, env=clean_env())
    skipped = [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith("skipped ")]
    assert skipped == ["skipped a.py:2: torch-cuda: torch.cuda.nccl has no counterpart under torch.npu",
                       "skipped a.py:6: torch-cuda: torch.cuda.nccl has no counterpart under torch.npu"], proc.stderr
