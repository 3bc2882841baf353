"""Writing the files a user names (``--report F``, ``-o F``) without following anyone's symlinks,
and reading them (manifests, saved plans, reports) without blocking (:func:`read_input`).

These paths often lie in shared, world-writable directories, and npatch
often runs as root there, so:

* a file is written as a temporary file created with ``O_CREAT | O_EXCL |
  O_NOFOLLOW`` inside a directory that this user owns and nobody else can
  write (a fresh ``.npatch-XXXXXXXX`` directory beside ``F``, or the
  report's own ``F.d``), then renamed onto ``F``: a symlink planted at ``F``
  is replaced, never followed, and nobody can swap the temporary file;
* such a directory, when it already exists, must be a real directory owned
  by this user and not writable by group or others: otherwise the run stops
  with a one-line error (:class:`~npatch.errors.UsageError`, exit 2);
* only files are written: a device, a socket, or a link to one, to a pipe
  or into ``/proc`` (``/dev/null``, ``/dev/stdout``) is refused, since
  replacing it (as root) would break the system, not write a file;
* :func:`check_writable` tries all this before a program starts, so a
  missing directory or an impossible path (``/proc/x.json``) is an error
  up front, not a traceback at exit.

Only :mod:`os` and :mod:`stat`: processes import this at exit.
"""
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from npatch.errors import UsageError


def private_dir(path: str) -> str:
    """``path`` as a directory only this user can write: made with mode 0700,
    or checked when it exists; :class:`UsageError` when it is not safe."""
    try:
        os.mkdir(path, 0o700)
        return path
    except FileExistsError:
        pass
    problem = unsafe_dir(os.lstat(path))
    if problem is None:
        return path
    from npatch.errors import UsageError  # the plan cache's hot path reads this module: errors only when needed

    raise UsageError(f"{path} {problem}; remove it or choose another file name")


def unsafe_dir(st: os.stat_result) -> str | None:
    """Why a directory with ``lstat`` result ``st`` is not safe to write into
    (a link, not a directory, another user's, writable by others); ``None``
    when it is."""
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "exists and is not a directory"
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return f"is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()})"
    if mode & 0o022:
        return f"is writable by others (mode {mode:04o})"
    return None


def owned_regular(info: os.stat_result) -> bool:
    """``info`` (an ``fstat``) is of a regular file of this user's that group
    and others cannot write: a cache file anyone else could have made or
    changed is not trusted."""
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def user_cache_dir() -> str | None:
    """npatch's per-user cache directory (``$XDG_CACHE_HOME/npatch``, else
    ``~/.cache/npatch``), created if needed; ``None`` when it is missing and
    cannot be made, or fails the ownership/mode check
    (:func:`user_cache_problem` says which).  The plan cache and the
    grammar's parser cache both live there."""
    path = _user_cache_path()
    return path if _cache_dir_problem(path) is None else None


def user_cache_problem() -> str | None:
    """Why :func:`user_cache_dir` is ``None``, naming the directory; ``None`` when it is not."""
    path = _user_cache_path()
    problem = _cache_dir_problem(path)
    return None if problem is None else f"{path} {problem}"


def _user_cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):  # the XDG spec: relative values are invalid
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "npatch")


def _cache_dir_problem(path: str) -> str | None:
    """Why ``path`` is not a directory we own that nobody else can write to; ``None`` when it is.

    A directory someone else controls could hand us a plan that runs their
    code in our processes, so it is refused (the caller then compiles
    without a cache); so is a link, even to a directory of ours.  Our own
    directory that is merely readable by others is tightened to 0700: plans
    name files and options of the user's jobs.
    """
    if not os.path.isabs(path):  # a relative $HOME: under whatever directory the program runs in
        return "is a relative path ($HOME is not absolute)"
    problem = _foreign_ancestor(os.path.dirname(path))
    if problem is not None:
        return problem
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        failed: OSError | None = exc  # a file or a link in its place says so below
    else:
        failed = None
    try:
        info = os.lstat(path)
    except OSError:
        return f"cannot be made ({failed.strerror or failed})" if failed else "vanished while it was checked"
    problem = unsafe_dir(info)
    if problem is not None:
        return problem
    if info.st_mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError as exc:
            return f"cannot be closed to group and others ({exc.strerror or exc})"
    return None


def _foreign_ancestor(folder: str) -> str | None:
    """Why a directory made in ``folder`` could be swapped by someone else
    (``folder`` or a folder above it, links resolved, belongs to another user
    than this one and root, or others can write it without the sticky bit
    that ``/tmp`` has); ``None`` when nobody else can.  A swap after the
    checks would put their files under the plan files that children read
    later (``sudo`` keeping the invoking user's ``HOME``)."""
    current = os.path.realpath(folder)
    while True:
        try:
            info = os.stat(current)
        except OSError:
            info = None  # not there yet: made by us, below a folder checked next
        if info is not None and hasattr(os, "geteuid"):
            mode = stat.S_IMODE(info.st_mode)
            if info.st_uid not in (os.geteuid(), 0):
                return f"is inside {current}, which is owned by uid {info.st_uid}"
            if mode & 0o022 and not mode & stat.S_ISVTX:
                return f"is inside {current}, which others can write (mode {mode:04o}, no sticky bit)"
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def write_file(path: str, data: bytes, *, private: str | None = None) -> None:
    """Replace ``path`` by a new file holding ``data`` (see the module doc).

    ``private`` is a directory made by :func:`private_dir` on the same file
    system; without it a fresh one is made beside ``path`` and removed."""
    directory = os.path.dirname(os.path.abspath(path))
    fresh = private is None
    work = _fresh_dir(directory) if fresh else private
    tmp = os.path.join(work, f".{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            mask = os.umask(0o022)
            os.umask(mask)
            os.fchmod(fd, 0o666 & ~mask)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if fresh:
            os.rmdir(work)


def check_writable(path: str, option: str) -> str:
    """The absolute ``path`` once a file can be written there; else
    :class:`UsageError` naming ``option`` (a one-line reason)."""
    from npatch.errors import UsageError

    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise UsageError(f"{option} {path}: no such directory: {directory}")
    if os.path.isdir(path) and not os.path.islink(path):
        raise UsageError(f"{option} {path}: is a directory")
    special = _special(path)
    if special:
        raise UsageError(f"{option} {path}: {special}, not a regular file; npatch writes only files")
    try:
        os.rmdir(_fresh_dir(directory))
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write in {directory}: {exc.strerror or exc}") from None
    return path


def read_head(path: str, size: int) -> bytes | None:
    """The first ``size`` bytes of ``path`` when it is a regular file (never
    following a link, never blocking on a pipe); ``None`` when it is not one
    or does not exist.  An unreadable file raises :class:`OSError`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        import errno

        if exc.errno in (errno.ELOOP, errno.ENXIO):  # a link, a socket: not a regular file
            return None
        raise
    try:
        return os.read(fd, size) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    finally:
        os.close(fd)


def read_input(path: str, limit: int = 0) -> bytes:
    """The content of the regular file ``path`` a user named (a manifest, a
    saved plan, a report), opened without blocking, so a FIFO or a device at
    the name is no hang; :class:`OSError` whose ``strerror`` says why for
    anything else (a directory, a FIFO, a device) or, with ``limit``, for a
    file larger than ``limit`` bytes.  (A child reads its plan's cache copies
    with :func:`npatch.runtime.read_file`, the same way without
    importing this module.)"""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(None, f"is {file_kind(mode)}, not a regular file")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if limit and size > limit:
                raise OSError(None, f"larger than {limit >> 20} MiB")
        return b"".join(chunks)
    finally:
        os.close(fd)


#: what each kind of file that is not a regular one is called in messages
_KINDS = ((stat.S_ISFIFO, "a FIFO (a named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"))


def file_kind(mode: int) -> str:
    """What a file of ``mode`` that is not a regular file is, for a message
    (``"a FIFO (a named pipe)"``, ``"a character device"``...): the one name
    npatch gives it when reading, writing or rewriting it."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def refuse_foreign(path: str, option: str) -> None:
    """:class:`UsageError` when ``path`` is a regular, non-empty file that is
    not a plan or report npatch wrote (a manifest, a script, a project's
    ``package.json``): an output (``--report``, ``-o``) named after one by
    mistake would replace it.  Links and special files are
    :func:`check_writable`'s."""
    try:
        head = read_head(path, 512)
    except OSError:
        return  # unreadable: writing it fails with its own message
    head = (head or b"").lstrip(b"\xef\xbb\xbf \t\r\n")
    import re

    if head and not re.match(rb'\{\s*"(index|npatch)"\s*:', head):  # a plan or a report begins so
        from npatch.errors import UsageError

        raise UsageError(f"{option} {path}: exists and is not a plan or report of npatch (a manifest? a script?); "
                         "npatch does not replace it: remove it or choose another name")


def _special(path: str) -> str | None:
    """What ``path`` is when replacing it would destroy more than a file:
    a device or a socket, or a link to one, to a pipe or into ``/proc``
    (``/dev/stdout``).  A FIFO or a link planted at the name itself is
    replaced, never followed (the module doc)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    what = "is"
    if stat.S_ISLNK(mode):
        target = os.path.join(os.path.dirname(path), os.readlink(path))
        if os.path.realpath(os.path.dirname(target)).startswith("/proc/"):
            return "is a link into /proc (a process's open file)"
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return None
        what = "is a link to"
    elif stat.S_ISFIFO(mode):
        return None
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else f"{what} {file_kind(mode)}"


def _fresh_dir(directory: str) -> str:
    for _ in range(100):
        path = os.path.join(directory, f".npatch-{os.urandom(4).hex()}")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"cannot make a private directory in {directory}")


__all__ = ["private_dir", "unsafe_dir", "owned_regular", "user_cache_dir", "user_cache_problem", "write_file", "check_writable", "refuse_foreign", "read_head", "read_input", "file_kind"]
