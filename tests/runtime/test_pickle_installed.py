"""Functions npatch installs pickle by reference, as the originals did.

``multiprocessing`` spawn/forkserver and DataLoader workers pickle the
functions a program hands them (``pool.map(torch.zeros, ...)``, a
``functools.partial(torch.Tensor.to, ...)`` transform): pickle looks a
function up by its ``__module__`` and ``__qualname__``, and a wrapper made
with ``functools.wraps`` of a builtin (``torch.zeros``'s qualname is
``_VariableFunctionsClass.zeros``) or of a re-exported function, or a
closure of npatch's own (guard, coverage counter), is not found there.  Each scenario runs in a fresh
interpreter under ``npatch apply``."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from npatch_testutil import run_npatch

SPAWN_PROGRAM = """
import functools, multiprocessing as mp, pickle, torch

def main():
    for fn in (torch.zeros, torch.Tensor.to, torch.tensor):
        assert pickle.loads(pickle.dumps(fn)) is fn, fn
    to_cuda = functools.partial(torch.Tensor.to, device="cuda")
    with mp.get_context("spawn").Pool(1) as pool:
        made = pool.map(torch.zeros, [2, 3])
        moved = pool.map(to_cuda, [torch.ones(2)])
    print([tuple(t.shape) for t in made], moved[0].device)

if __name__ == "__main__":
    main()
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_cuda_to_cpu_wrappers_cross_a_spawn_pool(tmp_path):
    write(tmp_path, "prog.py", SPAWN_PROGRAM)
    out = run_npatch("apply", "cuda-to-cpu", "--", sys.executable, "prog.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[(2,), (3,)] cpu"


USER_IMPL = """
def add(x, y):
    return x + y
"""

USER_LIB = """
from mylib_impl import add  # re-exported: the wrapper borrows the name mylib_impl.add

class Thing:
    @staticmethod
    def twice(x):
        return 2 * x
"""

USER_PATCHES = """
import functools

def make(original, options):
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        return original(*args, **kwargs) + 100
    return wrapper

def make_named(original, options):
    def wrapper_of_sub(*args, **kwargs):  # a name of its own: kept
        return original(*args, **kwargs)
    return wrapper_of_sub

def always(*args, **kwargs):
    return True

def thrice(x):
    return 3 * x
"""

USER_MANIFEST = """
[manifest]
name = "user"
[[patch]]
name = "add"
target = "mylib:add"
wrap = "patches:make"
[[patch]]
name = "twice"
target = "mylib:Thing.twice"
replace = "patches:thrice"
guard = "patches:always"
[[patch]]
name = "sub"
target = "operator:sub"
wrap = "patches:make_named"
"""

USER_PROGRAM = """
import multiprocessing as mp, pickle
import mylib, operator, patches, sys

def main():
    if "--counted" not in sys.argv:  # a name of its own, kept (pickle cannot find a local object)
        assert operator.sub.__qualname__ == "make_named.<locals>.wrapper_of_sub"
    else:  # under --coverage a counter stands in front of it, under the target's name
        assert pickle.loads(pickle.dumps(operator.sub)) is operator.sub
    for fn in (mylib.add, mylib.Thing.twice, patches.thrice):
        assert pickle.loads(pickle.dumps(fn)) is fn, fn
    assert b"patches" in pickle.dumps(patches.thrice)  # a function found under its own name keeps it
    with mp.get_context("forkserver").Pool(1) as pool:
        print(pool.apply(mylib.add, (1, 2)), pool.apply(mylib.Thing.twice, (5,)))

if __name__ == "__main__":
    main()
"""


def test_user_wrappers_and_guards_pickle_under_every_start(tmp_path):
    write(tmp_path, "mylib_impl.py", USER_IMPL)
    write(tmp_path, "mylib.py", USER_LIB)
    write(tmp_path, "patches.py", USER_PATCHES)
    write(tmp_path, "m.toml", USER_MANIFEST)
    write(tmp_path, "prog.py", USER_PROGRAM)
    for flags in ([], ["-v"], ["--coverage", str(tmp_path / "cov.json")]):
        counted = ["--counted"] if "--coverage" in flags else []
        out = run_npatch("apply", "m.toml", *flags, "--", sys.executable, "prog.py", *counted, cwd=tmp_path)
        assert out.returncode == 0, (flags, out.stderr)
        assert out.stdout.strip() == "103 15", (flags, out.stdout)
