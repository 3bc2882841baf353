"""Section 7: what each built-in manifest costs a child process (issue 16 item 2).

Under ``npatch apply M`` every Python process of a job starts with the
plan's environment (the bootstrap ``sitecustomize`` on ``PYTHONPATH``, the
cached plan in ``NPATCH_PLAN``).  For each built-in manifest the program
runs bare and with that environment (no launcher), interleaved, and the
per-round CPU-time difference is what the plan costs the child: the
bootstrap, and, when the program imports one of the plan's modules, loading
the plan, starting its session and applying the ops of the modules it
imports.  Target: at most 3 ms over the bare child, for ``pass``,
``import numpy`` and ``import torch``.

``-X importtime`` of the bootstrap ``sitecustomize`` is reported beside it:
a number that does not drift with the machine's load.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness import interleave, median_error, paired, summarize, target, user_env
from startup import PROGRAMS, _importtime_sitecustomize, builtin_manifests, plan_env

MANIFESTS = ("mmcv-npu", "torch-npu", "cuda-to-cpu", "mmcv-lite")
LIMIT_MS = 3.0
#: why a child can miss the target, shown next to a MISS: by program, then by manifest ("*": the others)
_GC = ("One `import torch` runs two full garbage collections over ~0.5 M objects (~200 M instructions, "
       "100-230 ms here) whose moment and size shift with any allocation: most of the spread between rounds")
_NO_OPS = ("this manifest has no op on {module}: its plan does not start, as for `pass` (the bootstrap alone, "
           "6.7 M instructions in callgrind, and its deferred finder asked at each import); what remains is "
           "the noise of two {module} imports on a shared machine")
WHY: dict[str, Any] = {
    "torch": {
        "mmcv-npu": "torch imports numpy, and numpy-compat's 101 ops apply as for `import numpy`: in callgrind "
                    "with the garbage collector off (bare `import torch`: 5.01 G instructions) the plan adds ~52 M "
                    "(70 M, then 58 M and 56 M, before the changes listed under `import numpy`; ±1.5 M between "
                    "builds: pybind11's type cache, keyed by addresses, costs more or less as the objects made "
                    "before torch shift). " + _GC,
        "torch-npu": "the program imports torch, a target module of the plan: in callgrind with the garbage "
                     "collector off (bare `import torch`: 5.01 G instructions) torch-npu adds 35 M (42 M before the changes "
                     "listed under `import numpy`): the bootstrap 7 M, the runtime's modules ~13 M, the plan and its 4 start-time conditions "
                     "(`importable('torch_npu')`, asked once); no op is read without torch_npu. " + _GC,
        "cuda-to-cpu": "the program imports torch, a target module of the plan: in callgrind with the garbage "
                       "collector off (bare `import torch`: 5.01 G instructions) cuda-to-cpu adds ~93 M (~98 M "
                       "measured the same way before a replace or wrap stopped importing npatch.runtime.coverage "
                       "without --coverage): 193 ops (248 targets) replace and wrap torch's device functions, the "
                       "ops' own work. " + _GC,
        "*": _NO_OPS.format(module="torch") + ". " + _GC,
    },
    "numpy": {
        "mmcv-npu": "importing numpy starts mmcv-npu's plan: numpy-compat's 101 `call` ops restore removed NumPy "
                    "names at that import (the ops' own work). In callgrind (`setarch -R`, PYTHONHASHSEED=0, "
                    "OPENBLAS_NUM_THREADS=1: OpenBLAS's idle threads spin a varying count) that child executes "
                    "~45 M instructions more than the bare one (~423 M; 62 M, then 52 M, before the ops' own "
                    "`installed('numpy')` took the import system's answer as numpy is found, the marshal copy "
                    "stored a module's ops as one run and the conditions stopped importing npatch.distributions; "
                    "46 M before the changes below). "
                    "With the garbage collector off: ~+41.7 M (+44.6 M before a module's ops were decoded, built "
                    "and queued as one batch; +42.4 M before the writing of plan files left npatch.planfile, a run's "
                    "equal conditions were marshalled once, an op's Origin was built directly and numpy-compat's "
                    "undo became one object, not a closure and three cells): the bootstrap "
                    "~7 M, importing the runtime's modules ~11 M, reading the plan ~2.3 M, its 8 start-time "
                    "conditions ~3.3 M (`importable('torch_npu')` and `importable('mx_driving')` once each; no "
                    "version is read without mx_driving), reading the 101 ops ~5.4 M (decoding ~4.1 M, their "
                    "states and slots ~1.3 M, in Python), applying them ~8.2 M (~2 M of it numpy-compat's own check: 53 names are "
                    "not in NumPy's tables and are probed), and ~4.8 M more at exit (the final collection and "
                    "teardown see the runtime's objects); no op of another module is read. Unmarshalling code "
                    "and data is ~6.3 M of it all, creating the runtime's classes ~3.2 M",
        "*": _NO_OPS.format(module="numpy") + " (in callgrind +8.5 M under torch-npu, cuda-to-cpu or mmcv-lite)",
    },
    "pass": {"*": "the bootstrap alone (6.7 M instructions in callgrind, the same under every manifest: it imports "
                  "three small modules, not __future__ (0.7 M), and waits for a module of the plan): interpreter "
                  "start-up noise on a shared machine"},
}


def _why(program: str, manifest: str) -> str:
    reasons = WHY[program]
    return reasons.get(manifest, reasons["*"])

def run_section(work: Path, programs: list[str], rounds: dict[str, int], log: Any) -> dict[str, Any]:
    available = builtin_manifests()
    manifests = [m for m in MANIFESTS if m in available]
    result: dict[str, Any] = {"manifests": manifests, "programs": {}, "notes": []}
    missing = [m for m in MANIFESTS if m not in available]
    if missing:
        result["notes"].append(f"not built in (skipped): {', '.join(missing)}")
    envs = {m: plan_env(m, user_env()) for m in manifests}
    for name in programs:
        prog = work / f"child_{name}.py"
        prog.write_text(PROGRAMS[name] + "\n")
        variants = {"python": ([sys.executable, str(prog)], user_env())}
        variants.update({m: ([sys.executable, str(prog)], envs[m]) for m in manifests})
        log(f"children under built-in manifests, `{PROGRAMS[name]}`: {len(variants)} variants x {rounds[name]} rounds")
        samples, failed = interleave(variants, rounds[name], log=log)
        rows = []
        for manifest in manifests:
            if manifest in failed or "python" in failed:
                rows.append({"manifest": manifest, "error": failed.get(manifest) or failed.get("python")})
                continue
            importtime = [_importtime_sitecustomize(str(prog), envs[manifest]) for _ in range(3)]
            rows.append({"manifest": manifest,
                         "cpu_ms": summarize(samples["cpu"][manifest]),
                         "extra_cpu_ms": summarize(paired(samples["cpu"], manifest, "python"), 3),
                         "extra_wall_ms": summarize(paired(samples["wall"], manifest, "python"), 3),
                         "bootstrap_importtime_ms": summarize(importtime, 3)})
        bare = summarize(samples["cpu"]["python"]) if "python" in samples.get("cpu", {}) else None
        result["programs"][name] = {"program": PROGRAMS[name], "rounds": rounds[name], "bare_cpu_ms": bare,
                                    "rows": rows}
    return result


def targets(section: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, data in section.get("programs", {}).items():
        for row in data["rows"]:
            if "extra_cpu_ms" not in row:
                continue
            spread = row["extra_cpu_ms"]
            out.append(target(f"child under `{row['manifest']}`, `{data['program']}`: CPU over the bare child",
                              spread["median"], LIMIT_MS, "ms", "<=",
                              f"IQR {spread['p25']:.1f}–{spread['p75']:.1f} ms, n={spread['n']}; bootstrap "
                              f"`-X importtime` {row['bootstrap_importtime_ms']['median']:.2f} ms",
                              ("children", name, row["manifest"]), median_error(spread), why=_why(name, row["manifest"])))
    return out

