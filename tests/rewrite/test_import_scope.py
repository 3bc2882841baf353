"""The import table (:mod:`npatch.rewrite.importscope`) against libcst's ``ScopeProvider``.

Where :func:`build` gives a table, its answer for every ``Name``/``Attribute``
must be libcst's (import-sourced names); where a name is rebound, or used
before its import, it must give none (the engine then computes the scope).
Checked node by node on hand-written files (each libcst quirk, each way to
bind a name) and on real torch files, and end to end through the engine's
scope check and the CLI."""
from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, QualifiedNameSource, ScopeProvider

from npatch.rewrite.engine import Engine
from npatch.rewrite.importscope import ImportScope, ScopeCheck, build
from npatch.rewrite.rules import build_rules
from npatch.rewrite.scan import scan
from rewrite_helpers import rw


class _Compare(cst.CSTVisitor):
    """Every Name/Attribute: the table's answer and libcst's, side by side."""

    METADATA_DEPENDENCIES = (ScopeProvider,)

    def __init__(self, table: ImportScope) -> None:
        super().__init__()
        self.table = table
        self.compared = 0
        self.differences: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.table.enter(node)
        return super().on_visit(node)

    def on_leave(self, node: cst.CSTNode) -> None:
        if isinstance(node, (cst.Name, cst.Attribute)):
            scope = self.get_metadata(ScopeProvider, node, None)
            found = scope.get_qualified_names_for(node) if scope is not None else ()
            libcst = frozenset(q.name for q in found if q.source is QualifiedNameSource.IMPORT)
            ours = self.table.qualified_names(node)
            self.compared += 1
            if libcst != ours:
                self.differences.append(f"{cst.Module([]).code_for_node(node)}: libcst {sorted(libcst)}, "
                                        f"ours {sorted(ours)}")
        self.table.leave(node)


def _table(text: str, *, order: bool = True) -> tuple[cst.Module, ImportScope | None]:
    module = cst.parse_module(text)
    facts = scan(text, set())
    return module, build(module, facts, facts.import_heads, order)


def compare(text: str, *, order: bool = True) -> tuple[int, list[str]]:
    """(nodes compared, differences) over every Name/Attribute of ``text``."""
    module, table = _table(text, order=order)
    assert table is not None, "the import table declined this file"
    visitor = _Compare(table)
    MetadataWrapper(module, unsafe_skip_copy=True).visit(visitor)
    return visitor.compared, visitor.differences


# -- files the table answers: each quirk of libcst's answer ------------------------------
SIMPLE = {
    "dotted imports re-point uses (import a.b vs import a)": """
        import torch
        import torch.cuda
        import torch.cuda.amp as amp
        import os.path
        torch.cuda.synchronize()
        torch.nn.Linear
        amp.autocast
        os.path.join(os.sep)
    """,
    "calls and subscripts on the way, and attributes of results": """
        import torch
        from torch import cuda as c
        torch.cuda.memory_allocated().real
        c.graphs().CUDAGraph.x
        torch.cuda.streams[0].Stream
        (torch.cuda).Event
        torch.randn(3)[0].cuda().cpu
        [t.cuda for t in torch.cuda.list()]
    """,
    "uses in nested functions, classes, lambdas, comprehensions, defaults, decorators": """
        import torch
        from torch.cuda import amp, synchronize as sync
        class A(torch.nn.Module):
            kind = torch.cuda.Stream
            def f(self, x=torch.cuda.current_device(), *, y: torch.Tensor = None) -> torch.cuda.Event:
                g = lambda z=torch.cuda.amp: amp.autocast(z)
                return [sync() for _ in torch.cuda.streams if torch.cuda.is_available()]
            @torch.cuda.amp.custom_fwd
            def h(self):
                def inner():
                    return torch.cuda.nccl, amp
                return inner
    """,
    "keywords, attribute names and import statements get no answer": """
        import torch
        from torch import cuda
        f(torch=cuda, cuda=torch.cuda)
        x.torch.cuda
        torch.cuda.torch
        try:
            import torch.cuda.nccl as nccl
        except ImportError:
            from torch.cuda import nvtx
        if TYPE_CHECKING:
            from torch.cuda import Stream
    """,
    "relative imports and from-imports of submodules": """
        from . import cuda
        from .cuda import memory as mem
        from ..torch import cuda as tc
        from torch.cuda import memory
        cuda.memory.x
        mem.empty_cache()
        tc.Stream
        memory.list_gpu_processes
    """,
    "locals named like nothing imported stay locals; names bound elsewhere are not asked": """
        import torch
        x = 1
        def f(a, *b, **c):
            for i in range(3):
                with open(a) as fh:
                    pass
            return torch.cuda.is_available(), x
    """,
    "string annotations and typing helpers": """
        from typing import TypeVar, cast, NewType
        import torch
        T = TypeVar("T", bound=torch.Tensor)
        N = NewType("N", torch.cuda.Stream)
        y = cast("torch.cuda.Event", torch.cuda.Event())
        def f(x: "torch.cuda.Stream") -> "torch.Tensor":
            return torch.cuda
    """,
}


@pytest.mark.parametrize("name", SIMPLE)
def test_the_table_answers_as_libcst_does(name):
    compared, differences = compare(textwrap.dedent(SIMPLE[name]))
    assert compared > 5 and differences == []


# -- files it declines: every way to bind a name, and order --------------------------------
REBOUND = {
    "assignment": "import torch\ntorch = None\n",
    "annotated assignment": "import torch\ntorch: object = None\n",
    "augmented assignment": "import torch\ntorch += 1\n",
    "tuple target": "import torch\na, (torch, b) = f()\n",
    "starred target": "import torch\na, *torch = f()\n",
    "parameter": "import torch\ndef f(torch): return torch.cuda\n",
    "keyword-only parameter": "import torch\ndef f(*, torch=None): pass\n",
    "varargs": "import torch\ndef f(*torch): pass\n",
    "lambda parameter": "import torch\ng = lambda torch: torch.cuda\n",
    "for target": "import torch\nfor torch in []: pass\n",
    "with target": "import torch\nwith f() as torch: pass\n",
    "except name": "import torch\ntry: pass\nexcept E as torch: pass\n",
    "comprehension variable": "import torch\n[torch.cuda for torch in x]\n",
    "walrus": "import torch\nif (torch := f()): pass\n",
    "global": "import torch\ndef f():\n    global torch\n",
    "nonlocal": "import torch\ndef f():\n    torch = 1\n    def g():\n        nonlocal torch\n",
    "del": "import torch\ndel torch\n",
    "function name": "import torch\ndef torch(): pass\n",
    "class name": "import torch\nclass torch: pass\n",
    "import in a function": "import torch\ndef f():\n    import torch.cuda\n",
    "import as in a function": "from torch import cuda\ndef f():\n    import x as cuda\n",
    "import in a class": "import torch\nclass A:\n    import torch\n",
    "match capture": "import torch\nmatch x:\n    case torch: pass\n",
    "match star": "import torch\nmatch x:\n    case [*torch]: pass\n",
    "match mapping rest": "import torch\nmatch x:\n    case {**torch}: pass\n",
    "use before the import": "x = torch.cuda\nimport torch\n",
    "use before a later import": "import torch\nx = torch.cuda\nimport torch.cuda\n",
    "use in a function defined before the import": "def f():\n    return torch.cuda\nimport torch\n",
}


@pytest.mark.parametrize("name", REBOUND)
def test_the_table_declines_a_file_where_a_name_is_rebound_or_used_early(name):
    assert _table(REBOUND[name])[1] is None


def test_a_name_spelled_out_is_checked_too():
    text = "from torch import cuda\ntorch = 1\n"
    module = cst.parse_module(text)
    facts = scan(text, set())
    assert build(module, facts, facts.import_heads) is not None
    assert build(module, facts, facts.import_heads | {"torch"}) is None
    assert build(module, facts, {"print"}) is None     # a builtin: libcst knows it


def test_the_comparison_can_fail():
    """Forced onto a file it declines (order not checked), the table differs from libcst."""
    compared, differences = compare("x = torch.cuda\nimport torch\ny = torch.cuda\n", order=False)
    assert compared and differences


# -- real files -----------------------------------------------------------------------------
def _torch_files() -> list[Path]:
    root = Path(importlib.util.find_spec("torch").submodule_search_locations[0])
    picked = sorted((root / "cuda").glob("*.py")) + sorted((root / "nn" / "parallel").glob("*.py"))
    return [p for p in picked if p.stat().st_size < 150_000]


def test_every_node_of_real_torch_files():
    answered = compared = 0
    for path in _torch_files():
        text = path.read_text()
        module, table = _table(text)
        if table is None:
            continue
        visitor = _Compare(table)
        MetadataWrapper(module, unsafe_skip_copy=True).visit(visitor)
        assert visitor.differences == [], path
        answered += 1
        compared += visitor.compared
    assert answered >= 10 and compared > 5_000


def _engine_check(rewrites, files: list[tuple[str, bytes]]) -> ScopeCheck:
    """Each file through an engine with a scope check and one without: same output, and the check's counts."""
    check = ScopeCheck()
    checked = Engine(build_rules(rewrites), use_globs=False, scope_check=check)
    plain = Engine(build_rules(rewrites), use_globs=False)
    for name, data in files:
        a, b = checked.process(name, name, data), plain.process(name, name, data)
        assert (a.new_data, a.records, a.error) == (b.new_data, b.records, b.error), name
    assert check.differences == []
    return check


def test_the_engines_scope_check_on_real_torch_files(builtin_rewrites):
    """Through the engine (hollowing, pruning, only the nodes the rules ask about)."""
    files = [(path.name, path.read_bytes()) for path in _torch_files()]
    files += [(f"{name}.py", textwrap.dedent(text).encode()) for name, text in SIMPLE.items()]
    check = _engine_check(builtin_rewrites, files)
    assert check.answered >= 5 and check.nodes > 100


SPELLED = {
    "unbound": "from torch import cuda\ncuda.synchronize()\n",
    "bound to torch": "import torch\nfrom torch import cuda\ncuda.synchronize()\n",
    "bound to another torch": "from x import torch\nfrom torch import cuda\ncuda.synchronize()\n",
    "through an alias": "import torch.cuda as tc\nimport torch\ntc.synchronize()\n",
}


def test_the_scope_check_on_bindings_of_spelled_out_names():
    """A rename whose new name is spelled out asks what its first part is bound to."""
    rewrites = [rw("sync", "rename", from_="torch.cuda.synchronize", to="torch.npu.synchronize")]
    check = _engine_check(rewrites, [(f"{k}.py", v.encode()) for k, v in SPELLED.items()])
    assert check.answered == len(SPELLED) and check.bindings >= 3


def test_cli_scope_check_reports_nothing_and_changes_nothing(tmp_path):
    tree = tmp_path / "pkg"
    tree.mkdir()
    for i, text in enumerate(SIMPLE.values()):
        (tree / f"m{i}.py").write_text(textwrap.dedent(text))
    (tree / "early.py").write_text("x = torch.cuda.synchronize()\nimport torch\ntorch.cuda.synchronize()\n")
    command = [sys.executable, "-m", "npatch", "diff", "cuda-to-npu", "pkg", "-j", "1"]
    env = {k: v for k, v in os.environ.items() if k != "NPATCH_SCOPE_CHECK"}
    plain = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    checked = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                             env={**env, "NPATCH_SCOPE_CHECK": "1"})
    assert plain.returncode in (0, 1) and "torch.npu" in plain.stdout
    assert checked.stdout == plain.stdout
    assert "npatch scope check" not in checked.stderr
