"""Every syntax the running Python accepts: ``npatch diff`` and the static
resolver walk compound statements generically (``match`` has ``cases``, not
``body``), so no construct gives an internal error or hides a name."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from npatch_testutil import run_npatch

EVERY_CONSTRUCT = '''
import torch


@decorator(torch.cuda.is_available())
class K(Base, metaclass=Meta):
    x: int = 1

    async def run(self, items):
        async with lock as held:
            async for item in items:
                yield item.cuda()
        print([y async for y in items if (z := y)])


def matcher(command, point):
    match command.split():
        case ["go", direction] if direction:
            return torch.cuda.device_count()
        case {"key": value, **rest}:
            return value.cuda()
        case Point(x=0, y=0) | Point(x=1) as p:
            return p
        case [1, 2, *others]:
            match point:
                case (0, 0):
                    return torch.cuda.current_device()
        case str() | bytes():
            pass
        case _:
            return None


try:
    torch.cuda.synchronize()
except* ValueError as group:
    torch.cuda.empty_cache()
else:
    pass
finally:
    lambda q=torch.cuda.is_available(): q

with (open("a") as a, open("b") as b):
    data = f"{a!r:>{10}} {torch.cuda.is_available()=}"
while False:
    global G
    del G
else:
    nonlocal_free = 1
'''

NEWER = {
    (3, 12): '''
type Alias[T] = list[T]


def generic[T: int, *Ts, **P](x: T) -> T:
    return torch.cuda.is_available()


class Box[T]:
    pass
''',
}


def _source() -> str:
    extra = "".join(text for version, text in NEWER.items() if sys.version_info >= version)
    return EVERY_CONSTRUCT + extra


def test_every_construct_of_this_python_is_rewritten(tmp_path):
    source = _source()
    compile(source, "every.py", "exec")          # the fixture itself is valid syntax here
    file = tmp_path / "every.py"
    file.write_text(source)
    result = run_npatch("diff", "cuda-to-npu", "every.py", cwd=tmp_path, timeout=600)
    assert "internal error" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    added = [line[1:] for line in result.stdout.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert "                    return torch.npu.current_device()" in added     # a match inside a match
    assert "            return value.npu()" in added
    assert "    torch.npu.empty_cache()" in added                             # except*
    assert "                yield item.npu()" in added                        # async for inside async with


def test_import_is_added_inside_a_match_case(tmp_path):
    """The only ``import torch`` lives in a ``case`` block: the added
    ``import torch_npu`` goes right after it (the insertion walks cases too)."""
    (tmp_path / "m.py").write_text(textwrap.dedent('''
        def f(kind):
            match kind:
                case "gpu":
                    import torch
                    return torch.cuda.is_available()
                case _:
                    return False
    '''))
    result = run_npatch("diff", "cuda-to-npu", "m.py", "--write", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "m.py").read_text()
    assert "            import torch\n            import torch_npu\n            return torch.npu.is_available()" in text
    compile(text, "m.py", "exec")


@pytest.mark.parametrize("block", [
    "match MODE:\n    case 1:\n        def hidden(x):\n            return x\n",
    "async def _outer():\n    pass\nfor _ in ():\n    pass\nelse:\n    def hidden(x):\n        return x\n",
    "try:\n    pass\nexcept* OSError:\n    pass\nelse:\n    def hidden(x):\n        return x\n",
    "with open(__file__):\n    match MODE:\n        case [1, *_]:\n            pass\n        case _:\n            from os.path import join as hidden\n",
])
def test_static_resolver_sees_names_bound_inside_any_compound_statement(tmp_path, block):
    pkg = tmp_path / "src" / "shapes"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("MODE = 1\n" + block)
    manifest = tmp_path / "m.toml"
    manifest.write_text(textwrap.dedent('''
        [manifest]
        name = "shapes"
        [[patch]]
        name = "p"
        target = "shapes:hidden"
        replace = "shapes:hidden"
    '''))
    result = run_npatch("compile", str(manifest), "--resolve", "static", "--path", str(tmp_path / "src"))
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    missing = run_npatch("compile", str(manifest), "--resolve", "static", "--path", str(tmp_path / "nowhere"))
    assert missing.returncode == 1         # the same check does fail where the name cannot be found


def test_representative_slice_of_installed_torch_has_no_internal_error(tmp_path):
    """A fast slice of the real torch tree (every file of ``torch/cuda`` and
    ``torch/amp``); ``bench/diff_torch.py`` runs the whole package."""
    import torch

    root = Path(torch.__file__).parent
    result = run_npatch("diff", "cuda-to-npu", str(root / "cuda"), str(root / "amp"), "-j", "2",
                        cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "internal error" not in result.stderr
    assert "+++ b/" in result.stdout                  # it did rewrite something
