"""The compiler: manifests in, a :class:`~npatch.plan.Plan` out.

Steps, each in its own module: :mod:`.collect` (includes, options),
:mod:`.build` (entries to drafts), :mod:`.checks` (rules that span entries
and files), :mod:`.resolve` (paths, in ``import``/``static``/``none`` mode).
Located problems raise :class:`~npatch.errors.ManifestErrors`; resolution
findings come back as diagnostics in the :class:`CompileResult`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from npatch.compiler import sugar  # noqa: F401 - registers the [brake] and [profile] builders
from npatch.compiler.build import BUILDERS, Draft, build_rewrite
from npatch.compiler.checks import (ATTRIBUTE_KINDS, check_disables, check_drafts, check_option_types, check_options,
                                    check_resolved, check_rewrite_ids)
from npatch.compiler.collect import collect, merge_options
from npatch.compiler.resolve import RESOLVERS, Diagnostic, Resolver
from npatch.errors import ManifestErrors, PlanLoadError, UsageError
from npatch.opkinds import BUILTIN_OP_KINDS
from npatch.plan import ManifestInfo, Op, Plan, PlanError, Target, freeze

@dataclass
class CompileResult:
    """The plan, what resolution found, every manifest file that was read,
    and every path named to reach one: as named (absolute, links not
    followed) and the file it led to, whatever links were on the way."""

    plan: Plan
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    resolve: str = "none"
    followed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def by_code(self, code: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.code == code]


def compile_manifests(
    specs: list[str],
    *,
    resolve: str = "none",
    sets: dict[str, str] | None = None,
    disable: list[str] | None = None,
    paths: list[str] | None = None,
    strict: bool = False,
) -> CompileResult:
    """Compile manifests (paths, built-in or entry-point names) into a plan.

    ``resolve`` checks paths (see :mod:`.resolve`), searching the directories
    of the manifest files read (built-in ones aside) and the current
    directory, then ``paths``, then ``sys.path``.  ``strict``: a path into a
    package not installed here is an error, not an ``unverifiable`` note
    (names from C extensions stay unverifiable: ``import`` mode sees them).
    """
    if resolve not in RESOLVERS:
        raise UsageError(f"--resolve must be one of {', '.join(RESOLVERS)}, not {resolve!r}")
    if not specs:
        raise UsageError("no manifest given")
    collected = collect(specs)
    manifests = collected.manifests
    options = merge_options(manifests, sets or {})
    drafts: list[Draft] = []
    rewrites = []
    for manifest in manifests:
        for entry in manifest.entries:
            if entry.table == "rewrite":
                rewrites.append(build_rewrite(manifest, entry))
            else:
                drafts.extend(BUILDERS[entry.table](manifest, entry))
    errors = (check_option_types(manifests) + check_options(manifests, options) + check_drafts(drafts)
              + check_rewrite_ids(rewrites))
    disabled, disable_errors = check_disables(manifests, drafts, disable or [])
    if errors or disable_errors:
        raise ManifestErrors(errors + disable_errors)
    resolver = RESOLVERS[resolve](search_roots(manifests, paths or []))
    diagnostics: list[Diagnostic] = []
    enabled = [draft for draft in drafts if draft.name not in disabled]
    unresolved = RESOLVERS["none"](paths)
    prelude = [_resolve(d, unresolved, [], options) for d in enabled  # what imports find: installed first
               if d.kind in BUILTIN_OP_KINDS and BUILTIN_OP_KINDS[d.kind].acts_on == "import"]
    resolver.prepare(Plan(ops=tuple(prelude), options=tuple(options.items())))
    try:
        ops = [_resolve(draft, resolver, diagnostics, options) for draft in enabled]
        if resolver.name != "none":
            diagnostics.extend(_unserved_parents(enabled, resolver, options))
    finally:
        resolver.close()
    ops.sort(key=lambda op: op.priority)  # stable: ties keep declaration order
    infos = tuple(
        ManifestInfo(m.name, str(m.file), m.description,
                     tuple(str(p) for p in collected.includes.get(m.file, [])), tuple(m.disable))
        for m in manifests
    )
    plan = Plan(manifests=infos, options=tuple((k, freeze(v)) for k, v in options.items()), ops=tuple(ops),
                rewrites=tuple(rewrites), disabled=tuple(sorted(disabled)))
    diagnostics.extend(check_resolved(plan))
    diagnostics = list(dict.fromkeys(diagnostics))  # sugar ops share one origin and source
    if strict:
        diagnostics = [replace(d, severity="error") if d.package else d for d in diagnostics]
    return CompileResult(plan, diagnostics, [str(m.file) for m in manifests], resolve,
                         [(str(named), str(used)) for named, used in collected.followed])


def search_roots(manifests: list, paths: list[str]) -> list[str]:
    """Where a user's own modules are looked for first: the directories of
    the manifests read (not the built-in ones), the current directory, ``paths``."""
    from npatch.dsl.discovery import BUILTIN_DIR

    dirs = [str(Path(m.file).resolve().parent) for m in manifests]
    try:
        here = [os.getcwd()]
    except OSError:  # the working directory was removed: nothing to find there
        here = []
    roots = [d for d in dirs if d != str(BUILTIN_DIR)] + here + [str(Path(p).resolve()) for p in paths]
    return list(dict.fromkeys(roots))


#: what resolution finds wrong, as opposed to an invalid manifest
CHECK_CODES = ("missing", "import-error", "incompatible")


def run_notes(result: CompileResult) -> tuple[list[Diagnostic], str]:
    """For a program about to start under ``result.plan``: the errors that stop
    it (an invalid manifest), and the notes to print first: the warnings, and
    what the static check found, as warnings marked with STATIC_CHECK_MARK."""
    from npatch.errors import STATIC_CHECK_MARK

    fatal = [d for d in result.errors if d.code not in CHECK_CODES]
    notes = [f"npatch: {d}\n" for d in result.diagnostics if d.severity == "warning"]
    notes += [f"npatch: {replace(d, severity='warning')}{STATIC_CHECK_MARK}\n"
              for d in result.errors if d.code in CHECK_CODES]
    return fatal, "".join(notes)


def load_plan(specs: list[str], **kwargs: Any) -> Plan:
    """A plan from manifests, or from one saved ``plan.json``.

    Resolution errors (with a ``resolve`` mode other than ``none``) raise.
    """
    if len(specs) == 1 and str(specs[0]).endswith(".json"):
        return read_plan(Path(specs[0]))
    result = compile_manifests([str(s) for s in specs], **kwargs)
    if result.errors:
        raise ManifestErrors([d.as_error() for d in result.errors])
    return result.plan


def read_plan(path: Path) -> Plan:
    """:meth:`Plan.load` with errors a user can act on."""
    try:
        return Plan.load(str(path))
    except OSError as exc:
        raise UsageError(f"cannot read plan {path}: {exc.strerror}") from None
    except PlanError as exc:
        raise PlanLoadError(f"{path}: {exc}") from None


def _split(text: str, resolver: Resolver, module_only: bool) -> tuple[Target, str]:
    """``text`` as a Target, and a note when a dotted path had to be guessed."""
    from npatch.dsl.grammar import parse_target

    parsed = parse_target(text)
    if parsed.explicit or module_only:  # a dotted module-only path parses as the module itself
        return Target(parsed.module, parsed.qualname), ""
    split = resolver.split(text)
    if split is not None:
        return Target(*split), ""
    module, _, qualname = text.rpartition(".")
    return Target(module, qualname), f"no module file found for any prefix of {text!r}; assumed module {module!r}"


def _resolve(draft: Draft, resolver: Resolver, diagnostics: list[Diagnostic], options: dict[str, Any]) -> Op:
    targets = []
    for index, text in enumerate(draft.targets):
        target, note = _split(text, resolver, draft.targets_are_modules)
        origin = draft.target_origin(index)
        if note:
            diagnostics.append(Diagnostic("warning" if resolver.name != "none" else "info", "assumed", note, origin, draft.name))
        if draft.kind == "call" and target.qualname:
            diagnostics.append(Diagnostic("error", "invalid", f"a `call` patch targets a module, not {text!r}", origin, draft.name))
        if not target.qualname and not text.endswith(":") and draft.kind in ATTRIBUTE_KINDS:
            diagnostics.append(Diagnostic("error", "invalid", _whole_module(text, target.module, draft.kind), origin,
                                          draft.name))  # 'json:' is an error of check_drafts already
        _report(resolver, draft, target, origin, diagnostics, options, creatable=draft.on_missing == "create")
        targets.append(target)
    source = None
    if draft.source is not None:
        source_origin = draft.origin(draft.source_key)
        if draft.source_is_module:
            source = draft.source
            _report(resolver, draft, Target(source), source_origin, diagnostics, options)
        else:
            source_target, note = _split(draft.source, resolver, False)
            source = str(source_target)
            if note:
                diagnostics.append(Diagnostic("warning", "assumed", note, source_origin, draft.name))
            _report(resolver, draft, source_target, source_origin, diagnostics, options)
            if draft.kind == "replace":
                _check_calls(resolver, draft, targets, source_target, source_origin, "replace", diagnostics)
    guard = None
    if draft.guard is not None:
        guard_target, _ = _split(draft.guard, resolver, False)
        guard = str(guard_target)
        _report(resolver, draft, guard_target, draft.origin("guard"), diagnostics, options)
        _check_calls(resolver, draft, targets, guard_target, draft.origin("guard"), "guard", diagnostics)
    return Op(
        kind=draft.kind, name=draft.name, targets=tuple(targets), source=source, value=draft.value,
        priority=draft.priority, when=draft.when, when_text=draft.when_text, guard=guard,
        on_missing=draft.on_missing, options=tuple((k, freeze(v)) for k, v in sorted(draft.options.items())),
        during=draft.during, rebind=draft.rebind, force=draft.force, manifest=draft.manifest.name,
        origin=draft.origin(),
    )


def _whole_module(text: str, module: str, kind: str) -> str:
    """Why a dotted target split at its longest module, with nothing left, names no attribute."""
    parent, _, name = module.rpartition(".")
    how = f"write {parent}:{name} for the attribute {name!r} of {parent}" if parent else f"write {module}:NAME"
    return f"{text!r} is the module {module}, not an attribute a `{kind}` can change; {how}"


def _check_calls(resolver: Resolver, draft: Draft, targets: list[Target], function: Target, origin,
                 role: str, diagnostics: list[Diagnostic]) -> None:
    """An error for each target some call of which ``function`` (the op's
    replacement or guard) would not accept."""
    for target in targets:
        why = resolver.compatible((target.module, target.qualname), (function.module, function.qualname))
        if why:
            diagnostics.append(Diagnostic("error", "incompatible", f"{role} {function} does not accept every call "
                                          f"of {target}: {why}", origin, draft.name))


def _report(resolver: Resolver, draft: Draft, target: Target, origin, diagnostics: list[Diagnostic],
            options: dict[str, Any], creatable: bool = False) -> None:
    if resolver.name == "none":
        return
    if draft.kind == "stub" or (draft.kind == "alias" and target.module == draft.targets[0]):
        return  # a stub's module, and an alias's target, need not exist: that is their point
    lookup = resolver.check(target.module, target.qualname)
    if lookup.status == "missing" and creatable and target.qualname:  # an absent name is created: its parent must exist
        if "is an attribute of the metaclass" in lookup.detail:  # both resolvers' hint (see _not_in_class)
            diagnostics.append(Diagnostic("warning", "missing", f"{target}: on-missing = \"create\" makes a class "
                                          f"attribute that hides the metaclass's from the class: {lookup.detail}",
                                          origin, draft.name))
        lookup = resolver.check(target.module, target.qualname.rpartition(".")[0])
    if lookup.status == "found":
        return
    if lookup.status == "unverifiable":
        diagnostics.append(Diagnostic("info", "unverifiable", f"{target}: {lookup.detail}", origin, draft.name,
                                      package=lookup.package))
        return
    off = _off_here(draft, options)
    if off:  # written for another version or platform: what is here proves nothing
        diagnostics.append(Diagnostic("info", "unverifiable", f"{target}: {lookup.detail} (the op does not apply "
                                      f"here: {off})", origin, draft.name, off_here=True))
        return
    severity = "info" if draft.on_missing == "ignore" else "error"
    code = "missing" if lookup.status == "missing" else "import-error"
    diagnostics.append(Diagnostic(severity, code, f"{target}: {lookup.detail}", origin, draft.name))


def _unserved_parents(drafts: list[Draft], resolver: Resolver, options: dict[str, Any]) -> list[Diagnostic]:
    """A stub or an alias is served under its parent package, which Python
    imports first: a parent that does not exist and that no stub or alias of
    the plan serves makes the import fail ("No module named ...")."""
    served = {d.targets[0] for d in drafts if d.kind in ("stub", "alias")}
    found: list[Diagnostic] = []
    for draft in drafts:
        if draft.kind not in ("stub", "alias"):
            continue
        parts = draft.targets[0].split(".")
        parents = [".".join(parts[:i]) for i in range(1, len(parts))]
        if any(parent in served for parent in parents):
            continue
        for parent in parents:
            lookup = resolver.check(parent, "")
            if lookup.status == "found":
                continue
            missing = lookup.status == "missing" and not _off_here(draft, options)
            state = f"{parent!r} does not exist ({lookup.detail})" if missing else lookup.detail
            fix = (f"stub {parent!r} instead (its sub-names are stubs too)" if draft.kind == "stub"
                   else f"stub or alias {parent!r} too")
            found.append(Diagnostic(
                "error" if missing else "warning", "missing" if missing else "unverifiable",
                f"{draft.targets[0]!r} is served only under its parent package, and {state}: "
                f"`import {draft.targets[0]}` fails; {fix}",
                draft.target_origin(0), draft.name, package=lookup.package))
            break
    return found


def _off_here(draft: Draft, options: dict[str, Any]) -> str:
    """Why the op's condition is false in this environment, or ``""``."""
    from npatch.conditions import evaluate, explain
    from npatch.errors import NpatchError

    try:
        if draft.when is None or evaluate(draft.when, options):
            return ""
        return "; ".join(explain(draft.when, options))
    except NpatchError:
        return ""


__all__ = ["CompileResult", "compile_manifests", "search_roots", "CHECK_CODES", "run_notes", "load_plan", "read_plan"]
