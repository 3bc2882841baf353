"""Which ``torch.cuda`` names the real torch_npu 2.14.0 has under ``torch.npu``, read statically.

torch_npu installs its ``torch_npu.npu`` package as ``torch.npu``.  A name
exists there when the static index of the downloaded sources finds it
(``npatch.compiler.static``), or when ``torch_npu/npu/__init__.py`` lists it
in its literal ``__all__`` (the typed tensor classes such as ``FloatTensor``
are set on the module at run time, and listed there).
"""
from __future__ import annotations

import ast
import types
from pathlib import Path

from npatch.compiler.static import StaticIndex

import __future__


def cuda_names() -> list[str]:
    """The installed torch's public ``torch.cuda`` names, and ``sub.name`` for its public submodules' names."""
    import torch.cuda

    subs = {n: v for n, v in vars(torch.cuda).items()
            if isinstance(v, types.ModuleType) and v.__name__.startswith("torch.cuda.") and not n.startswith("_")}
    names = set(torch.cuda.__all__) | set(subs)
    for sub, module in subs.items():
        inner = getattr(module, "__all__", None) or [
            k for k, v in vars(module).items()
            if not k.startswith("_") and not isinstance(v, (types.ModuleType, __future__._Feature))]
        names |= {f"{sub}.{k}" for k in inner}
    return sorted(names)


class NpuNamespace:
    def __init__(self, sources: Path) -> None:
        self.index = StaticIndex([str(sources)], any_submodule=True)  # names user code sees after import
        tree = ast.parse((sources / "torch_npu" / "npu" / "__init__.py").read_text(encoding="utf-8"))
        self.declared = {
            e.value for node in tree.body if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            for e in node.value.elts if isinstance(e, ast.Constant)
        }

    def has(self, name: str) -> bool:
        """Whether ``torch.npu.<name>`` exists (``name`` may be dotted)."""
        return self.index.lookup("torch_npu.npu", name).status == "found" or name in self.declared

    def missing(self, names: list[str]) -> list[str]:
        """Of ``names``, those torch.npu lacks; below a missing submodule only the submodule is named."""
        out = []
        for name in names:
            head = name.split(".", 1)[0]
            if "." in name and not self.has(head):
                continue  # the submodule itself is missing and listed
            if not self.has(name):
                out.append(name)
        return out
