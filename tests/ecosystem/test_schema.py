"""`npatch schema` against real manifests: what editors check must agree with the compiler.

Editors validate through Taplo, which implements JSON Schema draft 4; the
schema declares draft 2020-12.  Both validators must accept every built-in
manifest, and the schema may only use keywords that mean the same in both.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import tomli

from npatch.dsl.schema import json_schema
from npatch_testutil import REPO, clean_env

MANIFESTS = sorted((REPO / "src" / "npatch" / "manifests").glob("*.toml"))
DEMO_MANIFEST = REPO / "tests" / "data" / "npatch_ext_demo" / "src" / "npatch_ext_demo" / "manifests" / "demo-counter.toml"
#: keywords whose meaning is the same in JSON Schema draft 4 and draft 2020-12
PORTABLE = {"$schema", "$id", "title", "description", "default", "type", "properties", "additionalProperties",
            "required", "items", "enum", "pattern", "oneOf"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The schema exactly as the CLI prints it."""
    out = subprocess.run([sys.executable, "-m", "npatch", "schema"], capture_output=True, text=True, env=clean_env())
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert printed == json_schema()
    return printed


def _validators(schema: dict[str, Any]) -> list[Any]:
    return [jsonschema.Draft202012Validator(schema), jsonschema.Draft4Validator(schema)]


def _keywords(node: Any, under_properties: bool = False) -> set[str]:
    """Schema keywords used anywhere (names inside `properties` are data, not keywords)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if not under_properties:
                found.add(key)
            found |= _keywords(value, under_properties=(key == "properties" and not under_properties))
    elif isinstance(node, list):
        for item in node:
            found |= _keywords(item)
    return found


def test_schema_is_a_valid_schema_in_both_drafts(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft4Validator.check_schema(schema)
    used = _keywords(schema)
    assert used <= PORTABLE, f"keywords Taplo (draft 4) may not understand: {sorted(used - PORTABLE)}"


@pytest.mark.parametrize("path", MANIFESTS + [DEMO_MANIFEST], ids=lambda p: p.stem)
def test_every_builtin_manifest_validates(schema, path: Path):
    data = tomli.loads(path.read_text(encoding="utf-8"))
    for validator in _validators(schema):
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], f"{path.name} ({type(validator).__name__}): {errors}"


BAD = {
    "unknown table": ('[manifest]\nname = "x"\n[[patches]]\nname = "a"\n', "patches"),
    "unknown key": ('[manifest]\nname = "x"\n[[patch]]\nname = "a"\ntarget = "m:f"\nvalu = 1\n', "valu"),
    "two actions": ('[manifest]\nname = "x"\n[[patch]]\nname = "a"\ntarget = "m:f"\nvalue = 1\ndelete = true\n', "oneOf"),
    "no action": ('[manifest]\nname = "x"\n[[patch]]\nname = "a"\ntarget = "m:f"\n', "oneOf"),
    "wrong type": ('[manifest]\nname = "x"\n[[patch]]\nname = "a"\ntarget = "m:f"\nvalue = 1\npriority = "high"\n', "integer"),
    "bad choice": ('[manifest]\nname = "x"\n[[stub]]\nmodule = "m"\non-use = "explode"\n', "explode"),
    "bad name": ('[manifest]\nname = "Has Spaces"\n', "does not match"),
    "missing manifest": ('[[stub]]\nmodule = "m"\n', "manifest"),
    "op without kind": ('[manifest]\nname = "x"\n[[op]]\nname = "a"\ntarget = "m:f"\n', "kind"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_manifests_fail_the_schema_and_the_compiler(schema, case: str, tmp_path):
    text, expected = BAD[case]
    for validator in _validators(schema):
        messages = " | ".join(e.message + " " + str(list(e.schema_path)) for e in validator.iter_errors(tomli.loads(text)))
        assert expected in messages, f"{type(validator).__name__}: {messages or 'no error'}"
    path = tmp_path / "bad.toml"
    path.write_text(text)
    from npatch.errors import ManifestErrors
    from npatch.dsl.manifest import load_manifest

    with pytest.raises(ManifestErrors):
        load_manifest(path)
