"""`npatch scan` as users run it: fresh interpreters, real manifests, real
OpenMMLab sources, and the README's commands exactly as written."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from npatch_testutil import REPO, clean_env, npatch_on_terminal, run_npatch, run_python

TRAINER = """\
import os
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

def main():
    rank = int(os.environ.get("LOCAL_RANK", 0))
    dist.init_process_group(backend="nccl")
    torch.cuda.set_device(rank)
    model = build().cuda()
    model = DDP(model, device_ids=[rank])
    state = torch.load("ckpt.pt")
    x = torch.randn(4, 3, device=f"cuda:{rank}")
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "train.py").write_text(TRAINER)
    (tmp_path / "clean.py").write_text("x = 1\n")
    return tmp_path


def test_text_output_locates_every_use_and_summarises(project):
    out = run_npatch("scan", ".", "-m", "cuda-to-cpu", cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "train.py:8:37: handled at run time: torch.distributed.init_process_group backend='nccl' [nccl-backend] (dist.init_process_group)" in lines
    assert "train.py:10:21: handled at run time: *.cuda [cuda-method] (tensor.cuda, module.cuda)" in lines
    assert "train.py:12:13: handled at run time: torch.load no map_location [torch-load] (torch.load)" in lines
    assert "train.py:13:34: handled at run time: torch.randn device=f'cuda:{rank}' [device-keyword] (factory.randn)" in lines
    assert "6 uses in 1 of 2 files, against cuda-to-cpu:" in out.stdout
    assert re.search(r"handled at run time +6\n", out.stdout)
    assert out.stderr == ""                        # no progress bar without a terminal


def test_exit_codes_for_ci(project):
    assert run_npatch("scan", ".", cwd=project).returncode == 1                    # nothing covers them
    assert run_npatch("scan", "clean.py", cwd=project).returncode == 0             # no uses at all
    assert run_npatch("scan", ".", "--exclude", "train.py", cwd=project).returncode == 0
    missing = run_npatch("scan", "nope/", cwd=project)
    assert missing.returncode == 2 and "no such file or directory: nope/" in missing.stderr
    for bad in (["-j", "0"], ["--format", "xml"], ["--set", "a=1"], ["--set", "novalue", "-m", "cuda-to-cpu"]):
        out = run_npatch("scan", ".", *bad, cwd=project)
        assert out.returncode == 2, (bad, out.stderr)
        assert "Traceback" not in out.stderr
    bad_manifest = project / "bad.toml"
    bad_manifest.write_text('[manifest]\nname = "b"\n[[patch]]\ntarget = "x:y"\nreplace = "a:b"\nwhen = "instaled(\'x\')"\n')
    out = run_npatch("scan", ".", "-m", "bad.toml", cwd=project)
    assert out.returncode == 1 and "bad.toml:6:" in out.stderr and "Traceback" not in out.stderr


def test_json_and_csv_carry_every_use_with_its_status(project):
    as_json = run_npatch("scan", ".", "-m", "cuda-to-npu", "--format", "json", cwd=project)
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 1
    summary = data["summary"]
    assert summary["manifests"] == ["cuda-to-npu"] and summary["files"] == 2 and summary["uses"] == 6
    assert summary["status"] == {"runtime": 0, "rewrite": 4, "unsupported": 0, "uncovered": 2}
    assert summary["top_files"] == [{"file": "train.py", "uses": 6, "uncovered": 2}]
    uncovered = [u for u in data["uses"] if u["status"] == "not covered"]
    assert [(u["line"], u["api"], u["detail"]) for u in uncovered] == [(11, "device-ids", "device_ids="), (12, "torch-load", "no map_location")]
    assert {u["by"] for u in data["uses"] if u["status"] == "rewritten statically"} >= {"torch-cuda", "cuda-method", "hccl-keyword"}

    as_csv = run_npatch("scan", ".", "-m", "cuda-to-npu", "--format", "csv", cwd=project)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(int(r["line"]), r["status"]) for r in rows] == [(u["line"], u["status"]) for u in data["uses"]]
    assert "6 uses in 1 of 2 files, against cuda-to-npu:" in as_csv.stderr


def test_parallel_scan_gives_the_same_output_and_a_broken_file_is_reported_not_fatal(tmp_path):
    for i in range(40):
        (tmp_path / f"m{i:02}.py").write_text(TRAINER)
    (tmp_path / "broken.py").write_text("def f(:\n    torch.cuda.synchronize()\n")
    (tmp_path / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\ns = '\xe9'; x.cuda()\n")
    one = run_npatch("scan", ".", "-m", "cuda-to-cpu", cwd=tmp_path)
    four = run_npatch("scan", ".", "-m", "cuda-to-cpu", "-j", "4", cwd=tmp_path)
    assert one.stdout == four.stdout and one.returncode == four.returncode == 1
    assert "broken.py:1:7: cannot parse: " in one.stdout
    assert "latin.py:2:12: handled at run time: *.cuda" in one.stdout
    assert "241 uses in 41 of 42 files" in one.stdout


def test_progress_bar_only_on_a_terminal(tmp_path):
    for i in range(25):
        (tmp_path / f"f{i}.py").write_text(TRAINER)
    code, text = npatch_on_terminal("scan", ".", "-m", "cuda-to-cpu", cwd=tmp_path)
    assert code == 0 and "25/25 files" in text


def test_scan_imports_nothing_it_scans(tmp_path):
    (tmp_path / "boom.py").write_text("raise SystemExit('imported!')\nimport torch\ntorch.cuda.init()\n")
    out = run_python("""
        import sys
        from npatch.cli import main
        code = main(["scan", "boom.py", "-m", "cuda-to-cpu"])
        heavy = sorted(m for m in ("torch", "numpy", "mmcv", "mmdet", "boom") if m in sys.modules)
        print(code, heavy)
    """, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "0 []"


def _word(use: dict) -> str:
    """What the reported line must say: the keyword, the string's text, or the name's last part."""
    if use["detail"].endswith("="):
        return use["detail"][:-1]
    literal = re.search(r"['\"]([^'\"{]*)", use["detail"] if "=" in use["detail"] or ":" in use["detail"] else use["name"])
    return literal.group(1) if literal else use["name"].rsplit(".", 1)[-1]


def _site_package(name: str) -> Path:
    out = run_python(f"import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('{name}').origin))")
    return Path(out.stdout.strip())


def test_a_whole_openmmlab_package_scans_cleanly_with_every_use_located():
    mmdet = _site_package("mmdet")
    out = run_npatch("scan", str(mmdet), "-m", "mmcv-lite", "-m", "cuda-to-cpu", "-m", "numpy-compat",
                     "--format", "json", "-j", "2")
    assert "Traceback" not in out.stderr and out.returncode == 1
    data = json.loads(out.stdout)
    summary = data["summary"]
    assert summary["errors"] == [] and summary["files"] > 400 and summary["uses"] > 100
    assert summary["status"]["runtime"] > 50 and summary["status"]["uncovered"] > 0
    for use in data["uses"]:
        line = Path(use["file"]).read_text(encoding="utf-8").splitlines()[use["line"] - 1]
        assert _word(use) in line, (use, line)
        assert use["text"] == line.strip()
    uncovered = {u["name"] for u in data["uses"] if u["status"] == "not covered"}
    assert "mmcv.ops.DeformConv2d" in uncovered            # a kernel mmcv-lite does not replace
    handled = {u["name"]: u["by"] for u in data["uses"] if u["status"] == "handled at run time"}
    assert handled["mmcv.ops.batched_nms"] == "nms" and handled["numpy.float"] == "numpy.float"
    # the README quotes this run
    readme = " ".join((REPO / "README.md").read_text().split())
    quoted = re.search(r"has (\d+) uses in (\d+) files: (\d+) handled at run time and (\d+) not covered: (\d+) uses of `mmcv.ops`", readme)
    assert quoted is not None
    mmcv_ops = sum(1 for u in data["uses"] if u["status"] == "not covered" and u["name"].startswith("mmcv.ops"))
    assert tuple(map(int, quoted.groups())) == (summary["uses"], summary["files_with_uses"], summary["status"]["runtime"],
                                                summary["status"]["uncovered"], mmcv_ops)


def _readme_scan_block() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("### 1. Inventory: `npatch scan`", 1)[1]
    block = section.split("```\n", 2)[1]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_scan_commands_run_as_written_and_print_its_numbers(tmp_path):
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    env = clean_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    commands = _readme_scan_block()
    assert len(commands) == 3
    results = [subprocess.run(c.split("  #")[0], shell=True, cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300) for c in commands]
    first, second, third = results
    assert first.returncode == 1 and "38 uses in 1 of 1 files" in first.stdout
    assert re.search(r"not covered +38\n", first.stdout)
    assert second.returncode == 0 and re.search(r"handled at run time +38\n", second.stdout)
    readme = (REPO / "README.md").read_text()
    shown = readme.split("and the summary on stderr:\n\n```\n", 1)[1].split("```", 1)[0]
    assert third.returncode == 1 and third.stderr.startswith(shown), third.stderr
    rows = list(csv.DictReader((tmp_path / "uses.csv").open()))
    assert len(rows) == 38 and sum(r["status"] == "not covered" for r in rows) == 3


NOTEBOOK = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                       "source": ["import torch\n", "torch.cuda.synchronize()\n"]}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_a_notebook_named_on_the_command_line_is_an_error_not_a_clean_file(tmp_path):
    """A notebook's JSON parses as one Python dict literal: it was scanned as
    that and reported as a clean file (0 uses, exit 0) while its cells use CUDA."""
    (tmp_path / "train.ipynb").write_text(json.dumps(NOTEBOOK))
    proc = run_npatch("scan", "train.ipynb", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout
    assert "train.ipynb: a Jupyter notebook: not scanned" in proc.stdout and "nbconvert --to script" in proc.stdout
    data = json.loads(run_npatch("scan", "train.ipynb", "--format", "json", cwd=tmp_path).stdout)
    assert [e["file"] for e in data["summary"]["errors"]] == ["train.ipynb"]


def test_what_a_scan_does_not_read_is_named(tmp_path):
    """A FIFO named on the command line, a venv below a directory: diff names them, scan was silent."""
    (tmp_path / "a.py").write_text("import torch\ntorch.cuda.synchronize()\n")
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "venv" / "b.py").write_text("import torch\ntorch.cuda.synchronize()\n")
    proc = run_npatch("scan", "pipe.py", ".", cwd=tmp_path, timeout=60)
    assert "1 uses in 1 of 1 files" in proc.stdout
    assert "skipped pipe.py: a FIFO (a named pipe), not a regular file: not read" in proc.stdout, proc.stdout
    assert "skipped venv: installed packages" in proc.stdout
    data = json.loads(run_npatch("scan", "pipe.py", ".", "--format", "json", cwd=tmp_path, timeout=60).stdout)
    assert {s["file"] for s in data["summary"]["skipped"]} == {"pipe.py", "venv"}


def test_a_file_that_cannot_be_scanned_is_located_at_line_and_column(tmp_path):
    """'cannot decode: ... in position 18' (a byte offset) and 'cannot parse: line 1, column 1'
    were the only locations given; now file:line:col, in text and JSON."""
    (tmp_path / "latin.py").write_bytes(b'import torch\ny = "caf\xe9"\n')
    (tmp_path / "py2.py").write_text('import torch\nprint "hello"\n')
    proc = run_npatch("scan", ".", cwd=tmp_path)
    assert proc.returncode == 1
    assert "latin.py:2:9: cannot decode: byte 0xe9 is not utf-8" in proc.stdout, proc.stdout
    assert "py2.py:2:1: cannot parse: Missing parentheses in call to 'print'" in proc.stdout
    data = json.loads(run_npatch("scan", ".", "--format", "json", cwd=tmp_path).stdout)
    assert [(e["file"], e["line"], e["col"]) for e in data["summary"]["errors"]] == [("latin.py", 2, 9), ("py2.py", 2, 1)]
