"""pytest plugin (entry point ``pytest11``, name ``npatch``): tests under manifests.

Three things, all opt-in, so a test run that asks for none of them pays for
a few hook calls and nothing else (this module imports only pytest; npatch
itself is imported when an option, fixture, marker or manifest file needs it):

``pytest --npatch M``
    The whole session runs under manifest ``M`` (a ``.toml`` path, a built-in
    or entry-point name, or a saved ``plan.json``; repeatable), in the pytest
    process and in every Python process the tests start, exactly as under
    ``npatch apply M -- pytest``.  ``--npatch-set KEY=VALUE``,
    ``--npatch-disable NAME`` and ``--npatch-strict`` do what ``--set``,
    ``--disable`` and ``--strict`` do for ``npatch apply``.  The ini option
    ``npatch`` lists manifests applied to every run.  The header names the
    plan; the summary counts the ops by status.

the ``npatch`` fixture, and the ``npatch`` marker
    Apply manifests inside one test; everything is restored when the test
    ends (``plan.apply()`` sessions, stopped newest first)::

        def test_old_numpy_code(npatch):
            npatch.apply("numpy-compat")
            assert numpy.float is float

        @pytest.mark.npatch("cuda-to-cpu", sets={"strict_devices": "false"})
        def test_train_step(): ...

    A relative manifest path is looked up in the current directory, then
    beside the test file (``pytest tests/`` run from the project root).
    Markers of the module (``pytestmark``), of a class and of the test itself
    all apply, outermost first (the closest is applied last and wins where
    two patch one target).

    Both are strict by default: in a test, a patch that cannot apply fails
    the test instead of warning.

    While applied, their plans reach the Python processes the test starts,
    as ``--npatch``'s do, in the order the test applied them; when the test
    ends the environment is as it was (:mod:`npatch.pytest_session`).

manifest checks as tests
    A manifest file named on the command line (``pytest manifests/m.toml``),
    or matching a glob of the ini option ``npatch_check_files``, is collected
    as tests: ``compile`` (the compiler with the resolve mode of
    ``npatch_check_resolve``, default ``static``, which executes nothing)
    and one test per ``[[rewrite]]`` rule with examples or valid cases.
"""
from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any

import pytest

# -- options ----------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("npatch", "npatch: run tests under patch manifests")
    group.addoption("--npatch", action="append", default=[], metavar="MANIFEST", dest="npatch_manifests",
                    help="apply MANIFEST (a .toml path, a built-in or entry-point name, or a saved plan.json) "
                         "to the whole session and every Python process it starts; repeatable")
    group.addoption("--npatch-set", action="append", default=[], metavar="KEY=VALUE", dest="npatch_sets",
                    help="override an option of the --npatch manifests; repeatable")
    group.addoption("--npatch-disable", action="append", default=[], metavar="NAME", dest="npatch_disable",
                    help="switch off an op of the --npatch manifests by name; repeatable")
    group.addoption("--npatch-strict", action="store_true", default=False, dest="npatch_strict",
                    help="an op of the --npatch manifests that fails stops the run instead of warning")
    parser.addini("npatch", type="args", default=[],
                  help="manifests applied to every session, as with --npatch")
    parser.addini("npatch_check_files", type="args", default=[],
                  help="glob patterns of manifest files collected as tests (compile, rewrite examples)")
    parser.addini("npatch_check_resolve", default="static",
                  help="resolve mode of the manifest compile check: static (default), import or none")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "npatch(*manifests, sets=None, disable=(), strict=True): apply manifests for this test only; "
        "everything is restored when it ends",
    )
    manifests = [*config.getini("npatch"), *config.getoption("npatch_manifests", default=[])]
    if not manifests:
        return
    run = _SessionPlan(manifests, config.getoption("npatch_sets"), config.getoption("npatch_disable"),
                       config.getoption("npatch_strict"))
    run.start()
    config.pluginmanager.register(run, "npatch-session")


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.pluginmanager.get_plugin("npatch-session")
    if run is not None:
        config.pluginmanager.unregister(run)
        run.stop()


class _SessionPlan:
    """The ``--npatch`` plan of one pytest process (each xdist worker has its own)."""

    def __init__(self, manifests: list[str], sets: list[str], disable: list[str], strict: bool) -> None:
        self.manifests = manifests
        self.sets = sets
        self.disable = disable
        self.strict = strict
        self.session: Any = None
        self.plan: Any = None
        self.notes = ""
        self.environ: Any = None

    def start(self) -> None:
        from npatch import log
        from npatch.errors import NpatchError

        try:
            from npatch.cli import parse_sets
            from npatch.plancache import compiled_plan
            from npatch.pytest_session import ChildEnviron
            from npatch.runtime.launcher_parent import child_environ
            from npatch.runtime.launcher import read_plan
            from npatch.runtime.session import Session

            cached = compiled_plan(self.manifests, parse_sets(self.sets), self.disable)
            self.notes = cached.notes
            self.plan = read_plan(cached.path)
            self.environ = ChildEnviron()
            self.environ.update(child_environ(cached.path, strict=self.strict))
            self.session = Session(self.plan, strict=self.strict, label=",".join(self.manifests)).start()
        except NpatchError as exc:
            self._restore_env()
            raise pytest.UsageError(f"--npatch: {exc}") from None
        log.debug("pytest", "session plan %s started: %d ops", cached.path, len(self.plan.ops))

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.session = None
        self._restore_env()

    def _restore_env(self) -> None:
        if self.environ is not None:
            self.environ.restore()

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        count = len(self.plan.ops)
        lines = [f"npatch: {', '.join(self.manifests)} (plan {self.plan.content_hash[:12]}, "
                 f"{count} op{'s' * (count != 1)}{', strict' if self.strict else ''})"]
        lines += [line for line in self.notes.splitlines() if line]
        return lines

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.session is None:
            return
        statuses = self.session.statuses()
        counts: dict[str, int] = {}
        for status in statuses:
            counts[status.status] = counts.get(status.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        terminalreporter.write_sep("-", f"npatch: {len(statuses)} op{'s' * (len(statuses) != 1)}: {summary or 'none'}")
        for status in statuses:
            if status.status == "failed":
                terminalreporter.write_line(f"failed  {status.name}  {status.target}: {status.reason}")


# -- fixture and marker -----------------------------------------------------------
class NpatchFixture:
    """What the ``npatch`` fixture returns: apply manifests for one test.

    Every session it starts is stopped when the test ends, newest first, so
    the next test sees the original objects.  While a session is active its
    plan reaches the Python processes the test starts
    (:class:`npatch.pytest_session.ChildSession`); when the test ends, each
    variable that put it there is back to its value from before the test,
    even where another fixture (``monkeypatch``) restored its own change to
    it in between.
    """

    def __init__(self, directory: Path | None = None, test_dir: Path | None = None) -> None:
        self._directory = directory
        self._test_dir = test_dir
        self._sessions: list[Any] = []
        self._environ_before = dict(os.environ)

    def _beside_the_test(self, manifest: Any) -> Any:
        """A relative ``.toml``/``.json`` path missing from the current directory
        but present beside the test file (``pytest tests/`` run from the root)."""
        if isinstance(manifest, (list, tuple)):
            return [self._beside_the_test(m) for m in manifest]
        if self._test_dir is None or not isinstance(manifest, (str, Path)):
            return manifest
        path = Path(manifest)
        if path.is_absolute() or path.suffix not in (".toml", ".json") or path.exists():
            return manifest
        beside = self._test_dir / path
        return beside if beside.is_file() else manifest

    def plan(self, *manifests: Any, sets: dict[str, Any] | None = None,
             disable: str | tuple[str, ...] | list[str] = ()) -> Any:
        """Compile ``manifests`` (paths, names, or ``plan.json``) into a Plan without applying it."""
        import npatch

        if len(manifests) == 1 and hasattr(manifests[0], "ops"):
            return manifests[0]
        return npatch.load(*(self._beside_the_test(m) for m in manifests), sets=sets, disable=disable)

    def apply(self, *manifests: Any, sets: dict[str, Any] | None = None,
              disable: str | tuple[str, ...] | list[str] = (), strict: bool = True, rebind: bool = False) -> Any:
        """Apply ``manifests`` (or one Plan) until the test ends; returns the Session.

        ``sets`` overrides options like ``--set``; ``strict`` (default here)
        makes an op that cannot apply raise instead of warn.
        """
        from npatch.pytest_session import ChildSession

        plan = self.plan(*manifests, sets=sets, disable=disable)
        session = ChildSession(plan, strict=strict, rebind=rebind, label=_label(manifests))
        self._sessions.append(session)
        return session.start()

    def manifest(self, text: str, name: str = "manifest.toml") -> Path:
        """Write ``text`` (dedented) as a manifest file for this test; returns its path."""
        import tempfile
        import textwrap

        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="npatch-"))
        path = self._directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def stop(self) -> None:
        """Stop every session this fixture started, newest first, and put back
        the variables they changed as they were when the fixture was made."""
        changed = {key for session in self._sessions for key in session.environ.saved}
        while self._sessions:
            self._sessions.pop().stop()
        if changed:
            from npatch.pytest_session import put_back

            put_back({key: self._environ_before.get(key) for key in changed})


def _label(manifests: tuple[Any, ...]) -> str:
    return ",".join(Path(str(m)).stem if str(m).endswith(".toml") else str(m) for m in manifests) or "plan"


@pytest.fixture
def npatch(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Apply manifests inside one test: ``npatch.apply("numpy-compat")``; restored afterwards."""
    helper = NpatchFixture(tmp_path_factory.mktemp("npatch"), request.path.parent)
    try:
        yield helper
    finally:
        helper.stop()


_MARKER_KEY = pytest.StashKey[NpatchFixture]()


def _markers_outermost_first(item: pytest.Item) -> list[Any]:
    """Every ``npatch`` marker of ``item``: the module's, then its classes',
    then its own (a parametrized case's included), each node's in its order."""
    chain = item.listchain()
    marked = sorted(item.iter_markers_with_node("npatch"), key=lambda pair: chain.index(pair[0]))
    return [marker for _node, marker in marked]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test under ``@pytest.mark.npatch``: apply each marker's manifests,
    outermost first, before its fixtures are set up."""
    markers = _markers_outermost_first(item)
    if not markers:
        return
    helper = NpatchFixture(test_dir=item.path.parent)
    item.stash[_MARKER_KEY] = helper
    from npatch.errors import NpatchError

    for marker in markers:
        try:
            helper.apply(*marker.args, **marker.kwargs)
            continue
        except NpatchError as exc:
            problem = f"@pytest.mark.npatch{marker.args!r}: {exc}"
        except TypeError as exc:
            problem = f"@pytest.mark.npatch: {exc} (it takes manifests, sets=, disable=, strict=, rebind=)"
        helper.stop()
        pytest.fail(problem, pytrace=False)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Restore after the test's fixtures are torn down."""
    helper = item.stash.get(_MARKER_KEY, None)
    if helper is not None:
        helper.stop()


# -- manifests collected as tests -------------------------------------------------
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Any:
    if file_path.suffix != ".toml":
        return None
    patterns = parent.config.getini("npatch_check_files")
    wanted = parent.session.isinitpath(file_path) or any(
        fnmatch.fnmatch(file_path.name, p) or fnmatch.fnmatch(str(file_path), p) for p in patterns)
    if not wanted or not _is_manifest(file_path):
        return None
    return ManifestFile.from_parent(parent, path=file_path)


def _is_manifest(path: Path) -> bool:
    from npatch.outfiles import read_input

    try:
        text = read_input(str(path)).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.strip() == "[manifest]" for line in text.splitlines())


class ManifestFile(pytest.File):
    """A manifest: a ``compile`` check, then one check per rewrite rule with cases."""

    def collect(self) -> Any:
        yield CompileCheck.from_parent(self, name="compile")
        from npatch.errors import NpatchError

        try:
            plan = _compile(self.path, "none").plan
        except NpatchError:
            return  # the compile check reports it
        for rewrite in plan.rewrites:
            if rewrite.examples or rewrite.valid:
                yield RewriteCheck.from_parent(self, name=f"rewrite:{rewrite.id}", rewrite=rewrite)


def _compile(path: Path, resolve: str) -> Any:
    from npatch.compiler import compile_manifests

    return compile_manifests([str(path)], resolve=resolve)


class CheckFailed(Exception):
    """A manifest check found problems; the message lists them."""


class _Check(pytest.Item):
    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        from npatch.errors import NpatchError

        if isinstance(excinfo.value, (CheckFailed, NpatchError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.name


class CompileCheck(_Check):
    """The manifest compiles, and its paths resolve (``npatch_check_resolve``)."""

    def runtest(self) -> None:
        resolve = self.config.getini("npatch_check_resolve") or "static"
        result = _compile(self.path, resolve)
        if result.errors:
            raise CheckFailed("\n".join(str(d) for d in result.errors))


class RewriteCheck(_Check):
    """A rewrite rule turns each example's ``before`` into its ``after`` and
    leaves each ``valid`` case unchanged."""

    def __init__(self, *, rewrite: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rewrite = rewrite

    def runtest(self) -> None:
        from npatch.rewrite.testing import check_rewrite, format_results

        result = check_rewrite(self.rewrite)
        if result.status == "failed":
            raise CheckFailed(format_results([result]))


__all__ = ["pytest_addoption", "pytest_configure", "pytest_unconfigure", "NpatchFixture", "npatch",
           "pytest_runtest_setup", "pytest_runtest_teardown", "pytest_collect_file", "ManifestFile", "CheckFailed",
           "CompileCheck", "RewriteCheck"]
