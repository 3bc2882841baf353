"""Leaving gloo cleanly: at exit, gloo's worker threads get the GIL until none
of them runs (``npatch.library.cuda_cpu.distributed.settle_gloo_workers``).

The race itself (a worker freeing a finished collective's tensors during
interpreter finalization, SIGABRT) shows only on a loaded machine, a few
runs in a hundred; ``bench/gloo_exit_race.py`` measures it against plain
torch.  These tests pin the machinery with threads named as gloo names its
workers, so they hold on any Linux machine.
"""
from __future__ import annotations

import ctypes
import hashlib
import sys
import threading
import time

import pytest

from npatch.library.cuda_cpu import distributed
from npatch_testutil import run_python

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread states come from /proc")

PR_SET_NAME = 15


def name_this_thread(name: str) -> None:
    """Give the calling thread a kernel-visible name, as c10 does for gloo's workers."""
    assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, name.encode(), 0, 0, 0) == 0


class Worker(threading.Thread):
    """A thread named ``pt_gloo_runloop`` that runs ``job`` outside the GIL, then idles."""

    def __init__(self, job):
        super().__init__(daemon=True)
        self.job = job
        self.named = threading.Event()
        self.finished = threading.Event()
        self.stop = threading.Event()

    def run(self):
        name_this_thread(distributed.GLOO_WORKER)
        self.named.set()
        self.job(self)
        self.finished.set()
        self.stop.wait()


def test_thread_states_see_a_named_idle_thread():
    worker = Worker(lambda w: None)
    worker.start()
    worker.finished.wait(10)
    try:
        deadline = time.monotonic() + 10
        while (distributed.GLOO_WORKER, "S") not in distributed.thread_states():  # waiting on an Event
            assert time.monotonic() < deadline, distributed.thread_states()
            time.sleep(0.01)
        assert len(distributed.thread_states()) >= threading.active_count()
    finally:
        worker.stop.set()
        worker.join()


def test_settling_waits_for_a_running_worker():
    data = bytes(256 << 20)  # sha256 over it runs well over 0.1 s without the GIL
    worker = Worker(lambda w: hashlib.sha256(data))
    worker.start()
    worker.named.wait(10)
    try:
        distributed.settle_gloo_workers(limit=60)
        assert worker.finished.is_set()
    finally:
        worker.stop.set()
        worker.join()


def test_settling_gives_up_at_its_limit():
    chunk = bytes(16 << 20)

    def forever(w):
        while not w.stop.is_set():
            hashlib.sha256(chunk)

    worker = Worker(forever)
    worker.start()
    worker.named.wait(10)
    timer = threading.Timer(30, worker.stop.set)  # ends the worker should the limit not hold
    timer.start()
    try:
        distributed.settle_gloo_workers(limit=0.2)
        assert not worker.stop.is_set()
    finally:
        worker.stop.set()
        timer.cancel()
        worker.join()


EXIT = r'''
import ctypes, sys, threading
from npatch.library.cuda_cpu import distributed

distributed.settle_gloo_workers = lambda: print("settled", flush=True)
calls = []
init = distributed.init_process_group(lambda backend=None, device_id=None: calls.append(backend), {})
init("nccl")
init(backend="cuda:nccl")
assert calls == ["gloo", "gloo"], calls
if sys.argv[1] == "with-gloo":
    def idle():
        ctypes.CDLL(None).prctl(15, distributed.GLOO_WORKER.encode(), 0, 0, 0)
        threading.Event().wait()
    threading.Thread(target=idle, daemon=True).start()
    while distributed.GLOO_WORKER not in [name for name, _ in distributed.thread_states()]:
        pass
print("end", flush=True)
'''


@pytest.mark.parametrize("threads, expected", [("with-gloo", ["end", "settled"]), ("without", ["end"])])
def test_init_process_group_settles_gloo_once_at_exit(threads, expected):
    proc = run_python(EXIT, threads)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:-1] == expected
