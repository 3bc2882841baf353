"""``cuda-to-npu`` never invents names: every ``torch.npu`` name its rewrites
write exists in the real torch_npu 2.14.0 sources, and the ``torch.cuda``
names torch_npu lacks are kept and reported as unsupported.

torch_npu cannot be imported here; its wheel is read statically
(tests/npu_sources.py, tests/manifests/npu_names.py).  The ``torch.cuda``
names come from the installed torch.
"""
from __future__ import annotations

import ast
import sys

import pytest

from npatch_testutil import run_npatch
from npu_names import NpuNamespace, cuda_names
from npu_sources import npu_sources  # noqa: F401  (fixture)
from npatch.dsl.discovery import find_manifest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


@pytest.fixture(scope="module")
def rules() -> dict[str, dict]:
    with open(find_manifest("cuda-to-npu"), "rb") as f:
        return {r["id"]: r for r in tomllib.load(f)["rewrite"]}


@pytest.fixture(scope="module")
def npu(npu_sources) -> NpuNamespace:
    return NpuNamespace(npu_sources)


def test_the_kept_names_are_exactly_what_torch_npu_lacks(rules, npu):
    lacking = npu.missing(cuda_names())
    assert "CUDAGraph" in lacking and "nvtx" in lacking and "synchronize" not in lacking  # the reading reads
    assert sorted(rules["torch-cuda"]["rename"]["except"]) == lacking


def test_every_kept_name_is_reported_and_nothing_else(rules, npu):
    unsupported = set(rules["cuda-only-apis"]["unsupported"]["names"])
    kept = {f"torch.cuda.{name}" for name in rules["torch-cuda"]["rename"]["except"]}
    assert kept - unsupported == set()
    over = [n for n in unsupported if n.startswith("torch.cuda.") and npu.has(n.removeprefix("torch.cuda."))]
    assert over == []  # nothing torch_npu has is called unsupported


def test_every_rename_target_exists(rules, npu):
    renames = [r["rename"] for r in rules.values() if "rename" in r]
    assert renames
    for rename in renames:
        target = rename["to"]
        assert target == "torch.npu" or npu.has(target.removeprefix("torch.npu.")), target


def npu_names_in(code: str) -> set[str]:
    """Every ``torch.npu.<...>`` chain and ``from torch.npu[.x] import y`` name in ``code``."""
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("torch.npu"):
            prefix = node.module.removeprefix("torch.npu").lstrip(".")
            found |= {f"{prefix}.{a.name}".lstrip(".") for a in node.names}
        elif isinstance(node, ast.Attribute):
            text = ast.unparse(node)
            if text.startswith("torch.npu.") and text.replace(".", "").replace("_", "").isalnum():
                found.add(text.removeprefix("torch.npu."))
    return found


def test_diff_writes_no_name_torch_npu_lacks(tmp_path, npu):
    """Every torch.cuda name of the installed torch, used as an attribute and
    imported by name, through `npatch diff --write`: each torch.npu name in the
    result exists in torch_npu, and each kept one is still torch.cuda."""
    names = cuda_names()
    uses = "import torch\n" + "".join(f"x{i} = torch.cuda.{name}\n" for i, name in enumerate(names))
    imports = "".join(
        f"from torch.cuda{'.' + n.rsplit('.', 1)[0] if '.' in n else ''} import {n.rsplit('.', 1)[-1]}\n" for n in names)
    aliased = "from torch import cuda\n" + "".join(f"y{i} = cuda.{name}\n" for i, name in enumerate(names))
    src = tmp_path / "src"
    src.mkdir()
    for file, code in (("uses.py", uses), ("imports.py", imports), ("aliased.py", aliased)):
        (src / file).write_text(code)
    proc = run_npatch("diff", "cuda-to-npu", str(src), "--write", timeout=600)
    assert proc.returncode == 0, proc.stderr
    lacking = set(npu.missing(names))
    for file in ("uses.py", "imports.py", "aliased.py"):
        code = (src / file).read_text()
        written = npu_names_in(code)
        invented = sorted(n for n in written if not npu.has(n))
        assert invented == [], (file, invented)
    renamed = npu_names_in((src / "uses.py").read_text())
    assert renamed == set(names) - lacking - {n for n in names if n.split(".")[0] in lacking}
    assert "from torch import cuda\n" in (src / "aliased.py").read_text()  # kept: the file uses cuda.CUDAGraph
