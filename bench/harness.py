"""Shared pieces of the benchmark harness: user environment, interleaved timing,
statistics, the peer tools (a cached virtual environment, the mx-driving wheel)
and a description of the machine.

Why interleaved: the benchmark machine has 2 cores shared with other work, so
absolute times drift by tens of percent within a minute.  Every comparison
runs its variants round-robin (ABAB..., the order rotated each round) and
reports the median of the per-round differences or ratios, which cancels the
drift that a "all of A, then all of B" schedule would bake into the result.
"""
from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
#: generated manifests, the plan cache and the unpacked mx-driving wheel
CACHE = Path(os.environ.get("NPATCH_BENCH_CACHE", "/tmp/npatch-bench-cache"))
#: the peers' virtual environment: torch and numpy come from the system python
VENV = Path(os.environ.get("NPATCH_BENCH_VENV", "/tmp/npatch-bench-venv"))
PEER_PACKAGES = ("opentelemetry-distro", "opentelemetry-instrumentation", "ddtrace")
#: without a collector the peers would try the network; "none" measures their start-up only
PEER_ENV = {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
            "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false", "DD_REMOTE_CONFIGURATION_ENABLED": "false",
            "DD_TRACE_STARTUP_LOGS": "false", "DD_CRASHTRACKING_ENABLED": "false"}


def user_env(**extra: str) -> dict[str, str]:
    """A user's environment: bytecode caching on (this sandbox turns it off),
    no npatch settings inherited from whoever runs the benchmark."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NPATCH_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPATH", None)
    env["XDG_CACHE_HOME"] = str(CACHE / "xdg")
    env.update(extra)
    return env


# -- statistics -------------------------------------------------------------------
def summarize(samples: list[float], digits: int = 2) -> dict[str, Any]:
    """Median and spread: the interquartile range (p25..p75) and min..max."""
    xs = sorted(samples)
    if len(xs) >= 2:
        p25, _, p75 = statistics.quantiles(xs, n=4, method="inclusive")
    else:
        p25 = p75 = xs[0]
    return {"median": round(statistics.median(xs), digits), "p25": round(p25, digits), "p75": round(p75, digits),
            "min": round(xs[0], digits), "max": round(xs[-1], digits), "n": len(xs)}


def paired(samples: dict[str, list[float]], name: str, base: str, op: str = "-") -> list[float]:
    """Per-round differences (``-``) or ratios (``/``) of two interleaved series
    (over the rounds both ran: the first ones, see ``caps`` in :func:`interleave`)."""
    a, b = samples[name], samples[base]
    if op == "/":
        return [x / y for x, y in zip(a, b)]
    return [x - y for x, y in zip(a, b)]


def median_error(stats: dict[str, Any]) -> float:
    """Standard error of a median, estimated from the spread of its samples
    (IQR / 1.349 is the standard deviation of a normal sample; the median's
    error is 1.2533 sigma / sqrt(n))."""
    if stats["n"] < 2:
        return float("inf")
    return 1.2533 * (stats["p75"] - stats["p25"]) / 1.349 / stats["n"] ** 0.5


def target(what: str, value: float, limit: float, unit: str, sense: str, detail: str = "",
           where: tuple[str, ...] = (), error: float | None = None, why: str = "") -> dict[str, Any]:
    """One line of the targets table: ``value`` against ``limit`` (``sense`` is ``<=`` or ``>=``).

    ``where`` names the table row the number belongs to (section, program,
    row label), so the report prints the verdict next to the number too.
    ``error``: the value's standard error; a verdict whose value lies within
    two of them of the limit is marked ``resolved: false`` -- the noise of
    this run could have decided it either way.  ``why``: what makes the
    number miss its limit, printed next to a MISS (a MISS without one says so).
    """
    ok = value <= limit if sense == "<=" else value >= limit
    resolved = error is None or abs(value - limit) > 2 * error  # an infinite error (one sample) never resolves
    finite = error is not None and error != float("inf")
    return {"what": what, "value": round(value, 3), "limit": round(limit, 3), "unit": unit, "sense": sense,
            "status": "PASS" if ok else "MISS", "resolved": resolved,
            "error": round(error, 3) if finite else None, "detail": detail, "where": list(where),
            "why": "" if ok else (why or "no reason recorded for this target")}


# -- running commands ---------------------------------------------------------------
class CommandFailed(RuntimeError):
    """A benchmarked command exited non-zero; the message ends with its stderr."""


def run_cmd(cmd: list[str], env: dict[str, str], cwd: str | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        raise CommandFailed(f"exit {out.returncode}: {' | '.join(tail)}")
    return out


def timed(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Milliseconds of one run: ``wall`` (what a user waits) and ``cpu``, the
    user + system time of the process and the children it waited for.

    A launcher that ``exec``s its command keeps its pid, so ``cpu`` covers the
    launcher and the program.  On an oversubscribed machine ``wall`` stretches
    with the load while ``cpu`` stays put: the start-up verdicts use ``cpu``.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run_cmd(cmd, env)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return {"wall": wall, "cpu": cpu}


def interleave(variants: dict[str, tuple[list[str], dict[str, str]]], rounds: int, measure: Any = None,
               warmup: Any = None, log: Any = None,
               caps: dict[str, int] | None = None) -> tuple[dict[str, dict[str, list[float]]], dict[str, str]]:
    """Run every variant once per round, rotating the order each round.

    ``caps``: a variant named there runs only in the first N rounds (a slow,
    steady peer needs fewer samples); its samples still pair with the other
    variants' samples of the same rounds, since :func:`paired` zips from the
    first round.

    ``measure(name, cmd, env)`` returns one sample per metric (default:
    :func:`timed`).  ``warmup(name, cmd, env)`` runs once per variant first
    (default: the command, untimed, for bytecode and page caches).
    Returns ``{metric: {variant: samples}}`` and, for variants that failed,
    why; a failed variant is dropped instead of stopping the benchmark.
    """
    samples: dict[str, dict[str, list[float]]] = {}
    failed: dict[str, str] = {}
    for name, (cmd, env) in variants.items():
        try:
            (warmup or (lambda n, c, e: run_cmd(c, e)))(name, cmd, env)
        except CommandFailed as exc:
            failed[name] = str(exc)
    names = [n for n in variants if n not in failed]
    for index in range(rounds):
        order = names[index % len(names):] + names[:index % len(names)] if names else []
        for name in order:
            if name in failed or index >= (caps or {}).get(name, rounds):
                continue
            cmd, env = variants[name]
            try:
                sample = measure(name, cmd, env) if measure else timed(cmd, env)
            except CommandFailed as exc:
                failed[name] = str(exc)
                continue
            for metric, value in sample.items():
                samples.setdefault(metric, {}).setdefault(name, []).append(value)
        if log:
            log(f"  round {index + 1}/{rounds}")
    for by_name in samples.values():
        for name in failed:
            by_name.pop(name, None)
    return samples, failed


# -- peer tools -------------------------------------------------------------------
def npatch_command() -> list[str]:
    """``npatch`` as installed next to this interpreter (not a pyenv shim, which
    adds a shell script's start-up); ``python -m npatch`` if there is none."""
    script = Path(sys.executable).with_name("npatch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "npatch"]


def ensure_venv(install: bool, log: Any = print) -> tuple[Path | None, str]:
    """The peers' venv, created when missing and ``install`` is true.

    ``python -m venv --system-site-packages`` so that torch and numpy are the
    system's (no second torch download), then ``pip install`` of the peers.
    Returns (python of the venv or None, a note).
    """
    python = VENV / "bin" / "python"
    ready = all((VENV / "bin" / tool).exists() for tool in ("opentelemetry-instrument", "ddtrace-run"))
    if ready:
        return python, ""
    if not install:
        return None, f"{VENV} has no opentelemetry-instrument/ddtrace-run (run without --no-install to create it)"
    log(f"creating {VENV} (once; pip install {' '.join(PEER_PACKAGES)})")
    try:
        run_cmd([sys.executable, "-m", "venv", "--system-site-packages", str(VENV)], dict(os.environ))
        run_cmd([str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], dict(os.environ))
    except CommandFailed as exc:
        return None, f"cannot create {VENV}: {exc}"
    return python, ""


def ensure_mx_driving(install: bool, log: Any = print) -> tuple[Path | None, str]:
    """The unpacked ``mx-driving`` wheel (DrivingSDK), downloaded once with
    ``pip download --no-deps``.  Returns (directory holding ``mx_driving/``
    or None, a note)."""
    root = CACHE / "mx-driving"
    unpacked = root / "unpacked"
    if (unpacked / "mx_driving" / "patcher" / "__init__.py").exists():
        return unpacked, ""
    wheels = sorted(root.glob("mx_driving-*.whl"))
    if not wheels:
        if not install:
            return None, f"no mx-driving wheel in {root} (run without --no-install to download it)"
        log("downloading the mx-driving wheel (once; pip download --no-deps mx-driving)")
        try:
            run_cmd([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "mx-driving", "-d", str(root)],
                    dict(os.environ))
        except CommandFailed as exc:
            return None, f"cannot download mx-driving: {exc}"
        wheels = sorted(root.glob("mx_driving-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        wheel.extractall(unpacked)
    return unpacked, ""


def mx_driving_version() -> str | None:
    wheels = sorted((CACHE / "mx-driving").glob("mx_driving-*.whl"))
    return wheels[-1].name.split("-")[1] if wheels else None


# -- the machine --------------------------------------------------------------------
_PACKAGES = ("npatch", "torch", "numpy", "wrapt", "libcst", "mmcv-lite", "mmengine", "mmdet")
_PEER_VERSIONS = ("opentelemetry-instrumentation", "opentelemetry-sdk", "ddtrace")


def _versions(python: str, names: tuple[str, ...]) -> dict[str, str | None]:
    code = ("import json, sys\nfrom importlib.metadata import version, PackageNotFoundError\nout = {}\n"
            "for n in sys.argv[1:]:\n    try: out[n] = version(n)\n    except PackageNotFoundError: out[n] = None\n"
            "print(json.dumps(out))")
    import json

    try:
        return json.loads(run_cmd([python, "-c", code, *names], user_env()).stdout)
    except CommandFailed:
        return {n: None for n in names}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=False)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=False).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except OSError:
        return None


def machine_info(venv_python: Path | None) -> dict[str, Any]:
    """What the numbers depend on: machine, CPUs, load, Python, package versions."""
    versions = _versions(sys.executable, _PACKAGES)
    if venv_python is not None:
        versions.update(_versions(str(venv_python), _PEER_VERSIONS))
    versions["mx-driving"] = mx_driving_version()
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
        "commit": _git_commit(),
    }
