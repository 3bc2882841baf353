"""The built-in cuda-to-npu rules over the installed mmdet, mmcv (mmcv-lite) and
mmengine sources: every rewritten file compiles, the diff applies with
`git apply`, writing gives exactly the diffed text, a second run finds
nothing, and the engine's shortcuts agree with the plain codemod.

The sources are copied to a temporary git work tree (the installed ones are
only read), once for the module.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess

import pytest

from npatch.rewrite.output import write_changes
from npatch.rewrite.runner import discover, run

PACKAGES = ("mmdet", "mmcv", "mmengine")


@pytest.fixture(scope="module")
def work_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    for name in PACKAGES:
        source = importlib.util.find_spec(name).submodule_search_locations[0]
        shutil.copytree(source, root / name, ignore=shutil.ignore_patterns(".*", "__pycache__"))
    subprocess.run(["git", "init", "-q", "."], cwd=root, check=True)
    return root


@pytest.fixture(scope="module")
def first_run(work_tree, builtin_rewrites):
    import os

    cwd = os.getcwd()
    os.chdir(work_tree)
    try:
        files = discover(list(PACKAGES))
        result = run(builtin_rewrites, files, jobs=2)
    finally:
        os.chdir(cwd)
    return files, result


def test_full_tree_every_rewritten_file_compiles(first_run):
    files, result = first_run
    assert len(files) > 700                      # mmdet + mmcv-lite + mmengine, about 790
    assert not result.errors
    assert len(result.changed) > 20
    for outcome in result.changed:
        compile(outcome.new_data, outcome.display, "exec")


def test_full_tree_diff_applies_with_git_apply(work_tree, first_run):
    _, result = first_run
    diff = "".join(o.diff for o in result.changed)
    check = subprocess.run(["git", "apply", "--check", "--stat", "-"], cwd=work_tree, input=diff.encode(),
                           capture_output=True)
    assert check.returncode == 0, check.stderr.decode()
    assert check.stdout.decode().count("|") == len(result.changed)


def test_write_gives_the_diffed_text_and_a_second_run_finds_nothing(work_tree, first_run, builtin_rewrites,
                                                                     monkeypatch):
    _, result = first_run
    monkeypatch.chdir(work_tree)
    written = write_changes(result)
    assert not written.refused and len(written.written) == len(result.changed)
    for outcome in result.changed:
        assert (work_tree / outcome.display).read_bytes() == outcome.new_data
    rewritten = [(str(work_tree / o.display), o.display) for o in result.changed]
    again = run(builtin_rewrites, rewritten, jobs=2, optimize=False)      # no shortcut may hide a change
    assert not again.changed, [o.display for o in again.changed]


def test_shortcuts_agree_with_the_plain_codemod_on_a_sample(work_tree, first_run, builtin_rewrites, monkeypatch):
    """Qualified names on every file, no prefilter: the same output (a sample, it is slow)."""
    files, result = first_run
    monkeypatch.chdir(work_tree)
    changed = {o.display: o for o in result.changed}
    with_metadata = [o.display for o in result.changed if o.metadata][:8]
    plain = [o.display for o in result.changed if not o.metadata][:4]
    # files that mention a needle but that the ast scan lets skip the libcst parse
    skipped = [d for _, d in files if d not in changed and b"cuda" in (work_tree / d).read_bytes()][:10]
    sample = [(str(work_tree / d), d) for d in with_metadata + plain + skipped]
    # the write test may have run first: compare against the original sources
    for _, display in sample:
        if display in changed:
            (work_tree / display).write_bytes(changed[display].old_data)
    slow = run(builtin_rewrites, sample, jobs=2, optimize=False)
    fast = run(builtin_rewrites, sample, jobs=2)
    assert {o.display: o.new_data for o in slow.changed} == {o.display: o.new_data for o in fast.changed}
    assert {o.display for o in slow.changed} == set(with_metadata + plain)
