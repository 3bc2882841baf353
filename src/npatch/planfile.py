"""Saved forms of a plan that load without reading every op.

A 1,000-op plan is about 1 MB of JSON; parsing all of it (and building its
records) costs more than a process should pay to learn that it imports none
of the plan's modules.  Both saved forms therefore keep each op apart and
carry an *index*: which ops each module name starts.  Loading reads the
plan's header and the index; an op is decoded the first time it is read
(:class:`npatch.plan.LazyRecords`), and a session reads an op when one of its
modules is first imported (:meth:`npatch.plan.Plan.ops_by_module`).

The JSON file (``npatch compile -o``) stays one ordinary, readable JSON
object; its first key is the index::

    {"index": {"length": L, "starts": [s0, s1, ...], "modules": {"pkg.mod": [0, 3]}, "eager": [5],
               "conditions": [[["call", "importable", [["str", "x"]]], [3]]]},
     "manifests": [...], "ops": [{op 0}, {op 1}, ...], "options": ..., "schema": 1}

``starts`` are the offsets of each op's text from the ``[`` of ``ops`` and
``length`` is the length of that array's text, so a reader jumps over the
ops and decodes op *i* alone (``raw_decode`` at ``starts[i]``).  A file whose
ops do not end where the index says (edited by hand, written by another
tool) is parsed in full instead, and its index rebuilt from the ops.  An
index that leaves an op out is refused (``PlanError``): that op would never
apply.  An edit that keeps every op where it was but changes a target module
is not seen: recompile a plan file after editing it by hand.

The marshal form (``.marshal`` beside a cached plan, ``NPATCH_PLAN_DATA``)
is ``(tag, header, index, [marshal bytes of each run of ops])``: a run is
the consecutive ops that wait for the same modules, read together at the
first read of one of them (:func:`npatch.planwrite.dumps_marshal`).  Each op's condition and
options are stored already frozen (tuples, as the record holds them), so
reading an op does not rebuild them.

``modules`` lists, for each op that waits for an import, the modules that
start it: its targets' and its ``during`` module.  ``eager`` lists the ops a
session prepares at start, as every op was before: kinds that substitute
whole modules (alias, stub: a name under a package that does not exist needs
them before its parent is imported) and kinds npatch does not know
(extensions).

``conditions`` lists, once each, the conditions that must be evaluated when
the session starts, with the ops that carry them: those that ask what the
import system finds (``importable()``) or call an extension's function.
Their answer depends on the moment, and after the start it would see the
plan's own stubs and aliases (``not importable('mmcv._ext')`` turns false
once ``mmcv._ext`` is stubbed).  The session evaluates each at start and
keeps the verdict for the op's first import, so the ops themselves wait,
unread, like the others (an op whose condition is false is never read;
torch-npu's 236 ops under ``importable('torch_npu')``).  ``installed``,
``version``, ``env``, ``option`` and the variables do not change with the
plan, so they are evaluated only when an op that carries them is read.
"""
from __future__ import annotations

import marshal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
def tree_key(when: Any) -> Any:
    """``when`` with every list a tuple: one hashable key per condition, whether
    it comes from JSON, marshal, a loaded op or a record built in code."""
    if type(when) in (list, tuple):
        return tuple([tree_key(node) for node in when])
    return when


def started_index(modules: dict[str, list[int]], eager: list[int], conditions: list[list[Any]],
                  verdict: Any) -> tuple[dict[str, list[int]], list[int]]:
    """``(modules, eager)`` as a session starts: ``verdict(when)`` of each
    start-time condition is taken now (the session keeps it for the ops'
    first import); the ops of a false one wait for nothing, those of one
    that raises are prepared at once (each then reports the failure)."""
    eager, never = list(eager), set()
    for when, numbers in conditions:
        try:
            holds = verdict(when)
        except Exception:
            eager += numbers
        else:
            if not holds:
                never.update(numbers)
    if never:
        modules = {name: kept for name, numbers in modules.items() if (kept := [n for n in numbers if n not in never])}
    return modules, eager


# -- JSON ------------------------------------------------------------------------------
class _Context:
    """What the C scanner of ``json`` reads from a decoder (``JSONDecoder()``'s defaults)."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return float(name.replace("Infinity", "inf"))


def scanner() -> Any:
    """``scan(text, at) -> (value, end)`` for one JSON value at ``at``.

    The ``json`` package's own C scanner, built without importing ``json``
    (its modules cost a loading process ~1 ms); raises ``StopIteration`` or
    ``ValueError`` where there is no value."""
    try:
        from _json import make_scanner
    except ImportError:  # an interpreter without the C accelerator
        import json

        return json.JSONDecoder().raw_decode
    return make_scanner(_Context())


def loads_json(text: str) -> tuple[dict[str, Any], Any, Any]:
    """``(data, ops, index)`` of a saved plan: ``ops`` are the ops' texts and
    their offsets when the file is indexed (``data`` then lacks ``ops``);
    otherwise ``data`` is the whole parsed object and ``ops``/``index`` None.
    Raises ``ValueError`` for text that is not JSON."""
    try:
        found = _indexed(text, scanner())
    except (ValueError, IndexError, KeyError, TypeError, StopIteration):
        found = None
    if found is not None:
        return found
    import json

    data = json.loads(text)
    if isinstance(data, dict):
        data.pop("index", None)
    return data, None, None


def _skip(text: str, at: int) -> int:
    while text[at] in " \t\r\n":
        at += 1
    return at


def _indexed(text: str, decode: Any) -> tuple[dict[str, Any], Any, Any] | None:
    """Walk the top-level object, decoding every value but the ops' array."""
    at = _skip(text, 0)
    if text[at] != "{":
        return None
    data: dict[str, Any] = {}
    index = ops = None
    at += 1
    while True:
        at = _skip(text, at)
        if text[at] == "}":
            break
        key, at = decode(text, at)
        at = _skip(text, at)
        if text[at] != ":":
            return None
        at = _skip(text, at + 1)
        if key == "ops" and index is not None:
            end = at + index["length"]
            if text[at] != "[" or text[end - 1] != "]" or len(index["starts"]) != len(set(index["starts"])):
                return None
            ops, at = (text, at), end
        else:
            value, at = decode(text, at)
            if key == "index":
                index = value
            else:
                data[key] = value
        at = _skip(text, at)
        if text[at] == ",":
            at += 1
        elif text[at] != "}":
            return None
    if index is None or ops is None:
        return None
    return data, ops, index


def json_op_decoder(text: str, base: int) -> Any:
    """The decoder of one op of an indexed JSON file (``starts`` are relative to ``base``)."""
    scan = scanner()

    def decode(start: int) -> Any:
        try:
            return scan(text, base + start)[0]
        except StopIteration:
            raise ValueError(f"no JSON value at offset {base + start}") from None

    return decode


# -- marshal ---------------------------------------------------------------------------
def loads_marshal(tag: str, data: bytes) -> tuple[dict[str, Any], range, Any, dict[str, Any]]:
    """``(header, numbers, read, index)``: ``read(i)`` for each of the op numbers is op
    *i*'s object, its run unmarshalled at the first of its ops read; ``ValueError``
    for anything else (the message says whether the tag or the body is wrong)."""
    try:
        parts = marshal.loads(data)
    except (ValueError, EOFError, TypeError) as exc:
        raise ValueError(f"damaged marshalled plan: {exc}") from None
    if type(parts) is not tuple or not parts:
        raise ValueError(f"damaged marshalled plan: {type(parts).__name__}, not a tuple")
    if parts[0] != tag:
        raise ValueError(f"marshalled plan is {parts[0]!r}, expected {tag!r}")
    if len(parts) != 4 or type(parts[1]) is not dict or type(parts[3]) is not list or type(parts[2]) is not dict:
        raise ValueError("damaged marshalled plan: not (tag, header, index, ops)")
    runs, lengths = parts[3], parts[2].get("runs")
    if type(lengths) is not list or len(lengths) != len(runs) \
            or not all(type(n) is int and n > 0 for n in lengths):
        raise ValueError("damaged marshalled plan: its runs of ops do not match their lengths")
    cells: list[list[Any]] = []  # per op: its run's [bytes or ops, length, first op number], shared by the run
    for run, length in zip(runs, lengths):
        cells += [[run, length, len(cells)]] * length

    def read(number: int) -> Any:
        cell = cells[number]
        run = cell[0]
        if type(run) is bytes:
            run = marshal.loads(run)  # ValueError or EOFError where it is damaged
            if type(run) is not list or len(run) != cell[1]:
                raise ValueError("a damaged run of ops")
            cell[0] = run
        return run[number - cell[2]]

    return parts[1], range(len(cells)), read, parts[2]


__all__ = ["tree_key", "started_index", "scanner", "loads_json", "json_op_decoder", "loads_marshal"]
