"""PEP 440 conditions as users meet them: ``npatch apply`` in a fresh
interpreter against the real torch 2.13.0+cpu, and without ``packaging``
being imported by the patched program."""
from __future__ import annotations

import sys

import pytest

from npatch_testutil import clean_env, run_npatch

# (condition, applied?) with torch 2.13.0+cpu installed
CASES = [
    ("version('torch') > '2.13.0'", False),  # a local build is not greater than its public version
    ("version('torch') <= '2.13.0'", True),
    ("version('torch') ~= '2.13'", True),
    ("version('torch') ~= '2.12.0'", False),
    ("option('level') >= 3", True),  # --set level=5, compared as numbers
    ("option('level') > 10", False),  # as numbers 5 < 10 (as versions too; '5' > '10' only as text)
]


@pytest.mark.parametrize(("condition", "applied"), CASES)
def test_condition_decides_in_a_patched_process(tmp_path, condition, applied):
    manifest = tmp_path / "m.toml"
    manifest.write_text(f'[manifest]\nname = "c"\n\n[options]\nlevel = 1\n\n[[patch]]\nname = "v"\n'
                        f'target = "shlex:NPT_MARK"\nvalue = "set"\nwhen = "{condition}"\n')
    code = "import shlex, sys; print('MARK', getattr(shlex, 'NPT_MARK', None), 'packaging' in sys.modules)"
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_npatch("apply", "--set", "level=5", str(manifest), "--", sys.executable, "-c", code,
                      cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"MARK {'set' if applied else None} False" in proc.stdout, proc.stdout + proc.stderr
