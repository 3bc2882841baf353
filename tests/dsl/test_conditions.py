"""Evaluating conditions at run time, against the real installed torch and mmcv-lite."""
from __future__ import annotations

import json
import sys

import pytest

from npatch_testutil import run_python
from npatch.conditions import FUNCTIONS, condition_function, describe, evaluate, explain
from npatch.dsl.grammar import parse_condition
from npatch.errors import ConditionError, NpatchError


@pytest.fixture
def fake_functions():
    """Test-only functions: `seen(x)` records its calls; `fake_version(v)` is a version `v`."""
    calls: list[str] = []

    @condition_function("seen", 1)
    def seen(name: str) -> bool:
        calls.append(name)
        return True

    condition_function("fake_version", 1, returns_version=True)(lambda v: v or None)
    yield calls
    del FUNCTIONS["seen"], FUNCTIONS["fake_version"]


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("NPATCH_T_SET", "yes")
    monkeypatch.setenv("NPATCH_T_EMPTY", "")
    monkeypatch.setenv("NPATCH_T_VER", "2.6.0a0+git1234")
    monkeypatch.delenv("NPATCH_T_UNSET", raising=False)


OPTIONS = {"flag": True, "off": False, "step": 64, "mode": "fast"}

TRUTH = [
    # literals and boolean logic
    ("true", True),
    ("false", False),
    ("not false", True),
    ("true and false", False),
    ("false or true", True),
    ("not (true and false) and true", True),
    ("'x'", True),
    ("''", False),
    # installed / importable / version, real packages
    ("installed('torch')", True),
    ("installed('mmcv-lite')", True),
    ("installed('MMCV_Lite')", True),
    ("installed('mmcv')", True),  # the top-level module of mmcv-lite
    ("installed('mmcv-full')", False),
    ("installed('npatch_no_such_pkg')", False),
    ("importable('mmcv.ops')", True),
    ("importable('torch.nn.functional')", True),
    ("importable('mmcv.no_such_module')", False),
    ("importable('npatch_no_such_pkg.sub')", False),
    ("importable('not-a-module')", False),
    ("version('torch') == '2.13.0+cpu'", True),
    ("version('torch') == '2.13.0'", True),  # no local label: local ignored (PEP 440 ==)
    ("version('torch') == '2.13.0+cu121'", False),
    ("version('torch') != '2.13.0'", False),
    ("version('torch') == '2.*'", True),
    ("version('torch') == '2.12.*'", False),
    ("version('torch') >= '2.1'", True),
    ("version('torch') < '3'", True),
    ("version('torch') > '2.13.0'", False),  # PEP 440 >: not a local build of 2.13.0 itself
    ("version('torch') <= '2.13.0'", True),  # PEP 440 <=: the local label is ignored
    ("version('torch') < '2.13.0'", False),
    ("'2.13.0' < version('torch')", False),  # a literal on the left is the same specifier, mirrored
    ("'2.13.0' >= version('torch')", True),
    ("version('torch') ~= '2.13'", True),
    ("version('torch') ~= '2.12.0'", False),  # >= 2.12.0, == 2.12.*
    ("version('torch') ~= '2.12'", True),  # >= 2.12, == 2.*
    ("version('torch') ~= '2.13.0'", True),
    ("version('torch') >= 2.1", True),  # an unquoted number beside version() is a version
    ("version('torch') >= '2.14'", False),
    ("'cpu' in version('torch')", True),
    ("version('mmcv-lite') == '2.2.0'", True),
    ("version('mmcv') == '2.2.0'", True),  # distribution providing module mmcv
    ("version('mmcv') >= '3.0'", False),
    ("version('mmengine') >= '0.10' and version('mmengine') < '0.11'", True),
    ("version('mmdet') == '3.3.0'", True),
    # not installed: every comparison false, except the negations
    ("version('npatch_no_such_pkg') >= '0'", False),
    ("version('npatch_no_such_pkg') < '999'", False),
    ("version('npatch_no_such_pkg') == '1.0'", False),
    ("version('npatch_no_such_pkg') != '1.0'", True),
    ("'1' in version('npatch_no_such_pkg')", False),
    ("'1' not in version('npatch_no_such_pkg')", True),
    ("version('npatch_no_such_pkg')", False),
    # variables
    (f"python_version >= '{sys.version_info[0]}.{sys.version_info[1]}'", True),
    (f"python_version < '{sys.version_info[0]}.{sys.version_info[1] + 1}'", True),
    (f"python_version == '{sys.version_info[0]}.{sys.version_info[1]}.*'", True),
    (f"platform == '{sys.platform}'", True),
    ("platform == 'plan9'", False),
    (f"platform in 'x {sys.platform} y'", True),
    ("platform not in 'plan9'", True),
    # env
    ("env('NPATCH_T_SET')", True),
    ("env('NPATCH_T_EMPTY')", False),
    ("env('NPATCH_T_UNSET')", False),
    ("env('NPATCH_T_UNSET', 'd') == 'd'", True),
    ("env('NPATCH_T_SET', 'd') == 'yes'", True),
    ("env('NPATCH_T_UNSET') == 'yes'", False),
    ("env('NPATCH_T_UNSET') != 'yes'", True),
    ("env('NPATCH_T_SET') > '1.0'", False),  # not a version at run time: like a missing value
    # PITFALL 8: pre-releases and local builds in plain Version ordering
    ("env('NPATCH_T_VER') >= '2.0'", True),
    ("env('NPATCH_T_VER') < '3'", True),
    ("env('NPATCH_T_VER') >= '2.6'", False),  # 2.6.0a0 comes before 2.6
    ("env('NPATCH_T_VER') >= '2.6.0a0'", True),
    ("env('NPATCH_T_VER') == '2.6.0a0'", False),  # == is text unless a side is a version
    ("fake_version('2.6.0a0+git1234') == '2.6.0a0'", True),
    ("fake_version('2.6.0a0+git1234') == '2.*'", True),
    ("fake_version('3.0.0a0') < '3'", False),  # as SpecifierSet('<3'): not a pre-release of 3
    ("fake_version('2.6.0.dev20240101') >= '2.5'", True),
    ("fake_version('2.6.0.dev20240101') < '2.6.0a0'", True),
    ("fake_version('1.0.post1') > '1.0'", False),  # as SpecifierSet('>1.0'): not a post-release of 1.0
    ("fake_version('1.0.post1') > '1.0.post0'", True),
    ("fake_version('legacy-junk') >= '1'", False),
    ("fake_version('legacy-junk') != '1'", True),
    ("fake_version('1.0') == fake_version('1.0.0')", True),
    # options
    ("option('flag')", True),
    ("option('off')", False),
    ("option('flag') == true", True),
    ("option('flag') == 'true'", True),
    ("option('off') == false", True),
    ("option('step') == '64'", True),
    ("option('step') >= '100'", False),  # ordering compares as versions: 64 < 100
    ("option('step') >= 3", True),  # an unquoted number compares numerically
    ("option('step') == 64", True),
    ("option('step') < 64.5", True),
    ("option('mode') > 3", False),  # 'fast' is no number: like a missing value
    ("option('mode') != 3", True),
    ("option('mode') in 'fast slow'", True),
]


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(("text", "expected"), TRUTH)
def test_evaluate(text, expected, fake_functions):
    tree = parse_condition(text, options=set(OPTIONS))
    assert evaluate(tree, OPTIONS) is expected
    # the plan stores trees as JSON lists: same answer
    assert evaluate(json.loads(json.dumps(tree)), OPTIONS) is expected
    assert parse_condition(describe(tree)) == tree


def test_no_condition_holds():
    assert evaluate(None) is True


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        ("importable('npatch_no_such_pkg') and seen('right')", []),
        ("installed('torch') or seen('right')", []),
        ("seen('left') or seen('right')", ["left"]),
        ("seen('left') and seen('right')", ["left", "right"]),
        ("not seen('left') and seen('right')", ["left"]),
        ("false and (seen('a') or seen('b'))", []),
    ],
)
def test_and_or_short_circuit(text, calls, fake_functions):
    evaluate(parse_condition(text))
    assert fake_functions == calls


@pytest.mark.parametrize(
    "tree",
    [
        ("cmp", ">=", ("call", "version", (("str", "torch"),)), ("str", "abc")),
        ("cmp", "==", ("var", "python_version"), ("str", "3.x")),
        ("cmp", "<", ("call", "env", (("str", "HOME"),)), ("str", "not a version")),
    ],
)
def test_invalid_version_literal_is_a_clear_error(tree):
    with pytest.raises(NpatchError, match="not a valid version"):
        evaluate(tree)


@pytest.mark.parametrize("tree", [
    [], ["xor", ["bool", True]], "true", ("call", "nope", ()), ("var", "nope"),
    ("cmp", "~=", ("str", "1"), ("str", "1")), ("cmp", "=="), ("and", "x", ("bool", True)),
])
def test_bad_trees_raise_npatch_errors(tree):
    with pytest.raises(NpatchError):
        evaluate(tree)


def test_option_not_set_is_a_clear_error():
    with pytest.raises(NpatchError, match=r"option\('x'\).*not set"):
        evaluate(parse_condition("option('x')"), {"y": 1})


EXPLAIN = [
    ("version('mmcv') >= '3.0'", ["version('mmcv') is 2.2.0, not >= 3.0"]),
    ("version('torch') >= '2.1'", ["version('torch') is 2.13.0+cpu, so >= 2.1"]),
    ("installed('torch') and installed('npatch_no_such_pkg')",
     ["installed('npatch_no_such_pkg') is false"]),
    ("installed('npatch_no_such_pkg') or version('npatch_no_such_pkg') >= '1'",
     ["installed('npatch_no_such_pkg') is false", "version('npatch_no_such_pkg') is not installed, not >= 1"]),
    ("not installed('torch')", ["installed('torch') is true"]),
    ("'cu' in version('torch')", ["'cu' in version('torch') is false (version('torch') is 2.13.0+cpu)"]),
    ("platform == 'plan9'", [f"platform is '{sys.platform}', not == 'plan9'"]),
    ("false", ["false is false"]),
    ("env('NPATCH_T_UNSET') == 'x'", ["env('NPATCH_T_UNSET') is not set, not == 'x'"]),
    ("option('mode') == 'slow'", ["option('mode') is 'fast', not == 'slow'"]),
    ("env('NPATCH_T_OTHER', 'a b') == '1'", ["env('NPATCH_T_OTHER', 'a b') is 'a b', not == '1'"]),
    ("env('NPATCH_T_OTHER', \"it's\") != ''", ["env('NPATCH_T_OTHER', 'it\\'s') is 'it\\'s', so != ''"]),
]


@pytest.mark.parametrize(("text", "lines"), EXPLAIN)
def test_explain(text, lines, monkeypatch):
    monkeypatch.delenv("NPATCH_T_UNSET", raising=False)
    monkeypatch.delenv("NPATCH_T_OTHER", raising=False)
    assert explain(parse_condition(text), {"mode": "fast"}) == lines


def test_runtime_import_is_light_and_packaging_is_never_imported():
    """conditions runs in every patched process: no lark/tomli/libcst, and no packaging even for versions."""
    out = run_python(
        """
        import sys
        from npatch.conditions import evaluate
        heavy = ("lark", "tomli", "libcst", "packaging", "torch", "mmcv")
        print(sorted(m for m in heavy if m in sys.modules))
        evaluate(["and", ["call", "importable", [["str", "mmcv.ops"]]],
                         ["call", "installed", [["str", "torch"]]]])
        print(sorted(m for m in heavy if m in sys.modules))
        assert evaluate(["cmp", ">=", ["call", "version", [["str", "torch"]]], ["str", "2.0"]])
        assert not evaluate(["cmp", ">", ["call", "version", [["str", "torch"]]], ["str", "2.13.0"]])
        print(sorted(m for m in heavy if m in sys.modules))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["[]", "[]", "[]"]


# PEP 440 against packaging.specifiers, the reference (PITFALLS 8: prereleases=True on purpose)
PEP440_VERSIONS = [
    "0", "1", "1.0", "1.0.0", "1.0a1", "1.0b2", "1.0rc1", "1.0c1", "1.0.dev0", "1.0a1.dev2", "1.0.post1",
    "1.0.post1.dev3", "1.0-1", "1.0_post2", "v1.0", "1.0+local", "1.0+local.7", "1.0+5", "1.0.post1+abc",
    "1!1.0", "1!0.5", "2.0.dev5", "2.1", "2.1.5", "2.2", "2.6.0a0+git1234", "2.12.9", "2.13", "2.13.0",
    "2.13.0+cpu", "2.13.0+cu121", "2.13.0+cpu.1", "2.13.0+CPU", "2.13.0rc1", "2.13.0a0+git1234",
    "2.13.0.post2", "2.13.1", "3", "3.0.0a0", "1.0.0.0.1",
]
PEP440_SPECS = [
    f"{op}{lit}" for op in ("==", "!=", "<", "<=", ">", ">=", "~=")
    for lit in ("1.0", "1", "2.13.0", "2.13", "2.13.0rc1", "2.0", "3", "1!1.0", "1.0.post1", "1.0a1", "2.1",
                "2.13.0.post2", "1.0.dev0")
    if not (op == "~=" and "." not in lit.split("!")[-1])
] + [f"{op}{lit}" for op in ("==", "!=") for lit in ("1.*", "2.13.*", "1!1.*", "2.*", "3.0.*", "2.13.0+cpu", "1.0+local")]


@pytest.mark.parametrize("spec", PEP440_SPECS)
def test_version_comparisons_follow_packaging_specifiers(spec, fake_functions):
    from packaging.specifiers import SpecifierSet

    op = spec[:2] if spec[1] in "=~" else spec[0]
    literal = spec[len(op):]
    wrong = []
    for version in PEP440_VERSIONS:
        expected = SpecifierSet(spec, prereleases=True).contains(version)
        got = evaluate(parse_condition(f"fake_version('{version}') {op} '{literal}'"))
        mirrored = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        got_mirrored = evaluate(parse_condition(f"'{literal}' {mirrored} fake_version('{version}')"))
        if got is not expected or got_mirrored is not expected:
            wrong.append((version, expected, got, got_mirrored))
    assert not wrong, wrong


@pytest.mark.parametrize(("text", "message"), [
    ("version('torch') ~= '2'", "~= needs at least two release numbers"),
    ("version('torch') > '2.0+cpu'", "only compared by == and !="),
    ("version('torch') == '2.*.1'", "not a valid version"),
    ("option('step') >= 1.2.3", "1.2.3 is not a number"),
])
def test_bad_version_literals_are_located_errors(text, message):
    with pytest.raises(ConditionError) as info:
        parse_condition(text, options={"step"})
    assert message in str(info.value)


def test_remembering_options_answer_each_installation_call_once(monkeypatch):
    """A session's conditions repeat atoms (mmcv-npu asks importable('torch_npu') in 4 of
    its start-time conditions): with Remembering options each is asked once, the
    verdicts are those of plain options, and option() still reads the options."""
    from npatch import conditions

    asked = []
    real = conditions.findable
    monkeypatch.setattr(conditions, "findable", lambda name: asked.append(name) or real(name))
    trees = [parse_condition(text) for text in (
        "importable('json') and option('flag') == true", "importable('json')", "not importable('json')",
        "importable('no_such_module_npt') or importable('json')", "version('pip') >= '1'")]
    plain = [evaluate(tree, {"flag": True}) for tree in trees]
    assert asked.count("json") == 4
    asked.clear()
    remembering = conditions.Remembering({"flag": True})
    assert [evaluate(tree, remembering) for tree in trees] == plain == [True, True, False, True, True]
    assert sorted(asked) == ["json", "no_such_module_npt"]
    assert dict(remembering) == {"flag": True}
