"""``torch.compile`` of CUDA training code under ``cuda-to-cpu``.

A red team found ``InternalTorchDynamoError: AttributeError: 'autocast'
object has no attribute 'device'`` for a compiled step that calls ``x.cuda()``
inside ``torch.autocast('cuda')``: ``x.cuda()`` (npatch's wrapper calling the
C ``TensorBase.to``) broke the graph, and dynamo, re-entering the autocast
region after the break, compiled npatch's ``autocast.__init__`` wrapper as a
frame of its own and crashed on its uninitialised ``self``.  The manifest now
tells dynamo the wrapped C methods are tensor methods and never to compile a
wrapper's frame on its own (``npatch.library.dynamo``).  Each case runs in a
fresh interpreter under ``npatch apply``.
"""
from __future__ import annotations

import sys

import pytest
from npatch_testutil import run_npatch

STEP = """
import sys, warnings
import torch
warnings.simplefilter("ignore")
backend = sys.argv[1]
m = torch.nn.Linear(4, 4).cuda()
opt = torch.optim.Adam(m.parameters())
scaler = torch.amp.GradScaler("cuda")

def step(x):  # the red team's step
    with torch.autocast("cuda", dtype=torch.bfloat16):
        h = m(x.cuda())
        y = h.float().sum()
    y.backward(); opt.step(); opt.zero_grad(); torch.cuda.synchronize()
    return h.dtype, y.detach()

def step_break(x):  # the old spelling, a graph break inside the region
    with torch.cuda.amp.autocast():
        h = m(x.to("cuda:0", non_blocking=True))
        torch._dynamo.graph_break()
        h2 = m(h)
    return h.dtype, h2.dtype

def step_scaled(x):
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = m(x.cuda()).float().sum()
    scaler.scale(loss).backward(); scaler.step(opt); scaler.update(); opt.zero_grad()
    return loss.detach()

def moved(x):  # every spelling of a move, in one graph
    y = x.to("cuda:0", non_blocking=True) + x.cuda(non_blocking=True) + torch.Tensor.to(x, 0)
    return y.new_zeros(2, device="cuda") + torch.ones(2, device=0) + y.sum()

x = torch.ones(2, 4)
print("eager", step(x)[0])
print("step", torch.compile(step, backend=backend)(x)[0])
torch._dynamo.reset()  # frames stay skipped after a reset
print("break", *torch.compile(step_break, backend=backend)(x))
print("scaled", float(torch.compile(step_scaled, backend=backend)(x)) != 0)
torch._dynamo.trace_rules.clear_lru_cache()  # the tensor-method set is rebuilt with the wrapped ones
print("fullgraph", torch.compile(moved, backend=backend, fullgraph=True)(x).tolist())
model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()).cuda()
print("module", torch.compile(model, backend=backend, fullgraph=True)(x.cuda()).shape)
"""


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
@pytest.mark.parametrize("cpu_autocast", [False, True])
def test_compiled_cuda_training_step_runs(tmp_path, backend, cpu_autocast):
    (tmp_path / "prog.py").write_text(STEP)
    dtype = "torch.bfloat16" if cpu_autocast else "torch.float32"
    proc = run_npatch("apply", "cuda-to-cpu", "--set", f"cpu_autocast={str(cpu_autocast).lower()}", "--",
                      sys.executable, "prog.py", backend, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == [f"eager {dtype}", f"step {dtype}", f"break {dtype} {dtype}", "scaled True",
                                        "fullgraph [25.0, 25.0]", "module torch.Size([2, 4])"], proc.stdout


def test_import_torch_leaves_dynamo_unloaded(tmp_path):
    """The dynamo ops wait for ``torch._dynamo``; ``import torch`` does not load it."""
    (tmp_path / "prog.py").write_text("import sys, torch\n"
                                      "print(sorted(m for m in sys.modules if m.startswith(('torch._dynamo', "
                                      "'npatch.library.dynamo'))))\n")
    proc = run_npatch("apply", "cuda-to-cpu", "--", sys.executable, "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["[]"]
