"""The import hook: one ``sys.meta_path`` finder shared by all sessions.

``find_spec`` first checks the module name against a frozenset of names with
work (targets, ``during`` modules, aliases and stubs of active sessions) and
returns None at once for every other name, so an unrelated import pays one
set lookup (and, while an alias or stub is active, one more for a dotted
name: every name under an alias or stub is watched too).  For a watched
name it asks the *other* finders on ``sys.meta_path`` directly (never the
import machinery, which would call it again: PITFALLS 5) and then:

* lets each session prepare the ops of that module (decode them, evaluate
  their conditions: see :meth:`npatch.runtime.session.Session.prepare_module`);
* lets each session substitute a module (alias, stub), newest session first;
* wraps the spec's loader in :class:`PatchingLoader`, whose ``exec_module``
  puts the real loader back on ``module.__loader__`` and ``__spec__.loader``,
  tells the sessions the module is starting (``during`` ops, reload), runs
  the real ``exec_module`` and then tells them it has finished (or failed).

A namespace package (spec without a loader) gets the standard
``NamespaceLoader`` so it has an ``exec_module`` to follow.  ``runpy``
(``python -m``) reads the code through the wrapper's ``get_code`` and never
calls ``exec_module``; ``get_code`` therefore puts the real loader back on
the spec first, so ``__main__`` sees its real loader.

No lock is held while a hook or another finder runs; the sessions' hooks run
inside the module's own import lock, like code at the end of the module.
"""
from __future__ import annotations

import sys
from _thread import allocate_lock, get_ident
from importlib.machinery import ModuleSpec

try:
    from importlib.machinery import NamespaceLoader
except ImportError:  # Python 3.10
    from importlib._bootstrap_external import _NamespaceLoader as NamespaceLoader

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds in every patched child process
    from typing import Any

    from npatch.runtime.protocols import FinderClient


class PatchingLoader:
    """Wraps a real loader for one spec; anything else is delegated to it."""

    def __init__(self, loader: Any, spec: ModuleSpec, finder: "Finder") -> None:
        self.loader = loader
        self.spec = spec
        self.finder = finder

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)

    def __repr__(self) -> str:
        return f"<npatch loader for {self.spec.name!r} around {self.loader!r}>"

    def create_module(self, spec: ModuleSpec) -> Any:
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def get_code(self, fullname: str) -> Any:
        # runpy (python -m) runs the code itself: nothing of npatch must stay on the spec
        if self.spec.loader is self:
            self.spec.loader = self.loader
            self.finder.run_directly.add(self.spec.name)
        return self.loader.get_code(fullname)

    def exec_module(self, module: Any) -> None:
        real = self.loader
        name = self.spec.name
        self.spec.loader = real
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = real
        spec = getattr(module, "__spec__", None)
        if spec is not None and getattr(spec, "loader", None) is self:
            spec.loader = real
        if isinstance(real, NamespaceLoader) and "__file__" not in module.__dict__:
            module.__file__ = None
        finder = self.finder  # its clients are read at each step: a session may start meanwhile
        for client in finder.clients:  # oldest first
            client.module_starting(name, module)
        try:
            real.exec_module(module)
        except BaseException as exc:
            for client in finder.clients:
                client.module_failed(name, exc)
            raise
        # None when the module was executed without being registered in
        # sys.modules (a manual find_spec + exec_module): its ops keep waiting
        # for the real import
        loaded = sys.modules.get(name)
        for client in finder.clients:
            client.module_loaded(name, loaded)


class Finder:
    """The meta-path finder.  ``clients`` are the active sessions, oldest first;
    the finder calls only the public methods of
    :class:`~npatch.runtime.protocols.FinderClient` on them."""

    def __init__(self) -> None:
        self.names: frozenset[str] = frozenset()
        #: aliases and stubs of active sessions: every name under them is watched too
        self.trees: frozenset[str] = frozenset()
        self.tree_tops: frozenset[str] = frozenset()  # their top-level packages
        self.clients: tuple[FinderClient, ...] = ()
        self._lock = allocate_lock()
        self._searching: set[tuple[int, str]] = set()
        #: watched modules whose code was fetched to run outside the import
        #: system (``python -m``, ``runpy``): their ops cannot apply
        self.run_directly: set[str] = set()

    def __repr__(self) -> str:
        return f"<npatch finder: {len(self.names)} watched module(s)>"

    # -- the hook ----------------------------------------------------------
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname not in self.names and not (self.trees and self._under_tree(fullname)):
            return None
        key = (get_ident(), fullname)
        if key in self._searching:  # another finder asked the import system again
            return None
        try:  # added inside: a KeyboardInterrupt right after add() must not leave the name unimportable
            self._searching.add(key)
            return self._find(fullname, path, target)
        finally:
            self._searching.discard(key)

    def _under_tree(self, fullname: str) -> bool:
        trees = self.trees
        cut = fullname.find(".")
        if cut < 0 or fullname[:cut] not in self.tree_tops:  # the usual case: one slice, one lookup
            return False
        cut = fullname.rfind(".")
        while cut > 0:
            if fullname[:cut] in trees:
                return True
            cut = fullname.rfind(".", 0, cut)
        return False

    def real_spec(self, fullname: str, path: Any, target: Any = None) -> ModuleSpec | None:
        """What the *other* finders on ``sys.meta_path`` find for ``fullname``."""
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            real = find(fullname, path, target)
            if real is not None:
                return real
        return None

    def _find(self, fullname: str, path: Any, target: Any) -> ModuleSpec | None:
        before = sys.modules.get(fullname)  # importlib.reload asks with the module still there
        real = self.real_spec(fullname, path, target)
        # the ops of this module are read (and their conditions evaluated) now, by every
        # session: those a deferred plan started while the other finders were asked too
        for client in self.clients:
            client.prepare_module(fullname, real is not None)
        module = sys.modules.get(fullname)
        if module is not None and module is not before and getattr(module, "__spec__", None) is not None:
            # preparing imported the very module (a condition's function did): patch it as it is
            for client in self.clients:
                client.module_loaded(fullname, module)
            return loaded_spec(module)
        spec = real
        for client in reversed(self.clients):
            substitute = client.substitute(fullname, real)
            if substitute is not None:
                spec = substitute
                break
        if spec is None:
            return None
        loader = spec.loader
        if loader is None:
            if spec.submodule_search_locations is None:
                return spec
            # what the import system itself does for a namespace package
            loader = NamespaceLoader.__new__(NamespaceLoader)
            loader._path = spec.submodule_search_locations
        elif not hasattr(loader, "exec_module"):
            return spec  # a legacy load_module() loader: no hook point, its ops stay waiting
        if not isinstance(loader, PatchingLoader):
            spec.loader = PatchingLoader(loader, spec, self)
        return spec

    # -- registration --------------------------------------------------------
    def add(self, client: FinderClient) -> None:
        with self._lock:
            self.clients = self.clients + (client,)
            self._refresh()
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def remove(self, client: FinderClient) -> None:
        with self._lock:
            self.clients = tuple(c for c in self.clients if c is not client)
            self._refresh()
            if not self.clients:
                try:
                    sys.meta_path.remove(self)
                except ValueError:
                    pass

    def refresh(self) -> None:
        """Recompute the watched names after a session's set changed."""
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        names: set[str] = set()
        trees: set[str] = set()
        for client in self.clients:
            names.update(client.watched)
            trees.update(client.trees)
        self.names = frozenset(names)
        self.trees = frozenset(trees)
        self.tree_tops = frozenset(name.partition(".")[0] for name in trees)


class _Loaded:
    """The loader of :func:`loaded_spec`: gives back the module it was made for
    and puts the module's real ``__spec__`` back, executing nothing."""

    def __init__(self, module: Any, spec: Any) -> None:
        self.module = module
        self.spec = spec

    def create_module(self, spec: ModuleSpec) -> Any:
        return self.module

    def exec_module(self, module: Any) -> None:
        module.__spec__ = self.spec


def loaded_spec(module: Any) -> ModuleSpec:
    """A spec that makes the import in progress return ``module`` as it is.

    For a finder whose ``find_spec`` imported the very name it was asked for
    (a deferred plan's start evaluating ``version()`` or ``python_version``
    imports ``email``, ``platform``...): whatever spec it returns, the import
    system then uses the loaded module's ``__spec__`` and executes the module
    a second time, so that ``__spec__`` is this one until the import ends.
    """
    spec = ModuleSpec(module.__name__, _Loaded(module, module.__spec__))
    module.__spec__ = spec
    return spec


#: the process-wide finder; it is on ``sys.meta_path`` while any session is active
FINDER = Finder()


__all__ = ["PatchingLoader", "Finder", "loaded_spec", "FINDER"]
