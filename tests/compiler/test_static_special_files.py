"""The static check reads installed sources to resolve targets without
importing them: a FIFO planted where a module's source is expected (or a
link to a device) must be no hang and no endless read; the target is
reported as unverifiable (``-v`` lists it), saying what the file is, as npatch says it
everywhere it refuses to read one (``outfiles.file_kind``).

Scenarios run ``npatch compile`` in a fresh interpreter, as users do.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

MANIFEST = """[manifest]
name = "m"

[[patch]]
name = "p"
target = "{module}:f"
value = 2
"""


def _plant(tmp_path: Path, how: str) -> tuple[str, Path]:
    """The module name and the special file standing where its source should be."""
    if how == "package __init__ a FIFO":
        (tmp_path / "npt_special").mkdir()
        path = tmp_path / "npt_special" / "__init__.py"
    else:
        path = tmp_path / "npt_special.py"
    if how == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)
    return "npt_special", path


@pytest.mark.parametrize("how, kind", [
    ("module a FIFO", "a FIFO (a named pipe)"),
    ("package __init__ a FIFO", "a FIFO (a named pipe)"),
    ("link to /dev/zero", "a character device"),
])
def test_a_special_file_where_a_source_should_be_is_unverifiable_not_a_hang(tmp_path, how, kind):
    module, path = _plant(tmp_path, how)
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST.format(module=module))
    proc = run_npatch("compile", "-v", str(manifest), cwd=tmp_path, env=clean_env(), timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{manifest}:6:10: patch[0].target: info: {module}:f: cannot read {path}: is {kind}, not a regular file" \
        in proc.stderr, proc.stderr
