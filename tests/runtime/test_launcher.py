"""``npatch apply`` / ``npatch run``: the launcher, its cache, the bootstrap, the report.

Every scenario runs the real CLI in a fresh interpreter with a private cache
directory (``XDG_CACHE_HOME`` under tmp_path).  Targets are small stdlib
modules that nothing imports at start-up (``colorsys``, ``xml.dom.minidom``)
or throwaway modules, so no test here needs torch.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from npatch.runtime.launcher import BOOTSTRAP_DIR as BOOTSTRAP
from npatch.plancache import FORMAT
from npatch_testutil import YIQ_MANIFEST, clean_env, run_npatch

PY = sys.executable

MANIFEST = YIQ_MANIFEST + """
[[patch]]
name = "never"
target = "npatch_never_imported_mod:f"
value = 1
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return write(tmp_path / "m.toml", MANIFEST)


def npatch(*args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 300):
    return run_npatch(*map(str, args), env=env, cwd=cwd, timeout=timeout)


def ok(proc):
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


SHOW = "import colorsys; print('yiq', colorsys.rgb_to_yiq)"


# -- the basic contract ---------------------------------------------------------
def test_apply_script_and_python_dash_m(tmp_path, env, manifest):
    write(tmp_path / "x.py", SHOW)
    write(tmp_path / "pkg/__init__.py", "")
    write(tmp_path / "pkg/__main__.py", SHOW)
    assert "yiq 42" in ok(npatch("apply", manifest, "--", PY, tmp_path / "x.py", env=env)).stdout
    assert "yiq 42" in ok(npatch("apply", manifest, "--", PY, "-m", "pkg", env=env, cwd=tmp_path)).stdout
    # without npatch nothing changes
    plain = subprocess.run([PY, tmp_path / "x.py"], env=env, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0 and plain.stdout.startswith("yiq <function rgb_to_yiq"), plain.stdout + plain.stderr


def test_exit_code_passes_through(env, manifest):
    assert npatch("apply", manifest, "--", PY, "-c", "raise SystemExit(3)", env=env).returncode == 3
    assert npatch("apply", manifest, "--", "sh", "-c", "exit 5", env=env).returncode == 5
    proc = npatch("apply", manifest, "--", "npatch-no-such-command", env=env)
    assert proc.returncode == 127 and "command not found" in proc.stderr



def test_a_command_that_cannot_start_says_why_as_a_shell_does(tmp_path, env, manifest):
    """A folder, or a script whose ``#!`` interpreter does not exist, is not
    "command not found" (the file is there): 126 with the reason, as bash says it."""
    (tmp_path / "folder").mkdir()
    script = tmp_path / "old tool.py"
    script.write_text("#!/npatch/no/such/python3 -u\nprint('ran')\n")
    script.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npatch-old-tool").symlink_to(script)
    on_path = dict(env, PATH=f"{bin_dir}{os.pathsep}{env['PATH']}")
    for command, run_env, message in [
            (str(tmp_path / "folder"), env, "is a directory"),
            (str(script), env, "bad interpreter /npatch/no/such/python3: No such file or directory"),
            ("npatch-old-tool", on_path, "bad interpreter /npatch/no/such/python3: No such file or directory")]:
        proc = npatch("apply", manifest, "--", command, env=run_env)
        assert proc.returncode == 126, proc.stderr
        assert proc.stderr.strip().endswith(f"{command}: {message}"), proc.stderr

def test_options_anywhere_before_the_command(env, manifest):
    code = "import os; print(os.environ.get('NPATCH_STRICT'), os.environ.get('NPATCH_VERBOSE'))"
    first = ok(npatch("apply", "--strict", manifest, "-v", "--", PY, "-c", code, env=env))
    assert first.stdout.split() == ["1", "1"]
    # options after `--` belong to the command
    second = ok(npatch("apply", manifest, "--", PY, "-c", code, "--strict", "-v", env=env))
    assert second.stdout.split() == ["None", "None"]


@pytest.mark.parametrize("args, message", [
    (["M", "python", "-c", "pass"], "missing `--`"),
    (["M", "--"], "no command after `--`"),
    (["--", "python"], "no manifest"),
    (["npatch-no-such-manifest", "--", "python"], "unknown manifest"),
    (["M", "--set", "novalue", "--", "python"], "KEY=VALUE"),
    # an option word is not another option's value (the cached path agrees with argparse)
    (["M", "--disable", "--strict", "--", "python"], "argument --disable: expected one argument"),
    (["M", "--set", "-v", "--", "python"], "argument --set: expected one argument"),
    (["--report", "--strict", "M", "--", "python"], "argument --report: expected one argument"),
])
def test_usage_errors_exit_2(env, manifest, args, message):
    proc = npatch("apply", *[str(manifest) if a == "M" else a for a in args], env=env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_invalid_manifest_exits_1(tmp_path, env):
    bad = write(tmp_path / "bad.toml", '[manifest]\nname = "bad"\n[[patch]]\nname = "p"\ntarget = "a:b"\n')
    proc = npatch("apply", bad, "--", PY, "-c", "print('ran')", env=env)
    assert proc.returncode == 1 and "ran" not in proc.stdout and "bad.toml:" in proc.stderr


def test_set_and_disable_reach_the_plan(tmp_path, env):
    m = write(tmp_path / "opt.toml", """
        [manifest]
        name = "opt"
        [options]
        fast = false
        [[patch]]
        name = "yiq"
        target = "colorsys:rgb_to_yiq"
        value = 1
        when = "option('fast')"
        [[patch]]
        name = "hls"
        target = "colorsys:rgb_to_hls"
        value = 2
    """)
    code = "import colorsys; print(colorsys.rgb_to_yiq == 1, colorsys.rgb_to_hls == 2)"
    assert ok(npatch("apply", m, "--", PY, "-c", code, env=env)).stdout.split() == ["False", "True"]
    out = ok(npatch("apply", m, "--set", "fast=true", "--disable", "hls", "--", PY, "-c", code, env=env)).stdout
    assert out.split() == ["True", "False"]


def test_python_flags_that_skip_the_bootstrap_are_reported(env, manifest):
    proc = ok(npatch("apply", manifest, "--", PY, "-I", "-c", SHOW, env=env))
    assert "isolated mode" in proc.stderr and "yiq 42" not in proc.stdout
    assert "skips the site module" in npatch("apply", manifest, "--", PY, "-Sc", "pass", env=env).stderr
    strict = npatch("apply", "--strict", manifest, "--", PY, "-E", "-c", "pass", env=env)
    assert strict.returncode == 2 and "-E" in strict.stderr
    # a flag of the program, not of python, is not mistaken for one
    assert "warning" not in ok(npatch("apply", manifest, "--", PY, "-c", "pass", "-I", env=env)).stderr


# -- strict, report, verbose --------------------------------------------------------
FAILING = """
[manifest]
name = "f"

[[patch]]
name = "missing-attr"
target = "colorsys:no_such_function"
replace = "os.path:join"
"""


def test_strict_turns_a_failing_op_into_a_nonzero_exit(tmp_path, env):
    m = write(tmp_path / "f.toml", FAILING)
    relaxed = ok(npatch("apply", m, "--", PY, "-c", "import colorsys; print('ran')", env=env))
    assert "ran" in relaxed.stdout and "no_such_function" in relaxed.stderr
    strict = npatch("apply", "--strict", m, "--", PY, "-c", "import colorsys; print('ran')", env=env)
    assert strict.returncode != 0 and "ran" not in strict.stdout and "no_such_function" in strict.stderr


def test_strict_failure_at_start_up_stops_the_process(tmp_path, env):
    # `sys` is imported before the bootstrap runs: the op fails while the plan starts
    m = write(tmp_path / "f.toml", FAILING.replace("colorsys:", "sys:"))
    proc = npatch("apply", "--strict", m, "--", PY, "-c", "print('ran')", env=env)
    assert proc.returncode == 1 and "ran" not in proc.stdout
    assert "npatch: error:" in proc.stderr and "Traceback" not in proc.stderr


def test_report_covers_child_processes(tmp_path, env, manifest):
    script = write(tmp_path / "parent.py", f"""
        import subprocess, sys
        subprocess.run([sys.executable, "-c", {SHOW!r}], check=True)
        print("parent done")
    """)
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    ok(npatch("apply", "--report", report, manifest, "--", PY, script, env=env))
    data = json.loads(report.read_text())
    assert data["summary"]["processes"] == 2
    ops = {op["name"]: op for op in data["ops"]}
    assert ops["yiq"]["status"] == "applied" and sorted(ops["yiq"]["processes"].values()) == ["applied", "waiting"]
    assert ops["never"]["status"] == "waiting"
    pids = [p["pid"] for p in data["processes"]]
    child = next(p for p in data["processes"] if p["argv"][0] == "-c")
    assert child["ppid"] in pids
    session = child["sessions"][0]
    assert session["counts"]["applied"] == 1 and session["plan_file"].endswith(".json")
    # a second run starts from a clean slate
    ok(npatch("apply", "--report", report, manifest, "--", PY, "-c", "pass", env=env))
    assert json.loads(report.read_text())["summary"]["processes"] == 1


def test_verbose_prints_each_process_tree(tmp_path, env, manifest):
    proc = ok(npatch("apply", "-v", manifest, "--", PY, "-c", SHOW, env=env))
    assert "npatch: pid " in proc.stderr
    assert "applied  yiq" in proc.stderr and "waiting  never" in proc.stderr


# -- the cache ---------------------------------------------------------------------------
HEAVY = ("tomli", "lark", "libcst")


def imported(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` output."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_cache_hit_imports_no_compiler(env, manifest):
    def launch():
        return subprocess_run([PY, "-X", "importtime", "-m", "npatch", "apply", str(manifest), "--",
                               PY, "-c", "import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in "
                                         f"{HEAVY!r} or m.startswith('npatch.compiler')))"], env)

    miss = launch()
    assert "tomli" in {m.split(".")[0] for m in imported(miss.stderr)}  # the check can see a compile
    hit = launch()
    names = imported(hit.stderr)
    assert not {n for n in names if n.split(".")[0] in HEAVY or n.startswith("npatch.compiler")}, names
    assert "npatch.plancache" in names
    assert hit.stdout.strip() == "[]"  # nor does the child


def subprocess_run(cmd, env):
    import subprocess

    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def plan_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "npatch" / "plans").glob("*.json"))


def test_cache_follows_manifest_and_include_changes(tmp_path, env):
    inc = write(tmp_path / "inc.toml", '[manifest]\nname = "inc"\n[[patch]]\nname = "hls"\n'
                                       'target = "colorsys:rgb_to_hls"\nvalue = 1\n')
    top = write(tmp_path / "top.toml", '[manifest]\nname = "top"\ninclude = ["./inc.toml"]\n'
                                       '[[patch]]\nname = "yiq"\ntarget = "colorsys:rgb_to_yiq"\nvalue = 1\n')
    code = "import colorsys; print(colorsys.rgb_to_yiq, colorsys.rgb_to_hls)"
    run = lambda: ok(npatch("apply", top, "--", PY, "-c", code, env=env)).stdout.split()  # noqa: E731
    assert run() == ["1", "1"]
    assert run() == ["1", "1"] and len(plan_files(tmp_path)) == 1  # a hit
    top.write_text(top.read_text().replace("value = 1", "value = 2"))
    assert run() == ["2", "1"]
    inc.write_text(inc.read_text().replace("value = 1", "value = 3"))
    assert run() == ["2", "3"]
    assert len(plan_files(tmp_path)) == 3


def test_tampered_plan_is_rejected_and_recompiled(tmp_path, env, manifest):
    ok(npatch("apply", manifest, "--", PY, "-c", "pass", env=env))
    (plan,) = plan_files(tmp_path)
    original = plan.read_bytes()
    plan.write_bytes(original.replace(b'"value":42', b'"value":666'))
    assert "yiq 42" in ok(npatch("apply", manifest, "--", PY, "-c", SHOW, env=env)).stdout
    assert plan.read_bytes() == original
    # the file name is the plan's content hash
    from npatch.plan import Plan

    assert Plan.from_json(original.decode()).content_hash == plan.stem


def test_damaged_module_list_is_a_miss(tmp_path, env, manifest):
    ok(npatch("apply", manifest, "--", PY, "-c", "pass", env=env))
    (modules,) = (tmp_path / "cache" / "npatch" / "plans").glob("*.modules")
    original = modules.read_text()
    modules.write_text("unrelated_module\n")  # the plan would never start
    assert "yiq 42" in ok(npatch("apply", manifest, "--", PY, "-c", SHOW, env=env)).stdout
    assert modules.read_text() == original


def test_children_read_the_marshal_copy_and_never_import_json(tmp_path, env, manifest):
    code = "import colorsys, sys; print('yiq', colorsys.rgb_to_yiq, 'json' in sys.modules)"
    assert "yiq 42 False" in ok(npatch("apply", manifest, "--", PY, "-c", code, env=env)).stdout
    (copy,) = (tmp_path / "cache" / "npatch" / "plans").glob("*.marshal")
    (plan,) = plan_files(tmp_path)
    from npatch.plan import Plan

    assert Plan.from_marshal(copy.read_bytes()) == Plan.from_json(plan.read_text())


def test_tampered_marshal_copy_is_a_miss_and_a_damaged_one_falls_back_to_json(tmp_path, env, manifest):
    ok(npatch("apply", manifest, "--", PY, "-c", "pass", env=env))
    (copy,) = (tmp_path / "cache" / "npatch" / "plans").glob("*.marshal")
    original = copy.read_bytes()
    from npatch.plan import Plan

    tampered = Plan.from_marshal(original)
    tampered = tampered.replace(ops=tuple(op.replace(value=666) for op in tampered.ops))
    copy.write_bytes(tampered.to_marshal())
    assert "yiq 42" in ok(npatch("apply", manifest, "--", PY, "-c", SHOW, env=env)).stdout
    assert copy.read_bytes() == original  # the launcher verified it against the entry and wrote it again
    # a child given a damaged copy (the launcher is not involved) reads the JSON plan of record
    copy.write_bytes(b"\x00garbage")
    child_env = dict(env, PYTHONPATH=BOOTSTRAP, NPATCH_PLAN=str(copy.with_suffix(".json")))
    proc = subprocess.run([PY, "-c", SHOW], env=child_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "yiq 42" in proc.stdout, proc.stderr


def test_damaged_entry_is_a_miss(tmp_path, env, manifest):
    ok(npatch("apply", manifest, "--", PY, "-c", "pass", env=env))
    (entry,) = (tmp_path / "cache" / "npatch" / "keys").iterdir()
    entry.write_text("garbage\n")
    assert "yiq 42" in ok(npatch("apply", manifest, "--", PY, "-c", SHOW, env=env)).stdout
    assert entry.read_text().startswith(f"npatch-cache {FORMAT} ")


def test_cache_directory_is_private(tmp_path, env, manifest):
    ok(npatch("apply", manifest, "--", PY, "-c", "pass", env=env))
    root = tmp_path / "cache" / "npatch"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    # a directory others can write to is not trusted: no cache, still runs
    os.chmod(root, 0o777)
    proc = ok(npatch("apply", manifest, "--", PY, "-c", SHOW, env=env))
    assert "yiq 42" in proc.stdout and "no private cache directory" in proc.stderr
    assert f"{root} is writable by others (mode 0777)" in proc.stderr  # the warning says why


@pytest.mark.parametrize("shape", ["link to a private directory", "file", "dangling link", "unmakeable"])
def test_cache_directory_that_is_not_a_plain_directory_is_refused_saying_why(tmp_path, env, manifest, shape):
    root = tmp_path / "cache" / "npatch"
    root.parent.mkdir()
    elsewhere = tmp_path / "elsewhere"
    if shape == "file":
        root.write_text("")
        why = "exists and is not a directory"
    elif shape == "unmakeable":  # $XDG_CACHE_HOME is a file
        root.parent.rmdir()
        root.parent.write_text("")
        why = "cannot be made (Not a directory)"
    else:
        if shape == "link to a private directory":
            elsewhere.mkdir(mode=0o700)
        root.symlink_to(elsewhere)
        why = "is a symbolic link"
    proc = ok(npatch("apply", manifest, "--", PY, "-c", SHOW, env=env))
    assert "yiq 42" in proc.stdout
    assert f"no private cache directory: {root} {why}" in proc.stderr
    assert not (elsewhere / "keys").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_cache_directory_of_another_user_is_refused(tmp_path, env, manifest):
    root = tmp_path / "cache" / "npatch"
    root.mkdir(parents=True, mode=0o700)
    os.chown(root, 65534, 65534)
    proc = ok(npatch("apply", manifest, "--", PY, "-c", SHOW, env=env))
    assert "yiq 42" in proc.stdout and f"{root} is owned by uid 65534" in proc.stderr
    assert not (root / "keys").exists()


# -- npatch run --------------------------------------------------------------------------
def test_run_script_in_process(tmp_path, env, manifest):
    script = write(tmp_path / "s.py", f"""
        import subprocess, sys
        {SHOW}
        print("argv", sys.argv[1:], __name__, sys.path[0] == {str(tmp_path)!r})
        subprocess.run([sys.executable, "-c", {SHOW!r}], check=True)
        raise SystemExit(3)
    """)
    proc = npatch("run", manifest, script, "a", "--b", env=env)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.count("yiq 42") == 2  # here and in the child
    assert "argv ['a', '--b'] __main__ True" in proc.stdout


def test_run_module_and_double_dash(tmp_path, env, manifest):
    write(tmp_path / "pkg/__init__.py", "")
    write(tmp_path / "pkg/__main__.py", SHOW + "\nimport sys; print(sys.argv[1:])")
    proc = ok(npatch("run", manifest, "-m", "pkg", "x", env=env, cwd=tmp_path))
    assert "yiq 42" in proc.stdout and "['x']" in proc.stdout
    proc = ok(npatch("run", "-v", manifest, "--", "-m", "pkg", env=env, cwd=tmp_path))
    assert "yiq 42" in proc.stdout and "applied  yiq" in proc.stderr


def test_run_a_double_dash_after_the_program_is_the_programs(tmp_path, env, manifest):
    """``npatch run M train.py -- x`` passes ``--`` on, as ``python train.py -- x``
    does: a ``--`` after the script (or ``-m module``) is one of its arguments,
    not npatch's separator (it was: 'script not found: x')."""
    script = write(tmp_path / "s.py", SHOW + "\nimport sys; print('argv', sys.argv[1:])")
    write(tmp_path / "pkg/__init__.py", "")
    write(tmp_path / "pkg/__main__.py", SHOW + "\nimport sys; print('argv', sys.argv[1:])")
    for words, argv in (([script, "--", "x"], ["--", "x"]), ([script, "a", "--", "--b"], ["a", "--", "--b"]),
                        (["-m", "pkg", "--", "x"], ["--", "x"]), (["--", script, "--", "x"], ["--", "x"])):
        proc = ok(npatch("run", manifest, *words, env=env, cwd=tmp_path))
        assert "yiq 42" in proc.stdout and f"argv {argv!r}" in proc.stdout, (words, proc.stdout, proc.stderr)


def test_run_uncaught_exception_and_strict(tmp_path, env):
    script = write(tmp_path / "boom.py", "import colorsys\nraise ValueError('boom')\n")
    proc = npatch("run", write(tmp_path / "m.toml", MANIFEST), script, env=env)
    assert proc.returncode == 1 and "ValueError: boom" in proc.stderr
    assert "runpy" not in proc.stderr and "launcher.py" not in proc.stderr
    # under --strict, an op failure the program swallowed still fails the run
    swallow = write(tmp_path / "swallow.py", "try:\n    import colorsys\nexcept Exception:\n    pass\n")
    m = write(tmp_path / "f.toml", FAILING)
    assert npatch("run", "--strict", m, swallow, env=env).returncode == 1
    assert ok(npatch("run", m, swallow, env=env))
    missing = npatch("run", m, tmp_path / "nope.py", env=env)
    assert missing.returncode == 2 and "script not found" in missing.stderr


def test_run_a_module_that_cannot_be_found_is_one_line_as_python_says_it(tmp_path, env, manifest):
    """``npatch run M -m nosuch`` printed runpy's traceback; ``python -m nosuch``
    prints one line and exits 1.  An ImportError raised by the module's own
    code keeps its traceback."""
    write(tmp_path / "pkg/__init__.py", "")
    write(tmp_path / "boom.py", "import npatch_no_such_dependency\n")
    for name, message in (("nosuchmod", "No module named nosuchmod"),
                          ("pkg", "'pkg' is a package and cannot be directly executed")):
        proc = npatch("run", manifest, "-m", name, env=env, cwd=tmp_path)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("npatch: error: ") and message in lines[0], proc.stderr
    proc = npatch("run", manifest, "-m", "boom", env=env, cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "boom.py" in proc.stderr, proc.stderr


APP_MAIN = f"""
import sys, helper_in_app
{SHOW}
print("path0", sys.path[0], "argv", sys.argv, "helper", helper_in_app.__file__)
print("twice", sys.path.count(sys.path[0]))
"""


@pytest.mark.parametrize("shape", ["folder", "zip", "pyz"])
def test_run_a_folder_or_zip_as_python_runs_it(tmp_path, env, manifest, shape):
    """``npatch run M app`` runs ``app/__main__.py`` (or a zip's) as ``python app`` does:
    same ``sys.path[0]``, ``sys.argv`` and imports from inside it; the plan applies."""
    import zipfile

    folder = tmp_path / "app"
    write(folder / "__main__.py", APP_MAIN)
    write(folder / "helper_in_app.py", "")
    program = folder
    if shape != "folder":
        program = tmp_path / ("app.zip" if shape == "zip" else "app.pyz")
        with zipfile.ZipFile(program, "w") as archive:
            for name in ("__main__.py", "helper_in_app.py"):
                archive.write(folder / name, name)
    plain = ok(npatch("apply", manifest, "--", PY, program.name, "x", env=env, cwd=tmp_path)).stdout
    assert "yiq 42" in plain and "twice 1" in plain
    assert ok(npatch("run", manifest, "--", program.name, "x", env=env, cwd=tmp_path)).stdout == plain
    if shape != "zip":  # without `--`: a folder with __main__.py or a .pyz is the program
        assert ok(npatch("run", manifest, program.name, "x", env=env, cwd=tmp_path)).stdout == plain


def test_run_a_folder_without_main_is_a_usage_error(tmp_path, env, manifest):
    (tmp_path / "lib").mkdir()
    proc = npatch("run", manifest, "--", "lib", env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "no __main__.py in the folder lib" in proc.stderr, proc.stderr
    proc = npatch("run", manifest, "lib", env=env, cwd=tmp_path)  # not taken for the program without `--`
    assert proc.returncode == 2 and "no program to run" in proc.stderr, proc.stderr
    import zipfile

    with zipfile.ZipFile(tmp_path / "lib.zip", "w") as archive:
        archive.writestr("other.py", "")
    proc = npatch("run", manifest, "--", "lib.zip", env=env, cwd=tmp_path)  # as python: one line, exit 1
    assert proc.returncode == 1 and proc.stderr == "npatch: error: can't find '__main__' module in 'lib.zip'\n"
    write(tmp_path / "boom/__main__.py", "import colorsys\nraise ValueError('boom')\n")
    proc = npatch("run", manifest, "--", "boom", env=env, cwd=tmp_path)
    assert proc.returncode == 1 and "ValueError: boom" in proc.stderr and "__main__.py\", line 2" in proc.stderr
    assert "launcher.py" not in proc.stderr, proc.stderr


GONE = """
import os, subprocess, sys, tempfile
gone = tempfile.mkdtemp()
os.chdir(gone)
os.rmdir(gone)
sys.exit(subprocess.run(sys.argv[1:]).returncode)
"""


@pytest.mark.parametrize("how", ["apply -m", "apply -c", "run -m", "compile"])
def test_a_removed_working_directory_is_no_traceback(tmp_path, env, manifest, how):
    """Python runs a program whose working directory was removed; npatch's search
    roots (compile), the child's boot (``sys.path[0]`` for ``-m``) and ``npatch run``
    called ``os.getcwd()`` unguarded and printed a traceback (the boot's escaped
    ``sitecustomize`` and left NPATCH_BOOTING set for every child)."""
    write(tmp_path / "lib" / "showyiq.py", SHOW + "\nimport subprocess, sys\n"
          f"subprocess.run([sys.executable, '-c', {SHOW!r}], check=True)\n")
    env = dict(env, PYTHONPATH=str(tmp_path / "lib"))
    verb, _, flag = how.partition(" ")
    if verb == "compile":
        command = ["compile", str(manifest), "-o", str(tmp_path / "p.json")]
    elif verb == "run":
        command = ["run", str(manifest), "-m", "showyiq"]
    else:
        command = ["apply", str(manifest), "--", PY] + (["-m", "showyiq"] if flag == "-m" else ["-c", SHOW])
    for _ in range(2):  # a cache miss, then a hit
        proc = subprocess.run([PY, "-c", GONE, PY, "-m", "npatch", *command], env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        if verb != "compile":
            assert proc.stdout.count("yiq 42") == (1 if flag == "-c" else 2), proc.stdout + proc.stderr


def test_fast_parser_agrees_with_argparse_or_defers():
    from npatch.cli.apply import parse_fast

    manifests, cmd, opts = parse_fast(["a.toml", "--set", "k=v", "--set=x=1", "-vv", "--disable", "n",
                                       "--report=r.json", "--strict", "b", "--", "python", "-v", "--", "x"])
    assert manifests == ["a.toml", "b"] and cmd == ["python", "-v", "--", "x"]
    assert (opts.set, opts.disable, opts.report, opts.strict, opts.verbose) == (["k=v", "x=1"], ["n"], "r.json",
                                                                               True, 2)
    # help, abbreviations, mistakes and missing parts go to argparse and its messages
    for argv in (["-h", "m", "--", "x"], ["--str", "m", "--", "x"], ["m", "x"], ["m", "--"], ["--", "x"],
                 ["m", "--report", "--", "x"]):
        assert parse_fast(argv) is None, argv
