"""Stub modules and the stand-in objects they give out.

A :class:`StubModule` is a package (``__path__ = []``): the import hook
serves a stub for every name under it (``import apex.amp``, ``from
apex.parallel import X``), so deeper imports succeed.  Reading a public
attribute of a stub module gives a :class:`StubObject` (or None with the
``on-use = "none"`` policy), so ``from apex import amp`` and ``hasattr``
checks succeed too.  Any *use* of what a stub gave out raises
:class:`~npatch.runtime.errors.NpatchStubError` naming the stub, its manifest
and the ``file:line`` of its declaration: calling it, reading an attribute
of a stub object, subclassing it (``__mro_entries__``), ``isinstance`` /
``issubclass`` against it, indexing or iterating it.  Dunder lookups (what
``copy``, ``pickle``, ``inspect`` probe) stay plain ``AttributeError``.
"""
from __future__ import annotations

import types

from npatch.runtime.errors import NpatchStubError, declared_at

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from typing import Any


class StubInfo:
    """What a stub's errors say: the stubbed module, the op, its on-use policy."""

    __slots__ = ("root", "where", "on_use")

    def __init__(self, root: str, op: Any) -> None:
        self.root = root
        self.where = declared_at(op)
        self.on_use = op.value or "error"

    def error(self, what: str, how: str = "") -> NpatchStubError:
        used = f"; it was {how}" if how else ""
        return NpatchStubError(
            f"{what} is not available: {self.root!r} is a stub (stub {self.where}){used}; "
            "install the real module or patch the code that uses it"
        )


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


class _Unusable:
    """Uses that raise :class:`NpatchStubError`; ``_stub_what`` names the thing used."""

    __slots__ = ()

    def _stub_raise(self, how: str) -> Any:
        info, what = self._stub_what()
        raise info.error(what, how)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._stub_raise("called")

    def __mro_entries__(self, bases: tuple) -> tuple:
        self._stub_raise("used as a base class")

    def __instancecheck__(self, instance: Any) -> bool:
        self._stub_raise("used in isinstance()")

    def __subclasscheck__(self, subclass: Any) -> bool:
        self._stub_raise("used in issubclass()")

    def __getitem__(self, key: Any) -> Any:
        self._stub_raise("indexed")

    def __iter__(self) -> Any:
        self._stub_raise("iterated")


class StubObject(_Unusable):
    """What a public attribute of a stub module is: any use of it raises."""

    __slots__ = ("_stub_name", "_stub_info")

    def __init__(self, name: str, info: StubInfo) -> None:
        self._stub_name = name
        self._stub_info = info

    def _stub_what(self) -> tuple[StubInfo, str]:
        return self._stub_info, self._stub_name

    def __getattr__(self, attr: str) -> Any:
        if _is_dunder(attr):
            raise AttributeError(attr)
        raise self._stub_info.error(f"{self._stub_name}.{attr}")

    def __repr__(self) -> str:
        return f"<npatch stub object {self._stub_name} (stub {self._stub_info.where})>"


class StubModule(_Unusable, types.ModuleType):
    """A stand-in package: public attributes follow the on-use policy."""

    def __init__(self, name: str, info: StubInfo) -> None:
        super().__init__(name, f"npatch stub (stub {info.where})")
        self.__npatch_stub__ = info
        self.__file__ = None
        self.__path__ = []

    def _stub_what(self) -> tuple[StubInfo, str]:
        return self.__npatch_stub__, self.__name__

    def __getattr__(self, attr: str) -> Any:
        if _is_dunder(attr):
            raise AttributeError(attr)
        info = self.__npatch_stub__
        if info.on_use == "none":
            return None
        made = StubObject(f"{self.__name__}.{attr}", info)
        self.__dict__[attr] = made  # one object per name: `apex.X is apex.X`
        return made

    def __repr__(self) -> str:
        return f"<npatch stub module {self.__name__!r} (stub {self.__npatch_stub__.where})>"


__all__ = ["StubInfo", "StubModule", "StubObject"]
