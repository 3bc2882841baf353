"""The pattern kinds of the API table, registered by name.

Each ``[[api]]`` of the table has one pattern key (``names``, ``methods``...);
the class registered for that key validates its value and, given every entry
of its kind, hooks the node types it looks at into the walk of
:mod:`npatch.scan.finder`.  A hook returns True when the node's children must
not be walked again (a matched name chain is reported once, at its outermost
node).
"""
from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from npatch.rewrite_kinds import map_string
from npatch.scan.finder import Scope, Walk, resolve

Hook = Callable[[ast.AST, Scope, Walk], bool]

#: pattern key -> class, in the order hooks run (filled by :func:`pattern`)
PATTERNS: dict[str, type[Pattern]] = {}


def pattern(key: str):
    def register(cls: type[Pattern]) -> type[Pattern]:
        cls.key = key
        PATTERNS[key] = cls
        return cls

    return register


def hooks(apis: list) -> dict[type, list[Hook]]:
    """Per node type, the hooks of every pattern kind the entries use."""
    out: dict[type, list[Hook]] = {}
    for key, cls in PATTERNS.items():
        group = [a for a in apis if a.kind == key]
        if group:
            for node_type, hook in cls(group).hooks():
                out.setdefault(node_type, []).append(hook)
    return out


class Pattern:
    key = ""
    #: the value's fields and their types (see :data:`_TYPES`); a list value
    #: (``names = [...]``) has the single field ``""``
    fields: dict[str, str] = {"": "strings"}
    required: tuple[str, ...] = ("",)

    def __init__(self, apis: list) -> None:
        self.apis = apis

    @classmethod
    def check(cls, value: Any) -> list[tuple[str, str]]:
        """Problems with a table entry's pattern value: (sub-key, message)."""
        if cls.fields.keys() == {""}:
            value = {"": value}
        elif not isinstance(value, dict):
            return [("", f"`{cls.key}` must be a table with {', '.join(cls.fields)}")]
        problems = [(k, f"unknown key `{k}` (known: {', '.join(cls.fields)})") for k in value if k not in cls.fields]
        problems += [(k, "is required") for k in cls.required if k not in value]
        for k, kind in cls.fields.items():
            test, what = _TYPES[kind]
            if k in value and not test(value[k]):
                problems.append((k, f"must be {what}"))
        return problems

    def hooks(self) -> list[tuple[type, Hook]]:
        raise NotImplementedError


def _all(kind: type) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, kind) and not isinstance(x, bool) for x in v)


_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "strings": (_all(str), "a non-empty list of strings"),
    "ints": (_all(int), "a non-empty list of integers"),
    "string": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
}


def callee(call: ast.Call, scope: Scope) -> tuple[tuple[str, ...], str, str]:
    """(resolved names, method name, display name) of what a call calls."""
    func = call.func
    names = tuple(sorted(resolve(func, scope)))
    method = func.attr if type(func) is ast.Attribute else ""
    if names:
        shown = names[0]
    elif method:
        shown = f"*.{method}"
    else:
        shown = func.id if type(func) is ast.Name else "<call>"
    return names, method, shown


def callable_matches(spec: str, names: tuple[str, ...], method: str) -> bool:
    """``*`` any call, ``*.m`` a method ``m``, else a qualified name."""
    if spec == "*":
        return True
    if spec.startswith("*."):
        return method == spec[2:]
    return spec in names


def string_value(node: ast.AST) -> tuple[ast.AST, str] | None:
    """A string literal, or the leading text of an f-string, with its node."""
    if type(node) is ast.Constant and isinstance(node.value, str):
        return node, node.value
    if type(node) is ast.JoinedStr and node.values:
        first = node.values[0]
        if type(first) is ast.Constant and isinstance(first.value, str):
            return node, first.value
    return None


def claim(walk: Walk, node: ast.AST) -> None:
    """Mark a string as reported (an f-string with its leading text)."""
    walk.done.add(id(node))
    if type(node) is ast.JoinedStr:
        walk.done.add(id(node.values[0]))


def _value_in(value: str, values: list[str]) -> bool:
    return map_string(value, {v: v for v in values}) is not None


@pattern("names")
class Names(Pattern):
    """Qualified names and anything under them, through imports."""

    def __init__(self, apis: list) -> None:
        super().__init__(apis)
        self.entries = {n: a for a in apis for n in a.params}
        self.importing = {n: a for n, a in self.entries.items() if a.imports}

    @staticmethod
    def _match(names, entries: dict) -> tuple[str, Any] | None:
        """The first name (sorted) under an entry, with the most specific entry."""
        for qualified in sorted(names):
            parts = qualified.split(".")
            for cut in range(len(parts), 0, -1):
                api = entries.get(".".join(parts[:cut]))
                if api is not None:
                    return qualified, api
        return None

    def hooks(self) -> list[tuple[type, Hook]]:
        out: list[tuple[type, Hook]] = [(ast.Name, self.reference), (ast.Attribute, self.reference)]
        if self.importing:
            out += [(ast.Import, self.import_), (ast.ImportFrom, self.import_)]
        return out

    def reference(self, node, scope: Scope, walk: Walk) -> bool:
        if type(node) is ast.Name and type(node.ctx) is not ast.Load:
            return False
        found = self._match(resolve(node, scope), self.entries)
        if found is None:
            return False
        walk.add(node, found[1], found[0])
        return True

    def import_(self, node, scope: Scope, walk: Walk) -> bool:
        if type(node) is ast.Import:
            candidates = [(alias, alias.name) for alias in node.names]
        elif node.level or not node.module:
            return True
        else:
            candidates = [(alias, node.module if alias.name == "*" else f"{node.module}.{alias.name}")
                          for alias in node.names]
        for alias, name in candidates:
            found = self._match({name}, self.importing)
            if found is not None:
                walk.add(alias if hasattr(alias, "lineno") else node, found[1], name, detail="import")
        return True


class Members(Pattern):
    """``.name`` on any receiver: called (``methods``) or read (``attributes``)."""

    node_type: type = ast.Call

    def __init__(self, apis: list) -> None:
        super().__init__(apis)
        self.by_name = {m: a for a in apis for m in a.params}

    def hooks(self) -> list[tuple[type, Hook]]:
        return [(self.node_type, self.member)]

    def member(self, node: ast.AST, scope: Scope, walk: Walk) -> bool:
        attr = node.func if type(node) is ast.Call else node
        if type(attr) is ast.Attribute and attr.attr in self.by_name:
            names = tuple(sorted(resolve(attr, scope)))
            walk.add(attr, self.by_name[attr.attr], names[0] if names else f"*.{attr.attr}",
                     end=attr.attr, callee=names, method=attr.attr)
        return False


@pattern("methods")
class Methods(Members):
    """``.name(...)`` called on any receiver."""

    node_type = ast.Call


@pattern("attributes")
class Attributes(Members):
    """``.name`` read on any receiver."""

    node_type = ast.Attribute


class CallPattern(Pattern):
    """A pattern about calls of ``callables``: ``matched`` runs for each entry whose callables match."""

    def hooks(self) -> list[tuple[type, Hook]]:
        return [(ast.Call, self.call)]

    def call(self, node: ast.Call, scope: Scope, walk: Walk) -> bool:
        names, method, shown = callee(node, scope)
        for api in self.apis:
            if any(callable_matches(c, names, method) for c in api.params["callables"]):
                self.matched(node, api, walk, names=names, method=method, shown=shown)
        return False

    def matched(self, node: ast.Call, api, walk: Walk, *, names: tuple[str, ...], method: str, shown: str) -> None:
        raise NotImplementedError


@pattern("arguments")
class Arguments(CallPattern):
    """String values given to callables at keywords or positions."""

    fields = {"callables": "strings", "keywords": "strings", "positions": "ints", "values": "strings"}
    required = ("callables", "values")

    def matched(self, node: ast.Call, api, walk: Walk, *, names: tuple[str, ...], method: str, shown: str) -> None:
        p = api.params
        for keyword, position, arg in _arguments(node):
            if keyword not in p.get("keywords", ()) and position not in p.get("positions", ()):
                continue
            found = string_value(arg)
            if found is None or id(found[0]) in walk.done or not _value_in(found[1], p["values"]):
                continue
            claim(walk, found[0])
            written = ast.unparse(found[0])
            detail = f"{keyword}={written}" if keyword else f"argument {position}: {written}"
            walk.add(found[0], api, shown, detail=detail, callee=names, method=method,
                     keyword=keyword or "", position=-1 if position is None else position, value=found[1])


def _arguments(call: ast.Call):
    """(keyword, position, node) of every argument; positions stop at ``*args``."""
    for index, arg in enumerate(call.args):
        if type(arg) is ast.Starred:
            break
        yield None, index, arg
    for keyword in call.keywords:
        if keyword.arg is not None:
            yield keyword.arg, None, keyword.value


@pattern("keywords")
class Keywords(CallPattern):
    """A keyword argument given at all (``device_ids=...``)."""

    fields = {"callables": "strings", "names": "strings"}
    required = ("callables", "names")

    def matched(self, node: ast.Call, api, walk: Walk, *, names: tuple[str, ...], method: str, shown: str) -> None:
        for keyword in node.keywords:
            if keyword.arg in api.params["names"]:
                walk.add(keyword, api, shown, detail=f"{keyword.arg}=", callee=names, method=method,
                         keyword=keyword.arg)


@pattern("requires")
class Requires(Pattern):
    """A call without an argument it needs off CUDA (``torch.load`` without ``map_location``)."""

    fields = {"callables": "strings", "keyword": "string", "position": "int"}
    required = ("callables", "keyword")

    def hooks(self) -> list[tuple[type, Hook]]:
        return [(ast.Call, self.call)]

    def call(self, node: ast.Call, scope: Scope, walk: Walk) -> bool:
        names = resolve(node.func, scope)
        if not names:
            return False
        for api in self.apis:
            p = api.params
            matched = sorted(names.intersection(p["callables"]))
            if not matched or any(k.arg is None or k.arg == p["keyword"] for k in node.keywords):
                continue
            given_at = "position" in p and len(node.args) > p["position"]
            if given_at or any(type(a) is ast.Starred for a in node.args):
                continue
            walk.add(node, api, matched[0], detail=f"no {p['keyword']}", callee=tuple(sorted(names)))
        return False


@pattern("strings")
class Strings(Pattern):
    """Any other string literal with one of ``values``."""

    fields = {"values": "strings"}
    required = ("values",)

    def hooks(self) -> list[tuple[type, Hook]]:
        return [(ast.Constant, self.string), (ast.JoinedStr, self.string)]

    def string(self, node, scope: Scope, walk: Walk) -> bool:
        found = string_value(node)
        if found is None or id(node) in walk.done:
            return False
        claim(walk, node)
        for api in self.apis:
            if _value_in(found[1], api.params["values"]):
                walk.add(node, api, ast.unparse(node), value=found[1])
                break
        return False


@pattern("comparisons")
class Comparisons(Pattern):
    """A string compared with something: ``x.device.type == 'cuda'``, ``d in ('cuda', 'npu')``."""

    fields = {"values": "strings"}
    required = ("values",)

    def hooks(self) -> list[tuple[type, Hook]]:
        return [(ast.Compare, self.compare)]

    def compare(self, node: ast.Compare, scope: Scope, walk: Walk) -> bool:
        operands = []
        for operand in (node.left, *node.comparators):
            operands += operand.elts if type(operand) in (ast.Tuple, ast.List, ast.Set) else [operand]
        for operand in operands:
            found = string_value(operand)
            if found is None or id(operand) in walk.done:
                continue
            for api in self.apis:
                if _value_in(found[1], api.params["values"]):
                    claim(walk, operand)
                    walk.add(operand, api, ast.unparse(operand), detail="comparison", value=found[1])
                    break
        return False


__all__ = ["Hook", "PATTERNS", "pattern", "hooks", "Pattern", "callee", "callable_matches", "string_value", "claim",
           "Names", "Members", "Methods", "Attributes", "CallPattern", "Arguments", "Keywords", "Requires", "Strings",
           "Comparisons"]
