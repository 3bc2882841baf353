"""Helpers for rewrite tests: Rewrite objects without the manifest compiler.

(A uniquely named module, not ``conftest``: see tests/npatch_testutil.py.)

The rewriter consumes compiled :class:`npatch.plan.Rewrite` objects; these
tests build them directly (``rw``) or read the ``[[rewrite]]`` tables of a
manifest with :func:`rewrites_from_toml`, which checks each table with
:mod:`npatch.rewrite_kinds` the way the compiler does.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from npatch.plan import Rewrite
from npatch.rewrite.engine import Engine
from npatch.rewrite_kinds import kind_of, validate
from npatch.rewrite.rules import build_rules

BUILTIN = Path(__file__).resolve().parents[2] / "src" / "npatch" / "manifests" / "cuda-to-npu.toml"


def rw(id: str, kind: str, *, include=(), exclude=(), examples=(), valid=(), message="", **params: Any) -> Rewrite:
    """A Rewrite as the compiler makes it; ``from_``/``import_`` stand for the keywords."""
    params = {k.rstrip("_"): v for k, v in params.items()}
    assert validate(kind, params) == [], validate(kind, params)
    return Rewrite(id=id, kind=kind, params=tuple(sorted(params.items())), include=tuple(include),
                   exclude=tuple(exclude), examples=tuple(examples), valid=tuple(valid), message=message)


def rewrites_from_toml(path: Path) -> list[Rewrite]:
    data = tomllib.loads(path.read_text())
    out = []
    for i, table in enumerate(data.get("rewrite", [])):
        kinds = kind_of(table)
        assert len(kinds) == 1, f"rewrite[{i}]: {kinds}"
        kind = kinds[0]
        assert validate(kind, table[kind]) == [], (i, validate(kind, table[kind]))
        out.append(Rewrite(
            id=table["id"], kind=kind, params=tuple(sorted(table[kind].items())),
            include=tuple(table.get("include", ())), exclude=tuple(table.get("exclude", ())),
            message=table.get("message", ""),
            examples=tuple((e["before"], e["after"]) for e in table.get("examples", ())),
            valid=tuple(table.get("valid", ())), manifest=data["manifest"]["name"],
        ))
    return out


def rewrite_text(source: str, *rewrites: Rewrite, optimize: bool = True) -> str:
    """Run rules over source text, as ``npatch diff`` does for one file."""
    engine = Engine(build_rules(list(rewrites)), optimize=optimize, use_globs=False)
    return engine.transform_text(source)[0]
