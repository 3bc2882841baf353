"""The pytest plugin, exercised the way users meet it: pytest runs in a subprocess
on a small project written into a temporary directory."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from npatch_testutil import REPO, clean_env

THIRD = """
[manifest]
name = "third"
[[patch]]
name = "third"
target = "colorsys:ONE_THIRD"
value = 0.5
"""


def pytest_in(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    cache = project / ".cache"
    cache.mkdir(mode=0o700, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning", *args],
        cwd=project, capture_output=True, text=True, timeout=300,
        env=clean_env(XDG_CACHE_HOME=str(cache), **env),
    )


def write(project: Path, name: str, text: str) -> Path:
    path = project / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_fixture_and_marker_apply_for_one_test_and_restore(tmp_path):
    write(tmp_path, "third.toml", THIRD)
    write(tmp_path, "test_scoped.py", '''
        import colorsys, sys
        import pytest

        def test_plugin_loaded_nothing_heavy():
            heavy = [m for m in ("npatch.runtime", "npatch.compiler", "lark", "libcst", "tomli") if m in sys.modules]
            assert heavy == []

        def test_fixture(npatch):
            session = npatch.apply("third.toml")
            assert colorsys.ONE_THIRD == 0.5
            assert [s.status for s in session.statuses()] == ["applied"]

        def test_restored_after_fixture():
            assert colorsys.ONE_THIRD == 1 / 3

        def test_inline_manifest(npatch):
            path = npatch.manifest("""
                [manifest]
                name = "inline"
                [options]
                half = false
                [[patch]]
                name = "half"
                target = "colorsys:ONE_SIXTH"
                value = 0.5
                when = "option('half')"
            """)
            npatch.apply(path)
            assert colorsys.ONE_SIXTH == 1 / 6
            npatch.apply(path, sets={"half": True})
            assert colorsys.ONE_SIXTH == 0.5

        @pytest.mark.npatch("third.toml")
        def test_marker():
            assert colorsys.ONE_THIRD == 0.5

        def test_restored_after_marker():
            assert colorsys.ONE_THIRD == 1 / 3 and colorsys.ONE_SIXTH == 1 / 6

        def test_strict_by_default(npatch):
            path = npatch.manifest("""
                [manifest]
                name = "gone"
                [[patch]]
                name = "gone"
                target = "colorsys:NOT_THERE"
                replace = "colorsys:rgb_to_hsv"
            """)
            with pytest.raises(Exception, match="NOT_THERE"):
                npatch.apply(path)

        @pytest.mark.npatch("no-such-manifest")
        def test_bad_marker():
            pass
    ''')
    out = pytest_in(tmp_path, "-q")
    assert "7 passed, 1 error" in out.stdout, out.stdout + out.stderr
    assert "ERROR test_scoped.py::test_bad_marker" in out.stdout
    assert "@pytest.mark.npatch('no-such-manifest',): unknown manifest 'no-such-manifest'" in out.stdout
    assert "During handling" not in out.stdout


SIXTH = THIRD.replace('"third"', '"sixth"').replace("ONE_THIRD", "ONE_SIXTH")


def test_markers_of_module_class_and_function_all_apply(tmp_path):
    """A module's ``pytestmark``, a class marker and a test's own marker each
    apply (outermost first), as stacked ``filterwarnings`` do; before, only the
    closest one did and the others were dropped without a word."""
    write(tmp_path, "third.toml", THIRD)
    write(tmp_path, "sixth.toml", SIXTH)
    write(tmp_path, "two.toml", THIRD.replace('"third"', '"two"').replace("0.5", "0.25"))
    write(tmp_path, "test_layers.py", '''
        import colorsys
        import pytest

        pytestmark = pytest.mark.npatch("third.toml")

        def test_module_marker():
            assert (colorsys.ONE_THIRD, colorsys.ONE_SIXTH) == (0.5, 1 / 6)

        @pytest.mark.npatch("sixth.toml")
        class TestBoth:
            def test_class_and_module(self):
                assert (colorsys.ONE_THIRD, colorsys.ONE_SIXTH) == (0.5, 0.5)

            @pytest.mark.npatch("two.toml")
            def test_closest_applies_last(self):
                assert (colorsys.ONE_THIRD, colorsys.ONE_SIXTH) == (0.25, 0.5)

            @pytest.mark.parametrize("marked", [pytest.param(True, marks=pytest.mark.npatch("two.toml")), False])
            def test_parametrized(self, marked):
                assert colorsys.ONE_THIRD == (0.25 if marked else 0.5) and colorsys.ONE_SIXTH == 0.5

            @pytest.mark.npatch("no-such-manifest")
            def test_bad_inner_marker(self):  # the outer markers' patches are restored
                pass
    ''')
    write(tmp_path, "test_zz_after.py", '''
        import colorsys

        def test_all_restored():
            assert (colorsys.ONE_THIRD, colorsys.ONE_SIXTH) == (1 / 3, 1 / 6)
    ''')
    out = pytest_in(tmp_path, "-q")
    assert "6 passed, 1 error" in out.stdout, out.stdout + out.stderr
    assert "@pytest.mark.npatch('no-such-manifest',): unknown manifest 'no-such-manifest'" in out.stdout


def test_relative_manifests_of_markers_and_fixture_are_found_beside_the_test(tmp_path):
    """``pytest tests/`` from the project root: a marker or fixture naming a
    manifest that lies beside the test file finds it there when the current
    directory has none (before: 'manifest file not found')."""
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    write(tmp_path, "tests/unit/third.toml", THIRD)
    write(tmp_path, "tests/unit/sixth.toml", SIXTH)
    write(tmp_path, "sixth.toml", SIXTH.replace("0.5", "0.75"))  # the current directory's wins
    write(tmp_path, "tests/unit/test_beside.py", '''
        import colorsys
        import pytest

        @pytest.mark.npatch("third.toml")
        def test_marker():
            assert colorsys.ONE_THIRD == 0.5

        def test_fixture(npatch):
            npatch.apply("third.toml", "sixth.toml")
            assert (colorsys.ONE_THIRD, colorsys.ONE_SIXTH) == (0.5, 0.75)

        def test_plan(npatch):
            assert npatch.plan("third.toml").ops[0].name == "third"
    ''')
    out = pytest_in(tmp_path, "-q", "tests")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 passed" in out.stdout


CHILDREN = """
    import colorsys, multiprocessing, os, subprocess, sys
    import pytest

    KEYS = ("PYTHONPATH", "NPATCH_PLAN", "NPATCH_PLAN_DATA", "NPATCH_STRICT")
    BEFORE = {key: os.environ.get(key) for key in KEYS}

    def values():
        import colorsys
        return colorsys.ONE_THIRD, colorsys.ONE_SIXTH

    def in_children():  # (ONE_THIRD, ONE_SIXTH) in a `python -c` child and in a spawn worker
        code = "import colorsys; print(colorsys.ONE_THIRD, colorsys.ONE_SIXTH)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            spawned = pool.apply(values)
        return tuple(float(word) for word in out.stdout.split()), spawned
"""


def test_marker_and_fixture_plans_reach_the_test_s_children(tmp_path):
    """A test under ``@pytest.mark.npatch`` or the ``npatch`` fixture that
    starts a ``python -c`` child, a spawn worker or a DataLoader's spawn
    worker sees the plan there too
    (before: only ``--npatch`` reached children), and a child started after
    the test sees none; the variables are back as they were, a value the
    user had set (PYTHONPATH) and a key that was not there (NPATCH_PLAN)."""
    write(tmp_path, "third.toml", THIRD)
    write(tmp_path, "test_children.py", textwrap.dedent(CHILDREN) + textwrap.dedent('''
        class Thirds:
            def __len__(self):
                return 1

            def __getitem__(self, index):
                import colorsys
                return colorsys.ONE_THIRD

        @pytest.mark.npatch("third.toml")
        def test_marker():
            assert in_children() == ((0.5, 1 / 6), (0.5, 1 / 6))
            torch = pytest.importorskip("torch")
            loader = torch.utils.data.DataLoader(Thirds(), num_workers=1, multiprocessing_context="spawn")
            assert [float(batch) for batch in loader] == [0.5]

        def test_fixture(npatch):
            npatch.apply("third.toml")
            assert in_children() == ((0.5, 1 / 6), (0.5, 1 / 6))

        def test_after():
            assert in_children() == ((1 / 3, 1 / 6), (1 / 3, 1 / 6))
            assert {key: os.environ.get(key) for key in KEYS} == BEFORE
            assert BEFORE["PYTHONPATH"].endswith("extra") and BEFORE["NPATCH_PLAN"] is None
    '''))
    out = pytest_in(tmp_path, "-q", "-p", "no:randomly", PYTHONPATH=str(tmp_path / "extra"))
    assert "3 passed" in out.stdout, out.stdout + out.stderr


def test_children_of_a_test_under_nested_plans_failures_and_its_own_env_changes(tmp_path):
    """What a clumsy user tries next, under a ``--npatch`` plan of the whole
    run (ONE_SIXTH = 0.5): marker and fixture nested (children start the
    plans in the order the test applied them: the last wins, as in the
    test), a ``with npatch.apply()`` block, ``sets=``/``disable=``, a failing
    test and child, a test that changes NPATCH_* itself; after each, a child
    sees the run's plan only and the variables are as before."""
    write(tmp_path, "third.toml", THIRD)
    write(tmp_path, "sixth.toml", SIXTH)
    write(tmp_path, "two.toml", THIRD.replace('"third"', '"two"').replace("0.5", "0.25"))
    write(tmp_path, "m.toml", THIRD.replace('"third"', '"m"') + '''
        [options]
        half = false
        [[patch]]
        name = "half"
        target = "colorsys:ONE_SIXTH"
        value = 0.125
        when = "option('half')"
    ''')
    after = '''
        def test_after_{name}():
            assert in_children() == ((1 / 3, 0.5), (1 / 3, 0.5))
            assert {{key: os.environ.get(key) for key in KEYS}} == BEFORE
    '''
    tests = {
        "marker_then_fixture": '''
            @pytest.mark.npatch("third.toml")
            def test_marker_then_fixture(npatch):
                assert in_children() == ((0.5, 0.5), (0.5, 0.5))
                npatch.apply("two.toml")
                assert values() == (0.25, 0.5) and in_children() == ((0.25, 0.5), (0.25, 0.5))
                with npatch.apply("third.toml", disable="third"):
                    assert in_children() == ((0.25, 0.5), (0.25, 0.5))
                npatch.apply("third.toml")  # applied first by the marker: that place holds
                assert values() == (0.25, 0.5) and in_children() == ((0.25, 0.5), (0.25, 0.5))
        ''',
        "block": '''
            def test_block(npatch):
                with npatch.apply("two.toml"):
                    assert in_children() == ((0.25, 0.5), (0.25, 0.5))
                assert in_children() == ((1 / 3, 0.5), (1 / 3, 0.5))
                assert {key: os.environ.get(key) for key in KEYS} == BEFORE
        ''',
        "sets_and_disable": '''
            @pytest.mark.npatch("m.toml", sets={"half": True}, disable="m")
            def test_sets_and_disable():
                assert in_children() == ((1 / 3, 0.125), (1 / 3, 0.125))
        ''',
        "failing": '''
            @pytest.mark.npatch("third.toml")
            def test_failing(npatch):
                npatch.apply("two.toml")
                child = subprocess.run([sys.executable, "-c", "raise SystemExit(3)"])
                assert child.returncode == 0
        ''',
        "own_changes": '''
            @pytest.mark.npatch("third.toml")
            def test_own_changes(npatch, monkeypatch):
                monkeypatch.setenv("NPATCH_STRICT", "1")
                monkeypatch.setenv("PYTHONPATH", "elsewhere")  # restored by monkeypatch before npatch
                npatch.apply("two.toml")
                del os.environ["NPATCH_PLAN"]  # no plan for children from here on
                assert in_children() == ((1 / 3, 1 / 6), (1 / 3, 1 / 6))
        ''',
    }
    body = "".join(textwrap.dedent(test) + textwrap.dedent(after.format(name=name)) for name, test in tests.items())
    write(tmp_path, "test_nested.py", textwrap.dedent(CHILDREN) + body)
    out = pytest_in(tmp_path, "-q", "-p", "no:randomly", "--npatch", "sixth.toml")
    assert "1 failed, 9 passed" in out.stdout, out.stdout + out.stderr
    assert "FAILED test_nested.py::test_failing - AssertionError: assert 3 == 0" in out.stdout


def test_session_option_patches_the_run_and_its_children(tmp_path):
    write(tmp_path, "third.toml", THIRD)
    write(tmp_path, "test_session.py", '''
        import colorsys, subprocess, sys

        def test_in_process():
            assert colorsys.ONE_THIRD == 0.5

        def test_in_a_child():
            out = subprocess.run([sys.executable, "-c", "import colorsys; print(colorsys.ONE_THIRD)"],
                                 capture_output=True, text=True)
            assert out.stdout.strip() == "0.5", out.stderr
    ''')
    out = pytest_in(tmp_path, "--npatch", "third.toml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "npatch: third.toml (plan " in out.stdout and ", 1 op)" in out.stdout
    assert "npatch: 1 op: 1 applied" in out.stdout

    missing = pytest_in(tmp_path, "--npatch", "no-such-manifest")
    assert missing.returncode == 4  # pytest's usage-error status
    assert "ERROR: --npatch: unknown manifest 'no-such-manifest'" in missing.stderr

    write(tmp_path, "bad.toml", '[manifest]\nname = "bad"\n[[patch]]\nname = "a"\ntarget = "colorsys:X"\nvalu = 1\n')
    bad = pytest_in(tmp_path, "--npatch", "bad.toml")
    assert bad.returncode == 4
    assert f"{tmp_path / 'bad.toml'}:6:1: patch[0].valu: unknown key `valu` in [[patch]]" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_manifest_files_are_collected_as_checks(tmp_path):
    write(tmp_path, "rules.toml", '''
        [manifest]
        name = "rules"

        [[rewrite]]
        id = "sync"
        rename = { from = "torch.cuda.synchronize", to = "torch.npu.synchronize" }
        examples = [{ before = "torch.cuda.synchronize()", after = "torch.npu.synchronize()" }]
        valid = ["x.synchronize()"]

        [[rewrite]]
        id = "wrong"
        method = { from = "cuda", to = "npu" }
        examples = [{ before = "x.cuda()", after = "x.cpu()" }]

        [[patch]]
        name = "gone"
        target = "colorsys:NOT_THERE"
        value = 1
    ''')
    (tmp_path / "checks").mkdir()
    write(tmp_path, "checks/third.npatch.toml", THIRD)
    write(tmp_path, "checks/other.toml", "[tool]\nname = 'not a manifest'\n")
    write(tmp_path, "pyproject.toml", '[tool.pytest.ini_options]\nnpatch_check_files = ["*.npatch.toml"]\n')
    out = pytest_in(tmp_path, "-v", "rules.toml", "checks")
    text = out.stdout
    assert "rules.toml::compile FAILED" in text, text + out.stderr
    assert "rules.toml::rewrite:sync PASSED" in text
    assert "rules.toml::rewrite:wrong FAILED" in text
    assert "checks/third.npatch.toml::compile PASSED" in text
    assert "other.toml" not in text and "pyproject.toml::" not in text  # not collected
    assert "rules.toml:17:10: patch[0].target: error: colorsys:NOT_THERE" in text
    assert "-x.cpu()" in text and "+x.npu()" in text


def test_builtin_manifests_pass_their_checks():
    manifests = sorted(str(p) for p in (REPO / "src" / "npatch" / "manifests").glob("*.toml"))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
         "-o", "npatch_check_resolve=none", "--rootdir", str(REPO / "src"), *manifests],
        capture_output=True, text=True, timeout=600, env=clean_env(), cwd=REPO / "src",
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr
    assert " passed" in out.stdout and "failed" not in out.stdout


def test_marker_and_fixture_arguments_a_clumsy_user_writes(tmp_path):
    """``sets="x"`` raised AttributeError from inside npatch; ``disable="name"``
    was split into letters ("--disable s: no op of that name"); a list of
    manifests was one unknown manifest "['m.toml']"."""
    write(tmp_path, "m.toml", '[manifest]\nname = "m"\n[options]\nflag = false\n[[patch]]\nname = "yiq"\n'
                              'target = "colorsys:rgb_to_yiq"\nreplace = "npt_yiq:patched"\n')
    write(tmp_path, "npt_yiq.py", "def patched(r, g, b):\n    return 'patched'\n")
    write(tmp_path, "test_args.py", """
        import pytest, colorsys

        @pytest.mark.npatch("m.toml", sets="oops")
        def test_sets_not_a_dict():
            pass

        @pytest.mark.npatch("m.toml", disable="yiq")
        def test_disable_one_name():
            assert colorsys.rgb_to_yiq(1, 0, 0) != "patched"

        @pytest.mark.npatch(["m.toml"])
        def test_a_list_of_manifests():
            assert colorsys.rgb_to_yiq(1, 0, 0) == "patched"

        def test_fixture_takes_the_same(npatch):
            npatch.apply(["m.toml"], disable="yiq", sets={"flag": True})
            assert colorsys.rgb_to_yiq(1, 0, 0) != "patched"
    """)
    result = pytest_in(tmp_path, "-q", "--rootdir", str(tmp_path), "-o", "pythonpath=.")
    assert "Traceback" not in result.stdout and "AttributeError" not in result.stdout, result.stdout
    assert "sets= takes a dict of option names to values, not str 'oops'" in result.stdout, result.stdout
    assert "3 passed, 1 error" in result.stdout, result.stdout


def test_an_unusable_cache_warns_once_and_keeps_one_temporary_directory(tmp_path):
    """XDG_CACHE_HOME is a file: every ``npatch.apply()`` of the run (fixture,
    marker, a plan built in code) keeps its plan in the same private temporary
    directory, made at the first need and removed at exit, with one warning
    for the whole run; the plans still reach the tests' children."""
    project = tmp_path / "project"
    project.mkdir()
    write(project, "third.toml", THIRD)
    write(project, "test_many.py", '''
        import colorsys, subprocess, sys
        import pytest

        CHILD = [sys.executable, "-c", "import colorsys; print(colorsys.ONE_THIRD)"]

        @pytest.fixture(autouse=True)
        def count_plan_folders():
            yield
            import os, pathlib
            print("PLAN FOLDERS", len(list(pathlib.Path(os.environ["TMPDIR"]).glob("npatch-plan-*"))))

        @pytest.mark.parametrize("n", range(3))
        def test_fixture(npatch, n):
            npatch.apply("third.toml")
            assert subprocess.run(CHILD, capture_output=True, text=True).stdout == "0.5\\n"

        @pytest.mark.npatch("third.toml")
        def test_marker():
            assert colorsys.ONE_THIRD == 0.5

        def test_built_in_code(npatch):
            from npatch.plan import Op, Plan, Target

            npatch.apply(Plan(ops=(Op(kind="value", name="v", targets=(Target("colorsys", "TWO_THIRD"),),
                                      value=0.25),)))
            assert subprocess.run(CHILD[:-1] + ["import colorsys; print(colorsys.TWO_THIRD)"],
                                  capture_output=True, text=True).stdout == "0.25\\n"
    ''')
    (tmp_path / "not-a-dir").write_text("")
    temp = tmp_path / "tmp"
    temp.mkdir(mode=0o700)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"],
        cwd=project, capture_output=True, text=True, timeout=300,
        env=clean_env(XDG_CACHE_HOME=str(tmp_path / "not-a-dir"), TMPDIR=str(temp)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed" in proc.stdout
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "npatch: warning:" in line]
    assert len(warnings) == 1 and "removed at exit" in warnings[0], warnings
    assert proc.stdout.count("PLAN FOLDERS 1") == 5, proc.stdout
    assert list(temp.glob("npatch-plan-*")) == []


def test_a_temporary_plan_folder_a_test_removed_is_made_again(tmp_path):
    """A test that empties TMPDIR (or swaps the folder for a link) takes the
    run's plan folder with it: the next ``npatch.apply()`` makes a new one,
    and its plan still reaches the children."""
    project = tmp_path / "project"
    project.mkdir()
    write(project, "third.toml", THIRD)
    write(project, "test_clean.py", '''
        import os, pathlib, shutil, subprocess, sys

        CHILD = [sys.executable, "-c", "import colorsys; print(colorsys.ONE_THIRD)"]

        def test_cleans_up(npatch):
            npatch.apply("third.toml")
            (folder,) = pathlib.Path(os.environ["TMPDIR"]).glob("npatch-plan-*")
            shutil.rmtree(folder)
            folder.symlink_to(os.environ["TMPDIR"])

        def test_after(npatch):
            npatch.apply("third.toml")
            assert subprocess.run(CHILD, capture_output=True, text=True).stdout == "0.5\\n"
    ''')
    (tmp_path / "not-a-dir").write_text("")
    temp = tmp_path / "tmp"
    temp.mkdir(mode=0o700)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"],
        cwd=project, capture_output=True, text=True, timeout=300,
        env=clean_env(XDG_CACHE_HOME=str(tmp_path / "not-a-dir"), TMPDIR=str(temp)))
    assert proc.returncode == 0 and "2 passed" in proc.stdout, proc.stdout + proc.stderr
    assert [p.is_symlink() for p in temp.glob("npatch-plan-*")] == [True]
