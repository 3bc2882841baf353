"""Section 1: start-up cost of npatch and of the tools users would pick instead.

Each program (``pass``, ``import numpy``, ``import torch``) runs bare and
under every tool, interleaved; "extra" is the median of the per-round
differences from the bare run on the same interpreter (the peers run from
their own venv, so their baseline is that venv's python).  Two clocks: wall
time, and CPU time (user + system of the command's process tree), which the
verdicts use because it does not stretch with the load of a shared machine.
The warm-up run of each variant dumps ``sys.modules`` at the end of the
program; "extra modules" are the names there that the bare program did not
import.

Also measured inside the child, where a plan's cost lands in every process
of a job: the bootstrap (the program with and without the plan's
environment, and ``-X importtime`` of ``sitecustomize``), and an eager start
of the plan timed in-process.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from harness import (
    BENCH_DIR,
    PEER_ENV,
    CommandFailed,
    interleave,
    median_error,
    npatch_command,
    paired,
    run_cmd,
    summarize,
    target,
    user_env,
)

PROGRAMS = {"pass": "pass", "numpy": "import numpy", "torch": "import torch"}
#: appended to every program: the module list, only when asked (warm-up runs)
_DUMP = ("\nimport os as _os, sys as _sys\nif _os.environ.get('BENCH_MODULES_OUT'):\n"
         "    open(_os.environ['BENCH_MODULES_OUT'], 'w').write('\\n'.join(sorted(_sys.modules)))\n")
#: modules bench/drivingsdk.py brings itself: the NPU stubs, and runpy to run the program
_DSDK_OWN = {"torch_npu", "torch_npu.utils", "torch_npu.utils._error_code", "mx_driving", "mx_driving._C", "runpy"}

_PLAN_ENV = "import json, os; print(json.dumps({k: os.environ[k] for k in ('PYTHONPATH', 'NPATCH_PLAN')}))"
_EAGER = """
import json, sys, time
w0, c0 = time.perf_counter(), time.process_time()
from npatch.runtime import launcher
w1, c1 = time.perf_counter(), time.process_time()
launcher.start_plan(sys.argv[1])
w2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"import_cpu": (c1 - c0) * 1e3, "start_cpu": (c2 - c1) * 1e3, "total_cpu": (c2 - c0) * 1e3,
                  "import_wall": (w1 - w0) * 1e3, "start_wall": (w2 - w1) * 1e3, "total_wall": (w2 - w0) * 1e3}))
"""


def write_never_imported(path: Path, count: int) -> Path:
    """``count`` replace ops on modules that no program imports."""
    lines = ['[manifest]', 'name = "bench-never-imported"', '']
    for i in range(count):
        lines += ['[[patch]]', f'name = "p{i}"', f'target = "never_imported_pkg_{i}:f"', 'replace = "json:loads"', '']
    path.write_text("\n".join(lines))
    return path


def plan_env(manifest: str, base_env: dict[str, str]) -> dict[str, str]:
    """The child environment ``npatch apply`` sets up (the plan compiled and cached on the way)."""
    out = run_cmd([*npatch_command(), "apply", manifest, "--", sys.executable, "-c", _PLAN_ENV], base_env)
    return {**base_env, **json.loads(out.stdout.strip().splitlines()[-1])}


def builtin_manifests() -> set[str]:
    try:
        out = run_cmd([*npatch_command(), "list"], user_env())
    except CommandFailed:
        return set()
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


#: round caps apply per group: the peers (and their venv's bare python) and DrivingSDK
_GROUPS = {"bare-venv": "peers", "otel": "peers", "ddtrace": "peers", "drivingsdk": "drivingsdk"}


class _Variant:
    def __init__(self, label: str, cmd: list[str], env: dict[str, str], base: str, kind: str) -> None:
        self.label, self.cmd, self.env, self.base, self.kind = label, cmd, env, base, kind
        self.group = _GROUPS.get(kind, "npatch")


def _variants(prog: str, tools: dict[str, Any]) -> list[_Variant]:
    py, env = sys.executable, user_env()
    npatch = npatch_command()
    out = [_Variant("python", [py, prog], env, "python", "bare"),
           _Variant("npatch apply (200-op plan, cached)", [*npatch, "apply", tools["m200"], "--", py, prog], env,
                    "python", "npatch"),
           _Variant("child under the plan, no launcher", [py, prog], tools["m200_env"], "python", "child")]
    if tools.get("mmcv_npu"):
        out.append(_Variant("npatch apply mmcv-npu", [*npatch, "apply", "mmcv-npu", "--", py, prog], env,
                            "python", "npatch-mmcv-npu"))
    venv = tools.get("venv")
    if venv is not None:
        venv_env = user_env(**PEER_ENV)
        bindir = venv.parent
        out += [_Variant("python (peers' venv)", [str(venv), prog], venv_env, "python (peers' venv)", "bare-venv"),
                _Variant("opentelemetry-instrument", [str(bindir / "opentelemetry-instrument"), str(venv), prog],
                         venv_env, "python (peers' venv)", "otel"),
                _Variant("ddtrace-run", [str(bindir / "ddtrace-run"), str(venv), prog], venv_env,
                         "python (peers' venv)", "ddtrace")]
    if tools.get("mx_driving") is not None:
        out.append(_Variant("DrivingSDK default_patcher.apply()",
                            [py, str(BENCH_DIR / "drivingsdk.py"), str(tools["mx_driving"]), prog], env,
                            "python", "drivingsdk"))
    return out


def _group(names: set[str]) -> str:
    """``torch (1290), mmcv (40)``: extra modules by top-level package, largest first."""
    counts: dict[str, int] = {}
    for name in names:
        top = name.split(".")[0]
        counts[top] = counts.get(top, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{k} ({v})" if v > 1 else k for k, v in ranked[:6])
    return text + (f", +{len(ranked) - 6} more packages" if len(ranked) > 6 else "")


def measure_program(name: str, prog: str, work: Path, tools: dict[str, Any], rounds: int,
                    log: Any) -> dict[str, Any]:
    variants = _variants(prog, tools)
    modules: dict[str, set[str]] = {}

    def warmup(label: str, cmd: list[str], env: dict[str, str]) -> None:
        """Untimed first run (bytecode, page cache), which also lists the modules."""
        out = work / f"modules-{name}-{len(modules)}.txt"
        run_cmd(cmd, {**env, "BENCH_MODULES_OUT": str(out)})
        modules[label] = set(out.read_text().split())

    caps = {v.label: min(rounds, tools["caps"][v.group]) for v in variants if v.group in tools["caps"]}
    log(f"start-up, program `{PROGRAMS[name]}`: {len(variants)} variants x {rounds} rounds (capped: {caps})")
    samples, failed = interleave({v.label: (v.cmd, v.env) for v in variants}, rounds, warmup=warmup, log=log,
                                 caps=caps)
    rows = []
    for v in variants:
        row: dict[str, Any] = {"label": v.label, "kind": v.kind, "base": v.base}
        if v.label in failed:
            row["error"] = failed[v.label]
        elif v.base in failed:
            row["error"] = f"baseline {v.base!r} failed"
        else:
            for metric in ("wall", "cpu"):
                row[f"{metric}_ms"] = summarize(samples[metric][v.label])
                if v.label != v.base:
                    row[f"extra_{metric}_ms"] = summarize(paired(samples[metric], v.label, v.base))
            extra = modules.get(v.label, set()) - modules.get(v.base, set())
            if v.kind == "drivingsdk":
                extra -= _DSDK_OWN
            row["extra_modules"] = sorted(extra)
            row["extra_modules_summary"] = _group(extra)
        rows.append(row)
    return {"program": PROGRAMS[name], "rounds": rounds, "caps": caps, "rows": rows}


def _importtime_sitecustomize(prog: str, env: dict[str, str]) -> float:
    """Cumulative milliseconds of the bootstrap ``sitecustomize`` import in the child."""
    out = run_cmd([sys.executable, "-X", "importtime", prog], env)
    for line in out.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "sitecustomize":
            return int(parts[1]) / 1000
    raise CommandFailed("no sitecustomize line in -X importtime output: the bootstrap did not run")


def measure_in_child(work: Path, tools: dict[str, Any], rounds: int, log: Any) -> dict[str, Any]:
    """What the bootstrap costs each process, three ways, and an eager plan start.

    ``child - bare``: the same program with and without the plan's environment
    (no launcher), interleaved: paired differences of CPU and wall time.
    ``-X importtime``: the bootstrap ``sitecustomize`` import, cumulative.
    Eager: ``start_plan`` of the same plan timed in-process (CPU and wall).
    """
    prog = str(work / "prog_pass.py")
    log(f"start-up: in-child bootstrap, {rounds} rounds")
    variants = {"python": ([sys.executable, prog], user_env()), "child": ([sys.executable, prog], tools["m200_env"])}
    samples, failed = interleave(variants, rounds)
    if failed:
        raise CommandFailed(f"in-child bootstrap run failed: {failed}")
    boot = [_importtime_sitecustomize(prog, tools["m200_env"]) for _ in range(rounds)]
    plan = tools["m200_env"]["NPATCH_PLAN"].split(os.pathsep)[-1]
    eager: dict[str, list[float]] = {}
    run_cmd([sys.executable, "-c", _EAGER, plan], user_env())
    for _ in range(rounds):
        values = json.loads(run_cmd([sys.executable, "-c", _EAGER, plan], user_env()).stdout)
        for key, value in values.items():
            eager.setdefault(key, []).append(value)
    return {"rounds": rounds,
            "bootstrap_cpu_ms": summarize(paired(samples["cpu"], "child", "python"), 3),
            "bootstrap_wall_ms": summarize(paired(samples["wall"], "child", "python"), 3),
            "bootstrap_importtime_ms": summarize(boot, 3),
            **{f"eager_{key}_ms": summarize(values, 3) for key, values in eager.items()}}


def run_section(work: Path, tools: dict[str, Any], programs: list[str], rounds: dict[str, int],
                in_child_rounds: int, log: Any) -> dict[str, Any]:
    """``tools``: venv, mx_driving, notes, and ``caps`` (most rounds for the
    ``peers`` and ``drivingsdk`` groups: they are slow and steady)."""
    for name, code in PROGRAMS.items():
        (work / f"prog_{name}.py").write_text(code + _DUMP)
    tools["m200"] = str(write_never_imported(work / "never_imported_200.toml", 200))
    tools["m200_env"] = plan_env(tools["m200"], user_env())
    tools["mmcv_npu"] = "mmcv-npu" in builtin_manifests()
    result: dict[str, Any] = {"programs": {}, "notes": list(tools.get("notes", []))}
    if not tools["mmcv_npu"]:
        result["notes"].append("`npatch apply mmcv-npu` skipped: no built-in manifest named mmcv-npu yet")
    for name in programs:
        result["programs"][name] = measure_program(name, str(work / f"prog_{name}.py"), work, tools,
                                                   rounds[name], log)
    result["in_child"] = measure_in_child(work, tools, in_child_rounds, log)
    return result


#: why a start-up target can miss (shown next to a MISS)
_LAUNCH_WHY = {
    "pass": "`npatch apply` is one more interpreter start-up (of which this machine's site-packages "
            ".pth files are a large part) plus the hot path (imports of npatch.cli.hot, npatch.plancache, "
            "npatch.runtime.launcher_parent; the cache check compares the stat of the plan files and "
            "hashes a file only when that changed)",
    "numpy": "as for `pass`; the numpy import adds its own spread to both sides of the difference",
    "torch": "as for `pass`; one `import torch` varies by tens of ms between rounds here, more than the limit",
}
_PEER_WHY = {
    "otel": "npatch's extra is one whole interpreter start-up (the launcher execs the command), and one "
            "start-up on this machine is already more than a tenth of opentelemetry-instrument's",
    "drivingsdk": "a program that imports torch pays most of what the DrivingSDK patcher's apply() costs "
                  "(importing torch) anyway, so the ratio falls towards 1",
}


def targets(section: dict[str, Any]) -> list[dict[str, Any]]:
    """PASS/MISS of the start-up targets, for every program measured, on CPU time
    (wall time stretches with the machine's load; both are in the tables)."""
    out = []
    programs = section["programs"]

    def row_of(program: str, kind: str) -> dict[str, Any] | None:
        return next((r for r in programs[program]["rows"] if r["kind"] == kind and "extra_cpu_ms" in r), None)

    bare_pass = next((r["cpu_ms"]["median"] for r in programs.get("pass", {}).get("rows", [])
                      if r["kind"] == "bare" and "cpu_ms" in r), None)
    for program in programs:
        ours = row_of(program, "npatch")
        if ours is None:
            continue
        label, extra, spread = PROGRAMS[program], ours["extra_cpu_ms"]["median"], ours["extra_cpu_ms"]
        if bare_pass is not None:
            out.append(target(f"start-up overhead of `npatch apply`, `{label}` (CPU)", extra, bare_pass + 3, "ms",
                              "<=", f"one bare start-up ({bare_pass:.1f} ms CPU) + 3 ms (issue 16); IQR "
                              f"{spread['p25']:.1f}–{spread['p75']:.1f} ms; wall: "
                              f"+{ours['extra_wall_ms']['median']:.1f} ms",
                              ("startup", program, ours["label"]), median_error(spread),
                              why=_LAUNCH_WHY.get(program, _LAUNCH_WHY["pass"])))
        for kind, factor, name in (("otel", 10, "opentelemetry-instrument"), ("drivingsdk", 50, "DrivingSDK apply")):
            theirs = row_of(program, kind)
            if theirs is not None:
                value, ratio = theirs["extra_cpu_ms"]["median"], theirs["extra_cpu_ms"]["median"] / max(extra, 0.1)
                relative = ((median_error(theirs["extra_cpu_ms"]) / max(value, 0.1)) ** 2
                            + (median_error(spread) / max(extra, 0.1)) ** 2) ** 0.5
                out.append(target(f"{name} extra / npatch extra, `{label}` (CPU)", ratio, factor, "x", ">=",
                                  f"{value:.0f} ms / {extra:.1f} ms", ("startup", program, theirs["label"]),
                                  ratio * relative, why=_PEER_WHY[kind]))
    child = section.get("in_child")
    if child:
        out.append(target("in-child bootstrap with the deferred 200-op plan (CPU, child - bare)",
                          child["bootstrap_cpu_ms"]["median"], 3, "ms", "<=",
                          f"what `npatch apply` costs each Python process; `-X importtime`: "
                          f"{child['bootstrap_importtime_ms']['median']:.2f} ms", ("in_child", "bootstrap"),
                          median_error(child["bootstrap_cpu_ms"]),
                          why="start-up noise of two interpreters on a shared machine (see `-X importtime`)"))
        out.append(target("in-child eager plan load + session start, 200 ops (CPU, runtime import included)",
                          child["eager_total_cpu_ms"]["median"], 3, "ms", "<=",
                          "paid once a target module is imported", ("in_child", "eager"),
                          median_error(child["eager_total_cpu_ms"]),
                          why="importing the runtime (session, finder, op kinds) is most of it; a real child "
                              "has imported the launcher already"))
    return out
