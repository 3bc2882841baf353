"""Gather the manifests of a compile: includes depth-first, options, ``--set``.

Included manifests come first, in the order they are listed, each before the
manifest that includes it; a manifest reached twice is used once (the first
time); a cycle is an error naming every file on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npatch.dsl.discovery import locate_manifest
from npatch.dsl.manifest import Manifest, load_manifest
from npatch.errors import ManifestErrors, UsageError, did_you_mean


@dataclass
class Collected:
    """Manifests in application order, with who included whom, and every
    path named to reach one (as named, and the file it led to)."""

    manifests: list[Manifest] = field(default_factory=list)
    includes: dict[Path, list[Path]] = field(default_factory=dict)
    followed: list[tuple[Path, Path]] = field(default_factory=list)


#: manifests in one include chain (a manifest, what it includes, what that includes...)
MAX_INCLUDE_DEPTH = 32


def collect(specs: list[str]) -> Collected:
    result = Collected()
    for spec in specs:
        result.followed.append(locate_manifest(spec))
        _visit(result.followed[-1][1], [], result)
    _check_unique_names(result.manifests)
    return result


def _visit(path: Path, stack: list[Path], result: Collected, origin: tuple[Manifest, int] | None = None) -> None:
    if path in result.includes:  # visited: includes are recorded once a manifest is done
        return
    try:
        manifest = load_manifest(path)
    except UsageError as exc:       # unreadable: reported at the include that named it
        if origin is None:
            raise
        raise _include_error(origin, str(exc)) from None
    stack = stack + [path]
    children = []
    for index, spec in enumerate(manifest.include):
        try:
            named, child = locate_manifest(spec, base=path.parent)
        except UsageError as exc:
            raise _include_error((manifest, index), str(exc)) from None
        result.followed.append((named, child))
        if child in stack:
            cycle = " -> ".join(str(p) for p in stack[stack.index(child):] + [child])
            raise manifest.error(("manifest", "include", index), f"include cycle: {cycle}", value=True,
                                 hint="remove one of these includes")
        if len(stack) >= MAX_INCLUDE_DEPTH:
            raise manifest.error(("manifest", "include", index),
                                 f"include chain deeper than {MAX_INCLUDE_DEPTH} manifests", value=True,
                                 hint="include the shared manifests side by side instead of in a chain")
        children.append(child)
        _visit(child, stack, result, (manifest, index))
    result.includes[path] = children
    result.manifests.append(manifest)


def _include_error(origin: tuple[Manifest, int], message: str):
    manifest, index = origin
    return manifest.error(("manifest", "include", index), message, value=True,
                          hint="include built-in names (`npatch list`) or paths relative to this file")


def _check_unique_names(manifests: list[Manifest]) -> None:
    seen: dict[str, Manifest] = {}
    errors = []
    for manifest in manifests:
        other = seen.get(manifest.name)
        if other is not None:
            line, col = other.doc.position(("manifest", "name"), value=True)
            errors.append(manifest.error(("manifest", "name"), f"manifest name {manifest.name!r} is already used",
                                         value=True, hint=f"first used at {other.file}:{line}:{col}"))
        seen[manifest.name] = manifest
    if errors:
        raise ManifestErrors(errors)


def merge_options(manifests: list[Manifest], sets: dict[str, str]) -> dict[str, Any]:
    """Declared options (later manifests may change an included default), then ``--set``."""
    options: dict[str, Any] = {}
    for manifest in manifests:
        options.update(manifest.options)
    for key, text in sets.items():
        if key not in options:
            hint = did_you_mean(key, list(options))
            declared = ", ".join(sorted(options)) or "none"
            raise UsageError(f"--set {key}: no such option{' (' + hint + ')' if hint else ''}; declared options: {declared}")
        options[key] = _coerce(key, text, options[key])
    return options


def _coerce(key: str, text: str, default: Any) -> Any:
    """Parse ``--set`` text as the type of the declared default."""
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise UsageError(f"--set {key}={text}: expected true or false")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"--set {key}={text}: expected an integer") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"--set {key}={text}: expected a number") from None
    return text


__all__ = ["Collected", "MAX_INCLUDE_DEPTH", "collect", "merge_options"]
