"""Extension points: manifests, op kinds and condition functions from an installed package.

The package is ``tests/data/npatch_ext_demo``, built into a real wheel.  Most
tests put the unpacked wheel (package + dist-info) on ``PYTHONPATH`` of a
fresh interpreter; the last one installs it with pip into a virtual
environment, as a user would.
"""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from npatch_testutil import clean_env, run_npatch, run_python

COUNT_DUMPS = """
import json, os
json.dumps(1); json.dumps(2)
from npatch_ext_demo.kinds import COUNTS
print(COUNTS, os.environ.get("NPATCH_DEMO"))
"""


def _env(site: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700, exist_ok=True)
    return clean_env(PYTHONPATH=str(site), XDG_CACHE_HOME=str(cache), **extra)


def test_list_shows_what_the_package_provides(demo_site, tmp_path):
    out = run_npatch("list", "--ops", env=_env(demo_site, tmp_path))
    assert out.returncode == 0, out.stderr
    assert re.search(r"^demo-counter\s+entry point \(npatch-ext-demo\)\s+count json.dumps calls", out.stdout, re.M)
    assert re.search(r"^  count-calls\s+npatch-ext-demo 0.1.0$", out.stdout, re.M)
    assert re.search(r"^  set-env\s+npatch-ext-demo 0.1.0$", out.stdout, re.M)
    assert re.search(r"^  has_file\(\)\s+npatch-ext-demo 0.1.0$", out.stdout, re.M)
    # a broken entry point is listed with its cause, and does not stop the listing
    assert "broken-kind" in out.stdout
    assert "No module named 'npatch_ext_demo.missing_module'" in out.stdout
    assert re.search(r"^op kinds \(built-in\):\s+alias, call, delete, register, replace, stub, value, wrap$", out.stdout, re.M)
    # a broken manifest entry point is a warning in the listing, and an error only when named
    assert "NpatchWarning: entry point 'broken-manifest' of npatch-ext-demo" in out.stderr
    named = run_npatch("apply", "broken-manifest", "--", "python", "-c", "pass", env=_env(demo_site, tmp_path))
    assert named.returncode == 2
    assert "npatch: error: entry point 'broken-manifest' of npatch-ext-demo (npatch_ext_demo.missing_manifests) " \
           "cannot be loaded: No module named 'npatch_ext_demo.missing_manifests'" in named.stderr


def test_apply_entry_point_manifest_with_extension_kinds_and_condition(demo_site, tmp_path):
    report = tmp_path / "report.json"
    env = _env(demo_site, tmp_path)
    out = run_npatch("apply", "demo-counter", "--report", str(report), "--", "python", "-c", COUNT_DUMPS, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'json:dumps': 2} on"
    statuses = {op["name"]: op["status"] for op in json.loads(report.read_text())["ops"]}
    assert statuses == {"count-dumps": "applied", "demo-env": "applied"}

    # the condition function from the package decides, in the child process
    out = run_npatch("apply", "demo-counter", "--set", "marker=/no/such/file", "--report", str(report),
                     "--", "python", "-c", COUNT_DUMPS, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{} on"
    ops = {op["name"]: op for op in json.loads(report.read_text())["ops"]}
    assert ops["count-dumps"]["status"] == "skipped"
    assert "has_file(option('marker'))" in ops["count-dumps"]["reason"]


def test_registries_load_entry_points_lazily(demo_site, tmp_path):
    out = run_python("""
        import sys, warnings
        from npatch import extensions
        from npatch.conditions import FUNCTIONS, evaluate
        from npatch.runtime.ops import OP_KINDS
        from npatch.dsl.grammar import parse_condition
        from npatch.errors import ConditionError, NpatchWarning

        # built-ins never scan installed distributions
        assert OP_KINDS.get("replace") is not None and FUNCTIONS.get("version") is not None
        assert extensions._ENTRY_POINTS == {}, extensions._ENTRY_POINTS
        assert "count-calls" not in OP_KINDS

        kind = OP_KINDS.get("count-calls")
        assert kind.name == "count-calls" and "count-calls" in OP_KINDS
        assert "npatch_ext_demo.kinds" in sys.modules
        assert "npatch_ext_demo.setenv" not in sys.modules      # only what was asked for
        assert OP_KINDS["set-env"].apply.__module__ == "npatch_ext_demo.setenv"   # @op_kind on import

        fn = FUNCTIONS.get("has_file")
        assert (fn.min_args, fn.max_args) == (1, 1)
        assert evaluate(parse_condition("has_file('/') and not has_file('/no/such')")) is True
        try:
            parse_condition("has_file()")
        except ConditionError as exc:
            assert "has_file() takes 1 argument, got 0" in exc.message, exc.message
        else:
            raise AssertionError("arity not checked")

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert OP_KINDS.get("broken-kind") is None
        [warning] = caught
        assert warning.category is NpatchWarning
        assert "npatch_ext_demo.missing_module" in str(warning.message)
        assert "npatch-ext-demo 0.1.0" in str(warning.message)
        try:
            OP_KINDS["broken-kind"]
        except extensions.ExtensionError:
            pass
        else:
            raise AssertionError("a broken entry point must raise on []")
        assert OP_KINDS.get("no-such-kind") is None and FUNCTIONS.get("no_such_fn") is None
        print("ok")
    """, env=_env(demo_site, tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _manifest(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[manifest]\nname = "{name}"\n' + textwrap.dedent(body))
    return path


def test_op_table_checks_its_kind(demo_site, tmp_path):
    env = _env(demo_site, tmp_path)
    typo = _manifest(tmp_path, "typo", """
        [[op]]
        kind = "count-call"
        name = "c"
        target = "json:dumps"
    """)
    out = run_npatch("compile", str(typo), env=env)
    assert out.returncode == 1
    assert f"{typo}:5:8: op[0].kind: unknown op kind 'count-call'" in out.stderr
    assert "did you mean `count-calls`?" in out.stderr

    conditional = _manifest(tmp_path, "conditional", """
        [[op]]
        kind = "from-a-package-not-installed-here"
        name = "c"
        target = "json:dumps"
        when = "installed('some_accelerator_sdk')"
    """)
    out = run_npatch("compile", str(conditional), env=env)
    assert out.returncode == 0, out.stderr

    builtin = _manifest(tmp_path, "builtin", """
        [[op]]
        kind = "replace"
        name = "c"
        target = "json:dumps"
        source = "json:loads"
    """)
    out = run_npatch("compile", str(builtin), env=env)
    assert out.returncode == 1
    assert "`replace` is a built-in kind: write it as [[patch]] with `replace = ...`" in out.stderr


def test_broken_extension_kind_warns_and_the_program_runs(demo_site, tmp_path):
    manifest = _manifest(tmp_path, "broken", """
        [[op]]
        kind = "broken-kind"
        name = "b"
        target = "json:dumps"
    """)
    env = _env(demo_site, tmp_path)
    out = run_npatch("apply", str(manifest), "--", "python", "-c", "import json; print('ran')", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ran"
    assert "No module named 'npatch_ext_demo.missing_module'" in out.stderr
    out = run_npatch("apply", "--strict", str(manifest), "--", "python", "-c", "import json; print('ran')", env=env)
    assert out.returncode != 0
    assert "broken-kind" in out.stderr


def test_plans_without_extensions_never_scan_entry_points(demo_site, tmp_path):
    manifest = _manifest(tmp_path, "plain", """
        [[patch]]
        name = "third"
        target = "colorsys:ONE_THIRD"
        value = 0.5
    """)
    probe = """
        import colorsys, sys
        ext = sys.modules.get("npatch.extensions")
        print(colorsys.ONE_THIRD, ext._ENTRY_POINTS if ext else {}, "npatch_ext_demo" in sys.modules,
              "importlib.metadata" in sys.modules)
    """
    out = run_npatch("apply", str(manifest), "--", "python", "-c", textwrap.dedent(probe), env=_env(demo_site, tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0.5 {} False False"


def test_npatch_log_debug_reaches_every_process(demo_site, tmp_path):
    # `npatch apply` execs the command (same pid); the command starts a Python child (new pid)
    program = f"import subprocess, sys; sys.exit(subprocess.run([sys.executable, '-c', {COUNT_DUMPS!r}]).returncode)"
    out = run_npatch("apply", "demo-counter", "--", "python", "-c", program,
                     env=_env(demo_site, tmp_path, NPATCH_LOG="debug"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'json:dumps': 2} on"
    loaded = re.findall(r"^npatch\[(\d+)\] DEBUG npatch\.extensions: loaded npatch\.ops entry point 'count-calls'",
                        out.stderr, re.M)
    assert len(set(loaded)) == 2, out.stderr  # the program's process and its child both applied the plan


def test_installed_package_extends_npatch_in_a_venv(venv, tmp_path):
    listing = venv.run(venv.bin("npatch"), "list", "--ops")
    assert listing.returncode == 0, listing.stderr
    assert re.search(r"^demo-counter\s+entry point \(npatch-ext-demo\)", listing.stdout, re.M)
    assert re.search(r"^  count-calls\s+npatch-ext-demo 0.1.0$", listing.stdout, re.M)
    assert re.search(r"^  has_file\(\)\s+npatch-ext-demo 0.1.0$", listing.stdout, re.M)

    applied = venv.run(venv.bin("npatch"), "apply", "demo-counter", "--", venv.bin("python"), "-c", COUNT_DUMPS)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "{'json:dumps': 2} on"
