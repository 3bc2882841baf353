"""``imp``, removed in Python 3.12, on top of :mod:`importlib` as 3.11's ``Lib/imp.py`` was.

Installed under the name ``imp`` by the ``py-compat`` manifest's alias, only
where no real ``imp`` exists.  Every public function and constant of 3.11's
``imp`` is here, with its behaviour and without its DeprecationWarning, except
the C-level ``create_dynamic`` and ``get_frozen_object`` helpers (documented
as internal there); ``init_builtin``, ``init_frozen`` and ``load_dynamic`` go
through importlib's machinery as they did.
"""
from __future__ import annotations

import importlib.machinery as machinery
import importlib.util as util
import os
import sys
import tokenize
import types
from typing import Any

from _imp import acquire_lock, is_builtin, is_frozen, is_frozen_package, lock_held, release_lock  # noqa: F401
from importlib import reload  # noqa: F401
from importlib.machinery import SourcelessFileLoader  # noqa: F401

SEARCH_ERROR, PY_SOURCE, PY_COMPILED, C_EXTENSION, PY_RESOURCE, PKG_DIRECTORY = 0, 1, 2, 3, 4, 5
C_BUILTIN, PY_FROZEN, PY_CODERESOURCE, IMP_HOOK = 6, 7, 8, 9


def new_module(name: str) -> types.ModuleType:
    """A new, empty module (not put in ``sys.modules``)."""
    return types.ModuleType(name)


def get_magic() -> bytes:
    return util.MAGIC_NUMBER


def get_tag() -> str:
    return sys.implementation.cache_tag


def cache_from_source(path: str, debug_override: bool | None = None) -> str:
    return util.cache_from_source(path, debug_override)


def source_from_cache(path: str) -> str:
    return util.source_from_cache(path)


def get_suffixes() -> list[tuple[str, str, int]]:
    extensions = [(s, "rb", C_EXTENSION) for s in machinery.EXTENSION_SUFFIXES]
    source = [(s, "r", PY_SOURCE) for s in machinery.SOURCE_SUFFIXES]
    compiled = [(s, "rb", PY_COMPILED) for s in machinery.BYTECODE_SUFFIXES]
    return extensions + source + compiled


class NullImporter:
    """The importer for a ``sys.path`` entry that is not a directory."""

    def __init__(self, path: str) -> None:
        if path == "":
            raise ImportError("empty pathname", path="")
        if os.path.isdir(path):
            raise ImportError("existing directory", path=path)

    def find_module(self, fullname: str) -> None:
        return None


class _FileLoaderMixin:
    """Reads the open file ``load_source``/``load_compiled`` were given, if any."""

    def __init__(self, fullname: str, path: str, file: Any = None) -> None:
        self.file = file
        super().__init__(fullname, path)

    def get_data(self, path: str) -> bytes:
        if self.file and path == self.path:
            if not self.file.closed:
                file = self.file
                if "b" not in file.mode:
                    file.close()
            if self.file.closed:
                self.file = file = open(self.path, "rb")
            with file:
                return file.read()
        return super().get_data(path)


class _LoadSourceCompatibility(_FileLoaderMixin, machinery.SourceFileLoader):
    pass


class _LoadCompiledCompatibility(_FileLoaderMixin, SourcelessFileLoader):
    pass


def _load(name: str, spec: Any) -> types.ModuleType:
    if name in sys.modules:
        module = sys.modules[name]
        spec.loader.exec_module(module)
        return module
    module = util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return sys.modules[name]


def load_source(name: str, pathname: str, file: Any = None) -> types.ModuleType:
    loader = _LoadSourceCompatibility(name, pathname, file)
    module = _load(name, util.spec_from_file_location(name, pathname, loader=loader))
    module.__loader__ = machinery.SourceFileLoader(name, pathname)
    module.__spec__.loader = module.__loader__
    return module


def load_compiled(name: str, pathname: str, file: Any = None) -> types.ModuleType:
    loader = _LoadCompiledCompatibility(name, pathname, file)
    module = _load(name, util.spec_from_file_location(name, pathname, loader=loader))
    module.__loader__ = SourcelessFileLoader(name, pathname)
    module.__spec__.loader = module.__loader__
    return module


def load_package(name: str, path: str) -> types.ModuleType:
    if os.path.isdir(path):
        extensions = machinery.SOURCE_SUFFIXES[:] + machinery.BYTECODE_SUFFIXES[:]
        for extension in extensions:
            init_path = os.path.join(path, "__init__" + extension)
            if os.path.exists(init_path):
                path = init_path
                break
        else:
            raise ValueError(f"{path!r} is not a package")
    spec = util.spec_from_file_location(name, path, submodule_search_locations=[])
    return _load(name, spec)


def load_dynamic(name: str, path: str, file: Any = None) -> types.ModuleType:
    loader = machinery.ExtensionFileLoader(name, path)
    return _load(name, util.spec_from_file_location(name, path, loader=loader))


def init_builtin(name: str) -> types.ModuleType | None:
    return _load(name, machinery.BuiltinImporter.find_spec(name)) if is_builtin(name) else None


def init_frozen(name: str) -> types.ModuleType | None:
    return _load(name, machinery.FrozenImporter.find_spec(name)) if is_frozen(name) else None


def load_module(name: str, file: Any, filename: str, details: tuple[str, str, int]) -> types.ModuleType:
    """Load what :func:`find_module` found."""
    suffix, mode, type_ = details
    if mode and (not mode.startswith("r") or "+" in mode):
        raise ValueError(f"invalid file open mode {mode!r}")
    if file is None and type_ in {PY_SOURCE, PY_COMPILED}:
        raise ValueError(f"file object required for import (type code {type_})")
    if type_ == PY_SOURCE:
        return load_source(name, filename, file)
    if type_ == PY_COMPILED:
        return load_compiled(name, filename, file)
    if type_ == C_EXTENSION:
        return load_dynamic(name, filename, file)
    if type_ == PKG_DIRECTORY:
        return load_package(name, filename)
    if type_ == C_BUILTIN:
        return init_builtin(name)
    if type_ == PY_FROZEN:
        return init_frozen(name)
    raise ImportError(f"Don't know how to import {name} (type code {type_})", name=name)


def find_module(name: str, path: list[str] | None = None) -> tuple[Any, str | None, tuple[str, str, int]]:
    """``(file, pathname, (suffix, mode, type))`` of a top-level module in ``path`` (``sys.path``)."""
    if not isinstance(name, str):
        raise TypeError(f"'name' must be a str, not {type(name)}")
    if not isinstance(path, (type(None), list)):
        raise RuntimeError(f"'path' must be None or a list, not {type(path)}")
    if path is None:
        if is_builtin(name):
            return None, None, ("", "", C_BUILTIN)
        if is_frozen(name):
            return None, None, ("", "", PY_FROZEN)
        path = sys.path
    for entry in path:
        package_directory = os.path.join(entry, name)
        for suffix in [".py", machinery.BYTECODE_SUFFIXES[0]]:
            package_file_name = "__init__" + suffix
            if os.path.isfile(os.path.join(package_directory, package_file_name)):
                return None, package_directory, ("", "", PKG_DIRECTORY)
        for suffix, mode, type_ in get_suffixes():
            file_path = os.path.join(entry, name + suffix)
            if os.path.isfile(file_path):
                break
        else:
            continue
        break
    else:
        raise ImportError(f"No module named {name!r}", name=name)
    encoding = None
    if "b" not in mode:
        with open(file_path, "rb") as file:
            encoding = tokenize.detect_encoding(file.readline)[0]
    file = open(file_path, mode, encoding=encoding)
    return file, file_path, (suffix, mode, type_)

