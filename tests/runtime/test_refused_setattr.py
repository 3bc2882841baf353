"""Targets whose owner refuses the change (an Enum member, an attribute of a
C type such as ``datetime.date`` or torch's ``torch._C`` classes, a property
without a setter read through an instance): the op
fails with the owner's own reason and the program runs on, exactly as it
was.  The undo record is pushed before the change; restoring it must not
repeat the refused ``setattr`` (which raised out of ``start()`` and, under
``npatch apply``, out of the program's own ``import``).

Each scenario runs in a fresh interpreter, through the API and through the
launcher.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch, run_python

HELPERS = """
def repl(*args, **kwargs):
    return "REPLACED"


def make(original, options):
    def wrapper(*args, **kwargs):
        return original(*args, **kwargs)
    return wrapper
"""

ENUM_MODULE = """
import enum


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Box:
    @property
    def size(self):
        return 1


box = Box()
"""

#: (target, action line, owner expression, name, the reason the owner gives)
CASES = {
    "enum member": ("npt_colors:Color.RED", "value = 9", "npt_colors.Color", "RED", "cannot reassign member"),
    "C type method": ("datetime:date.today", 'replace = "npt_helpers:repl"', "datetime.date", "today",
                      "immutable type"),
    "read-only property of an instance": ("npt_colors:box.size", "value = 7", "npt_colors.box", "size",
                                          "has no setter"),
    "torch._C class": ("torch._C:Generator.manual_seed", 'wrap = "npt_helpers:make"', "torch._C.Generator",
                       "manual_seed", "immutable type"),
}

PROBE = """
import importlib, sys, warnings
module_name = {module!r}
owner_expr = {owner!r}
MISSING = object()


def owner():
    mod = importlib.import_module(owner_expr.rsplit(".", 1)[0])
    return getattr(mod, owner_expr.rsplit(".", 1)[1])


{body}
"""

API_BODY = """
import npatch
importlib.import_module(module_name)
before = dict(vars(owner()))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with npatch.apply(sys.argv[1]):
        during = vars(owner()).get({name!r}, MISSING) is before.get({name!r}, MISSING)
after = dict(vars(owner()))
print("same-during", during)
print("same-after", all(after.get(k, MISSING) is before.get(k, MISSING) for k in set(before) | set(after)))
print("warned", any({reason!r} in str(w.message) for w in caught))
"""

LAUNCHED_BODY = """
importlib.import_module(module_name)
print("imported", owner_expr, getattr(owner(), {name!r}) is not None)
"""


def _project(tmp_path: Path, case: str) -> Path:
    target, action, _, _, _ = CASES[case]
    (tmp_path / "npt_helpers.py").write_text(HELPERS)
    (tmp_path / "npt_colors.py").write_text(textwrap.dedent(ENUM_MODULE))
    manifest = tmp_path / "m.toml"
    manifest.write_text(f'[manifest]\nname = "m"\n\n[[patch]]\nname = "p"\ntarget = "{target}"\n{action}\n')
    return manifest


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_refused_change_fails_the_op_and_leaves_the_owner_as_it_was(tmp_path, case):
    target, _, owner, name, reason = CASES[case]
    manifest = _project(tmp_path, case)
    code = PROBE.format(module=target.split(":")[0], owner=owner,
                        body=API_BODY.format(name=name, reason=reason))
    proc = run_python(code, str(manifest), cwd=tmp_path, env=clean_env(PYTHONPATH=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["same-during", "True", "same-after", "True", "warned", "True"], proc.stdout


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_refused_change_does_not_break_the_programs_import(tmp_path, case):
    target, _, owner, name, reason = CASES[case]
    manifest = _project(tmp_path, case)
    code = PROBE.format(module=target.split(":")[0], owner=owner, body=LAUNCHED_BODY.format(name=name))
    env = clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_npatch("apply", str(manifest), "--", __import__("sys").executable, "-c", code, cwd=tmp_path, env=env)
    assert proc.returncode == 0 and f"imported {owner} True" in proc.stdout, proc.stderr
    assert reason in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
