"""JSON Schema and Markdown reference, both generated from :mod:`npatch.dsl.model`.

Editors that understand a ``#:schema`` directive at the top of a TOML file
(Taplo / "Even Better TOML") complete and check manifests with the schema
that ``npatch schema`` prints.
"""
from __future__ import annotations

from typing import Any

from npatch.dsl.manifest import toml_repr
from npatch.dsl.model import PATCH_ACTIONS, TABLES, Key, Table

SCHEMA_ID = "https://npatch.invalid/schema/manifest-v1.json"

_JSON_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "number": {"type": "number"},
    "list[str]": {"type": "array", "items": {"type": "string"}},
    "table": {"type": "object"},
    "any": {},
    "examples": {"type": "array", "items": {
        "type": "object", "additionalProperties": False, "required": ["before", "after"],
        "properties": {"before": {"type": "string"}, "after": {"type": "string"}},
    }},
}


def _key_schema(key: Key) -> dict[str, Any]:
    schema = dict(_JSON_TYPES[key.type])
    schema["description"] = key.doc
    if key.choices:
        schema["enum"] = list(key.choices)
    if key.default not in (None, [], {}):
        schema["default"] = key.default
    if key.form == "name":
        from npatch.dsl.model import NAME_PATTERN

        schema["pattern"] = NAME_PATTERN
    return schema


def _table_schema(table: Table) -> dict[str, Any]:
    if table.free:
        return {"type": "object", "description": table.doc,
                "additionalProperties": {"type": ["string", "integer", "number", "boolean"]}}
    properties = {key.name: _key_schema(key) for key in table.keys}
    schema: dict[str, Any] = {"type": "object", "description": table.doc, "properties": properties,
                              "additionalProperties": False}
    required = [key.name for key in table.keys if key.required]
    if required:
        schema["required"] = required
    if table.name == "patch":
        schema["oneOf"] = [{"required": [action]} for action in PATCH_ACTIONS]
    if table.extra == "rewrite-kinds":
        from npatch.rewrite_kinds import REWRITE_KINDS

        for name, kind in REWRITE_KINDS.items():
            properties[name] = {
                "type": "object", "description": kind.doc, "additionalProperties": False,
                "properties": {p: {"description": spec.doc} for p, spec in kind.params.items()},
            }
            if kind.requires:  # draft 4 (Taplo) forbids an empty `required`
                properties[name]["required"] = list(kind.requires)
        schema["oneOf"] = [{"required": [name]} for name in REWRITE_KINDS]
    if table.array:
        return {"type": "array", "description": table.doc, "items": schema}
    return schema


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a manifest."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "npatch manifest",
        "type": "object",
        "required": ["manifest"],
        "additionalProperties": False,
        "properties": {name: _table_schema(table) for name, table in TABLES.items()},
    }


def markdown_reference() -> str:
    """The manifest reference for the README: one section per table."""
    lines = []
    for table in TABLES.values():
        header = f"[[{table.name}]]" if table.array else f"[{table.name}]"
        lines += [f"#### `{header}`", "", table.doc, ""]
        if table.free:
            lines += ["Any `name = value` pairs (string, integer, float, boolean).", ""]
            continue
        lines += ["| key | type | required | default | meaning |", "|---|---|---|---|---|"]
        for key in table.keys:
            default = "" if key.default in (None, [], {}) else f"`{toml_repr(key.default)}`"
            choices = f" One of {', '.join(f'`{toml_repr(c)}`' for c in key.choices)}." if key.choices else ""
            lines.append(f"| `{key.name}` | {key.type} | {'yes' if key.required else ''} | {default} | {key.doc}{choices} |")
        if table.extra == "rewrite-kinds":
            from npatch.rewrite_kinds import REWRITE_KINDS

            lines += ["", "Rule kinds (exactly one per rule):", ""]
            for name, kind in REWRITE_KINDS.items():
                keys = ", ".join(f"`{p}`{'' if spec.required else '?'}" for p, spec in kind.params.items())
                lines.append(f"- `{name}` = {{ {keys} }}: {kind.doc}")
        lines.append("")
    return "\n".join(lines)


__all__ = ["SCHEMA_ID", "json_schema", "markdown_reference"]
