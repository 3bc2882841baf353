"""An op's source module that is already imported is taken from ``sys.modules``
(:func:`npatch.runtime.resolve.import_object`), as ``importlib`` would take it:
never a module another thread is still executing, never one that ``sys.modules``
marks as blocked (``None``).  Each scenario runs in a fresh interpreter."""
from __future__ import annotations

import json

from npatch_testutil import run_python

HALF_IMPORTED = r'''
import json, sys, threading, time
from npatch.runtime.resolve import import_object

started, go = threading.Event(), threading.Event()
sys.modules["slow_helpers_sync"] = type(sys)("slow_helpers_sync")
sys.modules["slow_helpers_sync"].started, sys.modules["slow_helpers_sync"].go = started, go
importer = threading.Thread(target=__import__, args=("slow_helpers",))
importer.start()
started.wait()
found = []
resolver = threading.Thread(target=lambda: found.append(import_object("slow_helpers:helper")()))
resolver.start()

def waiting_for_the_import():  # the resolver's stack is in importlib's module-lock acquire
    frame = sys._current_frames().get(resolver.ident)
    while frame is not None:
        if frame.f_code.co_name == "acquire" and "importlib._bootstrap" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False

while resolver.is_alive() and not waiting_for_the_import():  # one that took the half-executed module ends at once
    time.sleep(0.01)
go.set()
importer.join()
resolver.join()
print(json.dumps(found))
'''

SLOW_HELPERS = '''
import slow_helpers_sync
slow_helpers_sync.started.set()
slow_helpers_sync.go.wait()

def helper():
    return "complete"
'''


def test_a_source_module_another_thread_is_importing_is_waited_for(tmp_path):
    (tmp_path / "slow_helpers.py").write_text(SLOW_HELPERS)
    proc = run_python(HALF_IMPORTED, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["complete"]


BLOCKED = r'''
import json, sys
import npatch.runtime.resolve as resolve
sys.modules["os_twin"] = None
try:
    resolve.import_object("os_twin:path")
except resolve.SourceError as exc:
    print(json.dumps(str(exc)))
'''


def test_a_module_blocked_in_sys_modules_is_not_installed():
    proc = run_python(BLOCKED)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == "module 'os_twin' (from 'os_twin:path') is not installed"


LOADED = r'''
import json, sys, importlib
from npatch.runtime.resolve import import_object
made = type(sys)("made_in_code")  # in sys.modules only: no finder knows it
made.f = len
sys.modules["made_in_code"] = made
calls = []
original = importlib.import_module
importlib.import_module = lambda *a, **k: calls.append(a) or original(*a, **k)
print(json.dumps([import_object("made_in_code:f") is len, import_object("json:dumps") is json.dumps, calls]))
'''


def test_an_imported_source_module_is_taken_from_sys_modules():
    proc = run_python(LOADED)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [True, True, []]
