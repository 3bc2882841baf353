"""Names are resolved the way Python binds them: through imports, aliases and
scopes, never by spelling."""
from __future__ import annotations

import pytest

from npatch.scan.finder import Finder
from npatch.scan.patterns import hooks
from npatch.scan.table import load_table

FINDER = Finder(hooks(load_table()))


def names(code: str) -> list[tuple[int, str]]:
    return [(u.line, u.name) for u in FINDER.find(code, "<t>")]


@pytest.mark.parametrize("code,expected", [
    ("import torch as T\nT.cuda.synchronize()", [(2, "torch.cuda.synchronize")]),
    ("from torch import cuda as c\nc.empty_cache()", [(2, "torch.cuda.empty_cache")]),
    ("from torch.cuda import synchronize as s\ns()", [(2, "torch.cuda.synchronize")]),
    ("import torch.cuda\ntorch.cuda.init()", [(2, "torch.cuda.init")]),
    ("import torch.cuda.amp as amp\namp.autocast()", [(2, "torch.cuda.amp.autocast")]),
])
def test_uses_are_resolved_through_imports(code, expected):
    assert names(code) == expected


@pytest.mark.parametrize("code", [
    "import torch\ndef f(torch):\n    torch.cuda.synchronize()",                 # a parameter
    "import torch\ndef f():\n    torch = load()\n    torch.cuda.synchronize()",   # a local assignment
    "import torch\nfor torch in xs:\n    pass\nlambda torch: torch.cuda.x()",     # a lambda parameter
    "import torch\n[torch.cuda.x() for torch in xs]",                              # a comprehension variable
    "from torch import cuda\ndef f():\n    for cuda in xs:\n        cuda.synchronize()",
    "import torch\ntry:\n    pass\nexcept E as torch:\n    pass\ndef g(torch=1):\n    torch.cuda.x()",
    "torch.cuda.synchronize()",                                                     # never imported
    "from . import torch\ntorch.cuda.synchronize()",                                # the project's own module
])
def test_a_local_that_shadows_the_import_is_not_a_use(code):
    assert [n for _, n in names(code) if n.startswith("torch.cuda")] == []


def test_class_bodies_are_not_seen_from_their_methods_and_global_points_outwards():
    code = (
        "import torch\n"
        "class A:\n"
        "    torch = None\n"
        "    def f(self):\n"
        "        torch.cuda.synchronize()\n"       # the module's torch: a use
        "def g():\n"
        "    global torch\n"
        "    torch.cuda.empty_cache()\n"          # global: the module's torch
        "def h():\n"
        "    import torch as t2\n"
        "    def inner():\n"
        "        t2.cuda.init()\n"                # an enclosing function's import
        "    return inner\n"
    )
    assert names(code) == [(5, "torch.cuda.synchronize"), (8, "torch.cuda.empty_cache"), (12, "torch.cuda.init")]


def test_a_chain_is_reported_once_at_its_outermost_name_and_the_most_specific_entry_wins():
    uses = FINDER.find("import torch\ng = torch.cuda.CUDAGraph()\ntorch.cuda.nvtx.range_push('x')", "<t>")
    assert [(u.name, u.api) for u in uses] == [("torch.cuda.CUDAGraph", "cuda-graphs"),
                                              ("torch.cuda.nvtx.range_push", "cuda-graphs")]


def test_columns_count_characters_and_point_at_the_name():
    code = "s = 'é'; x = y.cuda()\nz = torch_ok = 1; w = x.is_cuda\n"
    uses = FINDER.find(code, "<t>")
    assert [(u.line, u.col, u.name) for u in uses] == [(1, 16, "*.cuda"), (2, 25, "*.is_cuda")]
    for use in uses:
        line = code.splitlines()[use.line - 1]
        assert line[use.col - 1:].startswith(use.name[2:])


def test_device_strings_are_reported_once_whatever_their_shape():
    code = ("import torch\n"
            "a = torch.zeros(2, device=f'cuda:{rank}')\n"
            "b = x.to('cuda:' + str(rank))\n"
            "if a.device.type == 'cuda': pass\n"
            "c = 'cuda'\n")
    got = [(u.line, u.api) for u in FINDER.find(code, "<t>")]
    assert got == [(2, "device-keyword"), (3, "device-string"), (4, "device-type-check"), (5, "device-string")]


@pytest.mark.parametrize("code,found", [
    ("import torch\ntorch.load(p)", True),
    ("import torch\ntorch.load(p, weights_only=True)", True),
    ("import torch\ntorch.load(p, map_location='cpu')", False),
    ("import torch\ntorch.load(p, 'cpu')", False),
    ("import torch\ntorch.load(*args)", False),
    ("import torch\ntorch.load(p, **kw)", False),
    ("import torch.serialization as s\ns.load(p)", False),     # another name: not in the table
])
def test_torch_load_without_map_location(code, found):
    assert any(u.api == "torch-load" for u in FINDER.find(code, "<t>")) is found


def test_imports_of_cuda_only_packages_are_uses_and_so_are_their_names():
    code = "from apex import amp\nimport flash_attn.ops as fo\nm, o = amp.initialize(m, o)\nfo.f()\n"
    assert names(code) == [(1, "apex.amp"), (2, "flash_attn.ops"), (3, "apex.amp.initialize"), (4, "flash_attn.ops.f")]


def test_a_file_that_does_not_parse_raises_syntax_error():
    with pytest.raises(SyntaxError):
        FINDER.find("def f(:\n", "<t>")
