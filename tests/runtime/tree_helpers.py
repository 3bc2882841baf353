"""Scenario helper for the alias and stub tests: packages, a manifest and a
script written to tmp_path, run with ``npatch apply`` in a fresh interpreter."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from npatch_testutil import clean_env, run_npatch

#: a module that counts how often each module's body executed (``count(__name__)``)
COUNTER = "runs = {}\ndef count(name):\n    runs[name] = runs.get(name, 0) + 1\n"


def write_files(root: Path, files: dict[str, str]) -> None:
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def apply_scenario(tmp_path: Path, manifest: str, code: str, files: dict[str, str] | None = None,
                   *options: str, name: str = "m.toml"):
    """``npatch apply <tmp>/m.toml [options] -- python <script>``, with tmp_path on PYTHONPATH."""
    write_files(tmp_path, {"counter.py": COUNTER, **(files or {})})
    write_files(tmp_path, {name: manifest, "scenario.py": code})
    env = clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    return run_npatch("apply", str(tmp_path / name), *options, "--", sys.executable, str(tmp_path / "scenario.py"),
                      cwd=tmp_path, env=env)


def expect_lines(out: str, *lines: str) -> None:
    """Each of ``lines`` is somewhere in ``out`` (the scenario's stdout)."""
    missing = [line for line in lines if line not in out]
    assert not missing, f"missing {missing} in:\n{out}"


def line_of(path: Path, text: str) -> int:
    """1-based number of the first line of ``path`` that contains ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")
