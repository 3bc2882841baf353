"""Ray workers under a plan, with the real ``ray`` package.

(a) ``ray.init()`` inside ``npatch apply``: the local cluster's workers
inherit the environment.  (b) A cluster started outside npatch with
``ray start --head``: a driver that connects with
``npatch.integrations.ray.runtime_env`` gets its tasks and actors patched (the
``cuda-to-cpu`` symptom of the issue included), a driver without it does not.
(c) A module alias of an NPU-plugin-style package, seen inside an actor,
with the user's own ``PYTHONPATH`` merged.  Each scenario runs in a private
network namespace when the system allows it (see cluster_helpers) and stops
every process it starts; the TIMING lines show where the time goes.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cluster_helpers import isolated, short_tempdir
from npatch_testutil import clean_env
from test_launcher import MANIFEST, PY, write

pytest.importorskip("ray")

HERE = Path(__file__).resolve().parent


@pytest.fixture
def ray_env(tmp_path):
    # HOME: Ray writes ~/.ray; nothing of this run goes to the user's home
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"), HOME=str(tmp_path / "home"), RAY_AUTH_MODE="disabled",
                     RAY_USAGE_STATS_ENABLED="0")


def results(stdout: str) -> dict[str, dict]:
    return {name: json.loads(body) for name, _, body in
            (line[len("RESULT "):].partition(" ") for line in stdout.splitlines() if line.startswith("RESULT "))}


PROBES = '''
import json, os, sys
import ray

def probe():
    import colorsys
    return {"yiq": repr(colorsys.rgb_to_yiq), "pid": os.getpid()}

def cuda():
    import torch
    try:
        return torch.zeros(1).cuda().device.type
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

@ray.remote
class Actor:
    def probe(self):
        return probe()

def show(name, **values):
    print("RESULT", name, json.dumps(values), flush=True)
'''


def test_ray_init_inside_npatch_apply(tmp_path, ray_env):
    manifest = write(tmp_path / "m.toml", MANIFEST)
    temp = short_tempdir("npr")
    driver = write(tmp_path / "local.py", PROBES + f'''
ray.init(num_cpus=1, include_dashboard=False, _temp_dir={str(temp)!r})
actor = Actor.remote()
show("local", task=ray.get(ray.remote(probe).remote()), actor=ray.get(actor.probe.remote()), driver=os.getpid())
ray.shutdown()
''')
    try:
        proc = subprocess.run(isolated([PY, "-m", "npatch", "apply", str(manifest), "--", PY, str(driver)]),
                              env=ray_env, capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    found = results(proc.stdout).get("local")
    assert found, proc.stdout + proc.stderr[-3000:]
    assert found["task"]["yiq"] == found["actor"]["yiq"] == "42"
    assert found["task"]["pid"] != found["driver"] and found["actor"]["pid"] != found["driver"]  # real workers


@pytest.fixture(scope="module")
def external(tmp_path_factory):
    """One ``ray start --head`` cluster outside npatch, three drivers against it."""
    tmp = tmp_path_factory.mktemp("ray")
    env = clean_env(XDG_CACHE_HOME=str(tmp / "cache"), HOME=str(tmp / "home"), RAY_AUTH_MODE="disabled",
                    RAY_USAGE_STATS_ENABLED="0")
    manifest = write(tmp / "m.toml", MANIFEST)
    plugin = tmp / "site"
    write(plugin / "upstream" / "__init__.py", "NAME = 'upstream'\n")
    write(plugin / "upstream_npu" / "__init__.py", "")
    write(plugin / "upstream_npu" / "ops.py", "NAME = 'npu ops'\n")
    aliases = write(tmp / "alias.toml", """
        [manifest]
        name = "plugin"
        [[alias]]
        target = "upstream.npu_ops"
        source = "upstream_npu.ops"
    """)
    with_plan = write(tmp / "with_plan.py", PROBES + f'''
from npatch.integrations.ray import runtime_env
ray.init(address=sys.argv[1], runtime_env=runtime_env({str(manifest)!r}, "cuda-to-cpu",
                                                      base={{"env_vars": {{"USER_VAR": "kept"}}}}))
actor = Actor.remote()
env_task = ray.remote(lambda: os.environ.get("USER_VAR"))
show("with_plan", task=ray.get(ray.remote(probe).remote()), actor=ray.get(actor.probe.remote()),
     cuda=ray.get(ray.remote(cuda).remote()), user_var=ray.get(env_task.remote()))
''')
    without = write(tmp / "without.py", PROBES + '''
ray.init(address=sys.argv[1])
show("without", task=ray.get(ray.remote(probe).remote()), cuda=ray.get(ray.remote(cuda).remote()))
''')
    alias = write(tmp / "alias.py", PROBES + f'''
from npatch.integrations.ray import runtime_env

@ray.remote
class PluginUser:
    def where(self):
        import sys
        import upstream.npu_ops as ops
        return {{"name": ops.NAME, "same": ops is sys.modules["upstream_npu.ops"],
                "path": os.environ["PYTHONPATH"].split(os.pathsep)}}

ray.init(address=sys.argv[1], runtime_env=runtime_env({str(aliases)!r},
                                                      base={{"env_vars": {{"PYTHONPATH": {str(plugin)!r}}}}}))
show("alias", actor=ray.get(PluginUser.remote().where.remote()))
''')
    temp = short_tempdir("npr")
    try:
        proc = subprocess.run(isolated([PY, str(HERE / "ray_external.py"), str(temp), str(with_plan), str(without),
                                        str(alias)]), env=env, capture_output=True, text=True, timeout=900)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    sys.stderr.write("".join(line + "\n" for line in proc.stdout.splitlines() if line.startswith("TIMING")))
    return proc, results(proc.stdout)


def test_external_cluster_tasks_and_actors_run_under_the_runtime_env(external):
    proc, found = external
    assert "with_plan" in found, proc.stdout + proc.stderr[-3000:]
    got = found["with_plan"]
    assert got["task"]["yiq"] == got["actor"]["yiq"] == "42"
    assert got["cuda"] == "cpu"  # the "Torch not compiled with CUDA enabled", gone
    assert got["user_var"] == "kept"  # the user's runtime_env is merged, not replaced


def test_external_cluster_without_the_runtime_env_is_unpatched(external):
    proc, found = external
    assert "without" in found, proc.stdout + proc.stderr[-3000:]
    assert found["without"]["task"]["yiq"].startswith("<function rgb_to_yiq")
    assert "Torch not compiled with CUDA enabled" in found["without"]["cuda"]


def test_an_alias_is_visible_inside_an_actor(external):
    proc, found = external
    assert "alias" in found, proc.stdout + proc.stderr[-3000:]
    got = found["alias"]["actor"]
    assert got["name"] == "npu ops" and got["same"]
    from npatch.runtime.launcher import BOOTSTRAP_DIR

    assert got["path"][0] == BOOTSTRAP_DIR and got["path"][1].endswith("/site"), got["path"]  # theirs kept


def test_external_cluster_is_stopped(external):
    proc, _ = external
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "TIMING ray-stop" in proc.stdout


def test_runtime_env_merges_and_refuses_clashes(tmp_path, ray_env, monkeypatch):
    manifest = write(tmp_path / "m.toml", MANIFEST)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from npatch.errors import UsageError
    from npatch.integrations.ray import runtime_env
    from npatch.runtime.launcher import BOOTSTRAP_DIR

    base = {"env_vars": {"PYTHONPATH": "/mine", "A": "1"}, "pip": ["x"]}
    merged = runtime_env(str(manifest), base=base)
    assert base == {"env_vars": {"PYTHONPATH": "/mine", "A": "1"}, "pip": ["x"]}  # left unchanged
    assert merged["pip"] == ["x"] and merged["env_vars"]["A"] == "1"
    assert merged["env_vars"]["PYTHONPATH"] == BOOTSTRAP_DIR + ":/mine"
    assert merged["env_vars"]["NPATCH_PLAN_DATA"].startswith("npatch1:")
    assert runtime_env(str(manifest))["env_vars"]["PYTHONPATH"] == BOOTSTRAP_DIR + ":${PYTHONPATH}"
    with pytest.raises(UsageError, match="NPATCH_STRICT"):
        runtime_env(str(manifest), strict=True, base={"env_vars": {"NPATCH_STRICT": "0"}})
    import ray.runtime_env

    typed = runtime_env(str(manifest), base=ray.runtime_env.RuntimeEnv(env_vars={"B": "2"}))
    assert typed["env_vars"]["B"] == "2" and "NPATCH_PLAN_DATA" in typed["env_vars"]
