"""Fixtures shared by every test folder; plain helpers live in ``npatch_testutil``."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# The property tests draw the same examples on every run (a failed CI must mean
# a changed result, not an unlucky draw) and never fail on generation time under
# load; `pytest --hypothesis-profile=default` explores with fresh random examples.
# No example database then: a failure prints the @reproduce_failure line instead.
settings.register_profile("npatch", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          print_blob=True)
settings.load_profile("npatch")


@pytest.fixture
def write_manifest(tmp_path: Path):
    """write_manifest(text, name="m.toml") -> Path: a dedented manifest file in tmp_path."""

    def write(text: str, name: str = "m.toml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write
