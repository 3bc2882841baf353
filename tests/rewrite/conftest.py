"""Fixtures for the rewrite tests."""
from __future__ import annotations

import pytest

from npatch.plan import Rewrite
from rewrite_helpers import BUILTIN, rewrites_from_toml


@pytest.fixture(scope="session")
def builtin_rewrites() -> list[Rewrite]:
    return rewrites_from_toml(BUILTIN)
