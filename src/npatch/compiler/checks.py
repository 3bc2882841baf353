"""Checks that span entries and files: names, collisions, options, disables.

Each returns located :class:`~npatch.errors.ManifestError` objects; the
compiler raises them together.  A collision names both places.
"""
from __future__ import annotations

import functools
import sys
from typing import Any

from npatch.compiler.build import Draft
from npatch.compiler.resolve import Diagnostic
from npatch.dsl.manifest import Manifest
from npatch.dsl.model import PATCH_ACTIONS
from npatch.errors import ManifestError, did_you_mean
from npatch.opkinds import BUILTIN_OP_KINDS
from npatch.plan import Origin, Plan, Rewrite


def _error(origin: Origin, message: str, hint: str = "") -> ManifestError:
    return ManifestError(message, file=origin.file, line=origin.line, col=origin.col, key=origin.key, hint=hint)


def _at(origin: Origin) -> str:
    return f"{origin.file}:{origin.line}:{origin.col}"


def check_drafts(drafts: list[Draft]) -> list[ManifestError]:
    errors = []
    by_name: dict[str, Draft] = {}
    for draft in drafts:
        first = by_name.get(draft.name)
        if first is not None and first.kind == draft.kind == "alias" and first.source != draft.source:
            continue  # reported as a colliding alias, which says more
        if first is not None:
            errors.append(_error(draft.origin("name") if draft.kind in PATCH_ACTIONS else draft.origin(),
                                 f"duplicate name {draft.name!r}", hint=f"first defined at {_at(first.origin())}; names must be unique across includes"))
        else:
            by_name[draft.name] = draft
    errors += _same_target_same_priority(drafts)
    errors += _repeated_targets(drafts)
    errors += _colliding_aliases(drafts)
    errors += _module_only_targets(drafts)
    errors += _alias_cycles(drafts)
    errors += _interpreter_stubs(drafts)
    return errors


#: kinds that change an attribute of their target: ``json:`` (the module itself) names nothing to change
#: the op kinds whose target names an attribute (``module:qualname``), not a module
ATTRIBUTE_KINDS = frozenset(name for name, info in BUILTIN_OP_KINDS.items() if info.acts_on == "attribute")
#: ``[[patch]]`` kinds that change an attribute: two on one target need two priorities
_PATCH_ATTRIBUTE_KINDS = frozenset(name for name, info in BUILTIN_OP_KINDS.items()
                                   if info.acts_on == "attribute" and info.table == "patch")
#: kinds that set their target outright: a later one overrides an earlier one
_OVERRIDING_KINDS = frozenset(name for name, info in BUILTIN_OP_KINDS.items() if info.overrides)


def _module_only_targets(drafts: list[Draft]) -> list[ManifestError]:
    errors = []
    for draft in drafts:
        if draft.kind not in ATTRIBUTE_KINDS:
            continue
        for index, target in enumerate(draft.targets):
            module, colon, qualname = target.partition(":")
            if colon and not qualname:
                errors.append(_error(draft.target_origin(index), f"{target!r} names the module {module!r} itself, "
                                     f"not an attribute a `{draft.kind}` can change",
                                     hint=f"write {module}:NAME"))
    return errors


def _canonical(text: str) -> str:
    return text.replace(":", ".")


def _same_target_same_priority(drafts: list[Draft]) -> list[ManifestError]:
    errors = []
    seen: dict[tuple[str, int, Any], Draft] = {}
    for draft in drafts:
        if draft.kind not in _PATCH_ATTRIBUTE_KINDS:
            continue
        for index, target in enumerate(draft.targets):
            key = (_canonical(target), draft.priority, draft.during)
            first = seen.get(key)
            if first is not None and first.name != draft.name:
                errors.append(_error(
                    draft.target_origin(index),
                    f"{draft.name!r} and {first.name!r} both change {target} at priority {draft.priority}",
                    hint=f"{first.name!r} is at {_at(first.target_origin(0))}; give one a different `priority`, "
                         "or disable one of them",
                ))
            seen.setdefault(key, draft)
    return errors


def _repeated_targets(drafts: list[Draft]) -> list[ManifestError]:
    """An ``also`` path that names a target of the same op again (``json.dumps`` for ``json:dumps``)."""
    errors = []
    for draft in drafts:
        seen: dict[str, int] = {}
        for index, target in enumerate(draft.targets):
            first = seen.setdefault(_canonical(target), index)
            if first != index:
                errors.append(_error(draft.target_origin(index), f"{target!r} repeats {draft.targets[first]!r}, "
                                     f"which this op already changes", hint=f"remove it from `also`; "
                                     f"the first is at {_at(draft.target_origin(first))}"))
    return errors


def _colliding_aliases(drafts: list[Draft]) -> list[ManifestError]:
    errors = []
    seen: dict[str, Draft] = {}
    modules = {d.targets[0]: d for d in drafts if d.kind == "stub"}
    for draft in drafts:
        if draft.kind != "alias":
            continue
        target = draft.targets[0]
        first = seen.get(target)
        if first is not None and first.source != draft.source:
            errors.append(_error(draft.origin("target"), f"alias {target!r} -> {draft.source!r} collides with {target!r} -> {first.source!r}",
                                 hint=f"the other alias is at {_at(first.origin('target'))}"))
        if target in modules:
            errors.append(_error(draft.origin("target"), f"{target!r} is both an alias and a stub",
                                 hint=f"the stub is at {_at(modules[target].origin('module'))}"))
        seen.setdefault(target, draft)
    return errors


def _alias_cycles(drafts: list[Draft]) -> list[ManifestError]:
    """An alias whose source leads back to itself: ``a -> a``, ``a -> b -> a``,
    ``a -> a.sub`` (importing ``a.sub`` imports its package ``a`` first)."""
    aliases: dict[str, Draft] = {}
    for draft in drafts:
        if draft.kind == "alias":
            aliases.setdefault(draft.targets[0], draft)
    sources = {target: draft.source or "" for target, draft in aliases.items()}
    errors = []
    for target, draft in aliases.items():
        found = _alias_path(target, sources)
        if found is None:
            continue
        path, through = found
        others = [_at(aliases[name].origin("target")) for name in through]
        hint = "an alias's source must not lead back to the alias (importing a module imports its packages first)"
        if others:
            hint += f"; the other aliases are at {', '.join(others)}"
        errors.append(_error(draft.origin("target"), f"alias {target!r} leads back to itself: {' -> '.join(path)}",
                             hint=hint))
    return errors


def _alias_path(target: str, sources: dict[str, str]) -> tuple[list[str], list[str]] | None:
    """When importing alias ``target`` comes back to ``target``: the names it
    imports on the way, and the other aliases it passes through."""
    path = [target]
    through: list[str] = []
    name = sources[target]
    while True:
        path.append(name)
        # importing `name` imports each of its packages first, outermost first
        cuts = [i for i, char in enumerate(name) if char == "."] + [len(name)]
        hit = next((name[:cut] for cut in cuts if name[:cut] in sources), None)
        if hit is None or hit in through:
            return None  # no alias on the way, or a cycle that does not pass through `target`
        if hit == target:
            return (path if hit == name else path + [hit]), through
        through.append(hit)
        name = sources[hit] + name[len(hit):]


@functools.cache
def interpreter_modules() -> frozenset[str]:
    """Modules the interpreter needs: built into it, or imported before any
    plan can start: what a bare ``python -I -c pass`` has in ``sys.modules``
    (``.pth`` imports of this environment included) plus what npatch's own
    runtime imports to start a plan (``importlib`` among them, which a bare
    start in a fresh virtual environment does not import)."""
    code = ("import sys\ntry:\n    import npatch.runtime.launcher, npatch.runtime.session\n"
            "except Exception:\n    pass\n"
            "print(*(n for n in sys.modules if n.partition('.')[0] != 'npatch'), sep='\\n')")
    import subprocess  # only a stub of a standard module asks: a compile need not import it

    try:
        proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120)
        started = proc.stdout.split() if proc.returncode == 0 else []
    except (OSError, subprocess.SubprocessError):
        started = []
    return frozenset(sys.builtin_module_names) | frozenset(started)


def _could_start_with_python(name: str) -> bool:
    """Cheap pre-check: a module a bare start imports is in the standard
    library or already imported here (this process started the same way)."""
    return name in sys.modules or name.partition(".")[0] in sys.stdlib_module_names or name in sys.builtin_module_names


def _interpreter_stubs(drafts: list[Draft]) -> list[ManifestError]:
    errors = []
    for draft in drafts:
        name = draft.targets[0]
        if draft.kind == "stub" and _could_start_with_python(name) and name in interpreter_modules():
            errors.append(_error(draft.origin("module"), f"cannot stub {name!r}: the interpreter needs it "
                                 "(it is built in or imported before any plan starts)",
                                 hint="stub or patch the module that uses it instead"))
    return errors


def option_names(tree: Any) -> list[str]:
    """Option names read by ``option('...')`` in a condition tree."""
    if not isinstance(tree, tuple) or not tree:
        return []
    if tree[0] == "call" and tree[1] == "option":
        return [arg[1] for arg in tree[2] if isinstance(arg, tuple) and arg[0] == "str"]
    found = []
    for child in tree[1:]:
        if isinstance(child, tuple):
            found += option_names(child)
    return found


def check_options(manifests: list[Manifest], options: dict[str, Any]) -> list[ManifestError]:
    errors = []
    for manifest in manifests:
        places = [(("manifest", "when"), manifest.when)] + [
            (entry.path + (key,), tree) for entry in manifest.entries for key, tree in entry.conditions.items()
        ]
        for path, tree in places:
            for name in option_names(tree):
                if name not in options:
                    hint = did_you_mean(name, list(options)) or f"declare it under [options]; declared: {', '.join(options) or 'none'}"
                    errors.append(manifest.error(path, f"option {name!r} is used but not declared", value=True, hint=hint))
    return errors


def check_option_types(manifests: list[Manifest]) -> list[ManifestError]:
    """A manifest may change the default of an option another one declares, not
    its type: the other's conditions compare it as what it declared."""
    first: dict[str, Manifest] = {}
    errors = []
    for manifest in manifests:
        for name, value in manifest.options.items():
            other = first.setdefault(name, manifest)
            declared = other.options[name]
            if _option_kind(value) != _option_kind(declared):
                line, col = other.doc.position(("options", name), value=True)
                errors.append(manifest.error(
                    ("options", name), f"option {name!r} is {_type_name(value)} here; {other.name} declares it as "
                    f"{_type_name(declared)}", value=True,
                    hint=f"declared at {other.file}:{line}:{col}; give a default of that type, or another name"))
    return errors


def _option_kind(value: Any) -> str:
    return "bool" if isinstance(value, bool) else "number" if isinstance(value, (int, float)) else "str"


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {int: "an integer", float: "a float"}.get(type(value), "a string")


def check_disables(manifests: list[Manifest], drafts: list[Draft], cli: list[str]) -> tuple[set[str], list[ManifestError]]:
    """Names switched off by ``disable`` lists and ``--disable``; unknown names are errors."""
    from npatch.errors import UsageError

    names = [d.name for d in drafts]
    disabled: set[str] = set()
    errors = []
    for manifest in manifests:
        for index, name in enumerate(manifest.disable):
            if name not in names:
                errors.append(manifest.error(("manifest", "disable", index), f"nothing named {name!r} to disable", value=True,
                                             hint=did_you_mean(name, names) or "disable names patches of included manifests"))
            disabled.add(name)
    for name in cli:
        if name not in names:
            hint = did_you_mean(name, names)
            raise UsageError(f"--disable {name}: no op of that name{' (' + hint + ')' if hint else ''}")
        disabled.add(name)
    return disabled, errors


def check_rewrite_ids(rewrites: list[Rewrite]) -> list[ManifestError]:
    errors = []
    seen: dict[str, Rewrite] = {}
    for rewrite in rewrites:
        first = seen.get(rewrite.id)
        if first is not None:
            errors.append(_error(rewrite.origin, f"rewrite id {rewrite.id!r} is used twice", hint=f"first at {_at(first.origin)}"))
        seen.setdefault(rewrite.id, rewrite)
    return errors


def check_resolved(plan: Plan) -> list[Diagnostic]:
    """Warnings that need resolved targets: an op that also patches what another op replaced."""
    diagnostics = []
    seen: dict[tuple[str, str | None], str] = {}
    for op in plan.ops:
        if op.kind not in _OVERRIDING_KINDS:
            continue
        for target in op.targets:
            key = (str(target), op.during)
            if key in seen and seen[key] != op.name:
                diagnostics.append(Diagnostic("info", "overridden", f"{target} is changed by {seen[key]!r} and then by {op.name!r} (higher priority wins)",
                                              op.origin, op.name))
            seen[key] = op.name
    return diagnostics


__all__ = ["ATTRIBUTE_KINDS", "check_drafts", "interpreter_modules", "option_names", "check_options", "check_option_types", "check_disables",
           "check_rewrite_ids", "check_resolved"]
