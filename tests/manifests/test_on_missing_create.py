"""``on-missing = "create"``: a ``replace`` or ``value`` of a name that does not
exist yet creates it, and restoring deletes it again (what ``py-compat`` needs
to put back ``collections.Mapping`` on a Python that removed it).

Each scenario runs in a fresh interpreter, as users run manifests.
"""
from __future__ import annotations

import json
import sys
import textwrap

import pytest

from npatch_testutil import clean_env, run_npatch, run_python

MODULE = '''
class Base:
    def f(self):
        return "Base.f"

class Leaf(Base):
    pass

EXISTING = "old"
'''

REPL = '''
def new():
    return "created"

def leaf_f(self):
    return "Leaf.f"
'''


@pytest.fixture
def project(tmp_path):
    (tmp_path / "target_mod.py").write_text(MODULE)
    (tmp_path / "repl_mod.py").write_text(REPL)
    return tmp_path


def env_for(project):
    return clean_env(PYTHONPATH=str(project), XDG_CACHE_HOME=str(project / "cache"))


def write_manifest(project, body: str) -> str:
    path = project / "m.toml"
    path.write_text('[manifest]\nname = "m"\n\n' + textwrap.dedent(body))
    return str(path)


CREATE = '''
[[patch]]
name = "new-function"
target = "target_mod:new"
replace = "repl_mod:new"
on-missing = "create"

[[patch]]
name = "new-constant"
target = "target_mod:ANSWER"
value = 42
on-missing = "create"

[[patch]]
name = "existing"
target = "target_mod:EXISTING"
value = "new"
on-missing = "create"

[[patch]]
name = "leaf-f"
target = "target_mod:Leaf.f"
replace = "repl_mod:leaf_f"
on-missing = "create"

[[patch]]
name = "leaf-g"
target = "target_mod:Leaf.g"
replace = "repl_mod:leaf_f"
on-missing = "create"
'''

API = '''
import json, sys
import npatch
if sys.argv[2] == "early":
    import target_mod
with npatch.load(sys.argv[1]).apply():
    import target_mod
    inside = [target_mod.new(), target_mod.ANSWER, target_mod.EXISTING, target_mod.Leaf().f(), target_mod.Leaf().g(),
              target_mod.Base().f(), hasattr(target_mod.Base, "g")]
after = [hasattr(target_mod, "new"), hasattr(target_mod, "ANSWER"), target_mod.EXISTING,
         "f" in vars(target_mod.Leaf), hasattr(target_mod.Leaf, "g"), target_mod.Leaf().f()]
print(json.dumps([inside, after]))
'''


@pytest.mark.parametrize("timing", ["early", "deferred"])
def test_create_then_restore_by_deleting(project, timing):
    """Absent names are created (module and class level), present ones replaced;
    leaving the session deletes what was created and puts back what was there,
    whether the target module was imported before the session or during it."""
    manifest = write_manifest(project, CREATE)
    proc = run_python(API, manifest, timing, env=env_for(project))
    assert proc.returncode == 0, proc.stderr
    inside, after = json.loads(proc.stdout.strip().splitlines()[-1])
    assert inside == ["created", 42, "new", "Leaf.f", "Leaf.f", "Base.f", False]
    assert after == [False, False, "old", False, False, "Base.f"]
    assert "NpatchWarning" not in proc.stderr


def test_without_create_an_absent_replace_target_is_not_found(project):
    manifest = write_manifest(project, '''
        [[patch]]
        name = "new-function"
        target = "target_mod:new"
        replace = "repl_mod:new"
    ''')
    code = "import npatch, target_mod\nwith npatch.load(__import__('sys').argv[1]).apply():\n    print(hasattr(target_mod, 'new'))"
    proc = run_python(code, manifest, env=env_for(project))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False" and "target not found" in proc.stderr


def test_cli_run_creates_in_the_child(project):
    manifest = write_manifest(project, CREATE)
    script = project / "use.py"
    script.write_text("import target_mod\nprint(target_mod.new(), target_mod.ANSWER)\n")
    proc = run_npatch("apply", "--strict", manifest, "--", sys.executable, str(script), env=env_for(project))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "created 42"


@pytest.mark.parametrize("resolve", ["static", "import"])
def test_compile_accepts_an_absent_name_but_not_an_absent_parent(project, resolve):
    manifest = write_manifest(project, CREATE + '''
[[patch]]
name = "no-class"
target = "target_mod:Nope.g"
replace = "repl_mod:new"
on-missing = "create"

[[patch]]
name = "no-module"
target = "no_such_module_xyz:g"
value = 1
on-missing = "create"
''')
    # --strict: a module not installed here is unverifiable by default, an error under --strict
    proc = run_npatch("compile", "--strict", "--resolve", resolve, "--path", str(project), manifest,
                      env=env_for(project))
    assert proc.returncode == 1
    errors = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if "error" in line and "m.toml:" in line]
    assert len(errors) == 2, proc.stdout + proc.stderr
    assert any("Nope" in e for e in errors) and any("no_such_module_xyz" in e for e in errors)


@pytest.mark.parametrize("kind", ['wrap = "repl_mod:new"', "delete = true", 'call = "repl_mod:new"'])
def test_create_with_another_kind_is_a_located_error(project, kind):
    manifest = write_manifest(project, f'''
        [[patch]]
        name = "bad"
        target = "target_mod{':new' if 'call' not in kind else ''}"
        {kind}
        on-missing = "create"
    ''')
    proc = run_npatch("compile", "--resolve", "none", manifest, env=env_for(project))
    assert proc.returncode == 1
    assert "m.toml:9:14: patch[0].on-missing" in proc.stderr, proc.stderr
    assert "only works with `replace` or `value`" in proc.stderr and "Traceback" not in proc.stderr


def test_create_with_a_guard_fails_clearly(project):
    (project / "guard_mod.py").write_text("def yes(*a, **k):\n    return True\n")
    manifest = write_manifest(project, '''
        [[patch]]
        name = "guarded"
        target = "target_mod:new"
        replace = "repl_mod:new"
        guard = "guard_mod:yes"
        on-missing = "create"
    ''')
    code = "import npatch, target_mod\nwith npatch.load(__import__('sys').argv[1]).apply():\n    print(hasattr(target_mod, 'new'))"
    proc = run_python(code, manifest, env=env_for(project))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False" and "a guard needs an original" in proc.stderr
