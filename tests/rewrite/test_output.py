"""Diffs that `git apply` takes, careful writes, reports, progress and summary."""
from __future__ import annotations

import csv
import io
import json
import stat
import subprocess
from pathlib import Path

import pytest

from npatch.rewrite.output import summary, write_changes, write_report
from npatch.rewrite.runner import Progress, discover, run
from rewrite_helpers import rw

RULES = [
    rw("cuda", "rename", from_="torch.cuda", to="torch.npu", exclude=["d.py"]),
    rw("m", "method", from_="cuda", to="npu"),
    rw("nvtx", "unsupported", names=["torch.cuda.nvtx"], message="no NPU nvtx"),
]

FILES = {
    "pkg/a.py": "import torch\n\ndef f(x):\n    torch.cuda.synchronize()\n    return x.cuda()\n",
    "pkg/sub/b.py": "import torch\r\ny = torch.cuda.current_device()\r\n",
    "pkg/c.py": "x = 1\n",
    "pkg/d.py": "import torch\ntorch.cuda.nvtx.range_push('a')",
    "pkg/.hidden/e.py": "x.cuda()\n",
    "pkg/__pycache__/f.py": "x.cuda()\n",
}


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A git work tree with a few files; the cwd is its root."""
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    subprocess.run(["git", "init", "-q", "."], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def git_apply_check(root: Path, diff: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "apply", "--check", "-"], cwd=root, input=diff.encode(),
                          capture_output=True)


def test_discover_walks_python_files_skipping_hidden_and_pycache(tree):
    found = [d for _, d in discover(["pkg"])]
    assert found == ["pkg/a.py", "pkg/c.py", "pkg/d.py", "pkg/sub/b.py"]
    assert [d for _, d in discover(["pkg"], exclude=("sub/",))] == ["pkg/a.py", "pkg/c.py", "pkg/d.py"]
    assert [d for _, d in discover(["pkg/.hidden/e.py"])] == ["pkg/.hidden/e.py"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_diff_applies_with_git_apply(tree, jobs, monkeypatch):
    monkeypatch.setattr("npatch.rewrite.runner.MIN_PARALLEL_FILES", 1)
    result = run(RULES, discover(["pkg"]), jobs=jobs)
    assert result.jobs == jobs
    diff = "".join(o.diff for o in result.changed)
    assert [o.display for o in result.changed] == ["pkg/a.py", "pkg/sub/b.py"]
    assert "--- a/pkg/a.py\n+++ b/pkg/a.py\n" in diff
    check = git_apply_check(tree, diff)
    assert check.returncode == 0, check.stderr
    subprocess.run(["git", "apply", "-"], cwd=tree, input=diff.encode(), check=True)
    assert (tree / "pkg/sub/b.py").read_bytes() == b"import torch\r\ny = torch.npu.current_device()\r\n"


def test_diff_of_a_file_without_final_newline_applies(tree):
    (tree / "pkg/e.py").write_text("import torch\nx = torch.cuda.Stream()")
    result = run(RULES, discover(["pkg/e.py"]))
    assert "\\ No newline at end of file" in result.changed[0].diff
    assert git_apply_check(tree, result.changed[0].diff).returncode == 0


def test_write_keeps_mode_and_leaves_unchanged_files_alone(tree):
    script = tree / "pkg/a.py"
    script.chmod(0o750)
    untouched = tree / "pkg/c.py"
    before = untouched.stat()
    result = run(RULES, discover(["pkg"]))
    written = write_changes(result)
    assert written.written == ["pkg/a.py", "pkg/sub/b.py"] and not written.refused
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert "torch.npu.synchronize()" in script.read_text() and "x.npu()" in script.read_text()
    after = untouched.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    assert not [p for p in tree.rglob("*.npatch")]                     # no temporary files left
    assert not run(RULES, discover(["pkg"])).changed                  # idempotent


def test_write_refuses_a_file_changed_since_it_was_read(tree):
    result = run(RULES, discover(["pkg"]))
    (tree / "pkg/a.py").write_text("import torch\n# edited meanwhile\n")
    written = write_changes(result)
    assert written.written == ["pkg/sub/b.py"]
    assert written.refused == [("pkg/a.py", "changed since it was read; run again")]
    assert (tree / "pkg/a.py").read_text() == "import torch\n# edited meanwhile\n"


def test_write_through_a_symlink_replaces_the_target(tree):
    real = tree / "real.py"
    real.write_text("x.cuda()\n")
    (tree / "pkg/link.py").symlink_to(real)
    result = run(RULES, discover(["pkg/link.py"]))
    write_changes(result)
    assert (tree / "pkg/link.py").is_symlink()
    assert real.read_text() == "x.npu()\n"


@pytest.mark.parametrize("suffix", ["json", "csv"])
def test_report_lists_changes_and_unsupported_uses(tree, suffix):
    result = run(RULES, discover(["pkg"]), positions=True)
    report = tree / f"report.{suffix}"
    write_report(str(report), result, "m")
    if suffix == "json":
        data = json.loads(report.read_text())
        assert data["changed_files"] == ["pkg/a.py", "pkg/sub/b.py"]
        rows = data["changes"] + data["unsupported"]
    else:
        rows = list(csv.DictReader(io.StringIO(report.read_text())))
    unsupported = [r for r in rows if r["type"] == "unsupported"]
    assert [(r["file"], str(r["line"]), r["rule"], r["message"]) for r in unsupported] == [
        ("pkg/d.py", "2", "nvtx", "no NPU nvtx")]
    changes = {(r["file"], str(r["line"]), r["before"], r["after"]) for r in rows if r["type"] == "change"}
    assert ("pkg/a.py", "4", "torch.cuda", "torch.npu") in changes
    assert ("pkg/a.py", "5", "x.cuda", "x.npu") in changes


def test_summary_counts_per_rule(tree):
    result = run(RULES, discover(["pkg"]))
    text = summary(result)
    assert text.splitlines()[0].startswith(
        "npatch diff: 4 files, 3 parsed, 2 to change (3 edits), 1 unsupported use, 0 errors")
    assert "  cuda  2 edits in 2 files" in text and "  nvtx  1 unsupported use\n" in text + "\n"


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_bar_only_on_a_terminal():
    for tty, expected in ((True, True), (False, False)):
        stream = _Stream(tty)
        bar = Progress(50, stream)
        for _ in range(50):
            bar.step()
        bar.close()
        assert ("50/50 files" in stream.getvalue()) is expected
    short = _Stream(True)
    Progress(3, short).step()
    assert short.getvalue() == ""
