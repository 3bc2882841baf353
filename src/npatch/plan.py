"""The Plan: the executable, plain-data result of compiling manifests.

The plan is the seam between the compile half (dsl, compiler: lark, tomli)
and the run half (runtime, rewrite).  It is made of frozen dataclasses that
hold only JSON-compatible values, so a plan can be saved, loaded and hashed
without importing anything heavy: loading a saved plan imports ``json`` and
nothing from the compile half.

Conditions are stored already parsed, as nested lists (see
:mod:`npatch.conditions` for the node shapes), so the runtime evaluates them
without the grammar.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

SCHEMA_VERSION = 1

#: Every op kind the runtime knows.  ``npatch.runtime.ops`` registers one
#: apply/restore pair per kind; third-party kinds come from entry points.
OP_KINDS = ("replace", "wrap", "value", "delete", "call", "register", "alias", "stub")


@dataclass(frozen=True)
class Origin:
    """Where an op came from: manifest file, 1-based line and column, key path."""

    file: str
    line: int
    col: int
    key: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col} ({self.key})"


@dataclass(frozen=True)
class Target:
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


@dataclass(frozen=True)
class Op:
    """One unit of runtime work.

    kind      one of :data:`OP_KINDS` (or a registered extension kind)
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


@dataclass(frozen=True)
class Rewrite:
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


@dataclass(frozen=True)
class ManifestInfo:
    """One manifest that went into the plan, for ``show`` and reports."""

    name: str
    path: str
    description: str = ""
    includes: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
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
        schema = data.get("schema")
        if schema != SCHEMA_VERSION:
            raise PlanError(f"plan schema {schema!r} is not supported (expected {SCHEMA_VERSION})")
        try:
            return _from_json(cls, data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlanError(f"malformed plan: {exc}") from None

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PlanError(f"plan is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str) -> "Plan":
        """Read a saved plan file.  Imports nothing beyond ``json``."""
        with open(path, encoding="utf-8") as handle:
            return cls.from_json(handle.read())

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON: equal plans hash equal, in any process."""
        import hashlib  # loads OpenSSL (~3 ms): only when a hash is asked for

        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    # -- convenience ---------------------------------------------------
    @property
    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def op(self, name: str) -> Op:
        for op in self.ops:
            if op.name == name:
                return op
        raise KeyError(name)

    def apply(self, **kwargs: Any):
        """Apply this plan in the current process; returns a Session (a context manager)."""
        from npatch.runtime.session import Session

        return Session(self, **kwargs).start()


class PlanError(ValueError):
    """A saved plan cannot be read (wrong schema, damaged file)."""


# -- dataclass <-> JSON, driven by the field types ----------------------------
# Fields equal to their default are left out of the JSON: a 1,000-op plan
# stays small and loads in a few milliseconds.  Decoders are worked out once
# per class from the annotations, not per value.
_NESTED = {"Origin": Origin, "Target": Target, "Op": Op, "Rewrite": Rewrite, "ManifestInfo": ManifestInfo}
_DEFAULTS: dict[type, list[tuple[str, Any]]] = {}
_DECODERS: dict[type, dict[str, Any]] = {}


def _to_json(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        cls = type(obj)
        if cls not in _DEFAULTS:
            _DEFAULTS[cls] = [(f.name, f.default) for f in fields(cls)]
        out = {}
        for name, default in _DEFAULTS[cls]:
            value = getattr(obj, name)
            if value is default or (value == default and type(value) is type(default)):
                continue
            out[name] = _to_json(value)
        return out
    if isinstance(obj, (tuple, list)):
        return [_to_json(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    return obj


def freeze(value: Any) -> Any:
    """JSON lists become tuples so that frozen dataclasses compare and hash."""
    if isinstance(value, list):
        return tuple(freeze(x) for x in value)
    if isinstance(value, dict):
        return {k: freeze(v) for k, v in value.items()}
    return value


def _keep(raw: Any) -> Any:
    return raw


def _pairs(raw: Any) -> Any:
    return tuple((k, freeze(v)) for k, v in raw)


def _decoder(annotation: str, name: str) -> Any:
    if name == "value":  # an op's value is user data: a list stays a list
        return _keep
    for type_name, nested in _NESTED.items():
        if annotation.startswith(f"tuple[{type_name},"):
            return lambda raw, nested=nested: tuple(_from_json(nested, item) for item in raw)
        if annotation.startswith(type_name):
            return lambda raw, nested=nested: None if raw is None else _from_json(nested, raw)
    if annotation.startswith("tuple[tuple[str, Any]"):
        return _pairs
    if annotation in ("str", "int", "bool", "str | None", "int | None"):
        return _keep
    return freeze


def _from_json(cls: type, data: dict[str, Any]) -> Any:
    decoders = _DECODERS.get(cls)
    if decoders is None:
        decoders = _DECODERS[cls] = {f.name: _decoder(str(f.type), f.name) for f in fields(cls)}
    return cls(**{name: decoders[name](raw) for name, raw in data.items()})


__all__ = ["SCHEMA_VERSION", "OP_KINDS", "Origin", "Target", "Op", "Rewrite", "ManifestInfo", "Plan", "PlanError"]
