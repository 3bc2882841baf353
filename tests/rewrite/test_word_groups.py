"""Word groups (Rule.word_groups): a text whose needle words cannot spell any
rule's reference is not scanned or parsed, and nothing a user sees changes:
every spelling of a reference still gives what the unoptimized engine gives."""
from __future__ import annotations

import pytest

from npatch.rewrite.engine import Engine
from npatch.rewrite.rules import build_rules

#: `nvtx` and `profiler` are needles (torch.cuda.nvtx is unsupported), `cuda` too
SPELLINGS = [
    "import torch.cuda.nvtx as n\nn.range_push('a')\n",
    "from torch.cuda import nvtx\nnvtx.range_pop()\n",
    "from torch import cuda as c\nc.nvtx.range_push('a')\nc.profiler.start()\n",
    "import torch as t\nt.cuda.profiler.start()\n",
    "from torch.cuda.profiler import start as s\ns()\n",
    "from torch.cuda.nvtx import *\n",
]
#: the needle is there, the rest of the reference is not: nothing can match
UNSPELLED = [
    "import profiler\nprofiler.start()\nnvtx = 1\n",
    "from . import nvtx\nnvtx.range_push('a')\n",
    "class profiler:\n    def nvtx(self):\n        return torch.profiler.profile()\n",
]


def engines(rewrites) -> tuple[Engine, Engine]:
    return (Engine(build_rules(list(rewrites)), use_globs=False, positions=True),
            Engine(build_rules(list(rewrites)), use_globs=False, positions=True, optimize=False))


def run(engine: Engine, text: str):
    out = engine.process("m.py", "m.py", text.encode())
    return out.error, out.new_data, out.diff, out.records


@pytest.mark.parametrize("text", SPELLINGS)
def test_every_spelling_still_matches(builtin_rewrites, text):
    fast, full = engines(builtin_rewrites)
    got = run(fast, text)
    assert got == run(full, text)
    assert got[3], "a reference to torch.cuda.nvtx / torch.cuda.profiler is reported or changed"


@pytest.mark.parametrize("text", UNSPELLED)
def test_a_text_that_cannot_spell_a_reference_is_not_parsed(builtin_rewrites, text):
    fast, full = engines(builtin_rewrites)
    assert fast.active("m.py", text), "the needle words are there"
    outcome = fast.process("m.py", "m.py", text.encode())
    assert not outcome.parsed and not outcome.records and outcome.new_data is None
    assert run(fast, text) == run(full, text)


def test_a_rule_that_follows_others_still_acts_alone(builtin_rewrites):
    """`import torch_npu` is added where the text says npu, whatever other rules find."""
    fast, full = engines(builtin_rewrites)
    text = "import torch\nx = y.to('npu')\n"
    got = run(fast, text)
    assert got == run(full, text)
    assert got[1] is not None and b"import torch_npu" in got[1]
