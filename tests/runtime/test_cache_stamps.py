"""Issue 16 item 1: a cache hit of ``npatch apply`` checks a settled file by
its stat (its *stamp*: size, inode, mtime, ctime) instead of hashing
it again, and still never runs a plan whose files changed.

Each scenario runs the real CLI in a fresh interpreter.  A stamp is only
recorded for a file changed at least ``SETTLED_NS`` ago, so the scenarios
wait that long once (a wait, not a timing assert: after it, the rule holds
whatever the machine's speed).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from npatch.plancache import SETTLED_NS, stamp
from npatch_testutil import YIQ_MANIFEST, clean_env, run_npatch

PY = sys.executable
SHOW = "import colorsys; print('yiq', colorsys.rgb_to_yiq)"


def _apply(manifest: Path, env: dict[str, str]) -> str:
    proc = run_npatch("apply", str(manifest), "--", PY, "-c", SHOW, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _entry(cache: Path) -> list[str]:
    (entry,) = (cache / "npatch" / "keys").iterdir()
    return entry.read_text().splitlines()


def _stamped(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """(manifest, cache) after a compile and, once every file has settled, a
    hit that recorded the stamps of the manifest and the plan's files."""
    manifest = tmp_path / "m.toml"
    manifest.write_text(YIQ_MANIFEST)
    cache = tmp_path / "cache"
    env = clean_env(XDG_CACHE_HOME=str(cache))
    assert "yiq 42" in _apply(manifest, env)
    assert all(line.split(" ")[2] == "-" for line in _entry(cache)[1:4])  # just written: not settled
    _settle()
    assert "yiq 42" in _apply(manifest, env)
    assert all(line.split(" ")[2] != "-" for line in _entry(cache)[1:4] if line.split(" ")[1] != "-")
    assert _entry(cache)[4].split(" ")[3] != "-"
    return manifest, cache, env


def _settle() -> None:
    time.sleep(SETTLED_NS / 1e9 + 0.2)


def _edit_keeping_size_and_times(path: Path, old: bytes, new: bytes) -> None:
    """Change ``path`` in place as ``cp -p`` or a careful tool would: same size, same atime and mtime;
    then wait until the change has settled (only ctime tells it from the stamped file)."""
    info = path.stat()
    data = path.read_bytes()
    assert old in data and len(old) == len(new)
    with open(path, "r+b") as handle:
        handle.write(data.replace(old, new))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_mtime_ns == info.st_mtime_ns and path.stat().st_size == info.st_size
    _settle()


def test_a_manifest_edited_keeping_size_and_mtime_is_noticed(tmp_path):
    manifest, cache, env = _stamped(tmp_path)
    _edit_keeping_size_and_times(manifest, b"42", b"43")
    assert "yiq 43" in _apply(manifest, env)


@pytest.mark.parametrize("suffix", [".json", ".marshal", ".modules"])
def test_a_cached_plan_file_edited_keeping_size_and_mtime_is_a_miss(tmp_path, suffix):
    manifest, cache, env = _stamped(tmp_path)
    (plan,) = (cache / "npatch" / "plans").glob("*" + suffix)
    original = plan.read_bytes()
    old, new = {".json": (b"42", b"66"), ".marshal": (b"colorsys", b"colorsyz"),
                ".modules": (b"colorsys", b"colorsyz")}[suffix]
    _edit_keeping_size_and_times(plan, old, new)
    assert "yiq 42" in _apply(manifest, env)
    assert plan.read_bytes() == original  # verified against the entry, found wrong, written again


def test_a_touched_manifest_is_hashed_once_and_still_a_hit(tmp_path):
    manifest, cache, env = _stamped(tmp_path)
    plans = sorted((cache / "npatch" / "plans").iterdir())
    before = _entry(cache)
    os.utime(manifest)  # new mtime and ctime, same content
    assert "yiq 42" in _apply(manifest, env)
    assert sorted((cache / "npatch" / "plans").iterdir()) == plans  # no compile
    assert _entry(cache)[:4] == before[:4] and _entry(cache)[4].split(" ")[3] == "-"  # changed just now


def test_a_stamp_is_only_given_to_a_file_that_has_settled(tmp_path):
    """A write in the same timestamp tick as the last one keeps mtime and ctime
    (git's "racy" files): a file changed less than SETTLED_NS ago has no stamp."""
    path = tmp_path / "f"
    path.write_text("x")
    info = path.stat()
    changed = max(info.st_mtime_ns, info.st_ctime_ns)
    assert stamp(info, changed) == stamp(info, changed + SETTLED_NS) == "-"
    mark = stamp(info, changed + SETTLED_NS + 1)
    assert mark == f"{info.st_size}:{info.st_ino}:{info.st_mtime_ns}:{info.st_ctime_ns}"  # no device: NFS clients differ


def test_a_stamp_is_checked_through_an_open_descriptor(tmp_path, monkeypatch):
    """An NFS client answers stat() from its attribute cache and asks the
    server on open(): the check of a settled file opens it, and never stats it
    by name (a manifest edited on another node must not keep its old stamp)."""
    from npatch import plancache

    path = tmp_path / "f"
    path.write_text("x")
    info = path.stat()
    now = max(info.st_mtime_ns, info.st_ctime_ns) + SETTLED_NS + 1
    mark = stamp(info, now)
    sha = plancache.digest(b"x")

    def by_name(*args, **kwargs):
        raise AssertionError("stat by name")

    monkeypatch.setattr(os, "stat", by_name)
    monkeypatch.setattr(os, "lstat", by_name)
    assert plancache._unchanged(str(path), sha, mark, lambda info: True, now) == mark
    assert plancache._unchanged(str(path), sha, mark, plancache.owned_regular, now) == mark
