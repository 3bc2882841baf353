"""`npatch compile` checks by default: names, call signatures, where modules are searched.

Each case runs the `npatch` console script (as a user types it) in a fresh
process, so the search path is what a user gets, not this test's sys.path.
"""
from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

import subprocess

NPATCH = Path(sys.executable).parent / "npatch"


def npatch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The console script: unlike `python -m`, it does not put the current directory on sys.path."""
    command = [str(NPATCH)] if NPATCH.exists() else [sys.executable, "-m", "npatch"]
    return subprocess.run([*command, *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=300)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


LIB = """
def f(a, b=1, *, c=2):
    return a

class K:
    def m(self, x, y=0):
        return x

    @staticmethod
    def s(x):
        return x

    @classmethod
    def c(cls, x):
        return x
"""

REPL = """
def f_ok(a, b=1, *, c=2, d=3):
    return a

def f_star(*args, **kwargs):
    return 0

def f_no_c(a, b=1):
    return a

def f_b_required(a, b, *, c=2):
    return a

def f_positional_only(a, /, b=1, *, c=2):
    return a

def m_ok(obj, x, y=0):
    return x

def m_no_self(x, y=0):
    return x

def s_ok(x):
    return x

def s_with_self(self, x):
    return x

def c_ok(klass, x):
    return x

class R:
    @classmethod
    def bound(cls, x):
        return x

    @staticmethod
    def plain(x):
        return x

def guard_ok(*args, **kwargs):
    return True

def guard_bad(a):
    return True
"""

#: (target, replacement or guard, role, accepted)
CASES = [
    ("pkg.lib:f", "pkg.repl:f_ok", "replace", True),
    ("pkg.lib:f", "pkg.repl:f_star", "replace", True),
    ("pkg.lib:f", "pkg.repl:f_no_c", "replace", False),
    ("pkg.lib:f", "pkg.repl:f_b_required", "replace", False),
    ("pkg.lib:f", "pkg.repl:f_positional_only", "replace", False),
    ("pkg.lib:K.m", "pkg.repl:m_ok", "replace", True),
    ("pkg.lib:K.m", "pkg.repl:m_no_self", "replace", False),
    ("pkg.lib:K.s", "pkg.repl:s_ok", "replace", True),
    ("pkg.lib:K.s", "pkg.repl:s_with_self", "replace", False),
    ("pkg.lib:K.s", "pkg.repl:R.plain", "replace", True),
    ("pkg.lib:K.s", "pkg.repl:R.bound", "replace", True),
    ("pkg.lib:K.c", "pkg.repl:c_ok", "replace", True),
    ("pkg.lib:K.c", "pkg.repl:s_ok", "replace", False),
    ("pkg.lib:f", "pkg.repl:guard_ok", "guard", True),
    ("pkg.lib:f", "pkg.repl:guard_bad", "guard", False),
]


def _signature_project(root: Path) -> None:
    patches = []
    for index, (target, function, role, _ok) in enumerate(CASES):
        extra = f'guard = "{function}"\nreplace = "pkg.repl:f_star"' if role == "guard" else f'replace = "{function}"'
        patches.append(f'[[patch]]\nname = "case{index}"\ntarget = "{target}"\npriority = {index}\n{extra}\n')
    write(root, {"pkg/__init__.py": "", "pkg/lib.py": LIB, "pkg/repl.py": REPL,
                 "sig.toml": '[manifest]\nname = "sig"\n\n' + "\n".join(patches)})


@pytest.mark.parametrize("mode", ["static", "import"])
def test_replacements_and_guards_must_accept_every_call_of_their_target(tmp_path: Path, mode: str) -> None:
    _signature_project(tmp_path)
    result = npatch("compile", "sig.toml", "--resolve", mode, cwd=tmp_path)
    failing = {int(m) for m in re.findall(r"patch\[(\d+)\]\.(?:replace|guard): error", result.stderr)}
    expected = {index for index, case in enumerate(CASES) if not case[3]}
    assert failing == expected, result.stderr
    assert result.returncode == 1
    # at the replacement's own line, naming both signatures
    text = (tmp_path / "sig.toml").read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if t == 'replace = "pkg.repl:f_no_c"')
    assert f"sig.toml:{line}:11: patch[2].replace: error: replace pkg.repl:f_no_c does not accept every call of " \
           "pkg.lib:f: the replacement has no parameter 'c'; target(a, b=1, *, c=2), replacement(a, b=1)" in result.stderr


def _tutorial_manifest() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    step = readme[readme.index("3. **Write your own manifest**"):readme.index("4. **Moving to an NPU**")]
    return textwrap.dedent(re.search(r"```toml\n(.*?)```", step, re.S).group(1))


TUTORIAL_PROJECT = {
    "my_project/__init__.py": "",
    "my_project/data.py": "def build_loader(cfg, batch_size=2):\n    return [cfg] * batch_size\n",
    "my_project/cpu.py": "def build_loader(cfg, batch_size=2):\n    return [cfg]\n",
}


def test_readme_tutorial_manifest_compiles_as_written(tmp_path: Path) -> None:
    write(tmp_path, {**TUTORIAL_PROJECT, "my.toml": _tutorial_manifest()})
    result = npatch("compile", "my.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no `info:` line per op of the included built-in manifest
    assert "resolve=static: 0 errors" in result.stdout
    assert len(result.stdout.splitlines()) == 2 and "unverifiable" in result.stdout.splitlines()[1]


def test_readme_tutorial_catches_a_typo_and_a_wrong_signature(tmp_path: Path) -> None:
    manifest = _tutorial_manifest().replace("my_project.data:build_loader", "my_project.data:build_loder")
    write(tmp_path, {**TUTORIAL_PROJECT, "my.toml": manifest,
                     "my_project/cpu.py": "def build_loader(cfg):\n    return [cfg]\n"})
    result = npatch("compile", "my.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert re.search(r"my\.toml:\d+:10: patch\[0\]\.target: error: my_project\.data:build_loder: "
                     r"'build_loder' is not defined in module my_project\.data", result.stderr), result.stderr
    write(tmp_path, {"my.toml": _tutorial_manifest()})
    result = npatch("compile", "my.toml", cwd=tmp_path)
    assert "patch[0].replace: error" in result.stderr and "target(cfg, batch_size=2), replacement(cfg)" in result.stderr


def test_the_manifest_directory_the_current_directory_and_path_are_searched(tmp_path: Path) -> None:
    write(tmp_path, {**{f"proj/{k}": v for k, v in TUTORIAL_PROJECT.items()},
                     "proj/my.toml": _tutorial_manifest(), "elsewhere/.keep": ""})
    assert npatch("compile", "../proj/my.toml", cwd=tmp_path / "elsewhere").returncode == 0  # the manifest's directory
    (tmp_path / "proj" / "my.toml").rename(tmp_path / "elsewhere" / "my.toml")
    assert npatch("compile", "../elsewhere/my.toml", cwd=tmp_path / "proj").returncode == 0  # the current directory
    moved = npatch("compile", "elsewhere/my.toml", cwd=tmp_path)
    # my_project is neither beside the manifest nor in the current directory: unverifiable, with a hint
    assert moved.returncode == 0, moved.stderr
    assert "my_project (not installed here)" in moved.stdout and "pass --path DIR" in moved.stdout
    assert npatch("compile", "elsewhere/my.toml", "--strict", cwd=tmp_path).returncode == 1
    for mode in ("static", "import"):
        found = npatch("compile", "elsewhere/my.toml", "--path", "proj", "--resolve", mode, cwd=tmp_path)
        assert found.returncode == 0 and "my_project" not in found.stdout + found.stderr, (mode, found.stdout)
        wrong = npatch("compile", "elsewhere/my.toml", "--path", "elsewhere", "--resolve", mode, cwd=tmp_path)
        assert wrong.returncode == 0 and "my_project (not installed here)" in wrong.stdout, (mode, wrong.stderr)


def test_a_missing_submodule_of_a_found_package_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {**TUTORIAL_PROJECT, "my.toml": _tutorial_manifest().replace("my_project.cpu:", "my_project.cpus:")})
    result = npatch("compile", "my.toml", cwd=tmp_path)
    assert result.returncode == 1 and "no module named 'my_project.cpus'" in result.stderr


def test_c_extension_names_are_unverifiable_even_under_strict(tmp_path: Path) -> None:
    write(tmp_path, {"c.toml": '[manifest]\nname = "c"\n[[patch]]\nname = "p"\ntarget = "torch._C:_set_grad_enabled"\n'
                               'value = 0\n'})
    plain = npatch("compile", "c.toml", cwd=tmp_path)
    assert plain.returncode == 0 and "1 unverifiable" in plain.stdout and plain.stderr == ""
    verbose = npatch("compile", "c.toml", "-v", cwd=tmp_path)
    assert "c.toml:5:10: patch[0].target: info: torch._C:_set_grad_enabled" in verbose.stderr
    strict = npatch("compile", "c.toml", "--strict", cwd=tmp_path)
    assert strict.returncode == 0 and "1 unverifiable" in strict.stdout  # only import mode can see into torch._C
    imported = npatch("compile", "c.toml", "--resolve", "import", cwd=tmp_path)
    assert imported.returncode == 0 and "unverifiable" not in imported.stdout


BUILTINS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "src/npatch/manifests").glob("*.toml"))


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_manifest_compiles_cleanly_by_default(name: str, tmp_path: Path) -> None:
    result = run_npatch("compile", name, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_a_name_listed_in_all_but_bound_at_run_time_is_unverifiable(tmp_path: Path) -> None:
    """torch.cuda lists FloatTensor in __all__ and binds it from C: not missing. A name neither
    listed nor bound still is (the same module, the same manifest)."""
    write(tmp_path, {
        "cext/__init__.py": """
            __all__ = ["Bound", "FromC"]
            __all__ += ("AlsoFromC",)
            Bound = 1
        """,
        "m.toml": """
            [manifest]
            name = "m"
            [[patch]]
            name = "a"
            target = "cext:FromC"
            value = 1
            [[patch]]
            name = "b"
            target = "cext:AlsoFromC"
            value = 2
            [[patch]]
            name = "c"
            target = "cext:Typo"
            value = 3
        """,
    })
    result = npatch("compile", "m.toml", "-v", cwd=tmp_path)
    assert result.returncode == 1
    assert re.search(r"m\.toml:14:\d+: patch\[2\]\.target: error: .*'Typo' is not defined", result.stderr)
    assert "FromC" not in "".join(line for line in result.stderr.splitlines() if "error" in line)
    assert "'FromC' is in cext.__all__ but bound at run time" in result.stderr + result.stdout
    assert "'AlsoFromC' is in cext.__all__" in result.stderr + result.stdout


CONDITIONAL_CLASS = {
    "tgt.py": """
        import sys
        if sys.version_info >= (3, 8):
            class C:
                @classmethod
                def make(cls, a, b=1, *, c=2):
                    return a

                @property
                def p(self):
                    return 1
        else:
            class C:
                pass
    """,
    "helpers.py": """
        def make(cls, a, b=1, *, c=2):
            return a

        def narrow(cls, a):
            return a

        def getp(self):
            return 2
    """,
}


def _conditional_manifest(make: str, target: str = "tgt:C.make") -> str:
    return f"""
        [manifest]
        name = "m"
        [[patch]]
        name = "cm"
        target = "{target}"
        replace = "helpers:{make}"
        [[patch]]
        name = "prop"
        target = "tgt:C.p"
        replace = "helpers:getp"
    """


@pytest.mark.parametrize("mode", ["static", "import"])
def test_a_class_defined_in_both_branches_of_an_if_is_searched_in_each(tmp_path: Path, mode: str) -> None:
    """The else branch's class (the last one in the file) lacks the names; the one
    Python runs has them: a static check that only saw the last said 'not defined'."""
    write(tmp_path, {**CONDITIONAL_CLASS, "m.toml": _conditional_manifest("make")})
    result = npatch("compile", "m.toml", "--resolve", mode, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr


@pytest.mark.parametrize("mode", ["static", "import"])
def test_a_narrower_classmethod_in_a_conditional_class_is_located(tmp_path: Path, mode: str) -> None:
    write(tmp_path, {**CONDITIONAL_CLASS, "m.toml": _conditional_manifest("narrow")})
    result = npatch("compile", "m.toml", "--resolve", mode, cwd=tmp_path)
    assert result.returncode == 1
    assert re.search(r"m\.toml:7:11: patch\[0\]\.replace: error: replace helpers:narrow does not accept "
                     r"every call of tgt:C\.make", result.stderr), result.stderr


def test_a_name_in_no_branch_of_an_if_is_still_missing(tmp_path: Path) -> None:
    write(tmp_path, {**CONDITIONAL_CLASS, "m.toml": _conditional_manifest("make", "tgt:C.nowhere")})
    result = npatch("compile", "m.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert "m.toml:6:10: patch[0].target: error: tgt:C.nowhere: 'nowhere' is not defined in class C" in result.stderr


@pytest.mark.parametrize("mode", ["static", "import"])
def test_a_property_getter_replacement_is_checked_like_a_method(tmp_path: Path, mode: str) -> None:
    """The replacement becomes the property's getter, called with the instance alone:
    one that needs another argument failed on every read and compile said nothing."""
    write(tmp_path, {
        "tgt2.py": """
            class D:
                @property
                def p(self):
                    return 1
        """,
        "helpers.py": """
            def getter(obj):
                return 2

            def needs_more(self, extra):
                return 3
        """,
        "m.toml": """
            [manifest]
            name = "m"
            [[patch]]
            name = "ok"
            target = "tgt2:D.p"
            replace = "helpers:getter"
            [[patch]]
            name = "bad"
            target = "tgt2:D.p"
            replace = "helpers:needs_more"
            priority = 1
        """,
    })
    result = npatch("compile", "m.toml", "--resolve", mode, cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert re.match(r".*m\.toml:11:11: patch\[1\]\.replace: error: replace helpers:needs_more does not accept "
                    r"every call of tgt2:D\.p: .*'extra'", line), result.stderr


@pytest.mark.parametrize("mode", ["static", "import"])
def test_a_name_a_class_inherits_from_a_builtin_type_is_no_error(tmp_path: Path, mode: str) -> None:
    """``Plain.__init_subclass__`` (every class has ``object``'s), ``MyDict.fromkeys``
    (from ``dict``): the static check said "not defined in class Plain or its
    bases", an error (exit 1; ``apply --strict`` refused to start).  A name no
    base has is still an error."""
    write(tmp_path, {
        "bi.py": """
            class Plain:
                pass

            class MyDict(dict):
                pass

            class Mine(Exception):
                pass
        """,
        "bi_repl.py": "def f(cls, *args, **kwargs):\n    return None\n",
    })
    targets = ["bi:Plain.__init_subclass__", "bi:Plain.__repr__", "bi:MyDict.fromkeys", "bi:MyDict.keys",
               "bi:Mine.with_traceback"]
    ops = "".join(f'[[patch]]\nname = "p{i}"\ntarget = "{t}"\nreplace = "bi_repl:f"\n' for i, t in enumerate(targets))
    write(tmp_path, {"ok.toml": f'[manifest]\nname = "ok"\n{ops}',
                     "bad.toml": '[manifest]\nname = "bad"\n[[patch]]\nname = "p"\ntarget = "bi:MyDict.nothing"\n'
                                 'replace = "bi_repl:f"\n'})
    ok = npatch("compile", "ok.toml", "--resolve", mode, "--strict", cwd=tmp_path)
    assert ok.returncode == 0 and "error:" not in ok.stderr and " 0 errors" in ok.stdout, ok.stderr
    bad = npatch("compile", "bad.toml", "--resolve", mode, cwd=tmp_path)
    assert bad.returncode == 1 and "'nothing'" in bad.stderr, bad.stderr
