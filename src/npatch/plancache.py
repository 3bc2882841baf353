"""Compiled plans, cached per user so that ``npatch apply`` skips the compiler.

Why a cache: compiling imports tomli and lark (about 50 ms here) and reads
every manifest; a launcher that wraps every training run should cost no more
than one interpreter start-up.  A hit reads its entry, checks that the paths
the compiler named still lead to the files it read and the stat of those
files (hashing with SHA-256 only those changed since it was written), and
imports neither the compiler nor ``json``.

Layout of the cache directory (``$XDG_CACHE_HOME/npatch``, else
``~/.cache/npatch``; it must be a real directory owned by the user and not
writable by group or others, and is created with mode 0700; so must
``keys/`` and ``plans/`` be, and a file there is read only when it is a
regular file of the user's that nobody else can write, never through a link)::

    keys/<key>             one entry per request (see :func:`request_key`)
    keys/<key>.notes       compiler warnings, printed again on every hit
    plans/<hash>.json      the plan as canonical JSON (Plan.canonical_json): sha256(bytes) == hash
                           == Plan.content_hash, so the name proves the content
    plans/<hash>.marshal   the same plan in marshal form (Plan.to_marshal),
                           which child processes read without importing json,
                           then the JSON file's identity (runtime.json_stamp):
                           a child compares it with one stat of the JSON and reads
                           the JSON instead where they differ (an edited plan)
    plans/<hash>.modules   modules whose import needs the plan (see
                           :func:`trigger_modules`), read by the bootstrap

An entry is text, one record a line::

    npatch-cache <FORMAT> <npatch version>
    plan <hash> <stamp>
    modules <sha256 of the .modules file, or - when the plan starts eagerly> <stamp>
    marshal <sha256 of the .marshal file> <stamp>
    source <size> <sha256> <stamp> <real path>        (every manifest read, includes too)
    via <absolute path>                               (after a source: each path the compiler
                                                       named that led to it through a link)

Verified before use: every path the compiler named must still lead to the
same real file (``os.path.realpath``; a source without ``via`` lines was
named as itself, which must still hold no link): a link on the way,
pointed elsewhere, changes what the compiler would read (the file, and the
folder its own includes are found in) though no file recorded changed.
Every source must still hash to its recorded digest
(a size mismatch or a missing file is a miss without hashing), the plan
file to its name, and the module list and the marshal copy to theirs.  A
file's *stamp* (see :func:`stamp`: size, inode, mtime and ctime, as git's
index keeps them, less the device, which NFS clients see differently) stands
in for its content: when the file's stat, taken through the descriptor opened
to read it (:func:`_unchanged`), still gives the recorded stamp it is not read
(a 200-op plan's three files are ~100 KiB, whose hashing was most of a cache
hit's cost).  ctime is the
part nobody can set (``cp -p``, ``git checkout`` and ``touch -d`` keep or set
mtime, not ctime), and a stamp is only recorded for a file whose last change
is :data:`SETTLED_NS` old: a write within the same timestamp tick as the one
recorded would leave the stat unchanged (git's "racy" files), so a file
changed that recently is hashed on every hit until it has settled.  Stamps
are "-" when an entry is written (its plan files have just been written), and
the first hit that hashes settled files writes the entry again with their
stamps.
Anything that does not verify is a miss: the plan is compiled again and the
entry rewritten, so a damaged or tampered cache heals itself.

Nothing is ever deleted automatically: a plan file may be in use by a
long-running job whose spawned workers read it later.  Removing the whole
directory is safe when no job runs.
"""
import os
import sys
import time
from stat import S_ISREG

from npatch.outfiles import owned_regular
from npatch.runtime import STAMP, json_stamp
from npatch.runtime import read_file as _read_file
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~7 ms to import: too much for every child process
    from typing import Any

FORMAT = 7  # 4: the marshal copy's index lists the conditions evaluated at start; 5: its ops in runs;
# 6: file stamps in the entry, and a run's equal conditions stored once in the marshal copy;
# 7: the paths named through links ("via"): a format-6 entry would verify with a link moved


def _sha256_type() -> "Any":
    """SHA-256 without loading OpenSSL: ``hashlib`` costs ~2 ms to import,
    the interpreter's own implementation nothing.  Same digest either way."""
    for name in ("_sha256", "_sha2"):  # 3.11, 3.12+
        try:
            return __import__(name).sha256
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256


sha256 = _sha256_type()


def digest(data: bytes) -> str:
    return sha256(data).hexdigest()


# -- the directory -----------------------------------------------------------
def cache_dir() -> str | None:
    """The user's private npatch cache directory (:func:`npatch.outfiles.user_cache_dir`)."""
    from npatch.outfiles import user_cache_dir

    return user_cache_dir()


# -- keys and entries -----------------------------------------------------------
def looks_like_path(spec: str) -> bool:
    """The rule of :func:`npatch.dsl.discovery.looks_like_path` (kept in step
    with it), without importing the dsl package on the fast path."""
    return spec.endswith((".toml", ".json")) or os.sep in spec or "/" in spec or spec.startswith(".")


def resolved_spec(spec: str) -> str:
    """A spec as the key sees it: the real absolute path of a file, else the
    name (a built-in or entry-point manifest, whose file the entry records)."""
    if looks_like_path(spec) or os.path.isfile(spec):
        return "path:" + os.path.realpath(spec)
    return "name:" + spec


#: which copy of npatch this is: a built-in manifest is named, not given by
#: path, so two installations of one version sharing a user cache (two
#: checkouts, two virtual environments) must not get each other's plans
_INSTALLATION = os.path.dirname(os.path.realpath(__file__))


#: the folders of the code that compiles, below :data:`_INSTALLATION`: the
#: compiler imports only the package's top-level modules, ``dsl`` and
#: ``compiler`` (the layers, tests/plan/test_import_shape.py) and reads ``grammar``
_COMPILER_FOLDERS = ("", "dsl", "compiler", "grammar")


def compiler_identity() -> list[tuple[str, str, int, int, int]]:
    """Folder, name, size, mtime and inode of every file of npatch's compiler.

    The version alone misses an upgrade in place that keeps it (a checkout
    after ``git pull``, an editable install): its plans, and the warnings
    cached with them, would be those of the old code.  An upgrade writes new
    files, so their stat changes; stat, not a hash, because every cache hit
    of ``npatch apply`` pays it (about 30 files; a spurious change only
    compiles once more).  A folder that cannot be listed (npatch run from a
    zip file) adds nothing: the version still names that installation."""
    found = []
    for folder in _COMPILER_FOLDERS:
        try:
            with os.scandir(os.path.join(_INSTALLATION, folder)) as entries:
                for entry in entries:
                    if entry.is_file():
                        info = entry.stat()
                        found.append((folder, entry.name, info.st_size, info.st_mtime_ns, info.st_ino))
        except OSError:
            continue
    return sorted(found)


def request_key(specs: list[str], sets: dict[str, str], disable: list[str], resolve: str = "none") -> str:
    """Everything a plan depends on besides the manifests' contents, hashed:
    this npatch (version, folder, :func:`compiler_identity`) and the request."""
    from npatch import __version__

    material = (
        FORMAT, __version__, _INSTALLATION, compiler_identity(), [resolved_spec(s) for s in specs],
        sorted(sets.items()), sorted(disable), resolve,
    )
    return digest(repr(material).encode("utf-8"))


#: how old a file's last change must be before its stat may stand for its content: a write
#: within the timestamp tick of the change recorded keeps mtime and ctime (ext4 and tmpfs tick
#: with the kernel's coarse clock, some file systems by the second, FAT by two seconds)
SETTLED_NS = 2_000_000_000


def stamp(info: os.stat_result, now_ns: int) -> str:
    """The stat of a file that stands for its content (``size:inode:mtime:ctime``),
    or ``-`` while it has changed too recently (:data:`SETTLED_NS`) for that; not
    the device, which differs between the NFS clients of one shared cache."""
    if max(info.st_ctime_ns, info.st_mtime_ns) >= now_ns - SETTLED_NS:
        return "-"
    return f"{info.st_size}:{info.st_ino}:{info.st_mtime_ns}:{info.st_ctime_ns}"


class Entry:
    """A parsed cache entry: the plan it names and the sources it depends on;
    ``stamps`` are those of the plan, module list, marshal copy and each source, in that order."""

    def __init__(self, plan_hash: str, modules_hash: str, marshal_hash: str,
                 sources: list[tuple[int, str, str, tuple[str, ...]]], stamps: list[str] | None = None) -> None:
        self.plan_hash = plan_hash
        self.modules_hash = modules_hash  # "-": no module list
        self.marshal_hash = marshal_hash
        self.sources = sources  # (size, sha256, real path, the other paths named that led to it)
        self.stamps = stamps or ["-"] * (3 + len(sources))

    def dumps(self) -> str:
        from npatch import __version__

        plan, modules, marshalled, *sources = self.stamps
        lines = [f"npatch-cache {FORMAT} {__version__}", f"plan {self.plan_hash} {plan}",
                 f"modules {self.modules_hash} {modules}", f"marshal {self.marshal_hash} {marshalled}"]
        for (size, sha, path, names), mark in zip(self.sources, sources):
            lines.append(f"source {size} {sha} {mark} {path}")
            lines += [f"via {name}" for name in names]
        return "\n".join(lines) + "\n"

    @classmethod
    def loads(cls, text: str) -> "Entry | None":
        from npatch import __version__

        lines = text.split("\n")
        if len(lines) < 4 or lines[0] != f"npatch-cache {FORMAT} {__version__}":
            return None
        files = []
        for line, kind in zip(lines[1:4], ("plan", "modules", "marshal")):
            words = line.split(" ")
            if len(words) != 3 or words[0] != kind:
                return None
            files.append(words[1:])
        sources, stamps = [], [mark for _, mark in files]
        for line in lines[4:]:
            if not line:
                continue
            kind, _, rest = line.partition(" ")
            if kind == "via" and sources and rest:
                sources[-1][3].append(rest)
                continue
            size, _, rest = rest.partition(" ")
            sha, _, rest = rest.partition(" ")
            mark, _, path = rest.partition(" ")
            if kind != "source" or not size.isdigit() or len(sha) != 64 or not mark or not path:
                return None
            sources.append((int(size), sha, path, []))
            stamps.append(mark)
        (plan, _), (modules, _), (marshalled, _) = files
        return cls(plan, modules, marshalled, [(*source[:3], tuple(source[3])) for source in sources], stamps)

    def verify(self, plans_dir: str) -> list[str] | None:
        """The stamps of the entry's files now, when each still has the recorded
        content (the plan file ``plans_dir/<hash>.json``, the one its name promises)
        and each path named still leads to its source, else ``None``."""
        if any(os.path.realpath(name) != path for _, _, path, names in self.sources for name in names or (path,)):
            return None  # a link on the way points elsewhere now (or a file became one)
        base = os.path.join(plans_dir, self.plan_hash)
        files = [(base + ".json", self.plan_hash, owned_regular), (base + ".modules", self.modules_hash, owned_regular),
                 (base + ".marshal", self.marshal_hash, owned_regular)]
        # a FIFO or a directory now at a manifest's name: a miss
        files += [(path, sha, lambda info, size=size: info.st_size == size and S_ISREG(info.st_mode))
                  for size, sha, path, _ in self.sources]
        now_ns = time.time_ns()
        found = []
        for (path, sha, accept), mark in zip(files, self.stamps):
            if sha == "-":  # no module list: none may be there
                now = "-" if _read(path) is None else None
            else:
                now = _unchanged(path, sha, mark, accept, now_ns)
            if now is None:
                return None
            found.append(now)
        return found


def _unchanged(path: str, sha: str, mark: str, accept: "Any", now_ns: int) -> str | None:
    """The :func:`stamp` of the file at ``path`` when its content still hashes to
    ``sha``, else ``None``; read and hashed only when its stat no longer gives
    ``mark``.  The stat is taken through the descriptor opened to read it: an
    NFS client answers ``stat()`` from its attribute cache (seconds old: a
    manifest just edited on another node would still give its old stamp), but
    checks with the server on ``open()`` (close-to-open consistency).  A file
    of the cache (``accept`` is :func:`owned_regular`) is never followed
    through a link."""
    opened: list[tuple[os.stat_result, bool]] = []  # its stat, and whether that still gives ``mark``

    def read_unless_stamped(info: os.stat_result) -> bool:
        stamped = mark != "-" and accept(info) and stamp(info, now_ns) == mark
        opened.append((info, stamped))
        return accept(info) and not stamped

    data = _read_file(path, read_unless_stamped, os.O_NOFOLLOW if accept is owned_regular else 0)
    if opened and opened[0][1]:
        return mark
    if data is None or digest(data) != sha:
        return None
    return stamp(opened[0][0], now_ns)


def _read(path: str) -> bytes | None:
    """The content of the cache file ``path`` when it is a regular file of
    this user's that nobody else can write, else ``None`` (a miss): a file
    or a link planted while the directory was open to others is not trusted."""
    return _read_file(path, owned_regular, os.O_NOFOLLOW)


def _subdir(root: str, name: str, make: bool) -> str:
    """``root/name`` when it is a private directory of this user's (made if
    ``make``); :class:`OSError` saying why when it is missing or something
    else is there (a link planted while ``root`` was open to others)."""
    from npatch.outfiles import unsafe_dir

    path = os.path.join(root, name)
    if make:
        os.makedirs(path, mode=0o700, exist_ok=True)
    problem = unsafe_dir(os.lstat(path))
    if problem is not None:
        raise OSError(f"{path} {problem}")
    return path


def _write(path: str, data: bytes) -> None:
    """Atomic and private: a reader sees the old file or the whole new one."""
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# -- lookups and stores -----------------------------------------------------------
class CachedPlan:
    """A plan file ready for a child process, and what the compiler said."""

    def __init__(self, path: str, notes: str, hit: bool) -> None:
        self.path = path
        self.notes = notes
        self.hit = hit
        #: a private directory holding the plan, removed at exit (no usable cache)
        self.temporary: str | None = None
        #: the plan as an ``NPATCH_PLAN_DATA`` value, when no file could hold it (``path`` is then "")
        self.inline: str | None = None


def lookup(root: str, key: str) -> CachedPlan | None:
    """A verified hit, or ``None``."""
    try:
        keys_dir, plans_dir = _subdir(root, "keys", False), _subdir(root, "plans", False)
    except OSError:
        return None  # missing, or not ours: compiled_plan's store says why
    keys = os.path.join(keys_dir, key)
    raw = _read(keys)
    if raw is None:
        return None
    try:
        entry = Entry.loads(raw.decode("utf-8", "surrogateescape"))
    except UnicodeDecodeError:
        return None
    stamps = None if entry is None else entry.verify(plans_dir)
    if stamps is None:
        return None
    base = os.path.join(plans_dir, entry.plan_hash)
    if (stamps[0], stamps[2]) != (entry.stamps[0], entry.stamps[2]) or "-" in (stamps[0], stamps[2]):
        if not _stamped(base):  # the plan or its marshal copy read again: do they still belong together?
            return None
    if stamps != entry.stamps:  # files read and hashed: record their stamps, so the next hit need not
        entry.stamps = stamps
        try:
            _write(keys, entry.dumps().encode("utf-8", "surrogateescape"))
        except OSError:
            pass  # a full disk: the entry still verifies, by hashing
    notes = _read(keys + ".notes")
    return CachedPlan(base + ".json", notes.decode("utf-8", "replace") if notes else "", hit=True)


def _stamped(base: str) -> bool:
    """Whether the marshal copy ``base.marshal`` was made from the JSON file
    ``base.json`` as it is (a copied cache, or a JSON rewritten alike, is a miss
    that writes it again: children would read the JSON instead, ``json_stamp``)."""
    marshalled = _read(base + ".marshal")
    try:
        return marshalled is not None and marshalled.endswith(json_stamp(os.stat(base + ".json")))
    except OSError:
        return False


def unstamped(marshalled: bytes) -> bytes:
    """A cached marshal copy without its :func:`~npatch.runtime.json_stamp`."""
    return marshalled[: marshalled.rindex(STAMP)]


def trigger_modules(plan: "Any") -> list[str] | None:
    """Module names whose import must start the session, or ``None`` when the
    plan must start at once.

    Every module an op names (targets, ``also`` paths, ``during``) and all
    their parent packages: the parent of a stub or an alias may itself be
    served by the plan (a stub or an alias of it), which needs the session
    before the parent is imported.  Starting early
    is always correct; the list only lets a process that imports none of
    them skip loading the plan.
    """
    from npatch.opkinds import BUILTIN_OP_KINDS

    names: set[str] = set()
    for op in plan.ops:
        info = BUILTIN_OP_KINDS.get(op.kind)
        if info is None or not info.deferrable:  # an extension kind starts the plan at once
            return None
        modules = [t.module for t in op.targets] + ([op.during] if op.during else [])
        for module in modules:
            if not module:
                return None
            parts = module.split(".")
            names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(names)


def store(root: str, key: str | None, plan: "Any", followed: list[tuple[str, str]], notes: str,
          started_ns: int) -> CachedPlan:
    """Write the plan (and, when ``key`` is given and no source changed while
    compiling, the entry that finds it again); ``followed``: each path the compiler
    named, and the file it read there (``CompileResult.followed``)."""
    data = plan.canonical_json()
    plan_hash = digest(data)
    plans = _subdir(root, "plans", True)
    plan_path = os.path.join(plans, plan_hash + ".json")
    if _read(plan_path) != data:
        _write(plan_path, data)
    marshalled = plan.to_marshal() + json_stamp(os.stat(plan_path))
    marshal_path = os.path.join(plans, plan_hash + ".marshal")
    if _read(marshal_path) != marshalled:
        _write(marshal_path, marshalled)
    modules = trigger_modules(plan)
    modules_path = os.path.join(plans, plan_hash + ".modules")
    modules_data = None if modules is None else "\n".join(modules).encode("utf-8")
    if modules_data is None:
        if os.path.exists(modules_path):
            os.unlink(modules_path)
    elif _read(modules_path) != modules_data:
        _write(modules_path, modules_data)
    if key is not None:
        recorded = _hash_sources(followed, started_ns)
        if recorded is not None:
            keys = _subdir(root, "keys", True)
            modules_hash = digest(modules_data) if modules_data is not None else "-"
            entry = Entry(plan_hash, modules_hash, digest(marshalled), recorded)
            # the source paths as ``os`` has them: an undecodable byte of a file name
            # is a lone surrogate, written back as that byte (surrogateescape)
            _write(os.path.join(keys, key), entry.dumps().encode("utf-8", "surrogateescape"))
            notes_path = os.path.join(keys, key + ".notes")
            if notes:
                _write(notes_path, notes.encode("utf-8", "surrogateescape"))
            elif os.path.exists(notes_path):
                os.unlink(notes_path)
    return CachedPlan(plan_path, notes, hit=False)


def _hash_sources(followed: list[tuple[str, str]], started_ns: int) -> list[tuple[int, str, str, tuple[str, ...]]] | None:
    """(size, sha256, real path, the other paths named that led to it) of each
    file read, or ``None`` when one was modified after compiling began, or a
    path named leads elsewhere now (the plan may predate that content)."""
    names: dict[str, list[str]] = {}
    for named, used in followed:
        real = os.path.realpath(named)
        if real != os.path.realpath(used):
            return None
        names.setdefault(real, []).append(named)
    recorded = []
    for path, named in names.items():
        data = _read_file(path, lambda info: S_ISREG(info.st_mode) and info.st_mtime_ns < started_ns)
        if data is None or any("\n" in name for name in (path, *named)):
            return None
        recorded.append((len(data), digest(data), path, tuple(dict.fromkeys(n for n in named if n != path))))
    return recorded


def compiled_plan(specs: list[str], sets: dict[str, str], disable: list[str], *,
                  environment: bool = False) -> CachedPlan:
    """The plan for a request: from the cache when it verifies, else compiled
    (importing the compiler) and stored.

    The cache never stops a program: when it cannot be used (not private,
    not writable, a file in its place, disk full, ``ulimit -f``) one warning
    is printed and the plan goes to a private temporary directory, removed
    when this process exits (``CachedPlan.temporary`` names it).  When no
    file can be written at all and ``environment`` is true (the caller can
    pass the plan in ``NPATCH_PLAN_DATA``), ``CachedPlan.inline`` holds it."""
    root = cache_dir()
    key = request_key(specs, sets, disable) if root is not None else None
    if root is not None and key is not None:
        hit = lookup(root, key)
        if hit is not None:
            return hit
    started_ns = time.time_ns()
    plan, followed, notes = _compile(specs, sets, disable)
    return _stored(root, key, plan, followed, notes, started_ns, environment)


def plan_file(plan: "Any") -> CachedPlan:
    """A plan already in memory (compiled, or built in code) as a file a child
    process can start: in the cache, named by its hash, or where
    :func:`compiled_plan` puts one when the cache cannot be used."""
    return _stored(cache_dir(), None, plan, [], "", time.time_ns(), False)


def _stored(root: str | None, key: str | None, plan: "Any", followed: list[tuple[str, str]], notes: str,
            started_ns: int, environment: bool) -> CachedPlan:
    """``plan`` stored in the cache ``root`` (under ``key`` when given), else in a
    private temporary directory, else inline (``environment``): see :func:`compiled_plan`."""
    if root is None:
        from npatch.outfiles import user_cache_problem

        problem = (f"no private cache directory: {user_cache_problem() or 'it changed while it was checked'} (it must be a directory of yours, "
                   "not a link, not group/world-writable; or set $XDG_CACHE_HOME)")
    else:
        try:
            return store(root, key, plan, followed, notes, started_ns)
        except OSError as exc:
            problem = f"cannot write the plan cache {root}: {exc.strerror or exc}"
    temporary = _temporary_dir()
    limit = _lift_file_size_limit()
    try:
        cached = store(temporary, None, plan, followed, notes, started_ns)
        cached.temporary = temporary
        where = f"the plan is kept in {temporary}, removed at exit"
    except OSError as exc:
        cached = _in_environment(plan, notes, f"{temporary}: {exc.strerror or exc}", environment)
        where = "no file can hold the plan; it travels in the environment (NPATCH_PLAN_DATA)"
    finally:
        if limit is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    message = f"npatch: warning: {problem}; {where}"
    if message not in _WARNED:  # once per process: a test run applies many plans
        _WARNED.add(message)
        print(message, file=sys.stderr)
    return cached


def _in_environment(plan: "Any", notes: str, why: str, allowed: bool) -> CachedPlan:
    """The plan as an inline ``NPATCH_PLAN_DATA`` value (a full disk, a hard
    ``ulimit -f``: no file can be written), when the caller can hand it on
    that way and it fits in one variable; else a usage error saying why."""
    from npatch.errors import UsageError

    value = None
    if allowed:
        modules = trigger_modules(plan)
        value = inline_value(digest(plan.canonical_json()), None if modules is None else tuple(modules),
                             plan.to_marshal())
    if value is None:
        raise UsageError(f"cannot write the plan anywhere ({why})")
    cached = CachedPlan("", notes, hit=False)
    cached.inline = value
    return cached


def _lift_file_size_limit() -> tuple[int, int] | None:
    """Raise a soft ``ulimit -f`` to the hard limit (the plan must be written
    once); returns the limits to put back, or None when nothing changed."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft == hard:
        return None
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    return soft, hard


#: the private directory this process keeps plans in while the cache cannot be used
_TEMPORARY: list[str] = []
#: the warnings :func:`_stored` printed in this process
_WARNED: set[str] = set()


def _temporary_dir() -> str:
    """This process's private directory (mode 0700) for plans, made at the
    first need and removed when the process exits: every plan of a test run
    (each ``npatch.apply()``) goes there; a new one replaces it if it is gone."""
    if _TEMPORARY:
        from npatch.outfiles import unsafe_dir

        try:
            if unsafe_dir(os.lstat(_TEMPORARY[0])) is None:
                return _TEMPORARY[0]
        except OSError:
            pass
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="npatch-plan-")
    atexit.register(shutil.rmtree, path, True)
    _TEMPORARY[:] = [path]
    return path


def _compile(specs: list[str], sets: dict[str, str], disable: list[str]) -> "tuple[Any, list[tuple[str, str]], str]":
    """Compile like ``npatch compile`` does (static check included, executing
    nothing); an invalid manifest raises, warnings and what the check found
    become notes.  Returns the plan, each path named with the file read there
    (``CompileResult.followed``), and the notes."""
    if len(specs) == 1 and specs[0].endswith(".json"):
        from pathlib import Path

        from npatch.compiler import read_plan

        if sets or disable:
            from npatch.errors import UsageError

            raise UsageError("--set and --disable apply to manifests, not to a saved plan; recompile it instead")
        path = Path(specs[0])
        return read_plan(path), [(str(path.absolute()), specs[0])], ""
    from npatch.compiler import compile_manifests, run_notes
    from npatch.errors import ManifestErrors

    result = compile_manifests(specs, sets=sets, disable=disable, resolve="static")
    errors, notes = run_notes(result)
    if errors:
        raise ManifestErrors([d.as_error() for d in errors])
    return result.plan, list(result.followed), notes


# -- the plan as an NPATCH_PLAN_DATA value (the format is npatch.runtime.shipped's) ----
#: Linux's MAX_ARG_STRLEN: exec fails (E2BIG) on a longer ``NAME=value``
MAX_VARIABLE = 128 * 1024


def inline_value(plan_hash: str, modules: tuple[str, ...] | None, marshalled: bytes) -> str | None:
    """The inline ``NPATCH_PLAN_DATA`` value of a plan held in memory, or
    None when it is too long for one environment variable."""
    value = value_for(plan_hash, "inline", (modules, marshalled))
    return value if fits(value) else None


def value_for(plan_hash: str, route: str, body: "Any") -> str:
    import binascii
    import marshal
    import zlib

    from npatch import __version__
    from npatch.runtime.shipped import FORMAT

    payload = binascii.b2a_base64(zlib.compress(marshal.dumps(body), 9), newline=False).decode("ascii")
    return f"{FORMAT}:{__version__}:{plan_hash}:{route}:{payload}"


def fits(value: str) -> bool:
    from npatch.runtime import ENV_DATA

    return len(ENV_DATA) + 1 + len(value) < MAX_VARIABLE


__all__ = ["FORMAT", "sha256", "digest", "cache_dir", "looks_like_path", "resolved_spec", "compiler_identity", "request_key", "Entry",
           "CachedPlan", "lookup", "trigger_modules", "store", "compiled_plan", "plan_file", "MAX_VARIABLE", "inline_value",
           "value_for", "fits"]
