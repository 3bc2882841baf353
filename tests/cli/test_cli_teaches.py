"""The CLI teaches: its help examples run as written, trees look alike, failures point at the manifest."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch

README = Path(__file__).resolve().parents[2] / "README.md"

TRAIN = """\
import torch
x = torch.ones(3, device="cuda")
print("sum", float(x.sum()))
"""

MODEL = """\
import torch
def build():
    return torch.nn.Linear(2, 2).cuda()
"""


def _tutorial_manifest() -> str:
    text = README.read_text()
    step = text[text.index("3. **Write your own manifest**"):text.index("4. **Moving to an NPU**")]
    import textwrap

    return textwrap.dedent(re.search(r"```toml\n(.*?)```", step, re.S).group(1))


def _workspace(root: Path) -> dict[str, str]:
    """What a user has beside the examples: a program, a source tree, their own manifest."""
    files = {
        "train.py": TRAIN, "x.py": "print('x ran')\n", "src/model.py": MODEL, "my.toml": _tutorial_manifest(),
        "my_project/__init__.py": "", "my_project/data.py": "def build_loader(cfg, batch_size=2):\n    return 1\n",
        "my_project/cpu.py": "def build_loader(cfg, batch_size=2):\n    return 2\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    bin_dir = str(Path(sys.executable).parent)
    return clean_env(PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), XDG_CACHE_HOME=str(root / ".cache"))


def _commands() -> list[str]:
    from npatch.cli import COMMANDS, build_parser

    build_parser()
    return ["", *COMMANDS]


def _examples(help_text: str) -> list[str]:
    """Indented lines that start with `npatch `, without the description after two spaces."""
    found = []
    for line in help_text.splitlines():
        match = re.match(r"^\s+(npatch \S.*?)(?:\s{2,}\S.*)?$", line)
        if match:
            found.append(match.group(1).strip())
    return found


def test_every_help_text_has_examples_and_they_run_as_written(tmp_path: Path) -> None:
    env = _workspace(tmp_path)
    examples = []
    for name in _commands():
        shown = run_npatch(*([name] if name else []), "--help", cwd=tmp_path, env=env)
        assert shown.returncode == 0, shown.stderr
        examples += [(name or "npatch", e) for e in _examples(shown.stdout)]
    assert len(examples) >= 15 and {"npatch", "compile", "apply", "diff", "show", "explain"} <= {n for n, _ in examples}
    failures = []
    for where, example in examples:
        result = subprocess.run(["bash", "-c", example], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=600)
        # `diff --check` says "1" when files would change, which src/model.py makes them do
        expected = 1 if "--check" in example else 0
        if result.returncode != expected or "Traceback" in result.stderr:
            failures.append(f"[{where}] {example}: exit {result.returncode}\n{result.stderr[-600:]}")
    assert not failures, "\n".join(failures)


def test_show_and_the_status_tree_are_drawn_alike(tmp_path: Path) -> None:
    env = _workspace(tmp_path)
    show = run_npatch("show", "mmcv-lite", cwd=tmp_path, env=env).stdout
    status = run_npatch("apply", "-v", "mmcv-lite", "--", sys.executable, "x.py", cwd=tmp_path, env=env).stderr

    def glyphs(text: str) -> set[str]:
        return {m for line in text.splitlines() for m in re.findall(r"├── |└── |│   |\|- |└- ", line)}

    assert glyphs(show) and glyphs(status) and glyphs(show) <= {"├── ", "└── ", "│   "}
    assert glyphs(status) <= {"├── ", "└── ", "│   "}


def test_show_prints_where_an_alias_points(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[manifest]\nname = "a"\n[[alias]]\ntarget = "oldpkg"\nsource = "json"\n'
                                     '[[alias]]\nname = "named"\ntarget = "old.sub"\nsource = "os.path"\n')
    lines = run_npatch("show", "a.toml", cwd=tmp_path).stdout.splitlines()
    assert lines[1] == "├── alias    alias:oldpkg -> json"
    assert lines[2] == "└── alias    named: old.sub -> os.path"


def test_explain_keeps_the_quotes_of_strings(tmp_path: Path) -> None:
    (tmp_path / "e.toml").write_text('[manifest]\nname = "e"\n[[patch]]\nname = "p"\ntarget = "json:dumps"\n'
                                     'replace = "json:loads"\nwhen = "env(\'NPATCH_T_MODE\', \'a b\') == \'1\'"\n')
    out = run_npatch("explain", "e.toml", cwd=tmp_path).stdout
    assert "because env('NPATCH_T_MODE', 'a b') is 'a b', not == '1'" in out



def test_explain_says_an_installed_module_wins_over_a_stub_or_alias_that_is_not_forced(tmp_path: Path) -> None:
    """It said 'apply' for `[[stub]] module = "json"`, which the run skips (json really exists)."""
    (tmp_path / "s.toml").write_text(
        '[manifest]\nname = "s"\n'
        '[[stub]]\nmodule = "json"\n'
        '[[stub]]\nmodule = "textwrap"\nforce = true\n'
        '[[stub]]\nmodule = "npatch_t_absent_mod"\n'
        '[[alias]]\ntarget = "csv"\nsource = "json"\n'
        '[[alias]]\ntarget = "npatch_t_old"\nsource = "json"\n')
    out = run_npatch("explain", "s.toml", cwd=tmp_path).stdout.splitlines()
    lines = {line.split()[1]: line for line in out[:-1]}
    assert lines["stub:json"].startswith("skip     stub:json  (stub json)  because json really exists"), out
    assert lines["stub:json"].endswith("; the real module wins (force = true stubs it anyway)"), out
    assert lines["alias:csv"].startswith("skip     alias:csv  (alias csv)  because csv really exists"), out
    assert lines["alias:csv"].endswith("; replace = true aliases it anyway"), out
    assert all(lines[name].startswith("apply ") for name in ("stub:textwrap", "stub:npatch_t_absent_mod",
                                                              "alias:npatch_t_old")), out
    assert out[-1] == "3 of 5 ops would apply here; 0 disabled"
    run = run_npatch("apply", "s.toml", "-v", "--", sys.executable, "-c", "import json, csv", cwd=tmp_path)
    assert "skipped  stub:json" in run.stderr and "skipped  alias:csv" in run.stderr, run.stderr


FAILING = """\
[manifest]
name = "w"

[[patch]]
name = "bad"
target = "json:dumps"
replace = "boom:f"
"""


def _failing(root: Path) -> dict[str, str]:
    (root / "w.toml").write_text(FAILING)
    (root / "boom.py").write_text("def helper():\n    raise RuntimeError('kaput')\nhelper()\ndef f(*a, **k):\n    pass\n")
    (root / "main.py").write_text("import sys; sys.path.insert(0, '.')\nimport json\nprint('main ran')\n")
    return clean_env(XDG_CACHE_HOME=str(root / ".cache"), PYTHONPATH=str(root))


def test_a_runtime_warning_points_at_the_manifest_line(tmp_path: Path) -> None:
    env = _failing(tmp_path)
    result = run_npatch("apply", "w.toml", "--", sys.executable, "main.py", cwd=tmp_path, env=env)
    assert result.returncode == 0 and "main ran" in result.stdout
    assert re.search(r"w\.toml:4: NpatchWarning: npatch: replace 'bad' on json:dumps failed: .*kaput", result.stderr), \
        result.stderr
    assert "session.py" not in result.stderr and "npatch/runtime" not in result.stderr


def test_strict_prints_the_cause_not_a_traceback_and_v_keeps_it(tmp_path: Path) -> None:
    env = _failing(tmp_path)
    result = run_npatch("apply", "--strict", "w.toml", "--", sys.executable, "main.py", cwd=tmp_path, env=env)
    assert result.returncode == 1 and "main ran" not in result.stdout
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 5, result.stderr
    assert "failed: importing 'boom' (from 'boom:f') failed: RuntimeError: kaput" in result.stderr
    assert re.search(r"raised at .*boom\.py:2 in helper: RuntimeError: kaput", result.stderr), result.stderr
    verbose = run_npatch("apply", "--strict", "-v", "w.toml", "--", sys.executable, "main.py", cwd=tmp_path, env=env)
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr and "boom.py" in verbose.stderr


@pytest.mark.parametrize("mode", ["static", "import", "none"])
def test_compile_help_says_what_each_resolve_mode_checks(mode: str) -> None:
    text = run_npatch("compile", "--help").stdout
    assert re.search(rf"^  {mode}\s+\S", text, re.M), text


def test_strict_names_the_manifest_line_of_the_failing_op(tmp_path: Path) -> None:
    """Without --strict the warning points at w.toml:4; the --strict error named no manifest at all."""
    env = _failing(tmp_path)
    result = run_npatch("apply", "--strict", "w.toml", "--", sys.executable, "main.py", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{tmp_path / 'w.toml'}:4: npatch: replace 'bad' on json:dumps failed: "), \
        result.stderr
