"""``npatch env``: a plan that reaches processes through the environment alone.

Every receiving process here runs as a process on another node would: with
``env -i`` (only ``PATH`` and the exported variables), another cache
directory, or the sender's cache deleted (npatch installed at another path:
test_cluster_pth.py).
Targets are stdlib modules nothing imports at start-up, so no torch is needed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from test_launcher import MANIFEST, PY, SHOW, env, manifest, npatch, ok, write  # noqa: F401 - fixtures


def exported(manifests: list, env: dict, *options: str, fmt: str = "json") -> dict[str, str]:
    proc = ok(npatch("env", *manifests, *options, "--format", fmt, env=env))
    return json.loads(proc.stdout)


def bare(variables: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """A process started with nothing but PATH and ``variables`` (``env -i``)."""
    environ = {"PATH": os.environ["PATH"], **variables}
    return subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in environ.items()), PY, *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_a_bare_process_applies_the_plan_without_the_senders_cache(tmp_path, env, manifest):
    variables = exported([manifest], env)
    assert set(variables) == {"NPATCH_PLAN_DATA"}  # no PYTHONPATH: npatch.pth of the installation boots it
    shutil.rmtree(tmp_path / "cache")  # nothing of the sender's survives but the variables
    manifest.unlink()
    proc = bare(dict(variables, XDG_CACHE_HOME=str(tmp_path / "other")), "-c", SHOW, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["yiq", "42"] and proc.stderr == ""
    assert not (tmp_path / "other").exists()  # the inline plan needed no cache on the receiving side


def test_sh_dotenv_and_json_carry_the_same_variables(tmp_path, env, manifest):
    variables = exported([manifest], env, "--strict", "-v")
    assert variables["NPATCH_STRICT"] == "1" and variables["NPATCH_VERBOSE"] == "1"
    dotenv = ok(npatch("env", manifest, "--strict", "-v", "--format", "dotenv", env=env)).stdout
    assert dict(line.split("=", 1) for line in dotenv.splitlines()) == variables
    sh = ok(npatch("env", manifest, "--strict", "-v", env=env)).stdout
    # evaluated by a shell that has a PYTHONPATH of its own: it stays as it was
    shown = subprocess.run(["bash", "-c", sh + "\nenv -0"], capture_output=True,
                           env={"PATH": os.environ["PATH"], "PYTHONPATH": "/their/dir"}, timeout=60)
    seen = dict(item.split("=", 1) for item in shown.stdout.decode().split("\0") if "=" in item)
    assert seen["PYTHONPATH"] == "/their/dir"
    assert {k: seen[k] for k in variables} == variables


def test_eval_in_a_plain_shell_reaches_every_python_child(tmp_path, env, manifest):
    script = write(tmp_path / "kids.py", """
        import subprocess, sys
        import colorsys
        print("parent", colorsys.rgb_to_yiq)
        print(subprocess.run([sys.executable, "-c", "import colorsys; print('child', colorsys.rgb_to_yiq)"],
                             capture_output=True, text=True).stdout.strip())
    """)
    line = f'eval "$({PY} -m npatch env {manifest})" && {PY} {script}'
    proc = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["parent", "42", "child", "42"]


def test_reference_route_recompiles_on_the_receiving_node(tmp_path, env, manifest):
    variables = exported([manifest], env, "--ship", "reference")
    assert ":reference:" in variables["NPATCH_PLAN_DATA"]
    shutil.rmtree(tmp_path / "cache")
    other = dict(variables, XDG_CACHE_HOME=str(tmp_path / "node2"))
    proc = bare(other, "-c", SHOW, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["yiq", "42"] and proc.stderr == ""
    assert list((tmp_path / "node2" / "npatch" / "plans").glob("*.json"))  # compiled there, once


def test_reference_route_waits_for_a_target_import(tmp_path, env, manifest):
    variables = exported([manifest], env, "--ship", "reference")
    code = "import sys; print(sorted(m for m in ('npatch.compiler', 'lark', 'tomli', 'json') if m in sys.modules))"
    proc = bare(dict(variables, XDG_CACHE_HOME=str(tmp_path / "node2")), "-c", code)
    assert proc.stdout.split() == ["[]"], proc.stderr
    assert not (tmp_path / "node2").exists()


def test_a_plan_that_does_not_reproduce_is_one_warning(tmp_path, env, manifest):
    variables = exported([manifest], env, "--ship", "reference")
    manifest.write_text(MANIFEST.replace("value = 42", "value = 43"))  # the other node's copy differs
    proc = bare(dict(variables, XDG_CACHE_HOME=str(tmp_path / "node2")), "-c", SHOW)
    assert proc.returncode == 0 and "yiq 43" not in proc.stdout and "yiq 42" not in proc.stdout
    (line,) = proc.stderr.splitlines()
    assert "compiles to another plan on this node" in line and "npatch env --ship inline" in line
    strict = bare(dict(variables, NPATCH_STRICT="1", XDG_CACHE_HOME=str(tmp_path / "node2")), "-c", SHOW)
    assert strict.returncode != 0 and "compiles to another plan" in strict.stderr


def test_a_missing_manifest_on_the_receiving_node_is_one_warning(tmp_path, env, manifest):
    variables = exported([manifest], env, "--ship", "reference")
    manifest.unlink()
    proc = bare(dict(variables, XDG_CACHE_HOME=str(tmp_path / "node2")), "-c", SHOW)
    assert proc.returncode == 0 and "yiq 42" not in proc.stdout
    (line,) = proc.stderr.splitlines()
    assert "cannot compile" in line and "runs without the plan" in line


@pytest.mark.parametrize("strict", [False, True])
def test_another_npatch_version_is_named(tmp_path, env, manifest, strict):
    variables = exported([manifest], env)
    fields = variables["NPATCH_PLAN_DATA"].split(":")
    fields[1] = "0.0.1-elsewhere"
    variables["NPATCH_PLAN_DATA"] = ":".join(fields)
    if strict:
        variables["NPATCH_STRICT"] = "1"
    proc = bare(variables, "-c", SHOW)
    (line,) = proc.stderr.splitlines()
    assert "made by npatch 0.0.1-elsewhere" in line and "install npatch 0.0.1-elsewhere here" in line
    assert (proc.returncode != 0) if strict else (proc.returncode == 0 and "yiq 42" not in proc.stdout)


@pytest.mark.parametrize("damage", ["cut", "junk", "format"])
def test_a_damaged_value_is_one_warning(tmp_path, env, manifest, damage):
    variables = exported([manifest], env)
    value = variables["NPATCH_PLAN_DATA"]
    variables["NPATCH_PLAN_DATA"] = {"cut": value[: len(value) // 2], "junk": value[:-8] + "AAAA!!!!",
                                     "format": "npatch9" + value[7:]}[damage]
    proc = bare(variables, "-c", SHOW)
    assert proc.returncode == 0 and "yiq 42" not in proc.stdout
    (line,) = proc.stderr.splitlines()
    assert line.startswith("npatch: warning: NPATCH_PLAN_DATA") and "Traceback" not in proc.stderr


def test_a_process_importing_no_target_loads_nothing(tmp_path, env, manifest):
    # what the boot adds to a process that imports no target, against the same process without npatch
    variables = exported([manifest], env)
    code = "import sys; print(' '.join(sorted(sys.modules)))"
    added = set(bare(variables, "-c", code).stdout.split()) - set(bare({}, "-c", code).stdout.split())
    ours = {m for m in added if m == "npatch" or m.startswith("npatch.")}
    assert added - ours <= {"sitecustomize", "__future__", "importlib.machinery", "zlib", "binascii"}, added
    assert ours <= {"npatch", "npatch.log", "npatch.errors", "npatch.runtime", "npatch.runtime.launcher",
                    "npatch.runtime.shipped"}, ours  # no plan, no session, no compiler, no json


def test_nested_apply_adds_its_plan_after_the_shipped_one(tmp_path, env, manifest):
    variables = exported([manifest], env)
    second = write(tmp_path / "m2.toml", """
        [manifest]
        name = "m2"
        [[patch]]
        name = "hls"
        target = "colorsys:rgb_to_hls"
        value = 7
    """)
    code = "import colorsys; print(colorsys.rgb_to_yiq, colorsys.rgb_to_hls)"
    proc = ok(npatch("apply", second, "--", PY, "-c", code, env=dict(env, **variables)))
    assert proc.stdout.split() == ["42", "7"]


def test_bad_requests_are_usage_or_manifest_errors(tmp_path, env, manifest):
    proc = npatch("env", manifest, "--set", "novalue", env=env)
    assert proc.returncode == 2 and "--set expects KEY=VALUE" in proc.stderr
    bad = write(tmp_path / "bad.toml", "[manifest]\nname = 'b'\n[[patch]]\nname = 1\n")
    proc = npatch("env", bad, env=env)
    assert proc.returncode == 1 and f"{bad}:" in proc.stderr and "Traceback" not in proc.stderr
    proc = npatch("env", manifest, "--format", "yaml", env=env)
    assert proc.returncode == 2


@pytest.mark.parametrize("ship", ["inline", "reference"])
def test_the_same_plan_by_both_routes_starts_once(tmp_path, env, manifest, ship):
    # `npatch apply M` run in a shell that already has `npatch env M`'s variables
    variables = exported([manifest], env, "--ship", ship)
    code = ("import colorsys; from npatch.runtime import launcher, session; "
            "print(colorsys.rgb_to_yiq, len(launcher.SESSIONS), len(session.SESSIONS))")
    proc = ok(npatch("apply", manifest, "--", PY, "-c", code, env=dict(env, **variables)))
    assert proc.stdout.split() == ["42", "1", "1"], proc.stderr


def test_a_relative_manifest_by_reference_works_from_another_directory(tmp_path, env, manifest):
    proc = ok(npatch("env", "m.toml", "--ship", "reference", "--format", "json", env=env, cwd=tmp_path))
    variables = json.loads(proc.stdout)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = bare(dict(variables, XDG_CACHE_HOME=str(tmp_path / "node2")), "-c", SHOW, cwd=elsewhere)
    assert proc.stdout.split() == ["yiq", "42"], proc.stderr


def test_a_plan_too_big_for_one_variable_goes_by_reference(tmp_path, env):
    # 3,000 ops of random names: the compressed plan exceeds what exec accepts in one variable
    import random

    rng = random.Random(0)
    ops = "".join(f'[[patch]]\nname = "p{i}_{rng.getrandbits(64):x}"\ntarget = "colorsys:f{rng.getrandbits(64):x}"\n'
                  f'value = {rng.getrandbits(32)}\non-missing = "create"\n' for i in range(3000))
    big = write(tmp_path / "big.toml", "[manifest]\nname = 'big'\n" + ops)
    proc = npatch("env", big, "--ship", "inline", env=env)
    assert proc.returncode == 2 and "use --ship reference" in proc.stderr
    variables = exported([big], env)  # auto: by reference
    assert ":reference:" in variables["NPATCH_PLAN_DATA"] and len(variables["NPATCH_PLAN_DATA"]) < 1000
    proc = bare(dict(variables, XDG_CACHE_HOME=str(tmp_path / "node2"), NPATCH_VERBOSE="1"),
                "-c", "import colorsys")
    assert proc.returncode == 0 and "3000 op(s): 3000 applied" in proc.stderr, proc.stderr[-2000:]
