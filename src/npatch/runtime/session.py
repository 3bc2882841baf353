"""A Session applies one Plan to the running process, lazily and reversibly.

::

    with Session(plan).start():      # or: with Session(plan): / with plan.apply():
        main()

``start()`` evaluates each op's condition, registers every module name with
work on the shared import hook (:mod:`npatch.runtime.finder`), handles
aliases and stubs whose names are already imported, then applies every op
whose target module is already imported; the rest apply right after their
module executes.  ``stop()`` restores every change in reverse order and
unregisters the hook.  Nothing is imported to patch it; importing the
replacement objects (``source``) happens when the op applies.

Guarantees worth knowing:

* **Idempotent.**  Every applied op holds a process-wide key (kind, target,
  source, value, guard, options...).  A second session applying the same op
  while the first is active records "already applied" and changes nothing,
  so a plan applied twice (a ``sitecustomize`` run twice) is a no-op.
* **LIFO.**  Sessions nest; stopping an outer session while a newer one is
  still active stops the newer one first (with a warning).
* **Fail-safe.**  A failing op becomes a :class:`~npatch.errors.NpatchWarning`
  naming the real cause and the program goes on; with ``strict`` it raises
  :class:`~npatch.runtime.errors.PatchError` (from ``start()``, or from the
  ``import`` statement that loaded the target).  A strict failure inside
  ``start()`` restores what was applied before raising.
* **Reload.**  ``importlib.reload`` of a patched module restores its ops
  before the module re-executes and applies them again afterwards.
* **during.**  An op with ``during = "m"`` applies when ``m`` starts executing
  and is restored when it finishes (or fails).
"""
from __future__ import annotations

import sys
import types
import warnings
from _thread import RLock, get_ident

from npatch.errors import NpatchError, NpatchWarning
from npatch.plan import LazyRecords, Op, Plan, PlanError, Target
from npatch.runtime.errors import PatchError, located
from npatch.runtime.finder import FINDER
from npatch.runtime.ops import OP_KINDS, ApplyContext, OpKind
from npatch.runtime.resolve import MISSING, AttrUndo, Skipped, SourceError, TargetMissing, describe

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from typing import Any

#: active sessions, oldest first
SESSIONS: list["Session"] = []
#: effect key of an applied op -> the slot that applied it (idempotence)
_APPLIED: dict[tuple, "_Slot"] = {}


class _OpState:
    """Run-time state of one op: its slots (one per target) or a fixed status."""

    __slots__ = ("op", "number", "kind", "fixed", "reason", "slots", "during_state", "failed_on")

    def __init__(self, op: Op, number: int) -> None:
        self.op = op
        self.number = number  # its place in the plan: what orders the work waiting on one module
        self.kind: OpKind | None = None
        self.fixed: str | None = None  # disabled / skipped / failed, decided for the whole op
        self.reason = ""
        self.slots: list[_Slot] = []
        self.during_state = "idle"  # idle -> active -> done (during ops only)
        self.failed_on: _Slot | None = None  # the target it failed on: the op holds nowhere (see _roll_back)


class _Slot:
    """One (op, target) unit of work."""

    __slots__ = ("state", "target", "status", "reason", "key", "pushed")

    def __init__(self, state: _OpState, target: Target) -> None:
        self.state = state
        self.target = target
        self.status = "waiting"
        self.reason = ""
        self.pushed: tuple | None = None  # the stack entry its apply put there before changing anything
        op = state.op
        value = op.value
        try:
            hash(value)
        except TypeError:
            value = repr(value)
        self.key = (op.kind, target.module, target.qualname, op.source, value, op.guard,
                    op.options, op.force, op.during)

    def release(self) -> None:
        """Release the op's process-wide key if this slot holds it (its change is being put back)."""
        if _APPLIED.get(self.key) is self:
            del _APPLIED[self.key]


class Session:
    """Applies ``plan`` in this process until :meth:`stop` (or the ``with`` block ends).

    ``strict``: any failure raises :class:`PatchError` instead of warning.
    ``rebind``: every patch also replaces ``from x import f`` copies (as if
    each op had ``rebind = true``).  ``label`` names the session in warnings
    and reports.  ``disable``: op names to switch off in addition to the
    plan's own ``disabled`` list.
    """

    def __init__(self, plan: Plan, *, strict: bool = False, rebind: bool = False,
                 label: str | None = None, disable: tuple[str, ...] | list[str] = ()) -> None:
        self.plan = plan
        self.strict = strict
        self.rebind = rebind
        self.label = label or ",".join(m.name for m in plan.manifests) or "plan"
        self.disabled = frozenset(plan.disabled) | frozenset(disable)
        self.options: dict[str, Any] = plan.options_dict
        self._states: list[_OpState | None] = []  # per op, in plan order; None until prepared
        self._ops_of: dict[str, list[int]] = {}  # module -> numbers of the ops its first import prepares
        self._verdicts: dict[Any, bool] = {}  # condition -> value, once per distinct condition
        self._remembering: Any = None  # the options the conditions see, with the answers of their calls
        self._findable: list[str] = []  # modules the import system found as they were first imported
        self._pending: dict[str, list[_Slot]] = {}  # module -> slots applied when it loads
        self._subst: dict[str, list[_Slot]] = {}  # module -> alias/stub slots
        self._trees: dict[str, list[_Slot]] = {}  # module -> alias/stub slots that also serve names under it
        self._during: dict[str, list[_OpState]] = {}  # module -> ops applied while it executes
        self._by_module: dict[str, list[_Slot]] = {}  # module -> slots applied to it (reload)
        self._stack: list[tuple[_Slot, OpKind, Any]] = []  # undo records, application order
        self._replaced: list[tuple[_Slot, Any, str, Any, Any]] | None = None
        self.stand_ins: dict[int, list[tuple[Any, Any, Any, Any]]] = {}  # see npatch.runtime.kinds_attr
        self._wrappers: dict[int, tuple[Any, AttrUndo]] = {}  # id(a wrapper a wrap op installed) -> it, its undo
        self._watched: frozenset[str] = frozenset()
        self._lock = RLock()
        self._phase = "new"  # new -> active -> stopping -> stopped
        self._applying: dict[int, int] = {}  # thread id -> ops it is applying now

    # -- public API -------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._phase == "active"

    # -- what the finder and the op kinds call (npatch.runtime.protocols) ------------
    @property
    def watched(self) -> frozenset[str]:
        """Module names whose import this session has work for (FinderClient)."""
        return self._watched

    @property
    def trees(self) -> Any:
        """Modules every name under which is watched too: applied aliases and stubs (FinderClient)."""
        return self._trees.keys()

    def start(self) -> "Session":
        """Apply the plan (see the module docstring); returns ``self``.  Starting
        a started session does nothing."""
        if self._phase != "new":
            return self
        self._phase = "active"
        SESSIONS.append(self)
        try:
            self._prepare()
            FINDER.add(self)
            self._replaced = []
            prepared = [state for state in self._states if state is not None and state.kind is not None]
            self._start_slots([state for state in prepared if state.kind.module_level])
            self._start_slots([state for state in prepared if not state.kind.module_level])
            replaced, self._replaced = self._replaced, None
            if replaced:
                self._find_stale(replaced)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Restore everything this session changed, newest change first, and
        unregister its import hook.  Stopping a stopped session does nothing;
        stopping again after a KeyboardInterrupt cut a stop short finishes it.

        From the moment ``stop()`` is called no op starts applying; one that
        another thread is applying is waited for (up to
        :data:`npatch.runtime.session_undo.STOP_WAIT_S`), and one that
        finishes later still is restored by that thread at once."""
        if self._phase not in ("active", "stopping"):
            return
        newer = SESSIONS[SESSIONS.index(self) + 1:] if self in SESSIONS else []
        if newer:
            warnings.warn(f"npatch: session {self.label!r} stopped while newer sessions were active; "
                          "stopping those first", NpatchWarning, stacklevel=2)
            for session in reversed(newer):
                session.stop()
        failures = _undo().restore_all(self)
        if self in SESSIONS:
            SESSIONS.remove(self)
        if failures:
            warnings.warn("npatch: could not restore " + "; ".join(failures), NpatchWarning, stacklevel=2)

    def __enter__(self) -> "Session":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def statuses(self) -> list:
        """One :class:`~npatch.runtime.report.OpStatus` per op, in plan order."""
        from npatch.runtime.report import collect_statuses

        ops = self.plan.ops
        states = [self._build_states([(ops[n], n)], quiet=True)[0] if state is None else state
                  for n, state in enumerate(self._states or [None] * len(ops))]
        return collect_statuses(states, self.disabled, self.plan)

    def report_dict(self) -> dict[str, Any]:
        """The JSON-able report: pid, argv, plan hash, label, per-op statuses."""
        from npatch.runtime.report import build_report

        return build_report(self)

    def __repr__(self) -> str:
        return f"<npatch Session {self.label!r} {self._phase}, {len(self._stack)} change(s)>"

    # -- start-up ----------------------------------------------------------------
    def _prepare(self) -> None:
        """Prepare the ops start() must see: module-level kinds and those of
        modules already imported.  The rest wait, unread, for their module's
        first import (:meth:`prepare_module`): a loaded plan decodes an op and
        evaluates its condition only then; the start-time conditions are
        evaluated now (:func:`npatch.planfile.started_index`)."""
        from npatch.planfile import started_index

        modules, eager = started_index(*self.plan.ops_by_module(), self._condition)
        self._ops_of = modules
        self._states = [None] * len(self.plan.ops)
        self._watched = frozenset(modules)
        ready = sorted({*eager, *(n for name, numbers in modules.items() if name in sys.modules for n in numbers)})
        self._add_states(ready)

    def prepare_module(self, name: str, found: bool = False) -> None:
        """The first import of ``name`` is under way: prepare its ops (the
        finder calls this before the module is loaded, for every session).

        ``found``: the other finders found ``name`` (the finder asked them
        first), which is what ``importable(name)`` and ``installed(name)``
        would ask them again: the ops' conditions take that answer (numpy-compat's
        101 ops carry ``installed('numpy')``)."""
        numbers = self._ops_of.get(name)
        if numbers and self._phase == "active":
            if found:
                if self._remembering is None:
                    self._findable.append(name)
                else:
                    _found(self._remembering.calls, (name,))
            states = self._states
            self._start_slots(self._add_states([n for n in numbers if states[n] is None]))

    def _add_states(self, numbers: list[int]) -> list[_OpState]:
        """Build the states of ops ``numbers`` (conditions evaluated outside the
        lock) and keep those no other thread built meanwhile, in plan order."""
        built = zip(numbers, self._read_states(numbers))
        fresh: list[_OpState] = []
        watched: set[str] = set()
        tree = False
        with self._lock:
            for number, state in built:
                if self._states[number] is not None:
                    continue
                self._states[number] = state
                fresh.append(state)
                if state.kind is None:
                    continue
                op = state.op
                for target in op.targets:
                    watched.add(target.module)
                if op.during:
                    watched.add(op.during)
                    _in_plan_order(self._during.setdefault(op.during, []), state, _state_number)
                elif state.kind.tree:
                    tree = True
                    for slot in state.slots:
                        _in_plan_order(self._trees.setdefault(slot.target.module, []), slot, _slot_number)
        if tree or not watched <= self._watched:
            self._watched = self._watched | watched
            if self._phase == "active" and self in FINDER.clients:
                FINDER.refresh()
        return fresh

    def _read_states(self, numbers: list[int]) -> list[_OpState]:
        """:meth:`_build_states` of ops ``numbers``, decoded together (a run's
        ops are read at once); an op the plan file no longer gives (damaged
        after the launcher checked it) fails, naming why, instead of failing
        the import that reads it."""
        ops = self.plan.ops
        try:
            records = ops.many(numbers) if isinstance(ops, LazyRecords) else [ops[n] for n in numbers]
        except PlanError:
            return [self._read_state(n) for n in numbers]
        return self._build_states(list(zip(records, numbers)))

    def _read_state(self, number: int) -> _OpState:
        try:
            op = self.plan.ops[number]
        except PlanError as exc:
            state = _OpState(Op(kind="op", name=f"#{number}", targets=()), number)
            return self._failed_state(state, f"the plan cannot give it: {exc}", None, False)
        return self._build_states([(op, number)])[0]

    def _build_states(self, numbered: list[tuple[Op, int]], quiet: bool = False) -> list[_OpState]:
        """The states of ops ``(op, number)``: fixed (disabled, skipped, failed)
        or with their slots.  The kind is looked up once for the ops that
        share it, the condition's verdict once per session (:meth:`_condition`).  ``quiet``: for a
        report, a failure is recorded without a warning."""
        disabled = self.disabled
        kinds: dict[str, OpKind | None] = {}
        out = []
        for op, number in numbered:
            state = _OpState(op, number)
            out.append(state)
            if op.name in disabled:
                state.fixed = "disabled"
                continue
            try:
                kind = kinds[op.kind]
            except KeyError:
                kind = kinds[op.kind] = OP_KINDS.get(op.kind)
            state.kind = kind
            if kind is None:
                reason = f"unknown op kind {op.kind!r} (known: {', '.join(sorted(OP_KINDS))})"
                self._failed_state(state, reason, None, quiet)
                continue
            when = op.when
            if when is not None:
                try:
                    holds = self._condition(when)
                except Exception as exc:
                    cause = str(exc) if isinstance(exc, NpatchError) else describe(exc)
                    self._failed_state(state, f"condition {op.when_text or when!r}: {cause}", exc, quiet)
                    continue
                if not holds:
                    state.fixed = "skipped"
                    state.reason = f"condition is false: {op.when_text or when!r}"
                    state.kind = None
                    continue
            if op.during:
                if op.during in sys.modules:
                    state.fixed = "skipped"
                    state.reason = f"during: {op.during!r} was already imported when the plan started"
                continue
            state.slots = [_Slot(state, target) for target in op.targets]
        return out

    def _failed_state(self, state: _OpState, reason: str, exc: BaseException | None, quiet: bool) -> _OpState:
        if quiet:
            state.fixed, state.reason, state.kind = "failed", reason, None
        else:
            self._fail_state(state, reason, exc)
        return state

    def _condition(self, when: Any) -> bool:
        """``evaluate(when)``, once per distinct condition in a start: the compiler
        copies a manifest's ``when`` into each of its ops (236 of torch-npu's 240);
        each ``installed``/``importable``/``version`` call in them is answered once
        too (:class:`npatch.conditions.Remembering`)."""
        verdicts = self._verdicts
        try:
            return verdicts[when]  # the ops of one manifest share their condition: no import, one lookup
        except KeyError:
            from npatch.conditions import Remembering, evaluate

            if self._remembering is None:  # the installation's answers, kept as long as the verdicts
                self._remembering = Remembering(self.options)
                _found(self._remembering.calls, self._findable)
            holds = verdicts[when] = evaluate(when, self._remembering)
            return holds
        except TypeError:  # lists: from an index, or a condition built in code
            from npatch.planfile import tree_key

            return self._condition(tree_key(when))

    def _start_slots(self, states: list[_OpState]) -> None:
        """Start each slot of ``states``, in order: apply at once to an imported
        module; otherwise wait, alias/stub slots for the finder to serve a
        substitute, the others for the real import (queued under one lock round)."""
        waiting: list[tuple[_Slot, bool]] = []
        for state in states:
            if not state.slots:  # fixed (disabled, skipped, failed) or a during op
                continue
            module_level = state.kind.module_level
            for slot in state.slots:
                module = sys.modules.get(slot.target.module)
                if module is None:
                    waiting.append((slot, module_level))
                    continue
                self._queue(waiting)
                self._apply(slot, module, immediate=True)
        self._queue(waiting)

    def _queue(self, waiting: list[tuple[_Slot, bool]]) -> None:
        """Queue ``(slot, module_level)`` pairs on their modules, and empty ``waiting``."""
        if not waiting:
            return
        with self._lock:
            # ops are prepared as their modules are first imported, not in plan order:
            # what waits on one module is kept in plan order (priority), as it applies
            unsorted: dict[int, list[_Slot]] = {}
            for slot, module_level in waiting:
                queue = (self._subst if module_level else self._pending).setdefault(slot.target.module, [])
                if queue and queue[-1].state.number > slot.state.number:
                    unsorted[id(queue)] = queue
                queue.append(slot)
            for queue in unsorted.values():  # a stable sort keeps one op's targets in their order
                queue.sort(key=_slot_number)
        waiting.clear()

    # -- applying ------------------------------------------------------------------
    def _apply(self, slot: _Slot, module: Any, immediate: bool) -> None:
        self._apply_all((slot,), module, immediate)

    def _apply_all(self, slots: Any, module: Any, immediate: bool) -> None:
        """Apply ``slots`` (the work of one module, in order) to ``module``, counted
        as this thread's for :meth:`stop` once for the whole batch; a stop that
        begins meanwhile leaves the rest unapplied, as it leaves a late arrival."""
        me = get_ident()
        with self._lock:
            if self._phase != "active":  # a late arrival: the session is stopping
                return
            self._applying[me] = self._applying.get(me, 0) + 1
        try:
            for slot in slots:
                if self._phase != "active":
                    break
                self._apply_counted(slot, module, immediate)
        finally:
            with self._lock:
                self._applying[me] -= 1
                if not self._applying[me]:
                    del self._applying[me]

    def _apply_counted(self, slot: _Slot, module: Any, immediate: bool) -> None:
        if slot.state.failed_on is not None:  # a sibling target failed: the op applies nowhere
            return
        holder = _APPLIED.get(slot.key)
        if holder is not None and holder is not slot:
            slot.status = "applied"
            slot.reason = "already applied by an earlier session"
            return
        state = slot.state
        try:
            undo = state.kind.apply(ApplyContext(self, slot, immediate), state.op, slot.target, module)
        except Skipped as exc:
            self._unpush(slot)
            slot.status, slot.reason = "skipped", str(exc)
        except TargetMissing as exc:
            self._unpush(slot)
            self._missing(slot, exc)
        except SourceError as exc:
            self._unpush(slot)
            self._fail(slot, str(exc), exc)
        except PatchError:
            self._unpush(slot)
            raise
        except Exception as exc:
            self._unpush(slot)
            self._fail(slot, describe(exc), exc)
        except BaseException:  # KeyboardInterrupt: the pushed record stays for stop() to restore
            slot.pushed = None
            raise
        else:
            self._record(slot, undo, applied_to=slot.target.module)

    def push_undo(self, slot: _Slot, undo: Any) -> None:
        """Put ``undo`` on the stack before the change it undoes is made (an
        interrupt right after the change must find it there)."""
        entry = (slot, slot.state.kind, undo)
        with self._lock:
            self._stack.append(entry)
            slot.pushed = entry

    def _unpush(self, slot: _Slot) -> None:
        """The apply that pushed a record did not finish: restore and drop it."""
        entry, slot.pushed = slot.pushed, None
        if entry is None:
            return
        entry[1].restore(entry[2])
        self._drop(entry)

    def _drop(self, entry: tuple) -> None:
        """Remove ``entry`` (the very tuple) from the stack, searching from the newest."""
        with self._lock:
            for index in range(len(self._stack) - 1, -1, -1):
                if self._stack[index] is entry:
                    del self._stack[index]
                    return

    def _record(self, slot: _Slot, undo: Any, applied_to: str | None = None) -> None:
        """``slot`` applied (its undo record ``undo``); ``applied_to``: the module it
        changed, whose reload restores it (the finder's substitutes have none)."""
        with self._lock:
            if applied_to is not None:
                self._by_module.setdefault(applied_to, []).append(slot)
            late = self._phase == "stopped"
            if not late:
                self._adopt_original(slot, undo)
                if slot.pushed is None or slot.pushed[2] is not undo:
                    self._stack.append((slot, slot.state.kind, undo))
                slot.pushed = None
                _APPLIED[slot.key] = slot
                slot.status, slot.reason = "applied", ""
        if late:  # stop() has finished meanwhile: this change must not stay
            self._unpush(slot)
            slot.state.kind.restore(undo)
            slot.status, slot.reason = "waiting", "the session stopped while this op applied (restored)"

    def _adopt_original(self, slot: _Slot, undo: Any) -> None:
        """What an op changes may hold what an earlier op of this session
        installed elsewhere, copied there after it applied: an ``also``
        re-export of the same op (``from .nms import nms`` in
        ``mmcv/ops/__init__``), or another op's wrapper (``pkg:f`` copied from
        a wrapped ``pkg.impl:f`` by an import or a lazy module's cache).  What
        to put back there is that op's original: restore would leave its
        replacement, or a stopped session's wrapper, in the program.  (Only
        a wrapper is surely a copy when another op finds it: a replacement
        may be a library's own object, where it was before any op.)"""
        if not isinstance(undo, AttrUndo) or undo.old is MISSING:
            return
        old, installed = undo.old, undo.current()
        if installed is not old and slot.state.op.kind == "wrap":
            self._wrappers[id(installed)] = (installed, undo)
        if len(slot.state.slots) > 1:  # only an op with `also` targets has re-exports of its own
            for other, _kind, earlier in self._stack:
                if other.state is slot.state and isinstance(earlier, AttrUndo) and earlier is not undo \
                        and earlier.current() is old:  # not a rebound global
                    undo.old = earlier.old
                    return
        wrapped = self._wrappers.get(id(old))
        if wrapped is not None and wrapped[0] is old:
            undo.old = wrapped[1].old

    def _missing(self, slot: _Slot, exc: Exception) -> None:
        policy = slot.state.op.on_missing
        if policy == "ignore":
            slot.status, slot.reason = "skipped", f"target not found: {exc} (on-missing = ignore)"
        else:
            self._fail(slot, f"target not found: {exc}", exc, force_raise=policy == "error")

    def _fail(self, slot: _Slot, reason: str, exc: BaseException | None = None,
              force_raise: bool = False) -> None:
        slot.status, slot.reason = "failed", reason
        self._roll_back(slot)
        op = slot.state.op
        message = f"npatch: {op.kind} {op.name!r} on {slot.target} failed: {reason}"
        if self.strict or force_raise:
            raise PatchError(located(op, message), op=op.name, target=str(slot.target)) from exc
        _warn_at(op, message)

    def _roll_back(self, failed: _Slot) -> None:
        """An op holds on all its targets or on none: ``failed`` failed, so
        the op applies nowhere (:func:`npatch.runtime.session_undo.roll_back`
        restores its other targets)."""
        failed.state.failed_on = failed
        if len(failed.state.slots) > 1:
            _undo().roll_back(self, failed)

    def _fail_state(self, state: _OpState, reason: str, exc: BaseException | None = None) -> None:
        state.fixed, state.reason, state.kind = "failed", reason, None
        op = state.op
        message = f"npatch: {op.kind} {op.name!r} on {op.targets[0] if op.targets else '?'} failed: {reason}"
        if self.strict:
            raise PatchError(located(op, message), op=op.name) from exc
        _warn_at(op, message)

    # -- stale references ---------------------------------------------------------
    def note_replaced(self, slot: _Slot, parent: Any, name: str, old: Any, new: Any) -> None:
        from npatch.runtime.rebind import worth_tracking

        if self._replaced is not None and isinstance(parent, types.ModuleType) and worth_tracking(old):
            self._replaced.append((slot, parent, name, old, new))

    def _find_stale(self, replaced: list[tuple[_Slot, Any, str, Any, Any]]) -> None:
        """Rebind or report ``from x import f`` copies of what start() replaced."""
        from npatch.runtime.rebind import GlobalUndo, find_copies

        stale: dict[tuple[str, str], tuple[Op, list[str]]] = {}
        for slot, mod_name, entries, key, old, current in find_copies(replaced):
            if self.rebind or slot.state.op.rebind:
                entries[key] = current
                with self._lock:
                    self._stack.append((slot, slot.state.kind, GlobalUndo(entries, key, old, current)))
            else:
                op = slot.state.op
                stale.setdefault((op.name, str(slot.target)), (op, []))[1].append(
                    mod_name if key == slot.target.qualname.rpartition(".")[2] else f"{mod_name} (as {key})")
        for (name, target), (op, modules) in stale.items():  # each at its manifest line
            _warn_at(op, f"npatch: modules imported before the plan still hold the original of {target}, "
                         f"patched by {name!r}: {', '.join(modules)}; set rebind = true on the patch to "
                         f"replace these copies")

    # -- import hook callbacks (see npatch.runtime.finder) --------------------------
    def substitute(self, name: str, real_spec: Any) -> Any:
        spec = self._substitute_slots(real_spec, self._subst.get(name, ()))
        if spec is not None or not self._trees:
            return spec
        # a name under an applied alias or stub (old.sub, apex.amp): the nearest one serves it
        cut = name.rfind(".")
        while cut > 0:
            slots = [s for s in self._trees.get(name[:cut], ()) if s.status == "applied"]
            if slots:
                return self._substitute_slots(real_spec, slots, Target(name))
            cut = name.rfind(".", 0, cut)
        return None

    def _substitute_slots(self, real_spec: Any, slots: Any, below: Target | None = None) -> Any:
        for slot in slots:
            if slot.status == "failed" and slot.reason.startswith("target not found"):
                continue
            holder = _APPLIED.get(slot.key)
            if holder is not None and holder is not slot:
                continue
            state = slot.state
            try:
                spec = state.kind.substitute(ApplyContext(self, slot, False), state.op, below or slot.target,
                                             real_spec)
            except Skipped as exc:
                slot.status, slot.reason = "skipped", str(exc)
                continue
            except PatchError:
                raise
            except Exception as exc:
                self._fail(slot, describe(exc), exc)
                continue
            if spec is not None:
                return spec
        return None

    def served(self, slot: _Slot, undo: Any) -> None:
        self._record(slot, undo)

    def serve_failed(self, slot: _Slot, exc: BaseException) -> None:
        # no warning, strict or not: the import statement itself raises exc
        # (an alias whose source is missing raises a ModuleNotFoundError, so
        # `try: import x / except ImportError:` keeps working)
        slot.status, slot.reason = "failed", f"creating the module failed: {describe(exc)}"

    def module_starting(self, name: str, module: Any) -> None:
        applied = self._by_module.get(name)
        if applied and sys.modules.get(name) is module:
            _undo().reloading(self, name, applied)
        for state in self._during.get(name, ()):
            if state.fixed is None and state.during_state != "active":
                self._during_begin(state)

    def module_loaded(self, name: str, module: Any) -> None:
        if module is not None:
            with self._lock:
                slots = self._pending.pop(name, None)
            if slots:
                self._apply_all(slots, module, immediate=False)
        for state in self._during.get(name, ()):
            if state.during_state == "active":
                _undo().during_end(self, state, f"while {name!r} was imported (restored after)")

    def module_failed(self, name: str, exc: BaseException) -> None:
        reason = f"importing {name!r} raised {describe(exc)}"
        for slot in list(self._pending.get(name, ())):
            if slot.state.failed_on is not None:  # rolled back with a sibling target in this module
                continue
            slot.status, slot.reason = "failed", reason
            if len(slot.state.slots) > 1:  # its `also` paths already applied elsewhere are put back
                self._roll_back(slot)
            op = slot.state.op
            _warn_at(op, f"npatch: {op.kind} {op.name!r} on {slot.target} not applied: {reason}")
        for state in self._during.get(name, ()):
            if state.during_state == "active":
                _undo().during_end(self, state, f"while {name!r} was imported, which failed: {describe(exc)}")

    def _during_begin(self, state: _OpState) -> None:
        state.during_state = "active"
        state.slots = [_Slot(state, target) for target in state.op.targets]
        self._start_slots([state])


def _found(calls: dict[tuple, Any], names: Any) -> None:
    """Answer ``importable`` and ``installed`` of modules the import system has just
    found, unless a condition already asked (the first answer is the session's)."""
    for name in names:
        calls.setdefault(("importable", name), True)
        calls.setdefault(("installed", name), True)


def _state_number(state: _OpState) -> int:
    return state.number


def _slot_number(slot: _Slot) -> int:
    return slot.state.number


def _in_plan_order(items: list, item: Any, number: Any) -> None:
    """Add ``item`` to ``items``, which are in plan order (a stable sort keeps
    one op's targets in their order)."""
    items.append(item)
    if len(items) > 1 and number(items[-2]) > number(item):
        items.sort(key=number)


def _undo() -> Any:
    """The session's other half, :mod:`npatch.runtime.session_undo`: imported
    when a change is first put back (a stop, a roll-back, a reload, the end
    of a ``during`` op), not by a program that never stops its plan."""
    from npatch.runtime import session_undo

    return session_undo


__all__ = ["Session", "SESSIONS"]


def _warn_at(op: Op, message: str) -> None:
    """Warn at the manifest line the op comes from, not at a frame of npatch."""
    origin = op.origin
    if origin is None:
        warnings.warn(message, NpatchWarning, stacklevel=3)
    else:
        warnings.warn_explicit(message, NpatchWarning, origin.file, origin.line, module="npatch.manifest")
