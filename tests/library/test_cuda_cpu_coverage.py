"""Every public name of the installed ``torch.cuda`` and ``torch.accelerator``
is handled by a ``cuda-to-cpu`` op, deliberately passed through, or listed
as unsupported with the reason (``npatch.library.cuda_cpu.coverage``)."""
from __future__ import annotations

import importlib
import re

import pytest
import torch

import npatch
from npatch.library.cuda_cpu.coverage import PASSED_THROUGH, UNSUPPORTED

MODULES = ("torch.cuda", "torch.accelerator")


def public_names() -> set[str]:
    return {f"{name}.{attr}" for name in MODULES for attr in importlib.import_module(name).__all__}


def handled_names() -> set[str]:
    """``module.name`` for each target of the manifest's ops (``torch:cuda.X`` counts as ``torch.cuda.X``)."""
    found = set()
    for op in npatch.load("cuda-to-cpu").ops:
        for target in op.targets:
            found.add(f"{target.module}.{target.qualname}")
    return found


def test_the_public_api_is_read_from_the_installed_torch():
    names = public_names()
    assert len(names) > 100 and "torch.cuda.is_available" in names and "torch.accelerator.current_stream" in names


@pytest.mark.parametrize("module", MODULES)
def test_each_public_name_is_handled_passed_through_or_unsupported(module):
    names = {n for n in public_names() if n.startswith(module + ".")}
    handled = handled_names() & names
    table = set(PASSED_THROUGH) | set(UNSUPPORTED)
    unaccounted = sorted(names - handled - table)
    assert unaccounted == [], f"public {module} names nobody decided about: {unaccounted}"
    assert sorted(handled & table) == [], "handled by an op and listed in the table"


def test_the_table_names_only_what_torch_has_and_says_why():
    assert not set(PASSED_THROUGH) & set(UNSUPPORTED)
    assert sorted((set(PASSED_THROUGH) | set(UNSUPPORTED)) - public_names()) == []
    assert all(len(reason) > 20 for reason in [*PASSED_THROUGH.values(), *UNSUPPORTED.values()])


def test_passed_through_names_work_on_this_cpu_build():
    for name in PASSED_THROUGH:
        module, _, attr = name.rpartition(".")
        assert getattr(importlib.import_module(module), attr) is not None
    assert torch.cuda.has_half is True


def test_the_readme_row_counts_the_manifests_ops():
    from npatch_testutil import REPO

    row = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `cuda-to-cpu` |"))
    counted = re.search(r"(\d+) ops\.", row)
    assert counted and int(counted.group(1)) == len(npatch.load("cuda-to-cpu").ops)
