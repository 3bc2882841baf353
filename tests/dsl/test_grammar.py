"""The lark grammar: condition trees, target paths, and errors with exact spans."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npatch.conditions import describe
from npatch.dsl.grammar import ParsedTarget, parse_condition, parse_target
from npatch.errors import ConditionError, Span


def s(text):
    return ("str", text)


def call(name, *args):
    return ("call", name, tuple(args))


INSTALLED_X = call("installed", s("x"))

VALID = [
    ("true", ("bool", True)),
    ("false", ("bool", False)),
    ("'text'", s("text")),
    ('"double"', s("double")),
    (r"'it\'s'", s("it's")),
    (r'"back\\slash"', s("back\\slash")),
    ("platform", ("var", "platform")),
    ("python_version >= '3.8'", ("cmp", ">=", ("var", "python_version"), s("3.8"))),
    ("installed('x')", INSTALLED_X),
    ("installed( 'x' , )", INSTALLED_X),
    ("env('A', 'b')", call("env", s("A"), s("b"))),
    ("version('torch') >= '2.1'", ("cmp", ">=", call("version", s("torch")), s("2.1"))),
    ("version('torch') == '2.*'", ("cmp", "==", call("version", s("torch")), s("2.*"))),
    ("version('a') < version('b')", ("cmp", "<", call("version", s("a")), call("version", s("b")))),
    ("platform in 'linux darwin'", ("cmp", "in", ("var", "platform"), s("linux darwin"))),
    ("platform not  in 'win32'", ("cmp", "not in", ("var", "platform"), s("win32"))),
    ("env('X') != 'abc'", ("cmp", "!=", call("env", s("X")), s("abc"))),
    ("not installed('x')", ("not", INSTALLED_X)),
    ("not not true", ("not", ("not", ("bool", True)))),
    ("true and false or true", ("or", ("and", ("bool", True), ("bool", False)), ("bool", True))),
    ("true or false and true", ("or", ("bool", True), ("and", ("bool", False), ("bool", True)))),
    ("(true or false) and true", ("and", ("or", ("bool", True), ("bool", False)), ("bool", True))),
    ("true or (false or true)", ("or", ("bool", True), ("or", ("bool", False), ("bool", True)))),
    ("true or false or true", ("or", ("or", ("bool", True), ("bool", False)), ("bool", True))),
    ("not true and false", ("and", ("not", ("bool", True)), ("bool", False))),
    ("not (true and false)", ("not", ("and", ("bool", True), ("bool", False)))),
    ("not platform == 'linux'", ("not", ("cmp", "==", ("var", "platform"), s("linux")))),
    # keywords are whole words: `installed`, `android`, `oracle`, `nothing` are names
    ("installed('android') and installed('oracle')",
     ("and", call("installed", s("android")), call("installed", s("oracle")))),
    ("option('flag') == true", ("cmp", "==", call("option", s("flag")), ("bool", True))),
    ("importable('mmcv.ops')", call("importable", s("mmcv.ops"))),
]


@pytest.mark.parametrize(("text", "tree"), VALID)
def test_parse_condition(text, tree):
    assert parse_condition(text, options={"flag"}) == tree


@pytest.mark.parametrize(("text", "tree"), VALID)
def test_describe_round_trip(text, tree):
    assert parse_condition(describe(tree)) == tree


@pytest.mark.parametrize(("text", "tree"), VALID)
def test_tree_survives_json(text, tree):
    def tuples(x):
        return tuple(tuples(i) for i in x) if isinstance(x, list) else x

    assert tuples(json.loads(json.dumps(tree))) == tree


# (text, span of the error, words the message must contain, words of the hint)
ERRORS = [
    ("", Span(0, 0), "expected a condition", ""),
    ("   ", Span(0, 0), "expected a condition", ""),
    ("installed('x') and", Span(18, 18), "ends too early", ""),
    ("not", Span(3, 3), "expected a condition", ""),
    ("version('x') >=", Span(15, 15), "expected a value", ""),
    ("(installed('x')", Span(15, 15), "expected `)`", "unclosed"),
    ("installed('x'))", Span(14, 15), "expected the end", ""),
    ("f(", Span(2, 2), "a value or `)`", "unclosed"),
    ("installed('a') installed('b')", Span(15, 24),
     "expected `or`, `and`, a comparison operator or the end", "and` / `or"),
    ("a && b", Span(2, 4), "unexpected `&&`", "use `and`"),
    ("installed('x') || true", Span(15, 17), "unexpected `||`", "use `or`"),
    ("!installed('x')", Span(0, 1), "unexpected `!`", "use `not`"),
    ("env('A') = 'b'", Span(9, 10), "unexpected `=`", "=="),
    ("version('x') >= 2.0a1", Span(19, 21), "unexpected `a1`", "quote"),
    ("'abc def", Span(0, 8), "unexpected", "closing quote"),
    ("'a' == 'b' == 'c'", Span(11, 13), "unexpected `==`", "one operator"),
    ("platform in 'linux' in 'x'", Span(20, 22), "unexpected `in`", "one operator"),
    ("installed('x' 'y')", Span(14, 17), "expected `)` or `,`", ""),
    ("installed('x') and (platform == 'linux' or)", Span(42, 43), "expected a condition", ""),
    ("a.b", Span(1, 2), "unexpected `.`", ""),
    # names, functions, arity, options
    ("instaled('x')", Span(0, 8), "unknown function `instaled`", "did you mean `installed`"),
    ("frobnicate('x')", Span(0, 10), "unknown function", "functions are"),
    ("installed()", Span(0, 11), "takes 1 argument, got 0", "installed(name)"),
    ("env('a', 'b', 'c')", Span(0, 18), "takes 1 to 2 arguments, got 3", "env(name, [default])"),
    ("true and version('a', 'b')", Span(9, 26), "takes 1 argument, got 2", ""),
    ("True", Span(0, 4), "unknown name `True`", "did you mean `true`"),
    ("installed(mmcv)", Span(10, 14), "unknown name `mmcv`", "'mmcv'"),
    ("python_versio >= '3'", Span(0, 13), "unknown name", "python_version"),
    ("option('nope')", Span(7, 13), "not declared", "declared options: flag"),
    ("option('flg')", Span(7, 12), "not declared", "did you mean `flag`"),
    ("option(platform)", Span(7, 15), "quoted string", ""),
    # versions checked at parse time
    ("version('x') >= 'abc'", Span(16, 21), "'abc' is not a valid version", "PEP 440"),
    ("'one' <= version('x')", Span(0, 5), "'one' is not a valid version", ""),
    ("python_version == 'three'", Span(18, 25), "not a valid version", "2.*"),
    ("env('A') > 'x.y'", Span(11, 16), "not a valid version", ""),
    ("version('x') > true", Span(15, 19), "compares versions, not true/false", ""),
    # a call's span runs from its name to its `)`, past blanks and a trailing comma
    ("env('a', 'b', env('c'  ) , )", Span(0, 28), "takes 1 to 2 arguments, got 3", ""),
    ("installed ( )", Span(0, 13), "takes 1 argument, got 0", ""),
    ("option(env('a' , ) )", Span(7, 18), "quoted string", ""),
    ("option(env('a', 'b', 'c'))", Span(7, 25), "takes 1 to 2 arguments, got 3", ""),
]


@pytest.mark.parametrize(("text", "span", "message", "hint"), ERRORS)
def test_condition_errors(text, span, message, hint):
    with pytest.raises(ConditionError) as info:
        parse_condition(text, options={"flag"})
    err = info.value
    assert err.span == span
    assert message in err.message
    assert hint in err.hint
    assert err.text == text
    assert "^" in str(err)


@pytest.mark.parametrize("parse", [parse_condition, parse_target])
def test_non_strings_are_condition_errors(parse):
    with pytest.raises(ConditionError, match="is a string, not bool"):
        parse(True)


def test_option_names_not_checked_without_declared_options():
    assert parse_condition("option('anything')") == call("option", s("anything"))


def test_error_underlines_the_bad_part():
    with pytest.raises(ConditionError) as info:
        parse_condition("installed('x') && true")
    assert str(info.value).splitlines()[1:3] == [
        "    installed('x') && true",
        "                   ^^",
    ]


TARGETS = [
    ("pkg.mod:Qual.name", ParsedTarget("pkg.mod", "Qual.name", True)),
    ("mmcv.ops.nms:nms", ParsedTarget("mmcv.ops.nms", "nms", True)),
    ("pkg.mod:", ParsedTarget("pkg.mod", "", True)),
    ("a.b.c", ParsedTarget("a.b.c", "", False)),
    ("torch", ParsedTarget("torch", "", False)),
    ("os.path:join", ParsedTarget("os.path", "join", True)),
    ("_priv._x:_Y", ParsedTarget("_priv._x", "_Y", True)),
    ("a:true", ParsedTarget("a", "true", True)),
    ("a.match:type", ParsedTarget("a.match", "type", True)),  # soft keywords are names
]


@pytest.mark.parametrize(("text", "target"), TARGETS)
def test_parse_target(text, target):
    assert parse_target(text) == target


TARGET_ERRORS = [
    ("", Span(0, 0), "empty target"),
    ("a..b", Span(2, 3), "empty name before `.`"),
    (".a", Span(0, 1), "empty name before `.`"),
    (":x", Span(0, 1), "empty name before `:`"),
    ("a.", Span(1, 2), "a name must follow `.`"),
    ("os.path:join.", Span(12, 13), "a name must follow `.`"),
    ("a:b:c", Span(3, 4), "at most one `:`"),
    ("a:b.c:", Span(5, 6), "at most one `:`"),
    ("a.1b", Span(2, 4), "`1b` is not a Python identifier"),
    ("a:b.1c", Span(4, 6), "`1c` is not a Python identifier"),
    ("mmcv-lite.ops", Span(0, 9), "`mmcv-lite` is not a Python identifier"),
    ("a. b", Span(2, 3), "no spaces"),
    (" a", Span(0, 1), "no spaces"),
    ("a.and", Span(2, 5), "`and` is a Python keyword"),
    ("a:None", Span(2, 6), "`None` is a Python keyword"),
]


@pytest.mark.parametrize(("text", "span", "message"), TARGET_ERRORS)
def test_target_errors(text, span, message):
    with pytest.raises(ConditionError) as info:
        parse_target(text)
    assert info.value.span == span
    assert message in info.value.message


def test_dash_in_module_name_hints_underscore():
    with pytest.raises(ConditionError) as info:
        parse_target("mmcv-lite.ops")
    assert "_" in info.value.hint


def test_grammar_ships_inside_the_package():
    from importlib import resources

    assert "condition" in resources.files("npatch").joinpath("grammar/npatch.lark").read_text()


# ---------------------------------------------------------------- property: describe/parse round trip

VERSIONS = st.sampled_from(["1", "2.0", "2.6.0a0+git1234", "3.0.dev1", "0.10.7"])
TEXT = st.text(alphabet="ab'\"\\ ", max_size=6)
VALUES = st.one_of(
    st.just(("var", "platform")),
    st.just(("var", "python_version")),
    st.builds(lambda v: call("env", s(v)), st.sampled_from(["HOME", "X"])),
    st.builds(lambda v: call("version", s(v)), st.sampled_from(["torch", "mmcv"])),
)
ATOMS = st.one_of(
    st.builds(lambda b: ("bool", b), st.booleans()),
    st.builds(s, TEXT),
    st.builds(lambda v: call("installed", s(v)), st.sampled_from(["torch", "x"])),
    st.builds(lambda op, a, b: ("cmp", op, a, b),
              st.sampled_from(["==", "!="]), VALUES, VERSIONS.map(s)),
    # a local label is compared by == and != only (PEP 440)
    st.builds(lambda op, a, b: ("cmp", op, a, b),
              st.sampled_from(["<", "<=", ">", ">="]), VALUES, VERSIONS.filter(lambda v: "+" not in v).map(s)),
    st.builds(lambda op, a, b: ("cmp", op, a, b), st.sampled_from(["<", ">=", "=="]), VALUES,
              st.sampled_from(["3", "2.5", "0.10"]).map(lambda v: ("num", v))),
    st.builds(lambda op, a, b: ("cmp", op, a, b), st.sampled_from(["in", "not in"]), st.builds(s, TEXT), VALUES),
)
TREES = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.builds(lambda a: ("not", a), inner),
        st.builds(lambda a, b: ("and", a, b), inner, inner),
        st.builds(lambda a, b: ("or", a, b), inner, inner),
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(TREES)
def test_describe_then_parse_is_identity(tree):
    assert parse_condition(describe(tree)) == tree


# ---------------------------------------------------------------- shared parses

#: conditions alike but for the inside of their strings: they share one parse
ALIKE = [
    (r"""env('AB') == "xy" and version('t') >= '2.1'""",
     ("and", ("cmp", "==", call("env", s("AB")), s("xy")), ("cmp", ">=", call("version", s("t")), s("2.1")))),
    (r"""env('é!') == "\"" and version('u') >= '4.0'""",
     ("and", ("cmp", "==", call("env", s("é!")), s('"')), ("cmp", ">=", call("version", s("u")), s("4.0")))),
    (r"""env('\'') == "y'" and version('v') >= '1.0'""",
     ("and", ("cmp", "==", call("env", s("'")), s("y'")), ("cmp", ">=", call("version", s("v")), s("1.0")))),
]


def test_conditions_alike_but_for_their_strings_keep_their_own_values():
    from npatch.dsl.grammar import _mask_strings

    assert len({_mask_strings(text) for text, _ in ALIKE}) == 1
    for text, tree in ALIKE:
        assert parse_condition(text) == tree


@pytest.mark.parametrize("first", ["env(\"abcd\") == 'y' and version('u') >= '1.00'",
                                   "env(\"a\\\"c\") == 'y' and version('u') >= '9999'"])
def test_conditions_alike_but_for_their_strings_keep_their_own_errors(first):
    """A version that is none, after a valid parse of the same shape: the
    error is this text's, at this text's string."""
    from npatch.dsl.grammar import _mask_strings

    text = r"""env("it's") == 'x' and version('t') >= 'a\\b'"""
    assert _mask_strings(first) == _mask_strings(text)
    parse_condition(first)
    with pytest.raises(ConditionError) as info:
        parse_condition(text)
    assert info.value.span == Span(39, 45)
    assert "'a\\\\b' is not a valid version" in info.value.message
    assert info.value.text == text


# ---------------------------------------------------------------- parser cache

def test_cache_file_is_private_to_the_user(tmp_path, monkeypatch):
    from npatch.dsl.grammar import _cache_file

    monkeypatch.delenv("NPATCH_NO_GRAMMAR_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = _cache_file()
    assert path and path.startswith(str(tmp_path / "npatch"))
    assert (tmp_path / "npatch").stat().st_mode & 0o777 == 0o700
    (tmp_path / "npatch").chmod(0o777)  # someone else could plant a pickle here: no cache
    assert _cache_file() is False
    monkeypatch.setenv("NPATCH_NO_GRAMMAR_CACHE", "1")
    assert _cache_file() is False


def test_cached_parser_parses_the_same(tmp_path):
    from npatch_testutil import clean_env, run_python

    code = """
        from npatch.dsl.grammar import parse_condition, parse_target
        print(parse_condition("not installed('x') or version('torch') >= '2'"), parse_target("a.b:C.d"))
    """
    env = clean_env(XDG_CACHE_HOME=str(tmp_path))
    env.pop("NPATCH_NO_GRAMMAR_CACHE", None)
    first, second = run_python(code, env=env), run_python(code, env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert list((tmp_path / "npatch").iterdir())
    assert first.stdout == second.stdout
    assert "('or', ('not'" in first.stdout
