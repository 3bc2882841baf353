"""Metadata shortcuts, checked on real files of torch, mmdet and mmengine.

* Qualified names are asked of the scope per node instead of a
  ``QualifiedNameProvider`` pass over every node: the same answer for every node.
* The rename rule's pre-pass over ``except`` names runs only where the ast
  scan says an attribute chain may resolve to a kept name.  Conservative:
  every file in which the pre-pass marks anything passes the gate, and the
  output (text and records) is the same with and without the gate."""
from __future__ import annotations

import importlib.util
import re
import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, QualifiedNameProvider, ScopeProvider

from npatch.rewrite.context import FileContext
from npatch.rewrite.engine import Engine
from npatch.rewrite.rules import build_rules
from npatch.rewrite.rules.rename import RenameRule, _KeptUses
from npatch.rewrite.importutil import under
from npatch.rewrite.scan import scan


def _kept_rule(rules: list) -> RenameRule:
    rules = [r for r in rules if isinstance(r, RenameRule) and r.kept]
    assert rules, "the built-in manifest has a rename with except names"
    return rules[0]


def _sample(words: set[str]) -> list[Path]:
    """Files that mention ``cuda`` and some kept name's last part: where the gate decides."""
    pattern = re.compile(r"\.(?:%s)\b" % "|".join(sorted(words)))
    found = []
    for package in ("torch", "mmdet", "mmengine"):
        root = Path(importlib.util.find_spec(package).submodule_search_locations[0])
        for path in sorted(root.rglob("*.py")):
            if path.stat().st_size > 60_000:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            if "cuda" in text and pattern.search(text):
                found.append(path)
    return found[::max(1, len(found) // 40)]


@pytest.fixture(scope="module")
def sample(builtin_rewrites) -> list[Path]:
    files = _sample(_kept_rule(build_rules(builtin_rewrites))._kept_last)
    assert len(files) >= 20
    return files


def test_scan_resolves_chains_as_libcst_spells_them():
    text = textwrap.dedent("""
        import torch as T
        from torch import cuda as c
        T.cuda.graphs().CUDAGraph
        c.nvtx
        x[0].cudart
        def f(T):
            return T.cuda["a"].memory.list_gpu_processes
    """)
    watched = {"CUDAGraph", "nvtx", "cudart", "list_gpu_processes"}
    # calls and subscripts looked through; scopes ignored (the parameter T resolves too)
    assert scan(text, {"torch.cuda"}, None, watched).resolved == {
        "torch.cuda.graphs.CUDAGraph", "torch.cuda.nvtx", "torch.cuda.memory.list_gpu_processes"}


def test_the_pre_pass_never_marks_anything_in_a_file_the_gate_skips(sample, builtin_rewrites):
    engine = Engine(build_rules(builtin_rewrites), use_globs=False)
    rule = _kept_rule(engine.rules)
    seen = {"gated": 0, "marked": 0}
    original = RenameRule.visit_Module

    def checked(self, node):
        if self is rule and self.ctx.has_metadata:
            gate = self._may_reach_kept()
            node.visit(_KeptUses(self))
            marked = bool(self._kept_heads) or self._binding_kept
            assert gate or not marked, self.ctx.path
            seen["gated"] += not gate
            seen["marked"] += marked
        else:
            original(self, node)

    RenameRule.visit_Module = checked
    try:
        for path in sample:
            engine.process(str(path), str(path), path.read_bytes())
    finally:
        RenameRule.visit_Module = original
    assert seen["gated"] and seen["marked"], seen      # the sample exercises both sides


def test_the_gate_does_not_change_the_output(sample, builtin_rewrites, monkeypatch):
    def outputs():
        engine = Engine(build_rules(builtin_rewrites), use_globs=False, positions=True)
        done = {}
        for path in sample:
            outcome = engine.process(str(path), str(path), path.read_bytes())
            done[str(path)] = (outcome.new_data, outcome.error, [r.to_dict() for r in outcome.records])
        return done

    gated = outputs()
    monkeypatch.setattr(RenameRule, "_may_reach_kept", lambda self: True)
    assert outputs() == gated
    assert any(new for new, _, _ in gated.values())


class _Both(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (QualifiedNameProvider, ScopeProvider)

    def __init__(self, module: cst.Module, facts=None, targets=None) -> None:
        super().__init__()
        self.ctx = FileContext("x.py", module, transformer=self, has_metadata=True, facts=facts)
        self.targets = targets
        self.compared = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.Name, cst.Attribute, cst.Call)):
            provided = {q.name for q in self.get_metadata(QualifiedNameProvider, node, ())
                        if q.source.name == "IMPORT"}
            asked = self.ctx.qualified_names(node)
            if self.targets is not None:     # only the names at or under a target are promised
                provided, asked = ({q for q in names if any(under(q, t) for t in self.targets)}
                                   for names in (provided, asked))
            assert asked == provided, cst.Module([]).code_for_node(node)
            self.compared += bool(provided)
        return True


@pytest.mark.parametrize("with_heads", [False, True], ids=["scope", "import-heads-first"])
def test_qualified_names_from_the_scope_are_the_providers(sample, with_heads):
    """Also with the scan's heads, which skip the scope for a node whose head
    no import binds to a name comparable with a target (then the names at
    or under the targets are the provider's)."""
    compared = 0
    targets = {"torch.cuda", "torch.device", "torch.cuda.amp.autocast"} if with_heads else None
    for path in sample[::4]:
        text = path.read_text(encoding="utf-8")
        module = cst.parse_module(text)
        both = _Both(module, scan(text, targets) if with_heads else None, targets)
        MetadataWrapper(module, unsafe_skip_copy=True).visit(both)
        compared += both.compared
    assert compared > 50
