"""Under ``cuda-to-cpu``, distinct torch functions stay distinct objects.

The manifest replaces ``torch.cuda.current_stream`` and
``torch.accelerator.current_stream`` (and ``is_available``, ``synchronize``,
the memory statistics...) with one CPU stand-in each pair.  Tables keyed by
function identity then lose an entry: ``torch.compile`` (dynamo) builds one
with both names and stopped with ``AssertionError: Handler already registered
for <function current_stream>`` on the first compiled function that called a
tensor factory.  Each case runs in a fresh interpreter under ``npatch apply``."""
from __future__ import annotations

import sys

from npatch_testutil import run_npatch

COMPILED = """
import torch

def step(x):
    y = torch.zeros(2, device="cuda") + x.to("cuda")
    return y * 2

for fullgraph in (False, True):
    compiled = torch.compile(step, backend="eager", fullgraph=fullgraph)
    print("compiled", compiled(torch.ones(2)).tolist())
"""

IDENTITY = """
import pickle, torch
pairs = [(torch.cuda.current_stream, torch.accelerator.current_stream),
         (torch.cuda.is_available, torch.accelerator.is_available),
         (torch.cuda.synchronize, torch.accelerator.synchronize),
         (torch.cuda.memory_allocated, torch.cuda.max_memory_allocated),
         (torch.cuda.empty_cache, torch.accelerator.empty_cache)]
print("distinct", all(a is not b for a, b in pairs))
print("same answers", all(a() == b() for a, b in pairs[1:2]), torch.cuda.memory_allocated() == torch.accelerator.memory_allocated())
print("pickled", all(pickle.loads(pickle.dumps(f)) is f for pair in pairs for f in pair))
print("also kept", torch.cuda.memory_allocated is torch.cuda.memory.memory_allocated)
"""


def test_torch_compile_traces_a_function_that_makes_cuda_tensors(tmp_path):
    (tmp_path / "prog.py").write_text(COMPILED)
    proc = run_npatch("apply", "cuda-to-cpu", "--", sys.executable, "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[:2] == ["compiled [2.0, 2.0]", "compiled [2.0, 2.0]"]


def test_each_replaced_function_is_its_own_object(tmp_path):
    (tmp_path / "prog.py").write_text(IDENTITY)
    for flags in ([], ["--coverage", str(tmp_path / "cov.json")]):
        proc = run_npatch("apply", "cuda-to-cpu", *flags, "--", sys.executable, "prog.py", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.split("\n")[:4] == ["distinct True", "same answers True True", "pickled True",
                                               "also kept True"], (flags, proc.stdout)
