"""Per-call migration tax of the device-mapping wrappers (issue 16 item 5).

Every call forwards to the CPU.  Two comparisons, each interleaved in one run
(rounds alternate the variants; the empty timeit loop is subtracted; an
overhead is the median of the per-round differences, with its standard error):

cuda-to-cpu   ``torch.zeros(4, device='cuda')``, ``x.to('cuda')``, ``torch.empty(4)``
              through npatch.library.cuda_cpu.devices' wrappers, against the
              native CPU call (``device='cpu'``, ``x.to('cpu')``, ``torch.empty(4)``)
torch-npu     npatch.library.npu.devices.device_args against transfer_to_npu's
              own ``_wrapper_cuda`` taken from the real torch-npu wheel's source
              (tests/npu_sources.py), both around the same inner function that
              drops the (translated) device and calls the CPU factory
floor         a bare ``def f(*a, **k): return torch.zeros(*a, **k)``: what
              entering any Python wrapper costs, for scale
nothing mapped  ``x.to('cpu')`` through the wrapper against the native call:
              the wrapper's own Python cost, with nothing for it to win back
              (a mapped CUDA device is passed on as a ``torch.device``, which
              torch parses faster than the string ``'cpu'`` of the native call)

Targets: npatch's wrapper costs at most +150 ns over the native call, and at
most half of transfer_to_npu's per-call overhead.  Prints JSON.

Usage: ``python bench/migration_tax.py [--loops N] [--rounds R] [--quick]`` (``--json``
is accepted for bench/run.py, which reads the JSON this prints anyway).
"""
from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
import time
import timeit
from functools import wraps
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import median_error, paired, summarize  # noqa: E402


def transfer_to_npu_wrapper() -> object:
    """``_wrapper_cuda`` and its helpers, compiled from the real wheel's source."""
    from npu_sources import MX_DRIVING, TORCH_NPU, sources

    source = (sources(TORCH_NPU, MX_DRIVING) / "torch_npu" / "contrib" / "transfer_to_npu.py").read_text()
    keep = {"_wrapper_cuda", "_replace_cuda_to_npu_in_kwargs", "_replace_cuda_to_npu_in_list",
            "_replace_cuda_to_npu_in_dict"}
    tree = ast.parse(source)
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in keep]
    for f in funcs:
        f.decorator_list = [d for d in f.decorator_list if "_dynamo" not in ast.unparse(d)]
    lists = [n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "device_kwargs_list"]
    ns = {"torch": torch, "wraps": wraps}
    exec(compile(ast.Module(body=lists + funcs, type_ignores=[]), "transfer_to_npu.py", "exec"), ns)
    return ns["_wrapper_cuda"]


def _cpu_zeros(*args, **kwargs):
    kwargs.pop("device", None)
    return torch.zeros(*args, **kwargs)


def _pass_through(*args, **kwargs):
    return torch.zeros(*args, **kwargs)


def variants() -> dict[str, tuple[str, dict]]:
    from npatch.library.cuda_cpu import devices as cpu
    from npatch.library.npu import devices as npu

    x = torch.ones(4)
    env = {"torch": torch, "x": x, "zeros_c": cpu.device_kwarg(torch.zeros, {}),
           "empty_c": cpu.device_kwarg(torch.empty, {}), "to_c": cpu.to_method(torch.Tensor.to, {}),
           "inner": _cpu_zeros, "bare": _pass_through, "zeros_n": npu.device_args(_cpu_zeros, {}),
           "zeros_t": transfer_to_npu_wrapper()(_cpu_zeros)}
    return {
        "zeros native": ("torch.zeros(4, device='cpu')", env),
        "zeros cuda-to-cpu": ("zeros_c(4, device='cuda')", env),
        "zeros floor": ("bare(4, device='cpu')", env),
        "to native": ("x.to('cpu')", env),
        "to cuda-to-cpu": ("to_c(x, 'cuda')", env),
        "to cuda-to-cpu (nothing mapped)": ("to_c(x, 'cpu')", env),
        "empty native": ("torch.empty(4)", env),
        "empty cuda-to-cpu": ("empty_c(4)", env),
        "npu inner": ("inner(4, device='cpu')", env),
        "npu npatch": ("zeros_n(4, device='cuda')", env),
        "npu transfer_to_npu": ("zeros_t(4, device='cuda')", env),
        "npu inner (no device)": ("inner(4)", env),
        "npu npatch (no device)": ("zeros_n(4)", env),
        "npu transfer_to_npu (no device)": ("zeros_t(4)", env),
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loops", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3,000 loops x 3 rounds")
    parser.add_argument("--json", action="store_true", help="(the output is always JSON)")
    args = parser.parse_args()
    if args.quick:
        args.loops, args.rounds = 3000, 3
    cases = variants()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        empty = timeit.Timer("pass", timer=time.process_time).timeit(args.loops)
        for name, (stmt, env) in cases.items():
            took = timeit.Timer(stmt, globals=env, timer=time.process_time).timeit(args.loops)
            samples[name].append((took - empty) / args.loops * 1e9)
    ns = {name: statistics.median(values) for name, values in samples.items()}
    pairs = {  # overhead: (wrapper, baseline)
        "zeros": ("zeros cuda-to-cpu", "zeros native"),
        "zeros floor": ("zeros floor", "zeros native"),
        "to": ("to cuda-to-cpu", "to native"),
        "to (nothing mapped)": ("to cuda-to-cpu (nothing mapped)", "to native"),
        "empty": ("empty cuda-to-cpu", "empty native"),
        "npu npatch": ("npu npatch", "npu inner"),
        "npu transfer_to_npu": ("npu transfer_to_npu", "npu inner"),
        "npu npatch (no device)": ("npu npatch (no device)", "npu inner (no device)"),
        "npu transfer_to_npu (no device)": ("npu transfer_to_npu (no device)", "npu inner (no device)"),
    }
    spread = {key: summarize(paired(samples, *pair), 1) for key, pair in pairs.items()}
    extra = {key: s["median"] for key, s in spread.items()}
    report = {"ns_per_call": {k: round(v, 1) for k, v in ns.items()},
              "extra_ns": extra,
              "extra_error_ns": {k: round(median_error(s), 1) for k, s in spread.items()},
              "npu_ratio": round(extra["npu npatch"] / extra["npu transfer_to_npu"], 3),
              "npu_ratio_no_device": round(extra["npu npatch (no device)"] / extra["npu transfer_to_npu (no device)"], 3),
              "loops": args.loops, "rounds": args.rounds}
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
