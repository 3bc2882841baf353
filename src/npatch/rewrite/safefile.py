"""Reading and replacing source files without following, splitting or losing anything.

``npatch diff --write`` runs as root on shared trees, so every step assumes
someone else may be changing the tree at the same moment:

* files are opened with ``O_NOFOLLOW | O_NONBLOCK`` (a symlink swapped in is
  refused, a FIFO never blocks) and must be regular files;
* the replacement is a temporary file created with ``O_CREAT | O_EXCL |
  O_NOFOLLOW`` beside the file, through a descriptor of its directory, given
  the file's owner, group and mode;
* while it works, npatch holds a read lease on the file (Linux): another
  process that opens it for writing waits, and npatch sees that.  Right
  before the swap the directory entry must still be the inode that was read,
  with the bytes that were read, and the lease unbroken; the swap is
  ``renameat2(RENAME_EXCHANGE)``, so when the old inode turns out to have
  been touched after all it is swapped back, edit included (where leases or
  the exchange are not available: a plain rename, then the edited text is put
  back if the old inode changed -- a small window remains there);
* a read-only file (no write bit for its owner) and a file with several hard
  links are refused unless ``force`` (then a hard-linked file is edited in
  place, so every link sees the new text).

Every refusal raises :class:`Refused` with a one-line reason.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
import sys

from npatch.outfiles import file_kind

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK


class Refused(Exception):
    """A file left alone on purpose (the reason is the message)."""


def read_regular(path: str) -> bytes:
    """The bytes of a regular file; :class:`Refused` for a symlink or a special file."""
    fd = _open(path, _READ)
    try:
        _check_regular(os.fstat(fd))
        return _pread_all(fd)
    finally:
        os.close(fd)


def replace(path: str, old: bytes, new: bytes, *, force: bool = False) -> None:
    """Replace the regular file ``path`` holding ``old`` by ``new`` (see the module doc)."""
    directory, name = os.path.split(path)
    dfd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = _open(name, _READ, dir_fd=dfd)
        try:
            lease = _take_lease(fd)
            st = os.fstat(fd)
            _check_regular(st)
            _check_same(fd, old)
            if not st.st_mode & stat.S_IWUSR and not force:
                raise Refused(f"read-only (mode {stat.S_IMODE(st.st_mode):04o}); --force writes it anyway")
            if st.st_nlink > 1:
                if not force:
                    raise Refused(f"has {st.st_nlink} hard links; replacing it would split them "
                                  "(--force edits it in place)")
                if lease:       # our own open for writing would break it
                    import fcntl

                    fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_UNLCK)
                _write_in_place(dfd, name, st, old, new)
                return
            _replace(dfd, name, fd, st, old, new, lease)
        finally:
            os.close(fd)        # drops the lease too
    finally:
        os.close(dfd)


def _replace(dfd: int, name: str, fd: int, st: os.stat_result, old: bytes, new: bytes, lease: bool) -> None:
    tmp = _write_temp(dfd, name, st, new)
    try:
        try:
            now = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            raise Refused("removed while it was being written") from None
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise Refused("replaced by another file since it was read; run again")
        _check_same(fd, old)
        _check_lease(fd, lease)
        if _exchange(dfd, tmp, name):
            try:        # the old inode is now ``tmp``: was it touched meanwhile?
                _check_same(fd, old)
                _check_lease(fd, lease)
            except Refused:
                _exchange(dfd, tmp, name)
                raise Refused("changed while it was being written; left as edited") from None
        else:
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            tmp = ""
            if _pread_all(fd) != old:       # an edit reached the old inode after the last check
                tmp = _write_temp(dfd, name, st, _pread_all(fd))
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
                tmp = ""
                raise Refused("changed while it was being written; the edited version was put back")
    finally:
        if tmp:
            _unlink(dfd, tmp)


def _write_temp(dfd: int, name: str, st: os.stat_result, data: bytes) -> str:
    """A new file beside ``name`` with ``data`` and ``st``'s owner, group and mode."""
    tmp = f".{name[:200]}.{secrets.token_hex(4)}.npatch"
    tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dfd)
    try:
        _write_all(tfd, data)
        mine = os.fstat(tfd)
        if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
            try:
                os.fchown(tfd, st.st_uid, st.st_gid)
            except PermissionError:
                raise Refused(f"owned by uid {st.st_uid} gid {st.st_gid}; a replacement written by "
                              "this user would change the owner") from None
        os.fchmod(tfd, stat.S_IMODE(st.st_mode))
        os.fsync(tfd)
    except BaseException:
        os.close(tfd)
        _unlink(dfd, tmp)
        raise
    os.close(tfd)
    return tmp


def _unlink(dfd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dfd)
    except OSError:
        pass


# -- Linux: a read lease makes another process's open-for-writing wait and tells us;
#    renameat2(RENAME_EXCHANGE) swaps the files so the old one can be swapped back.
_F_SETLEASE, _F_GETLEASE, _RENAME_EXCHANGE = 1024, 1025, 2
_RENAMEAT2 = None


def _take_lease(fd: int) -> bool:
    """A read lease on ``fd`` (False where leases are not available)."""
    if not sys.platform.startswith("linux"):
        return False
    import fcntl
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGIO, signal.SIG_IGN)     # a lease break signals the holder (default: exit)
    elif signal.getsignal(signal.SIGIO) is not signal.SIG_IGN:
        return False
    try:
        fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        if exc.errno == errno.EAGAIN:
            raise Refused("open for writing by another process; run again") from None
        return False
    return True


def _check_lease(fd: int, lease: bool) -> None:
    import fcntl

    if lease and fcntl.fcntl(fd, _F_GETLEASE) != fcntl.F_RDLCK:
        raise Refused("being opened for writing by another process; run again")


def _exchange(dfd: int, a: str, b: str) -> bool:
    """Swap two names atomically; False where the system cannot."""
    global _RENAMEAT2
    if not sys.platform.startswith("linux"):
        return False
    if _RENAMEAT2 is None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        _RENAMEAT2 = getattr(libc, "renameat2", False)
    if not _RENAMEAT2:
        return False
    import ctypes

    if _RENAMEAT2(dfd, os.fsencode(a), dfd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code))


def _write_in_place(dfd: int, name: str, st: os.stat_result, old: bytes, new: bytes) -> None:
    """Rewrite a hard-linked file's inode itself, after the same checks."""
    fd = _open(name, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise Refused("replaced by another file since it was read; run again")
        _check_same(fd, old)
        os.ftruncate(fd, 0)
        _write_all(fd, new)
        os.fsync(fd)
    finally:
        os.close(fd)


def _open(path: str, flags: int, dir_fd: int | None = None) -> int:
    try:
        return os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused("a symbolic link (not followed)") from None
        raise


def _check_regular(st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise Refused(f"{file_kind(st.st_mode)}, not a regular file")


def _check_same(fd: int, old: bytes) -> None:
    if _pread_all(fd) != old:
        raise Refused("changed since it was read; run again")


def _pread_all(fd: int) -> bytes:
    chunks, offset = [], 0
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


__all__ = ["Refused", "read_regular", "replace"]
