"""The ``has_file(path)`` condition function: true when ``path`` exists."""
from __future__ import annotations

import os


def has_file(path: str) -> bool:
    return os.path.exists(path)
