"""Checks that span entries and files: names, collisions, options, disables.

Each returns located :class:`~npatch.errors.ManifestError` objects; the
compiler raises them together.  A collision names both places.
"""
from __future__ import annotations

from typing import Any

from npatch.compiler.build import Draft
from npatch.compiler.resolve import Diagnostic
from npatch.dsl.manifest import Manifest, did_you_mean
from npatch.dsl.model import PATCH_ACTIONS
from npatch.errors import ManifestError
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
    errors += _colliding_aliases(drafts)
    errors += _module_only_targets(drafts)
    return errors


#: kinds that change an attribute of their target: ``json:`` (the module itself) names nothing to change
_ATTRIBUTE_KINDS = frozenset({"replace", "wrap", "value", "delete", "register"})


def _module_only_targets(drafts: list[Draft]) -> list[ManifestError]:
    errors = []
    for draft in drafts:
        if draft.kind not in _ATTRIBUTE_KINDS:
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
        if draft.kind not in ("replace", "wrap", "value", "delete"):
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
        if op.kind not in ("replace", "value", "delete"):
            continue
        for target in op.targets:
            key = (str(target), op.during)
            if key in seen and seen[key] != op.name:
                diagnostics.append(Diagnostic("info", "overridden", f"{target} is changed by {seen[key]!r} and then by {op.name!r} (higher priority wins)",
                                              op.origin, op.name))
            seen[key] = op.name
    return diagnostics
