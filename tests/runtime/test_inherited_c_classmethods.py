"""A target a class inherits from a C type as a classmethod: ``object``'s
``__init_subclass__``, ``dict.fromkeys``, ``list.__class_getitem__``.  The
class body would have made a ``def`` of that name a classmethod; installed
after the class exists, a plain function was called without ``cls``
(``class Sub(Target)`` raised "missing 1 required positional argument").
The replacement or wrapper is installed as a classmethod, and restore takes
it out of the class again.

Every scenario runs in a fresh interpreter.
"""
from __future__ import annotations

import subprocess
import sys

from npatch_testutil import clean_env
from tree_helpers import expect_lines, write_files

FILES = {
    "npt_cm.py": """
        class Plain:
            pass

        class MyDict(dict):
            pass

        class MyList(list):
            pass
    """,
    "npt_cm_repl.py": """
        def init_subclass(cls, **kwargs):
            cls.tag = f"made under {cls.__mro__[1].__name__}"

        def class_getitem(cls, item):
            return f"{cls.__name__}[{item.__name__}]"

        def wrap(original, options):
            def wrapper(cls, *args, **kwargs):
                return ("wrapped", cls.__name__, original(cls, *args, **kwargs))
            return wrapper
    """,
    "m.toml": """
        [manifest]
        name = "m"

        [[patch]]
        name = "init-subclass"
        target = "npt_cm:Plain.__init_subclass__"
        replace = "npt_cm_repl:init_subclass"

        [[patch]]
        name = "fromkeys"
        target = "npt_cm:MyDict.fromkeys"
        wrap = "npt_cm_repl:wrap"

        [[patch]]
        name = "class-getitem"
        target = "npt_cm:MyList.__class_getitem__"
        replace = "npt_cm_repl:class_getitem"
    """,
    "scenario.py": """
        import npatch, npt_cm
        from npt_cm import Plain, MyDict, MyList
        before = {c: dict(vars(c)) for c in (Plain, MyDict, MyList)}
        session = npatch.apply("m.toml", strict=True)

        class Sub(Plain):
            pass

        print("SUBCLASS", Sub.tag)
        print("FROMKEYS", MyDict.fromkeys("ab"))
        print("GETITEM", MyList[int])
        session.stop()

        class Later(Plain):
            pass

        print("RESTORED", all(dict(vars(c)) == before[c] for c in before), hasattr(Later, "tag"),
              type(MyDict.fromkeys("a")).__name__, MyList[int])
    """,
}


def test_a_c_classmethod_target_is_replaced_and_wrapped_as_a_classmethod(tmp_path):
    write_files(tmp_path, FILES)
    proc = subprocess.run([sys.executable, "scenario.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert proc.returncode == 0, proc.stderr
    expect_lines(proc.stdout, "SUBCLASS made under Plain", "FROMKEYS ('wrapped', 'MyDict', {'a': None, 'b': None})",
                 "GETITEM MyList[int]", "RESTORED True False MyDict npt_cm.MyList[int]")
