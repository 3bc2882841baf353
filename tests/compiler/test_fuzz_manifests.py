"""Property: whatever manifest text comes in, ``npatch compile`` ends with
exit 0 or 1 and never lets an exception out (no traceback).

Manifests are generated from the manifest model (:data:`npatch.dsl.model.TABLES`:
every table, its keys with values of the declared type) and then mutated:
values of the wrong type, missing or unknown keys, odd strings (control
characters, quotes, very long, non-ASCII), deeply nested arrays and tables,
dates, and byte-level damage of the TOML text.  CI runs a bounded number of
examples (a few seconds); ``NPATCH_FUZZ_EXAMPLES=5000`` runs more.
"""
from __future__ import annotations

import contextlib
import datetime
import io
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npatch.cli import main
from npatch.dsl.model import TABLES

EXAMPLES = int(os.environ.get("NPATCH_FUZZ_EXAMPLES", "30"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize="NPATCH_FUZZ_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

ODD_TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.sampled_from(["", " ", "torch.cuda:synchronize", "textwrap:dedent", "a..b", ":", "os.path:join",
                     "installed('mmcv')", "option('x') == 1", "not not", "((", "version('torch') >= '2'",
                     "\u202e", "x" * 3000, "\x00", "\\", '"', "'"]),
)
SCALAR = st.one_of(st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True), ODD_TEXT,
                   st.dates(), st.times(), st.datetimes())


def nested(depth: int):
    """Arrays and tables nested ``depth`` levels around a scalar."""
    return st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(ODD_TEXT, inner, max_size=3)),
                        max_leaves=depth)


def typed(key) -> st.SearchStrategy:
    """A value of the key's declared type (sometimes taken from its choices)."""
    by_type = {
        "str": ODD_TEXT, "int": st.integers(-5, 2**64), "bool": st.booleans(), "number": st.floats(-1e9, 1e9),
        "list[str]": st.lists(ODD_TEXT, max_size=3), "table": st.dictionaries(ODD_TEXT, SCALAR, max_size=3),
        "examples": st.lists(st.fixed_dictionaries({"before": ODD_TEXT, "after": ODD_TEXT}), max_size=2),
    }
    base = by_type.get(key.type, nested(4))
    return st.one_of(base, st.sampled_from(key.choices)) if key.choices else base


@st.composite
def table_data(draw, table) -> dict:
    data = {}
    for key in table.keys:
        if key.required or draw(st.booleans()):
            mutate = draw(st.integers(0, 9))
            data[key.name] = draw(nested(30) if mutate == 0 else typed(key))   # 1 in 10: any type, any depth
    if table.extra:
        kind = draw(st.sampled_from(["rename", "method", "argument", "unsupported", "imports", "nonsense"]))
        data[kind] = draw(st.dictionaries(st.sampled_from(["from", "to", "names", "keyword", "x"]), ODD_TEXT,
                                          max_size=3))
    if draw(st.integers(0, 9)) == 0:
        data[draw(ODD_TEXT)] = draw(SCALAR)                                      # an unknown key
    if table.free:
        data.update(draw(st.dictionaries(ODD_TEXT, nested(3), max_size=3)))
    return data


@st.composite
def manifests(draw) -> dict:
    doc = {}
    for name, table in TABLES.items():
        if name != "manifest" and draw(st.integers(0, 2)):
            continue
        value = draw(table_data(table))
        doc[name] = draw(st.lists(table_data(table), min_size=1, max_size=3)) if table.array else value
    if draw(st.integers(0, 9)) == 0:
        doc.pop("manifest", None)
    return doc


def toml_value(value, depth: int = 0) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)       # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v, depth + 1) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v, depth + 1)}" for k, v in value.items()) + "}"


def to_toml(doc: dict) -> str:
    out = []
    for name, value in doc.items():
        for table in value if isinstance(value, list) else [value]:
            out.append(f"[[{name}]]" if isinstance(value, list) else f"[{name}]")
            if not isinstance(table, dict):
                continue
            out += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(out) + "\n"


def damage(draw, text: str) -> str:
    choice = draw(st.integers(0, 6))
    if choice == 0 and text:
        cut = draw(st.integers(0, len(text)))
        return text[:cut]
    if choice == 1:
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.sampled_from(["[", "]", "\"", "=", "\n[[", "\x00", "\ufeff", "{", "'''"])) + text[at:]
    if choice == 2:
        return "\ufeff" + text
    if choice == 3:                                    # deep nesting, inside and beyond tomli's limit
        depth = draw(st.integers(1, 1000))
        opening, closing = draw(st.sampled_from([("[", "]"), ("{a = ", "}")]))
        return text + f'[[patch]]\nname = "deep"\ntarget = "a:b"\nvalue = {opening * depth}1{closing * depth}\n'
    return text


def compile_exit(path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["compile", str(path)])          # an exception escaping main is a traceback
    return code, err.getvalue()


@SETTINGS
@given(data=st.data())
def test_compile_of_any_generated_manifest_exits_0_or_1(tmp_path_factory, data):
    doc = data.draw(manifests())
    text = damage(data.draw, to_toml(doc))
    path = tmp_path_factory.mktemp("fuzz") / "m.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code, err = compile_exit(path)
    assert code in (0, 1), (code, err, text[:2000])
    assert "Traceback" not in err
    if code == 1:
        assert err.startswith(str(path)) or err.startswith("npatch: error:"), err[:500]
