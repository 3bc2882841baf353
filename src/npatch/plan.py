"""The Plan: the executable, plain-data result of compiling manifests.

The plan is the seam between the compile half (dsl, compiler: lark, tomli)
and the run half (runtime, rewrite).  It is made of frozen records that
hold only JSON-compatible values, so a plan can be saved, loaded and hashed
without importing anything heavy: loading a saved plan imports ``json`` and
nothing from the compile half.  A child process of ``npatch apply`` reads
the cache's ``marshal`` copy of the plan (:meth:`Plan.to_marshal`) and
imports not even ``json``.

The records behave as ``@dataclass(frozen=True)`` classes (keyword or
positional construction, defaults, ``==``, ``hash``, ``repr``, and
:meth:`Record.replace` for ``dataclasses.replace``) but are built by the small
:class:`Record` base below: importing ``dataclasses`` (and ``inspect`` with
it) and generating six classes costs ~8 ms, paid in every process that loads
a plan, and ``typing`` another ~2 ms.

Conditions are stored already parsed, as nested lists (see
:mod:`npatch.conditions` for the node shapes), so the runtime evaluates them
without the grammar.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~2 ms to import in a process that has not yet
    from typing import Any

SCHEMA_VERSION = 1
#: first item of a marshalled plan: what the bytes are and which layout
MARSHAL_TAG = f"npatch-plan-{SCHEMA_VERSION}"

_REQUIRED = object()
#: the default of a required field in :meth:`Record.field_defaults`
REQUIRED = _REQUIRED


class Record:
    """Base of the plan's frozen records: fields are the class annotations,
    in order; a class attribute of the same name is the field's default.

    Defaults live on the class, not in each instance, so a record decoded
    from JSON holds only the fields that differ from them.
    """

    _fields: tuple[str, ...] = ()
    _required: frozenset[str] = frozenset()
    _field_set: frozenset[str] = frozenset()
    _field_defaults: tuple[tuple[str, Any], ...] = ()

    def __init_subclass__(cls) -> None:
        bases = [k for k in reversed(cls.__mro__) if issubclass(k, Record) and k is not Record]
        names = tuple(dict.fromkeys(n for k in bases for n in k.__dict__.get("__annotations__", {})))
        cls._fields = names
        cls._field_set = frozenset(names)
        cls._field_defaults = tuple((n, getattr(cls, n, _REQUIRED)) for n in names)
        cls._required = frozenset(n for n, d in cls._field_defaults if d is _REQUIRED)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes {len(fields)} positional arguments, got {len(args)}")
        values = dict(zip(fields, args))
        if not kwargs.keys() <= self._field_set or not values.keys().isdisjoint(kwargs):
            self._bad_keywords(values, kwargs)
        values.update(kwargs)
        if not values.keys() >= self._required:
            missing = [n for n in fields if n in self._required and n not in values]
            raise TypeError(f"{type(self).__name__}() missing required argument(s): {', '.join(missing)}")
        self.__dict__.update(values)

    def _bad_keywords(self, values: dict[str, Any], kwargs: dict[str, Any]) -> None:
        """Raise for the first keyword that names no field or a field given by position."""
        for name in kwargs:
            if name not in self._field_set:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")
            if name in values:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is frozen")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> Any:
        return (type(self), self._values())

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` (what ``dataclasses.replace`` does)."""
        return type(self)(**{**{n: getattr(self, n) for n in self._fields}, **changes})

    @classmethod
    def field_defaults(cls) -> dict[str, Any]:
        """Every field, in order, with its default; a required field maps to
        :data:`REQUIRED` (what ``dataclasses.fields`` would tell)."""
        return {name: REQUIRED if default is _REQUIRED else default for name, default in cls._field_defaults}


class Origin(Record):
    """Where an op came from: manifest file, 1-based line and column, key path."""

    file: str
    line: int
    col: int
    key: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col} ({self.key})"


class Target(Record):
    """An attribute path inside a module: ``module:qualname``.

    ``qualname`` is empty for ops that act on a module as a whole (alias,
    stub, call).  ``module`` is always a key of ``sys.modules``, never an
    attribute of a parent package (``mmcv.ops.nms`` the module, not the
    function of the same name that ``mmcv.ops`` re-exports).
    """

    module: str
    qualname: str = ""

    def __str__(self) -> str:
        return f"{self.module}:{self.qualname}" if self.qualname else self.module

    @classmethod
    def parse(cls, text: str) -> "Target":
        """Split an already-resolved ``module:qual.name`` string."""
        module, _, qualname = text.partition(":")
        return cls(module, qualname)


class Op(Record):
    """One unit of runtime work.

    kind      one of :data:`npatch.opkinds.BUILTIN_OP_KINDS` (or a registered extension kind)
    name      unique in the plan; ``--disable NAME`` uses it
    targets   where to act; the first is the declared ``target``, the rest
              are its ``also`` re-export paths.  Each is applied when its
              module has finished executing.
    source    ``module:qualname`` of the replacement, wrapper, call function
              or registered object; for ``alias`` the source module name
    value     the JSON value of a ``value`` op; for ``register``, the entry
              name; for ``stub``, the ``on-use`` policy
    guard     ``module:qualname`` of a predicate ``guard(*args, **kwargs)``
    when      parsed condition (nested lists) or None
    during    module name: the op holds only while that module executes
    options   per-op options passed to ``call`` and ``wrap`` functions
    force     alias/stub: replace a real module; register: override an entry
    """

    kind: str
    name: str
    targets: tuple[Target, ...]
    source: str | None = None
    value: Any = None
    priority: int = 0
    when: Any = None
    when_text: str | None = None
    guard: str | None = None
    on_missing: str = "warn"
    options: tuple[tuple[str, Any], ...] = ()
    during: str | None = None
    rebind: bool = False
    force: bool = False
    manifest: str = ""
    origin: Origin | None = None

    @property
    def target(self) -> Target:
        return self.targets[0]

    @property
    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)


class Rewrite(Record):
    """A static rewrite rule, kept as validated data for ``npatch diff``.

    ``params`` holds the kind-specific keys (``from``/``to`` for a rename,
    ``method``, ``argument``... see :mod:`npatch.rewrite.rules`).
    """

    id: str
    kind: str
    params: tuple[tuple[str, Any], ...] = ()
    when: Any = None
    when_text: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    message: str = ""
    examples: tuple[tuple[str, str], ...] = ()
    valid: tuple[str, ...] = ()
    manifest: str = ""
    origin: Origin | None = None

    @property
    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)


class ManifestInfo(Record):
    """One manifest that went into the plan, for ``show`` and reports."""

    name: str
    path: str
    description: str = ""
    includes: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


class Plan(Record):
    """Ordered ops (priority, then declaration order) plus rewrite rules."""

    manifests: tuple[ManifestInfo, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    ops: tuple[Op, ...] = ()
    rewrites: tuple[Rewrite, ...] = ()
    disabled: tuple[str, ...] = ()
    schema: int = SCHEMA_VERSION

    # -- serialisation -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {**_to_json(self), "schema": self.schema}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Plan":
        if not isinstance(data, dict):
            raise PlanError(f"malformed plan: a JSON object was expected, not {type(data).__name__}")
        if "index" in data:  # a saved file's index of its ops (npatch.planfile): rebuilt from the ops
            data = {key: value for key, value in data.items() if key != "index"}
        schema = data.get("schema")
        if schema != SCHEMA_VERSION:
            raise PlanError(f"plan schema {schema!r} is not supported (expected {SCHEMA_VERSION})")
        try:
            return _from_json(cls, data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlanError(f"malformed plan: {exc}") from None

    def to_json(self, indent: int | None = None) -> str:
        """The plan as one JSON object whose first key indexes the ops, so that
        :meth:`load` decodes an op only when it is read (:mod:`npatch.planfile`)."""
        from npatch.opkinds import LAZY_KINDS
        from npatch.planwrite import dumps_json

        return dumps_json(self.to_dict(), LAZY_KINDS, indent)

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        from npatch.planfile import json_op_decoder, loads_json

        try:
            data, ops, index = loads_json(text)
        except ValueError as exc:
            raise PlanError(f"plan is not valid JSON: {exc}") from None
        if ops is None:
            return cls.from_dict(data)
        return _with_lazy_ops(cls.from_dict(data), index["starts"], json_op_decoder(*ops), index)

    @classmethod
    def load(cls, path: str) -> "Plan":
        """Read a saved plan file (a regular file: a FIFO or a directory there
        is an :class:`OSError`, never a hang).  Imports nothing beyond ``json``
        and :mod:`npatch.outfiles`; reads no op until it is asked for.

        A file named by a content hash (``<sha256>.json``, as the plan cache
        names its plans, and copies of them) promises that content: one that
        no longer hashes to its name (changed by hand, damaged) is a
        :class:`PlanError`, on every route that reads a plan file (``npatch
        apply FILE``, ``NPATCH_PLAN``, :func:`npatch.load`).  A plan saved
        under a name of the user's is theirs to edit and is not checked."""
        import os

        from npatch.outfiles import read_input

        data = read_input(path)
        stem = os.path.basename(path)[: -len(".json")] if path.endswith(".json") else ""
        if len(stem) == 64 and all(c in "0123456789abcdef" for c in stem):
            import hashlib  # ~2 ms: only for a file named by its hash

            if hashlib.sha256(data).hexdigest() != stem:
                raise PlanError("the plan file does not match its name (changed since it was cached); "
                                "run npatch apply again to recompile it, or save an edited plan under a name "
                                "of your own")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PlanError(f"plan is not UTF-8 text: {exc.reason}") from None
        return cls.from_json(text)

    def to_marshal(self) -> bytes:
        """The plan's JSON data in ``marshal`` form, for child processes.

        Why: a child loading a JSON plan imports ``json`` (and ``re``), about
        1.5 ms, and parses text; ``marshal`` is built in and reads the same
        dicts and lists several times faster.  The JSON file stays the plan
        of record (hashed, human-readable); this is a cache beside it.  Its
        format is stable for these types across Python 3 versions, and a
        reader that fails on it falls back to the JSON.  The ops are marshalled
        in runs (those waiting for the same modules) and decoded when read
        (:mod:`npatch.planfile`).
        """
        from npatch.opkinds import LAZY_KINDS
        from npatch.planwrite import dumps_marshal

        return dumps_marshal(MARSHAL_TAG, self.to_dict(), LAZY_KINDS, _frozen_op)

    @classmethod
    def from_marshal(cls, data: bytes, fallback: Any = None) -> "Plan":
        """A plan from :meth:`to_marshal`'s bytes; ``fallback()``, when given,
        returns the ops of the plan of record, read when an op here is damaged."""
        from npatch.planfile import loads_marshal

        try:
            header, ops, read, index = loads_marshal(MARSHAL_TAG, data)
        except ValueError as exc:
            raise PlanError(str(exc)) from None
        return _with_lazy_ops(cls.from_dict(header), ops, read, index, fallback)

    def canonical_json(self) -> bytes:
        """The plan as compact JSON with sorted keys: what :attr:`content_hash`
        hashes and what the plan cache stores under that hash."""
        from npatch.planwrite import json_text

        return json_text(self.to_dict(), sort_keys=True, separators=(",", ":")).encode("utf-8")

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON: equal plans hash equal, in any process."""
        import hashlib  # loads OpenSSL (~3 ms): only when a hash is asked for

        return hashlib.sha256(self.canonical_json()).hexdigest()

    # -- convenience ---------------------------------------------------
    @property
    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def ops_by_module(self) -> tuple[dict[str, list[int]], list[int], list[list[Any]]]:
        """``(modules, eager, conditions)``: the numbers of the ops each module's
        first import starts, of the ops to prepare at once, and the conditions
        to evaluate at once with their ops (see :mod:`npatch.planfile`).  A
        loaded plan has them from its index, without reading an op."""
        index = self.ops.index if isinstance(self.ops, LazyRecords) else None
        if index is not None:
            return index["modules"], index["eager"], index["conditions"]
        from npatch.opkinds import LAZY_KINDS
        from npatch.planwrite import build_index

        return build_index([{"kind": op.kind, "targets": [{"module": t.module} for t in op.targets],
                             "during": op.during, "when": op.when} for op in self.ops], LAZY_KINDS)

    def op(self, name: str) -> Op:
        for op in self.ops:
            if op.name == name:
                return op
        raise KeyError(name)

    def apply(self, *, strict: bool = False, rebind: bool = False, label: str | None = None,
              disable: tuple[str, ...] | list[str] = ()) -> Any:
        """Apply this plan in the current process; returns a Session (a context manager).

        A delegate kept for ``with npatch.load(...).apply(): main()``: the
        runtime does the work (:func:`npatch.runtime.apply_plan`).  This lazy
        import is the one call from the plan layer up into the runtime
        (``tests/plan/test_import_shape.py`` names it)."""
        from npatch.runtime import apply_plan

        return apply_plan(self, strict=strict, rebind=rebind, label=label, disable=disable)

    def __repr__(self) -> str:
        """One line: the manifests, the counts and the content hash (the
        records themselves are in ``str(plan)`` and ``npatch compile -v``)."""
        names = ", ".join(m.name for m in self.manifests) or "no manifest"
        return (f"<Plan {names}: {len(self.ops)} ops, {len(self.rewrites)} rewrites, "
                f"sha256 {self.content_hash[:12]}>")

    def __str__(self) -> str:
        """A readable listing: manifests, options, then one line per op in plan
        order (``priority kind name: targets [when ...] [disabled]``)."""
        lines = [repr(self)]
        lines += [f"  manifest {m.name}" + (f" ({m.path})" if m.path else "") for m in self.manifests]
        lines += [f"  option {key} = {value!r}" for key, value in self.options]
        disabled = set(self.disabled)
        for op in self.ops:
            targets = ", ".join(str(t) for t in op.targets)
            when = op.when_text if op.when_text else repr(op.when)
            extra = (f"  when {when}" if op.when is not None else "") + \
                    ("  [disabled]" if op.name in disabled else "")
            lines.append(f"  {op.priority:>4} {op.kind:<8} {op.name}: {targets}{extra}")
        lines += [f"  rewrite {r.kind:<8} {r.id}" for r in self.rewrites]
        return "\n".join(lines)


class LazyRecords:
    """A read-only sequence of records, each decoded from its JSON object the
    first time it is read: a loaded plan pays for the ops a process looks at,
    not for all of them.  Compares, hashes and concatenates like the tuple of
    its records (which ``tuple(records)`` is).

    ``raw`` holds the JSON objects, or what ``read`` turns into one (an
    offset in a JSON file's text, an op's marshal bytes); ``index`` is the
    saved plan's module index (:mod:`npatch.planfile`), when it had one.
    ``fallback`` returns the same records from the plan of record (the JSON
    file beside a marshal copy): a record that cannot be decoded here is
    taken from there, once it has as many records."""

    __slots__ = ("_cls", "_raw", "_done", "_read", "_fallback", "index")

    def __init__(self, cls: type, raw: list[Any], read: Any = None, index: dict[str, Any] | None = None,
                 fallback: Any = None) -> None:
        self._cls = cls
        self._raw = raw
        self._done: list[Any] = [None] * len(raw)
        self._read = read
        self._fallback = fallback
        self.index = index

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple([self[i] for i in range(*index.indices(len(self._raw)))])
        found = self._done[index]
        if found is None:
            try:
                raw = self._raw[index] if self._read is None else self._read(self._raw[index])
                found = self._done[index] = _from_json(self._cls, raw)
            except (KeyError, TypeError, ValueError, AttributeError, EOFError) as exc:
                found = self._done[index] = self._recovered(index, exc)
        return found

    def many(self, indices: list[int]) -> list[Any]:
        """``[self[i] for i in indices]``, those not read yet decoded together (a
        run of ops at an import); where one cannot be, each is left to ``self[i]``."""
        done = self._done
        missing = [index for index in indices if done[index] is None]
        if missing:
            raw, read = self._raw, self._read
            try:
                records = _records(self._cls, [raw[i] for i in missing] if read is None
                                   else [read(raw[i]) for i in missing])
            except (KeyError, TypeError, ValueError, AttributeError, EOFError):
                records = [self[i] for i in missing]
            for index, record in zip(missing, records):
                done[index] = record
        return [done[index] for index in indices]

    def _recovered(self, index: int, exc: Exception) -> Any:
        """Record ``index`` from the plan of record, when this copy's cannot be
        decoded; :class:`PlanError` when there is none with as many records."""
        fallback = self._fallback
        if callable(fallback):  # read once, at the first damaged record
            try:
                fallback = fallback()
            except (OSError, ValueError) as failure:  # PlanError, a file that is not UTF-8
                fallback = f"; the plan of record: {failure}"
            else:
                fallback = fallback if len(fallback) == len(self._raw) else "; the plan of record differs"
            self._fallback = fallback
        if fallback is None or isinstance(fallback, str):
            raise PlanError(f"malformed plan: {exc}{fallback or ''}") from None
        return fallback[index]

    def __iter__(self) -> Any:
        for index in range(len(self._raw)):
            yield self[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, LazyRecords)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __add__(self, other: Any) -> tuple:
        return tuple(self) + tuple(other)

    def __radd__(self, other: Any) -> tuple:
        return tuple(other) + tuple(self)

    def __repr__(self) -> str:
        return repr(tuple(self))

    def __reduce__(self) -> Any:
        return (tuple, (tuple(self),))


class PlanError(ValueError):
    """A saved plan cannot be read (wrong schema, damaged file)."""


# -- records <-> JSON, driven by the field types ------------------------------
# Fields equal to their default are left out of the JSON: a 1,000-op plan
# stays small and loads in a few milliseconds.  Decoders are worked out once
# per class from the annotations, not per value.
_NESTED = {"Origin": Origin, "Target": Target, "Op": Op, "Rewrite": Rewrite, "ManifestInfo": ManifestInfo}
_DECODERS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _to_json(obj: Any) -> Any:
    if isinstance(obj, Record):
        out = {}
        for name, default in obj._field_defaults:
            value = getattr(obj, name)
            if value is default or (value == default and type(value) is type(default)):
                continue
            out[name] = _to_json(value)
        return out
    if isinstance(obj, (tuple, list, LazyRecords)):
        return [_to_json(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    return obj


def freeze(value: Any) -> Any:
    """JSON lists become tuples so that frozen records compare and hash."""
    if type(value) is list:
        return tuple([freeze(x) if type(x) in _CONTAINERS else x for x in value])
    if type(value) is dict:
        return {k: freeze(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
    return value


_CONTAINERS = (list, dict)


def _pairs(raw: Any) -> Any:
    if type(raw) is tuple:  # a marshalled op's, frozen when it was written (_frozen_op)
        return raw
    return tuple([(k, freeze(v)) for k, v in raw])


#: decoders that give a tuple back as it is
_KEEP_TUPLES = (freeze, _pairs)


def _frozen_op(raw: dict[str, Any]) -> dict[str, Any]:
    """An op's JSON object with its condition and options already as the record
    holds them (tuples), for the marshal form: decoding then keeps them as
    they are (``freeze`` and :func:`_pairs` pass a tuple through) instead of
    rebuilding them at every op a child reads.  ``value`` is user data and
    stays as it is."""
    out = dict(raw)
    if "when" in out:
        out["when"] = freeze(out["when"])
    if "options" in out:
        out["options"] = _pairs(out["options"])
    return out


def _decoder(annotation: str, name: str) -> Any:
    """How a field's JSON value becomes the record's, or None: kept as it is."""
    if name == "value":  # an op's value is user data: a list stays a list
        return None
    if annotation.startswith("tuple[Op,"):  # a plan's ops: decoded when read (see LazyRecords)
        return _lazy_ops
    if annotation.startswith("tuple[Target,"):
        return _targets
    for type_name, nested in _NESTED.items():
        if annotation.startswith(f"tuple[{type_name},"):
            return lambda raw, nested=nested: tuple([_from_json(nested, item) for item in raw])
        if annotation.startswith(type_name):
            return _one(nested)
    if annotation.startswith("tuple[tuple[str, Any]"):
        return _pairs
    if annotation in ("str", "int", "bool", "str | None", "int | None"):
        return None
    return freeze


def _one(cls: type) -> Any:
    """The decoder of a field holding one ``cls`` record or None.  A record of
    plain fields (an op's :class:`Origin`, read with each op a child reads) is
    built here when its keys are right, without :func:`_records`' loop."""
    plain = not any(_decoder(str(cls.__annotations__[name]), name) for name in cls._fields)
    required, allowed, new = cls._required, cls._field_set, object.__new__

    def decode(raw: Any) -> Any:
        if raw is None:
            return None
        if plain and type(raw) is dict and required <= raw.keys() <= allowed:
            obj = new(cls)
            obj.__dict__.update(raw)
            return obj
        return _from_json(cls, raw)

    return decode


#: decoded targets by their JSON object's items: the ops of a module name the same ones
#: (numpy-compat's 101 ops, ``numpy``), and a frozen record can be shared
_TARGETS: dict[tuple, Target] = {}


def _targets(raw: list[Any]) -> tuple[Target, ...]:
    out = []
    for item in raw:
        try:
            key: tuple | None = tuple(item.items())
            found = _TARGETS.get(key)
        except (AttributeError, TypeError):  # no object of plain values: decoded (and refused) as it is
            key = found = None
        if found is None:
            found = _from_json(Target, item)
            if key is not None:
                _TARGETS[key] = found
        out.append(found)
    return tuple(out)


def _lazy_ops(raw: list[Any]) -> LazyRecords:
    """The ops' fields and targets are checked now (a malformed plan fails to
    load); the rest of an op is decoded when it is read."""
    for item in raw:
        if type(item) is not dict or not Op._required <= item.keys() or not item.keys() <= Op._field_set \
                or type(item["targets"]) is not list \
                or not all(type(t) is dict and "module" in t and t.keys() <= Target._field_set
                           for t in item["targets"]):
            _from_json(Op, item if type(item) is dict else {})  # raises, naming what is wrong
    return LazyRecords(Op, raw)


def _with_lazy_ops(plan: Plan, raw: list[Any], read: Any, index: Any, fallback: Any = None) -> Plan:
    """``plan`` with the ops of a saved, indexed plan: ``raw[i]`` read by ``read``
    when op ``i`` is first asked for.  The index is checked now."""
    if plan.ops:
        raise PlanError("malformed plan: ops both indexed and inline")
    try:
        count = len(raw)
        modules, eager, conditions = index["modules"], index["eager"], index.get("conditions", [])
        if type(modules) is not dict:
            raise ValueError("modules is not an object")
        waiting = set().union(*modules.values())
        numbered = waiting.union(eager)
        # type() and set operations over the numbers, not a Python test per number: every child checks this
        if not set(map(type, numbered)) <= {int} or (numbered and (min(numbered) < 0 or max(numbered) >= count)) \
                or not set(map(type, modules)) <= {str}:
            raise ValueError("an op number out of range")
        if len(numbered) != count:
            raise ValueError(f"{count - len(numbered)} op(s) in no module's list and not eager")
        if type(conditions) is not list or not all(type(c) is list and len(c) == 2 and type(c[1]) is list
                                                   and waiting.issuperset(c[1]) for c in conditions):
            raise ValueError("a condition evaluated at start for an op that waits for no module")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanError(f"malformed plan index: {exc}") from None
    plan.__dict__["ops"] = LazyRecords(Op, raw, read, {"modules": modules, "eager": eager, "conditions": conditions},
                                       fallback)
    return plan


def _from_json(cls: type, data: dict[str, Any]) -> Any:
    """A record straight from its JSON object (see :func:`_records`)."""
    return _records(cls, (data,))[0]


def _records(cls: type, raws: Any) -> list[Any]:
    """Records straight from their JSON objects, in one loop (a run of ops):
    the fields go into the instance dict (no ``__init__`` per record) and
    only those that need it are converted (a tuple that :func:`freeze` or
    :func:`_pairs` would give back as it is, a marshalled op's condition or
    options, is kept without the call)."""
    decoders = _DECODERS.get(cls)
    if decoders is None:
        decoders = _DECODERS[cls] = tuple((name, decoder) for name in cls._fields
                                          if (decoder := _decoder(str(cls.__annotations__[name]), name)))
    required, allowed, new = cls._required, cls._field_set, object.__new__
    out = []
    for data in raws:
        keys = data.keys()
        if not required <= keys:
            raise ValueError(f"{cls.__name__} lacks {', '.join(sorted(required - keys))}")
        if not keys <= allowed:
            raise ValueError(f"{cls.__name__} has no field {', '.join(sorted(keys - allowed))}")
        obj = new(cls)
        fields = obj.__dict__
        fields.update(data)
        for name, decode in decoders:
            if name in fields:
                value = fields[name]
                if type(value) is not tuple or decode not in _KEEP_TUPLES:
                    fields[name] = decode(value)
        out.append(obj)
    return out


__all__ = ["SCHEMA_VERSION", "REQUIRED", "Record", "Origin", "Target", "Op", "Rewrite", "ManifestInfo", "Plan", "PlanError", "LazyRecords"]
