"""Helpers for tests that start clusters (Ray, multi-node torchrun) on this machine.

Ray's gRPC servers listen on every interface whatever ``--node-ip-address``
says, and a c10d store may too; so each such scenario runs, when the system
allows it, in a private network namespace (``unshare -rn``: a user namespace,
no root needed) whose only interface is loopback: nothing in it can be
reached from outside, and whatever it leaves behind cannot collide with
another test's ports.  Where namespaces are not allowed the scenario runs on
the host network with every address set to 127.0.0.1.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

#: brings loopback up in a fresh network namespace, then execs the command
_LOOPBACK_UP = """
import fcntl, os, socket, struct, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sh", fcntl.ioctl(s, 0x8913, struct.pack("16sh", b"lo", 0)))[1]  # SIOCGIFFLAGS
    fcntl.ioctl(s, 0x8914, struct.pack("16sh", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP
os.execvp(sys.argv[1], sys.argv[1:])
"""


def _namespaces_work() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    proc = subprocess.run([unshare, "-rn", sys.executable, "-c", _LOOPBACK_UP, "true"],
                          capture_output=True, timeout=60)
    return proc.returncode == 0


NAMESPACED = _namespaces_work()


def isolated(argv: list[str]) -> list[str]:
    """``argv`` in a private loopback-only network namespace when possible."""
    if not NAMESPACED:
        return list(argv)
    return [shutil.which("unshare") or "unshare", "-rn", sys.executable, "-c", _LOOPBACK_UP, *argv]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def short_tempdir(prefix: str) -> Path:
    """A short path under /tmp: Ray's unix sockets must fit in 107 bytes."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if os.path.isdir("/tmp") else None))


def stop_group(proc: subprocess.Popen, grace: float = 60) -> None:
    """Stop a process started with ``start_new_session=True`` and every process
    of its group: SIGINT, then SIGKILL for what is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 30)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
    proc.wait(30)
