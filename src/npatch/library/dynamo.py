"""How npatch's library wrappers meet ``torch.compile`` (TorchDynamo).

Dynamo sees the wrappers a manifest installs in two ways, and each needs a
rule (both are ops on dynamo's own modules, so they cost nothing until a
program imports ``torch._dynamo``, which ``import torch`` does not):

* **Inlined into a traced function.**  A wrapped ``Tensor`` method
  (``x.cuda()``, ``x.new_zeros(device='cuda')``, ``torch.Tensor.to(x, 0)``)
  is a Python function that dynamo inlines; the wrapper then calls the C
  method it wraps (``TensorBase.to``).  Dynamo recognises C tensor methods by
  a set it builds from ``torch.Tensor``'s attributes on first use
  (``trace_rules.get_tensor_method``), after the wrappers are in place, so the
  originals are missing from it and every such call broke the graph
  ("does not know how to trace the builtin TensorBase.to").
  :func:`tensor_methods` adds them back.
* **Run as a frame of its own.**  Code that dynamo did not trace (what runs
  after a graph break, and what it calls) is handed to dynamo frame by frame;
  torch's own frames are skipped, a library wrapper's were compiled as a
  top-level frame.  The wrapper of ``autocast.__init__``, run when dynamo
  re-enters an autocast region after a graph break, then crashed dynamo
  (its ``self`` is an autocast object not yet initialised).
  :func:`skip_library_frames` marks the wrappers' code as never compiled as a
  frame of its own (``torch._dynamo.eval_frame.skip_code``); dynamo still
  inlines them into the functions it traces, and what they call is handled
  as before.
"""
from __future__ import annotations

import importlib
import pkgutil
import types
from collections.abc import Callable, Iterator
from typing import Any

#: the kinds of object ``get_tensor_method`` collects (C methods of a class)
_C_METHODS = (types.MethodDescriptorType, types.WrapperDescriptorType, types.BuiltinFunctionType)


def tensor_methods(original: Callable[[], Any], options: dict[str, Any]) -> Callable[[], Any]:
    """Wrap ``torch._dynamo.trace_rules.get_tensor_method``: also the C
    methods that the installed ``torch.Tensor`` wrappers call (their
    ``__wrapped__``, a method of ``torch._C.TensorBase``).  Computed once, as
    the original; ``cache_clear`` clears both."""
    found: list[frozenset[Any]] = []

    def get_tensor_method() -> frozenset[Any]:
        if not found:
            import torch

            base = vars(torch._C.TensorBase)
            wrapped = (getattr(getattr(torch.Tensor, name, None), "__wrapped__", None) for name in base)
            found.append(original() | {c for c in wrapped if isinstance(c, _C_METHODS) and base.get(c.__name__) is c})
        return found[0]

    def cache_clear() -> None:
        found.clear()
        getattr(original, "cache_clear", lambda: None)()

    get_tensor_method.cache_clear = cache_clear  # type: ignore[attr-defined]
    get_tensor_method.__doc__ = original.__doc__
    get_tensor_method.__wrapped__ = original  # type: ignore[attr-defined]
    return get_tensor_method


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """``code`` and every code object nested in it (closures, comprehensions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _module_codes(module: types.ModuleType) -> Iterator[types.CodeType]:
    """The code of the functions and methods defined in ``module``."""
    for value in list(vars(module).values()):
        members = vars(value).values() if isinstance(value, type) else (value,)
        for member in members:
            member = getattr(member, "__func__", member)  # classmethod / staticmethod
            code = getattr(member, "__code__", None)
            if isinstance(code, types.CodeType) and getattr(member, "__module__", None) == module.__name__:
                yield from _codes(code)


def skip_library_frames(eval_frame: types.ModuleType, options: dict[str, Any]) -> None:
    """``call`` op on ``torch._dynamo.eval_frame``: dynamo never compiles a
    frame of the functions in ``options['packages']`` (and their submodules)
    on its own; it still inlines them where it traces their caller."""
    skip_code = getattr(eval_frame, "skip_code", None)
    if skip_code is None:  # a torch without it (older than 2.1): frames compile as before
        return
    for name in options.get("packages", ()):
        package = importlib.import_module(name)
        modules = [package] + [importlib.import_module(f"{name}.{info.name}")
                               for info in pkgutil.iter_modules(getattr(package, "__path__", []))]
        for module in modules:
            for code in _module_codes(module):
                skip_code(code)


__all__ = ["tensor_methods", "skip_library_frames"]
