"""No file descriptor npatch opens is inherited by a child process.

npatch relies on Python for this: since PEP 446 ``os.open`` (and ``open``)
create non-inheritable descriptors, passing ``O_CLOEXEC`` to the kernel
themselves, so the flag has one source of truth, the interpreter, and no
module of npatch spells it (it was defined in four, one on every child's
start path).  The first test checks that guarantee in a fresh interpreter
the way npatch opens files (a plan's cache copy, a user's input file, a
report temporary); the second that no module defines the flag again.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import npatch
from npatch_testutil import run_python


def test_the_descriptors_npatch_opens_are_not_inherited(tmp_path):
    (tmp_path / "plan.modules").write_text("colorsys\n")
    proc = run_python("""
        import fcntl, json, os, sys
        opened = []
        real_open = os.open

        def spy(path, flags, *args, **kwargs):
            fd = real_open(path, flags, *args, **kwargs)
            opened.append((fd, flags, fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, os.get_inheritable(fd)))
            return fd

        os.open = spy
        from npatch.outfiles import read_input, write_file
        from npatch.runtime.launcher import read_file

        folder = sys.argv[1]
        read_file(os.path.join(folder, "plan.modules"), lambda info: True)
        read_input(os.path.join(folder, "plan.modules"))
        write_file(os.path.join(folder, "out.json"), b"{}")
        print(json.dumps([[bool(flags & os.O_CLOEXEC), bool(cloexec), inheritable]
                          for fd, flags, cloexec, inheritable in opened]))
    """, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert len(found) >= 3
    assert all(not asked and cloexec and not inheritable for asked, cloexec, inheritable in found), found


def test_no_module_spells_o_cloexec():
    root = Path(npatch.__file__).parent
    spelled = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "O_CLOEXEC" or \
                    isinstance(node, ast.Constant) and node.value == "O_CLOEXEC":
                spelled.append(f"{path.relative_to(root)}:{node.lineno}")
    assert spelled == [], spelled
