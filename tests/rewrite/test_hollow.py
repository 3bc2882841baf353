"""Hollowing (npatch.rewrite.hollow): regions no rule can touch are left out
of the libcst parse, and nothing a user sees changes: the same new text, the
same records with the same line and column, on rule examples and on real
files of installed packages."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from npatch.rewrite.engine import Engine
from npatch.rewrite.hollow import Hollowed, hollow
from npatch.rewrite.rules import build_rules
from npatch.rewrite.scan import scan

#: a function and a literal that mention no needle: both become placeholders
FILLER = '''

def helper(values):
    total = 0
    for value in values:
        total += value
    return total


TABLE = {
    "a": [1, 2, 3],
    "b": (4, 5,
          6),
}
'''


def engines(rewrites) -> tuple[Engine, Engine]:
    rules = build_rules(list(rewrites))
    return (Engine(rules, use_globs=False, positions=True),
            Engine(build_rules(list(rewrites)), use_globs=False, positions=True, hollowing=False))


def outcome(engine: Engine, text: str, name: str = "m.py"):
    result = engine.process(name, name, text.encode())
    return result.error, result.new_data, result.diff, result.records


def hollowed(engine: Engine, text: str) -> Hollowed:
    words = engine.words.found(text)
    facts = scan(text, {t for r in engine.rules for t in r.targets()}, words)
    return hollow(text, facts.tree, engine.words, facts.lines | facts.pinned)


def test_rule_examples_inside_hollowed_files_give_the_same_result(builtin_rewrites):
    """Every example of every built-in rule, with hollowable code before and
    after it (and inside a function around it): the same text and records as
    without hollowing, and the filler did become placeholders."""
    fast, full = engines(builtin_rewrites)
    cases = 0
    for rewrite in builtin_rewrites:
        for before, after in rewrite.examples:
            indented = "".join("    " + line if line.strip() else line for line in before.splitlines(True))
            for text in (before + FILLER, FILLER.lstrip() + "\n" + before + FILLER,
                         FILLER.lstrip() + "\n\ndef wrapper():\n" + indented + FILLER):
                try:
                    ast.parse(text)
                except SyntaxError:
                    continue        # an example that is not a whole module (a bare `return`)
                assert len(hollowed(fast, text).pieces) >= 2, (rewrite.id, text)
                assert outcome(fast, text) == outcome(full, text), (rewrite.id, text)
                cases += 1
    assert cases >= 20


def test_restore_gives_back_the_original_text_and_refuses_a_lost_placeholder(builtin_rewrites):
    fast, _ = engines(builtin_rewrites)
    text = "import torch\n" + FILLER + "\nx = torch.cuda.current_device()\n"
    h = hollowed(fast, text)
    assert len(h.pieces) == 2 and len(h.text.splitlines()) == len(text.splitlines())
    assert h.restore(h.text) == text
    placeholder = h.pieces[0][0]
    assert h.restore(h.text.replace(placeholder, "")) is None           # a rule removed it
    assert h.restore(h.text + placeholder) is None                      # or copied it


@pytest.mark.parametrize("source", [
    # a decorated class first in a body: its region starts at the decorator
    "def f():\n    @dataclass\n    class S:\n        x: int\n    return S\n",
    # non-ASCII before a multi-line value (ast columns count UTF-8 bytes)
    "def g():\n    torch.cuda.synchronize()\n    ü = 'é' + str([1,\n        2])\n    return ü\n",
    # tabs, a body on the `def` line, a one-line body
    "def h():\n\tx = [1,\n\t\t2]\n\treturn x\ndef k(): return [1,\n 2]\n",
    # a value followed by more code on its last line, and by a comment
    "def m():\n    torch.cuda.synchronize()\n    a = (1,\n         2); b = x.cuda()\n    c = [3,\n         4]  # c\n",
    # whole definitions: decorated, async, a class with bases and keywords, one that rebinds an import's name
    "@functools.cache\n@other(1,\n       2)\nasync def a(x: int = 1,\n            *, y) -> int:\n    return x\n"
    "class B(Base, metaclass=Meta):\n    \"\"\"doc\"\"\"\n    z = 1\n    def f(self): return 2\n"
    "class dataclass:\n    pass\nw = dataclass()\nv = torch.cuda.device_count()\n",
    # one inside a class that holds a hit
    "class C:\n    def keep(self):\n        return self.x.cuda()\n    def drop(self,\n             a):\n        return a\n",
    # carriage returns: left whole
    "def n():\r\n    return [1,\r\n        2]\r\nx.cuda()\r\n",
])
def test_awkward_layouts_give_the_same_result(builtin_rewrites, source):
    fast, full = engines(builtin_rewrites)
    text = ("import torch\nimport functools\nfrom dataclasses import dataclass\n" + source
            + "y = torch.cuda.is_available()\n")
    assert outcome(fast, text) == outcome(full, text)
    h = hollowed(fast, text)
    ast.parse(h.text)                           # a wrong region would break the syntax
    assert h.restore(h.text) == text
    assert len(h.text.split("\n")) == len(text.split("\n"))


def _real_files() -> list[Path]:
    """Files of installed packages that the built-in rules change or report on."""
    torch = Path(importlib.util.find_spec("torch").submodule_search_locations[0])
    mmdet = Path(importlib.util.find_spec("mmdet").submodule_search_locations[0])
    mmengine = Path(importlib.util.find_spec("mmengine").submodule_search_locations[0])
    files = [*sorted((torch / "cuda").glob("*.py")), *sorted((torch / "amp").glob("*.py")),
             torch / "utils" / "data" / "_utils" / "pin_memory.py",
             *sorted((mmdet / "apis").glob("*.py")), *sorted((mmengine / "runner").glob("*.py")),
             *sorted((mmengine / "device").glob("*.py"))]
    return [f for f in files if f.is_file() and f.stat().st_size < 200_000]


def test_real_files_give_the_same_diff_and_records(builtin_rewrites):
    """torch.cuda, torch.amp, mmdet.apis, mmengine.runner
    and mmengine.device: hollowing changes neither diffs nor records."""
    fast, full = engines(builtin_rewrites)
    files = _real_files()
    assert len(files) > 40
    changed = hollowed_any = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        name = path.as_posix()
        if not fast.active(name, text):
            continue
        got = outcome(fast, text, name)
        assert got == outcome(full, text, name), name
        changed += got[1] is not None
        hollowed_any += bool(hollowed(fast, text).pieces)
    assert changed >= 15 and hollowed_any >= 15


#: hits in awkward places, beside statements no rule can touch (which the pass does not enter)
UNTOUCHED = {
    "nested functions": ("def outer():\n    def inner(x):\n        return x.cuda()\n    y = 1\n    return inner\n\n"
                         "class K:\n    def a(self):\n        return 1\n    def b(self):\n"
                         "        def c():\n            torch.cuda.synchronize()\n        return c\n"),
    "decorators": ("@torch.cuda.amp.autocast()\ndef f():\n    return 1\n\n@functools.wraps(g)\ndef h(\n    x,\n):\n"
                   "    return x\n\n@functools.cache\nclass C:\n    x = 1\n"),
    "multi-line strings": ('DOC = """\ncuda is mentioned here\n"""\nx = """plain\ntext"""\n'
                           'y = torch.device("cuda")\nz = f"""{y}\n"""\n'),
    "trailing comment": "a = 1  # cuda comment\nb = x.cuda()  # move\nc = 2  # plain\n",
    "tabs": "class A:\n\tdef f(self):\n\t\treturn self.x.cuda()\n\tdef g(self):\n\t\treturn 2\n\tz = 3\n",
    "semicolons and blocks": ("a = 1; b = x.cuda()\nc = 2; d = 3\nif a:\n    x = 1\nelif b:\n    y = x.cuda()\n"
                              "else:\n    z = 2\nfor i in r:\n    pass\nelse:\n    w = i.cuda()\n"
                              "try:\n    import apex\nexcept ImportError:\n    apex = None\nwith o:\n    q = 1\n"),
    "globals and walrus": "def g():\n    global T\n    T = 1\n\nif (n := x.cuda()):\n    pass\nk = 1\n",
}


def _untouched(engine: Engine, text: str) -> frozenset[int]:
    import libcst as cst

    from npatch.rewrite.hollow import untouched

    words = engine.words.found(text)
    facts = scan(text, {t for r in engine.rules for t in r.targets()}, words)
    h = hollow(text, facts.tree, engine.words, facts.lines | facts.pinned)
    return untouched(cst.parse_module(h.text), facts.tree, h.blocked) if h.blocked is not None else frozenset()


@pytest.mark.parametrize("name", sorted(UNTOUCHED))
def test_statements_the_pass_does_not_enter_change_nothing(builtin_rewrites, name):
    """The same text and records (with positions) as without hollowing, and some
    statements were left out of the pass; with CRLF line ends nothing is left out."""
    fast, full = engines(builtin_rewrites)
    text = "import torch\nimport functools\n" + UNTOUCHED[name] + FILLER
    got = outcome(fast, text)
    assert got == outcome(full, text)
    assert got[1] is not None and got[3]
    assert len(_untouched(fast, text)) >= 2
    crlf = text.replace("\n", "\r\n")
    assert outcome(fast, crlf) == outcome(full, crlf)
    assert not _untouched(fast, crlf)


def test_a_latin_1_file_is_rewritten_the_same(builtin_rewrites):
    fast, full = engines(builtin_rewrites)
    text = ("# -*- coding: latin-1 -*-\nimport torch\ns = 'caf\xe9'\n" + UNTOUCHED["nested functions"]
            + "t = '\xe9t\xe9'.cuda()\n" + FILLER)
    data = text.encode("latin-1")
    got, want = fast.process("m.py", "m.py", data), full.process("m.py", "m.py", data)
    assert (got.error, got.new_data, got.diff, got.records) == (want.error, want.new_data, want.diff, want.records)
    assert b"s = 'caf\xe9'\n" in got.new_data and b"'\xe9t\xe9'.npu()" in got.new_data
    assert len(_untouched(fast, text)) >= 2
