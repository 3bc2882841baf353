"""The API table: what ``npatch scan`` looks for, read from TOML data.

The built-in table ships next to the built-in manifests
(``npatch/manifests/tables/device-apis.toml``); ``--table FILE`` adds more.
Errors name the file, line and column of the offending key.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from npatch.errors import ManifestError, ManifestErrors, UsageError

BUILTIN_TABLE = Path(__file__).resolve().parent.parent / "manifests" / "tables" / "device-apis.toml"

_COMMON = {"id": str, "category": str, "why": str, "imports": bool, "unsupported": str,
           "consumers": list, "removed": str, "defined_importing": list, "examples": list, "valid": list}


@dataclass(frozen=True)
class Api:
    """One ``[[api]]`` entry: a pattern of the kind ``kind`` and what it means."""

    id: str
    category: str
    kind: str
    params: Any
    why: str
    imports: bool = False
    unsupported: str = ""
    consumers: tuple[str, ...] = ()
    removed: str = ""
    defined_importing: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    valid: tuple[str, ...] = ()
    origin: str = ""


def load_table(path: str | Path | None = None) -> list[Api]:
    """The entries of a table file (the built-in one by default)."""
    from npatch.dsl.locate import load
    from npatch.outfiles import read_input
    from npatch.scan.patterns import PATTERNS

    path = Path(path) if path is not None else BUILTIN_TABLE
    try:
        text = read_input(str(path)).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read table {path}: {getattr(exc, 'strerror', None) or exc}") from None
    located = load(text, str(path))
    errors: list[ManifestError] = []
    apis: list[Api] = []
    seen: set[str] = set()
    entries = located.data.get("api")
    if not isinstance(entries, list) or not entries:
        raise ManifestErrors([located.error(("api",), "a table needs [[api]] entries")])
    for index, entry in enumerate(entries):
        at = ("api", index)
        problems = [(k, f"unknown key (known: {', '.join([*_COMMON, *PATTERNS])})")
                    for k in entry if k not in _COMMON and k not in PATTERNS]
        problems += [(k, f"must be {t.__name__}") for k, t in _COMMON.items()
                     if k in entry and not isinstance(entry[k], t)]
        problems += [(k, "is required") for k in ("id", "category", "why") if k not in entry]
        kinds = [k for k in entry if k in PATTERNS]
        if len(kinds) != 1:
            problems.append(("", f"needs exactly one pattern key of {', '.join(PATTERNS)}, has {len(kinds)}"))
        else:
            problems += [(f"{kinds[0]}.{k}" if k else kinds[0], m) for k, m in PATTERNS[kinds[0]].check(entry[kinds[0]])]
        if entry.get("id") in seen:
            problems.append(("id", f"duplicate id {entry['id']!r}"))
        errors += [located.error((*at, *key.split(".")) if key else at, message) for key, message in problems]
        if problems:
            continue
        seen.add(entry["id"])
        line, col = located.position(at)
        apis.append(Api(
            id=entry["id"], category=entry["category"], kind=kinds[0], params=entry[kinds[0]], why=entry["why"],
            imports=entry.get("imports", False), unsupported=entry.get("unsupported", ""),
            consumers=tuple(entry.get("consumers", ())), removed=entry.get("removed", ""),
            defined_importing=tuple(entry.get("defined_importing", ())),
            examples=tuple(entry.get("examples", ())), valid=tuple(entry.get("valid", ())),
            origin=f"{path}:{line}:{col}",
        ))
    if errors:
        raise ManifestErrors(errors)
    return apis


def load_tables(extra: list[str] | None = None) -> list[Api]:
    """The built-in table plus ``extra`` table files; a later entry replaces an
    earlier one of the same id."""
    by_id: dict[str, Api] = {}
    for path in [None, *(extra or [])]:
        for api in load_table(path):
            by_id[api.id] = api
    return list(by_id.values())


__all__ = ["BUILTIN_TABLE", "Api", "load_table", "load_tables"]
