"""Bad input gets ``file:line:col`` and exit 1 (or one line and exit 2 for a
command-line problem), never a traceback: TOML dates, huge conditions,
include chains and special files, invalid globs, option and brake/profile
constraints; a UTF-8 BOM is accepted."""
from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import run_npatch

HEAD = '[manifest]\nname = "bad"\n'


def compile_text(tmp_path: Path, text: str, name: str = "bad.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path, run_npatch("compile", str(path), cwd=tmp_path)


def located(result, path: Path, line: int, message: str) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:{line}:"), first
    assert message in result.stderr, result.stderr
    return first


@pytest.mark.parametrize("body,line,message", [
    ('[[patch]]\nname = "v"\ntarget = "textwrap:x"\nvalue = 1979-05-27\n', 6, "TOML dates and times are not supported"),
    ('[[patch]]\nname = "v"\ntarget = "textwrap:x"\nvalue = [1, {at = 07:32:00}]\n', 6, "(found a time)"),
    ('[[patch]]\nname = "w"\ntarget = "textwrap:dedent"\nwrap = "textwrap:dedent"\n'
     'options = { t = 1979-05-27T07:32:00Z }\n', 7, "(found a date-time)"),
    ('[options]\nwhen = 07:32:00\n', 4, "must be a string, number or boolean, not a time"),
    ('[options]\nx = { a = 1 }\n', 4, "option `x` must be a string, number or boolean, not a table"),
    ('[options]\nx = [1, 2]\n', 4, "not an array"),
    ('[options]\n"" = 1\n', 4, "invalid option name ''"),
    ('[options]\n"a-b" = 1\n', 4, "invalid option name 'a-b'"),
    ('[options]\n"1st" = 1\n', 4, "invalid option name '1st'"),
    ('[brake]\nstep = 0\n', 4, "`step` must be at least 1, not 0"),
    ('[brake]\nstep = -5\n', 4, "`step` must be at least 1, not -5"),
    ('[profile]\npath = "p"\nsteps = 0\n', 5, "`steps` must be at least 1, not 0"),
    ('[[rewrite]]\nid = "r"\ninclude = ["ok/*.py", "[z-a]"]\nmethod = { from = "cuda", to = "npu" }\n', 5,
     "invalid glob '[z-a]': bad character range z-a"),
    ('[[rewrite]]\nid = "r"\nexclude = ["[!]"]\nmethod = { from = "cuda", to = "npu" }\n', 5,
     "invalid glob '[!]': empty [...]"),
])
def test_rejected_at_its_line(tmp_path, body, line, message):
    path, result = compile_text(tmp_path, HEAD + body)
    located(result, path, line, message)


@pytest.mark.parametrize("when,message", [
    (" and ".join(["true"] * 500), "more than 100 terms"),
    (" or ".join(["option('x') == 'a and b'"] * 101), "more than 100 terms"),
    ("not " * 500 + "true", "nested more than 30 levels"),
    ("(" * 400 + "true" + ")" * 400, "nested more than 30 levels"),
    ("not (" * 20 + "true" + ")" * 20, "nested more than 30 levels"),
])
def test_huge_conditions_are_rejected_beyond_the_stated_limits(tmp_path, when, message):
    path, result = compile_text(tmp_path, HEAD + f'when = "{when}"\n[options]\nx = "a"\n')
    first = located(result, path, 3, "condition too large: " + message)
    assert first.startswith(f"{path}:3:")


@pytest.mark.parametrize("when", [
    " and ".join(["true"] * 100),
    "not " * 30 + "true",
    "(" * 15 + "not " * 15 + "true" + ")" * 15,
    " or ".join("(" + " and ".join(["true"] * 4) + ")" for _ in range(25)),
])
def test_conditions_up_to_the_limits_compile(tmp_path, when):
    _, result = compile_text(tmp_path, HEAD + f'when = "{when}"\n')
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("value,col", [("[" * 1000 + "1" + "]" * 1000, 9 + 400),
                                       ("{a = " * 3000 + "1" + "}" * 3000, 9 + 5 * 400)])
def test_values_nested_too_deep_are_located(tmp_path, value, col):
    path, result = compile_text(tmp_path, HEAD + f'[[patch]]\nname = "v"\ntarget = "textwrap:x"\nvalue = {value}\n')
    first = located(result, path, 6, "nested more than 400 levels deep")
    assert first.startswith(f"{path}:6:{col}:"), first


def test_include_chain_deeper_than_the_limit(tmp_path):
    for i in range(40):
        (tmp_path / f"c{i}.toml").write_text(f'[manifest]\nname = "c{i}"\ninclude = ["c{i + 1}.toml"]\n')
    (tmp_path / "c40.toml").write_text('[manifest]\nname = "c40"\n')
    result = run_npatch("compile", "c0.toml", cwd=tmp_path)
    located(result, tmp_path / "c31.toml", 3, "include chain deeper than 32 manifests")
    assert run_npatch("compile", "c9.toml", cwd=tmp_path).returncode == 0        # 32 deep is fine


def _specials(tmp_path: Path) -> list[tuple[str, str]]:
    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "dir.toml").mkdir()
    return [("/proc/self/mem", "cannot read manifest"), ("fifo.toml", "not a regular file"),
            ("dir.toml", "is a directory"), ("x" * 5000 + ".toml", "File name too long"),
            ("/dev/zero", "not a regular file")]


def test_includes_of_special_files_are_located_errors(tmp_path):
    for include, message in _specials(tmp_path):
        path, result = compile_text(tmp_path, HEAD + f'include = ["{include}"]\n')
        located(result, path, 3, message)


def test_special_files_on_the_command_line_are_one_line_usage_errors(tmp_path):
    os.mkfifo(tmp_path / "fifo.toml")
    for spec in ("fifo.toml", "x" * 5000, "x" * 5000 + ".toml", "/proc/self/mem"):
        result = run_npatch("compile", spec, cwd=tmp_path, timeout=60)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_invalid_globs_on_the_command_line(tmp_path):
    (tmp_path / "a.py").write_text("x.cuda()\n")
    for option, pattern in (("--include", "[z-a]"), ("--exclude", "[]")):
        result = run_npatch("diff", "cuda-to-npu", ".", option, pattern, cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.startswith(f"npatch: error: {option}: invalid glob {pattern!r}")


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + textwrap.dedent('''
        [manifest]
        name = "bom"
        [options]
        x = 1
    ''').lstrip().encode())
    result = run_npatch("compile", str(path))
    assert result.returncode == 0, result.stderr
    bad = tmp_path / "bombad.toml"
    bad.write_bytes(b"\xef\xbb\xbf[manifest]\nname = 1\n")
    located(run_npatch("compile", str(bad)), bad, 2, "`name` must be a string")


@pytest.mark.parametrize("data,line,col,message", [
    (b'[manifest]\nname = "caf\xe9"\n', 2, 12, "not UTF-8 text: invalid continuation byte 0xe9"),   # Latin-1
    (b'[manifest]\n# \xc3\xa9t\xc3\xa9\ndescription = "\xff"\n', 3, 16, "invalid start byte 0xff"),
    (b'\xff\xfe[\x00m\x00', 1, 1, "(UTF-16? save it as UTF-8)"),
    (b'\xef\xbb\xbf# caf\xe9\n', 1, 6, "invalid continuation byte 0xe9"),   # after a BOM, which an editor hides
])
def test_a_manifest_that_is_not_utf8_is_located_at_the_bad_byte(tmp_path, data, line, col, message):
    """It said ``bad.toml:1:1`` wherever the byte was: the line and column
    (in characters, as an editor counts) of the first byte that is not UTF-8."""
    path = tmp_path / "bad.toml"
    path.write_bytes(data)
    first = located(run_npatch("compile", str(path)), path, line, message)
    assert first.startswith(f"{path}:{line}:{col}: "), first


# (value as written in the manifest, line, column of the bad part, the text line shown, the caret line)
@pytest.mark.parametrize("value,line,col,shown,carets", [
    # escapes before the bad part: columns count source characters, not the parsed string's
    (r'"installed(\"x\") or foo(1)"', 7, 29, 'installed("x") or foo(1)', " " * 18 + "^^^"),
    (r'"installed(\"\u00e9\u00e9\") or foo(1)"', 7, 40, 'installed("éé") or foo(1)', " " * 19 + "^^^"),
    (r'"installed(\"\t\") or foo(1)"', 7, 30, None, None),
    # multi-line strings: the line of the bad part, and only that line is shown
    ('"""installed("x") or\n   foo(1)"""', 8, 4, "   foo(1)", "   ^^^"),
    ("'''\ninstalled('x') or bar('y')'''", 8, 19, "installed('x') or bar('y')", " " * 18 + "^^^"),
    ('"""\\\n    installed("x") or \\\n    foo(1)"""', 9, 5, 'installed("x") or foo(1)', " " * 18 + "^^^"),
    ('"""\ninstalled("x") or\n  (((version("y") >= "1"\n"""', 9, 25, '  (((version("y") >= "1"', " " * 24 + "^"),
])
def test_a_bad_condition_is_located_in_the_source_of_its_string(tmp_path, value, line, col, shown, carets):
    body = f'[[patch]]\nname = "p"\ntarget = "json:dumps"\nreplace = "json:loads"\nwhen = {value}\n'
    path, result = compile_text(tmp_path, HEAD + body)
    first = located(result, path, line, "patch[0].when")
    assert first.startswith(f"{path}:{line}:{col}: "), first
    if shown is not None:
        lines = result.stderr.splitlines()
        assert lines[1:3] == ["    " + shown, "    " + carets], result.stderr


@pytest.mark.parametrize("value,col", [
    (r'"json:\u00e9 x"', 22),
    (r'"json\u002edu mps"', 23),
    ("'json:du mps'", 18),
])
def test_a_bad_target_is_located_in_the_source_of_its_string(tmp_path, value, col):
    body = f'[[patch]]\nname = "p"\ntarget = {value}\nreplace = "json:loads"\n'
    path, result = compile_text(tmp_path, HEAD + body)
    first = located(result, path, 5, "a target path has no spaces")
    assert first.startswith(f"{path}:5:{col}: "), first


def _package_with_a_submodule_shadowed_by_a_function(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from pkg.sub import f\ndef sub():\n    return 'init'\n")
    (tmp_path / "pkg" / "sub.py").write_text("def f():\n    return 'f'\n")
    (tmp_path / "helpers.py").write_text("def r():\n    return 'r'\n")


@pytest.mark.parametrize("resolve", ["static", "import", "none"])
@pytest.mark.parametrize("entry,line,col,says", [
    ('target = "json"\nvalue = 1\n', 5, 10, "'json' is the module json, not an attribute"),
    ('target = "pkg.sub"\nreplace = "helpers:r"\n', 5, 10, "write pkg:sub"),
    ('target = "json:dumps"\nalso = ["json.decoder"]\nwrap = "helpers:r"\n', 6, 9, "write json:decoder"),
    ('target = "collections.abc"\ndelete = true\n', 5, 10, "write collections:abc"),
])
def test_a_dotted_target_that_is_a_whole_module_is_a_compile_error(tmp_path, resolve, entry, line, col, says):
    """A dotted path is split at its longest module; when nothing is left it names
    the module itself, which an attribute change cannot change ('json:' is an error
    too). It compiled clean and failed at run time with "'' names no attribute"."""
    _package_with_a_submodule_shadowed_by_a_function(tmp_path)
    path = tmp_path / "bad.toml"
    path.write_text(HEAD + '[[patch]]\nname = "p"\n' + entry)
    result = run_npatch("compile", str(path), "--resolve", resolve, cwd=tmp_path)
    first = located(result, path, line, says)
    assert first.startswith(f"{path}:{line}:{col}: "), first
    applied = run_npatch("apply", str(path), "--", sys.executable, "-c", "print('ran')", cwd=tmp_path)
    assert applied.returncode == 1 and "ran" not in applied.stdout and says in applied.stderr, applied.stderr


def test_the_colon_form_of_a_shadowed_submodule_name_changes_the_attribute(tmp_path):
    _package_with_a_submodule_shadowed_by_a_function(tmp_path)
    path = tmp_path / "ok.toml"
    path.write_text(HEAD + '[[patch]]\nname = "p"\ntarget = "pkg:sub"\nreplace = "helpers:r"\n')
    assert run_npatch("compile", str(path), cwd=tmp_path).returncode == 0
    code = "import sys, pkg; print(pkg.sub(), sys.modules['pkg.sub'].f())"
    result = run_npatch("apply", str(path), "--strict", "--", sys.executable, "-c", code, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.split() == ["r", "f"], result.stderr


TWO_PATCHES = ('[[patch]]\nname = "p"\ntarget = "json:dumps"\nwrap = "json:loads"\n\n'
               '[[patch]]\nname = "q"\ntarget = "json:loads"\nwrap = "json:loads"\n\n')


@pytest.mark.parametrize("body,line,col,key,message", [
    # a sub-table of the last [[patch]] is that entry's: located at its own lines, not at [[patch]]
    (TWO_PATCHES + "[patch.options]\na = 1\nt = 1979-05-27\n", 15, 5, "patch[1].options.t", "TOML dates and times"),
    (TWO_PATCHES + "[patch.nope]\na = 1\n", 13, 1, "patch[1].nope", "unknown key `nope`"),
    (TWO_PATCHES + "[patch.when]\na = 1\n", 13, 1, "patch[1].when", "`when` must be a string, not a table"),
    (TWO_PATCHES + "[[patch.also]]\nx = 1\n", 13, 1, "patch[1].also[0]", "`also` must be an array of strings; item 0 is a table"),
    ('[[patch]]\nname = "p"\ntarget = "json:dumps"\nalso = ["json:loads", 3]\nvalue = 1\n', 6, 23, "patch[0].also[1]",
     "`also` must be an array of strings; item 1 is an integer"),
    ('[[rewrite]]\nid = "r"\nmethod = { from = "cuda", to = "npu" }\n[[rewrite]]\nid = "s"\n'
     'method = { from = "cuda", to = "npu" }\n[rewrite.examples]\nbefore = 1\n', 9, 1, "rewrite[1].examples",
     "`examples` must be"),
])
def test_a_sub_table_of_an_array_entry_is_located_at_its_own_line(tmp_path, body, line, col, key, message):
    path, result = compile_text(tmp_path, HEAD + body)
    first = located(result, path, line, message)
    assert first.startswith(f"{path}:{line}:{col}: {key}: "), first


@pytest.mark.parametrize("body,line,col,key", [
    ('[[register]]\nregistry = "mmengine.registry:MODELS"\nname = ""\nobject = "json:JSONDecoder"\n', 5, 8,
     "register[0].name"),
    ('[[register]]\nregistry = "mmengine.registry:MODELS"\nname = "X"\nobject = ""\n', 6, 10, "register[0].object"),
    ('[[patch]]\nname = "p"\ntarget = "json:dumps"\nreplace = ""\n', 6, 11, "patch[0].replace"),
    ('[[patch]]\nname = "p"\ntarget = "json:dumps"\nwrap = "json:loads"\nduring = ""\n', 7, 10, "patch[0].during"),
    ('[[alias]]\ntarget = "old"\nsource = ""\n', 5, 10, "alias[0].source"),
    ('[[stub]]\nmodule = ""\n', 4, 10, "stub[0].module"),
    ('[profile]\npath = ""\n', 4, 8, "profile.path"),
    ('[[patch]]\nname = "p"\ntarget = "json:dumps"\nalso = ["json:loads", ""]\nvalue = 1\n', 6, 23, "patch[0].also[1]"),
])
def test_an_empty_string_where_a_name_or_path_is_needed_is_located(tmp_path, body, line, col, key):
    """It said 'empty target' (for a module, a replacement or a `during`), or was
    accepted: a [[register]] with name = "" registered an entry named ''."""
    path, result = compile_text(tmp_path, HEAD + body)
    name = key.rpartition(".")[2].partition("[")[0]
    first = located(result, path, line, f"`{name}` is empty")
    assert first.startswith(f"{path}:{line}:{col}: {key}: "), first


@pytest.mark.parametrize("also,col", [('["json:dumps"]', 9), ('["json:loads", "json.dumps"]', 23)])
def test_an_also_path_that_repeats_the_target_is_located(tmp_path, also, col):
    path, result = compile_text(tmp_path, HEAD + f'[[patch]]\nname = "p"\ntarget = "json:dumps"\nalso = {also}\n'
                                'wrap = "json:loads"\n')
    first = located(result, path, 6, "which this op already changes")
    assert first.startswith(f"{path}:6:{col}: patch[0].also["), first
    assert f"the first is at {path}:5:10" in result.stderr, result.stderr


@pytest.mark.parametrize("line_text,underline", [
    ('replace = 5', '              ^'),                                       # a number for a string
    ('wrap = ["a:b", 2]', '           ^^^^^^^^^^'),                          # an array for a string
    ('replace = "a:b"\non-missing = "sometimes"', '                 ^^^^^^^^^^^'),   # not one of the choices
    ('replace = { x = 1 }  # a comment', '              ^^^^^^^^^'),        # an inline table, a comment after it
    ('wrap = [\n  "a:b",\n]', '           ^'),                                 # a value over lines: its first line
])
def test_a_bad_value_is_underlined_like_other_errors(tmp_path, line_text, underline):
    """An error about a value (wrong type, not one of the choices) shows the
    source line and underlines the value, as errors inside a condition or a
    target path do: ``file:line:col`` alone left the user counting columns."""
    body = '[[patch]]\nname = "p"\ntarget = "colorsys:rgb_to_yiq"\n' + line_text + "\n"
    path, result = compile_text(tmp_path, HEAD + body)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"{path}:"))
    bad = line_text.splitlines()[-1 if "on-missing" in line_text else 0]
    assert lines[at + 1:at + 3] == ["    " + bad, underline], result.stderr


@pytest.mark.parametrize("value", [
    r'"""say \"""bogus\""" twice"""',      # escaped quotes inside a multi-line basic string
    r'"""x \\\""" bogus = 2"""',          # an escaped backslash, then an escaped quote
    r'"""ends in a quote""""',             # one more quote before the closing three
    '"""two ""quotes"" \\\n   folded"""',  # a line-ending backslash
    "'''literal ''quotes'' '''",
    "'''ends in two quotes'''''",
])
def test_keys_after_a_multiline_string_are_located(tmp_path, value):
    """Valid TOML with quotes inside a multi-line string: the key after it is
    found at its own line and column (not a traceback, nor a key read from
    inside the string)."""
    text = HEAD + f"description = {value}\nbogus = 1\n"
    path, result = compile_text(tmp_path, text)
    first = located(result, path, text.count("\n"), "unknown key `bogus`")
    assert first.startswith(f"{path}:{text.count(chr(10))}:1:"), first
