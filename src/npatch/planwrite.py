"""Writing the saved forms of a plan (:mod:`npatch.planfile` describes them)
and building their index.

Apart from :mod:`npatch.planfile`, which reads them: a child process reads a
plan and never writes one, and this code is not unmarshalled, nor seen by
its garbage collections, in every child.
"""
from __future__ import annotations

import marshal

from npatch.planfile import tree_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: condition functions whose answer the plan's own work cannot change
LAZY_FUNCTIONS = frozenset({"installed", "version", "env", "option"})


def _waits(when: Any) -> bool:
    """The condition tree ``when`` may be evaluated at the op's first import."""
    if type(when) not in (list, tuple):
        return True
    if len(when) > 1 and when[0] == "call" and when[1] not in LAZY_FUNCTIONS:
        return False
    return all(_waits(node) for node in when)


def op_modules(raw: dict[str, Any]) -> list[str]:
    """The modules whose first import starts the op ``raw`` (a JSON object)."""
    modules = [t["module"] for t in raw["targets"]]
    during = raw.get("during")
    if during:
        modules.append(during)
    return modules


def build_index(raw_ops: list[dict[str, Any]],
                lazy_kinds: frozenset[str]) -> tuple[dict[str, list[int]], list[int], list[list[Any]]]:
    """``(modules, eager, conditions)`` of the index for the ops' JSON objects,
    in plan order; ``lazy_kinds`` are the kinds that may wait
    (:data:`npatch.opkinds.LAZY_KINDS`).  ``conditions``: ``[when, [op numbers]]``
    for each distinct condition evaluated at start."""
    modules: dict[str, list[int]] = {}
    eager: list[int] = []
    at_start: dict[Any, list[Any]] = {}
    for number, raw in enumerate(raw_ops):
        waiting = dict.fromkeys(op_modules(raw))
        if raw.get("kind") not in lazy_kinds or not waiting:  # no module to wait for: a record built by hand
            eager.append(number)
            continue
        when = raw.get("when")
        if not _waits(when):
            at_start.setdefault(tree_key(when), [when, []])[1].append(number)
        for module in waiting:
            modules.setdefault(module, []).append(number)
    return modules, eager, list(at_start.values())


# -- JSON ------------------------------------------------------------------------------
_ENCODER: Any = None


def json_encoder() -> Any:
    """``json.JSONEncoder`` as it was when this was first called, whatever a
    plan patched since: a subclass whose methods run with a copy of
    ``json.encoder``'s globals of that moment (``json.dumps``, the encoder's
    methods and its string quoting are otherwise looked up at each call).
    :mod:`npatch.runtime.reportfiles` calls it before any plan starts, so a
    plan that replaces ``json.dumps`` cannot break its own report."""
    global _ENCODER
    if _ENCODER is None:
        from json.encoder import JSONEncoder
        from types import FunctionType

        def pinned(function: Any) -> Any:
            copy = FunctionType(function.__code__, dict(function.__globals__), function.__name__,
                                function.__defaults__, function.__closure__)
            copy.__kwdefaults__ = function.__kwdefaults__
            return copy

        methods = {name: pinned(f) for name, f in vars(JSONEncoder).items() if isinstance(f, FunctionType)}
        _ENCODER = type("PinnedJSONEncoder", (JSONEncoder,), methods)
    return _ENCODER


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, **options)`` (by :func:`json_encoder`) that UTF-8 can encode:
    a lone surrogate (an undecodable byte of a file name, as ``os`` hands
    it over: ``b'n\\xe9.toml'`` is ``'n\\udce9.toml'``) becomes its JSON escape,
    which ``json.loads`` turns back into the same surrogate."""
    text = json_encoder()(ensure_ascii=False, **options).encode(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if not text.isascii() else text


def dumps_json(data: dict[str, Any], lazy_kinds: frozenset[str], indent: int | None = None) -> str:
    """``data`` (a plan's :meth:`~npatch.plan.Plan.to_dict`) as an indexed JSON object."""
    import json

    def dump(value: Any, level: int) -> str:
        text = json_text(value, indent=indent, sort_keys=True)
        return text.replace("\n", "\n" + " " * (indent * level)) if indent else text

    newline, pad = ("\n", " " * indent) if indent else ("", "")
    item_sep = "," + (newline or " ")
    raw_ops = data.get("ops", [])
    texts = [dump(raw, 2) for raw in raw_ops]
    starts, offset = [], 1 + len(newline)
    for text in texts:
        starts.append(offset + len(pad) * 2)
        offset += len(pad) * 2 + len(text) + len(item_sep)
    array = "[" + newline + item_sep.join(pad * 2 + t for t in texts) + newline + pad + "]" if texts else "[]"
    modules, eager, conditions = build_index(raw_ops, lazy_kinds)
    index = {"length": len(array), "starts": starts, "modules": modules, "eager": eager, "conditions": conditions}
    fields = [("index", json.dumps(index, sort_keys=True, separators=(",", ":")))]
    fields += [(key, array if key == "ops" else dump(data[key], 1)) for key in sorted({*data, "ops"})]
    body = item_sep.join(f"{pad}{json.dumps(key)}: {text}" for key, text in fields)
    return "{" + newline + body + newline + "}"


# -- marshal ---------------------------------------------------------------------------
def dumps_marshal(tag: str, data: dict[str, Any], lazy_kinds: frozenset[str], prepare: Any = None) -> bytes:
    """``(tag, header, index, [marshal bytes of each run of ops])``; ``prepare(raw)``:
    the form an op's JSON object is stored in (the index is built from the JSON objects).

    A run is the consecutive ops that wait for the same modules (numpy-compat's
    101 ops on ``numpy``), marshalled together: the first read of one of them
    decodes the run at once, and the strings its ops repeat (keys, the kind,
    the module, the source, the manifest's path) and their equal conditions
    are stored once and read back as references.  ``index["runs"]`` holds each run's length."""
    header = dict(data)
    raw_ops = header.pop("ops", [])
    modules, eager, conditions = build_index(raw_ops, lazy_kinds)
    stored = raw_ops if prepare is None else [prepare(raw) for raw in raw_ops]
    lengths: list[int] = []
    previous = None
    for raw in raw_ops:
        waits = op_modules(raw)
        if lengths and waits == previous:
            lengths[-1] += 1
        else:
            lengths.append(1)
        previous = waits
    index = {"modules": modules, "eager": eager, "conditions": conditions, "runs": lengths}
    seen: dict[Any, Any] = {}
    runs, at = [], 0
    for length in lengths:
        runs.append(marshal.dumps([_shared(raw, seen) for raw in stored[at:at + length]]))
        at += length
    return marshal.dumps((tag, header, index, runs))


def _shared(value: Any, seen: dict[Any, Any]) -> Any:
    """``value`` with each equal string, and each equal tuple of strings (a
    condition, an option: the 101 ops of numpy-compat carry one condition),
    the same object: ``marshal`` then writes it once and a reference at each
    repetition, and reads it back as one object.  Other containers are copied,
    never shared."""
    kind = type(value)
    if kind is str:
        return seen.setdefault(value, value)
    if kind is dict:
        return {_shared(k, seen): _shared(v, seen) for k, v in value.items()}
    if kind is list:
        return [_shared(item, seen) for item in value]
    if kind is tuple:
        items = tuple([_shared(item, seen) for item in value])
        return seen.setdefault(items, items) if _strings_only(items) else items
    return value


def _strings_only(value: tuple) -> bool:
    """A tuple of strings and such tuples: equal ones are interchangeable (no
    ``1 == True`` or ``1 == 1.0`` between them)."""
    return all(type(item) is str or (type(item) is tuple and _strings_only(item)) for item in value)



__all__ = ["LAZY_FUNCTIONS", "op_modules", "build_index", "json_encoder", "json_text", "dumps_json", "dumps_marshal"]
