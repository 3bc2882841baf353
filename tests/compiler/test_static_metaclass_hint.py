"""A target naming a metaclass attribute through the class (``Base.mattr``
where ``mattr`` lives on ``type(Base)``) is not an attribute of the class's
MRO: the static check of ``npatch compile``, its ``--resolve import`` check
(where ``getattr`` finds the name: it accepted the target) and the runtime
say "not found", and all say to target the metaclass (``Meta.mattr``) instead.

Scenarios run the CLI in a fresh interpreter, as users do.
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

SOURCE = """
class Meta(type):
    mattr = 1


class Base(metaclass=Meta):
    pass


class Sub(Base):
    pass


class Plain:
    pass
"""

MANIFEST = """
[manifest]
name = "m"

[[patch]]
name = "p"
target = "npt_metamod:{target}"
value = 2
"""


def setup(tmp_path: Path, target: str) -> Path:
    (tmp_path / "npt_metamod.py").write_text(textwrap.dedent(SOURCE))
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST.lstrip("\n").format(target=target))
    return manifest


@pytest.mark.parametrize("target", ["Base.mattr", "Sub.mattr"])
def test_static_check_hints_at_the_metaclass(tmp_path, target):
    manifest = setup(tmp_path, target)
    proc = run_npatch("compile", str(manifest), cwd=tmp_path, env=clean_env())
    assert proc.returncode == 1
    assert f"{manifest}:6:10: patch[0].target: error:" in proc.stderr
    assert "'mattr' is an attribute of the metaclass Meta of" in proc.stderr
    assert "target npt_metamod:Meta.mattr" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("target", ["Base.mattr", "Sub.mattr"])
def test_runtime_hints_at_the_metaclass(tmp_path, target):
    manifest = setup(tmp_path, target)
    code = "import npt_metamod; print('mattr', npt_metamod.Meta.mattr)"
    proc = run_npatch("apply", str(manifest), "--", sys.executable, "-c", code, cwd=tmp_path, env=clean_env())
    assert proc.returncode == 0 and "mattr 1" in proc.stdout, proc.stderr
    (failed,) = [line for line in proc.stderr.splitlines() if "target not found" in line]
    assert "is an attribute of the metaclass Meta" in failed and "target Meta.mattr" in failed, proc.stderr


def test_a_plain_missing_attribute_gets_no_metaclass_hint(tmp_path):
    manifest = setup(tmp_path, "Plain.mattr")
    proc = run_npatch("compile", str(manifest), cwd=tmp_path, env=clean_env())
    assert proc.returncode == 1 and "'mattr' is not defined in class Plain" in proc.stderr
    assert "metaclass" not in proc.stderr


@pytest.mark.parametrize("target", ["Base.mattr", "Sub.mattr"])
def test_resolve_import_agrees_with_the_static_check(tmp_path, target):
    """getattr(Base, 'mattr') works; --resolve import accepted what the runtime then refuses."""
    manifest = setup(tmp_path, target)
    said = {}
    for mode in ("static", "import"):
        proc = run_npatch("compile", "--resolve", mode, str(manifest), cwd=tmp_path, env=clean_env())
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        (line,) = [line for line in proc.stderr.splitlines() if ": error: " in line]
        said[mode] = line
    klass = target.partition(".")[0]
    assert said["import"] == (f"{manifest}:6:10: patch[0].target: error: npt_metamod:{target}: 'mattr' is not "
                              f"defined in class {klass} or its bases; 'mattr' is an attribute of the metaclass "
                              f"Meta of {klass}, not of the class: target npt_metamod:Meta.mattr")
    same = f"{manifest}:6:10: patch[0].target: error: npt_metamod:{target}: 'mattr' is not defined in class "
    assert said["static"].startswith(same)  # the static one names the class of the `metaclass=` and its file:line
    assert said["static"].endswith("not of the class: target npt_metamod:Meta.mattr")


def test_resolve_import_names_where_a_metaclass_from_another_module_holds_it(tmp_path):
    """The hint names the metaclass's own module; a name only type() gives (`__name__`) gets no hint."""
    (tmp_path / "npt_metas.py").write_text("class Meta(type):\n    mattr = 1\n")
    (tmp_path / "npt_metamod.py").write_text("from npt_metas import Meta\n\n\nclass Base(metaclass=Meta):\n"
                                             "    own = 0\n")
    manifest = tmp_path / "m.toml"
    for target, message in (("Base.mattr", "target npt_metas:Meta.mattr"),
                            ("Base.__name__", "'__name__' is not defined in class Base or its bases (only the "
                                              "metaclass Meta gives it)"),
                            ("Base.nothing", "Meta 'Base' has no attribute 'nothing'")):
        manifest.write_text(MANIFEST.lstrip("\n").format(target=target))
        proc = run_npatch("compile", "--resolve", "import", str(manifest), cwd=tmp_path, env=clean_env())
        assert proc.returncode == 1 and f"{manifest}:6:10: patch[0].target: error: " in proc.stderr, proc.stderr
        assert message in proc.stderr and f"npt_metamod:{target}: npt_metamod" not in proc.stderr, proc.stderr
    manifest.write_text(MANIFEST.lstrip("\n").format(target="Base.own"))
    assert run_npatch("compile", "--resolve", "import", str(manifest), cwd=tmp_path, env=clean_env()).returncode == 0


def test_on_missing_create_through_the_class_warns_that_it_hides_the_metaclass_attribute(tmp_path):
    """With on-missing = "create" the run makes Base.mattr a class attribute (Meta.mattr unchanged):
    both checks say so, as a warning, and the run does what they said."""
    manifest = setup(tmp_path, "Base.mattr")
    manifest.write_text(manifest.read_text() + 'on-missing = "create"\n')
    for mode in ("static", "import"):
        proc = run_npatch("compile", "--resolve", mode, str(manifest), cwd=tmp_path, env=clean_env())
        assert proc.returncode == 0, proc.stderr
        assert f"{manifest}:6:10: patch[0].target: warning: npt_metamod:Base.mattr: on-missing = \"create\" makes " \
               "a class attribute that hides the metaclass's from the class" in proc.stderr, proc.stderr
        assert "target npt_metamod:Meta.mattr" in proc.stderr
    code = "import npt_metamod as m; print(m.Base.mattr, m.Meta.mattr, 'mattr' in vars(m.Base))"
    proc = run_npatch("apply", str(manifest), "--", sys.executable, "-c", code, cwd=tmp_path,
                      env=clean_env(XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert proc.stdout.split() == ["2", "1", "True"], proc.stderr
