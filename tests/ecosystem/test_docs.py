"""The reference documents are generated from the code; the committed copies must match.

When this fails, the model or the argument parser changed: regenerate with
``python -m npatch.docs docs/`` and commit the result.
"""
from __future__ import annotations

import re
from pathlib import Path

from npatch import docs
from npatch.cli import COMMANDS, build_parser
from npatch_testutil import REPO, run_python

DOCS = REPO / "docs"


def test_committed_references_match_the_code():
    stale = docs.drifted(DOCS)
    assert stale == [], f"stale: {', '.join(stale)}; run `python -m npatch.docs docs/` and commit the result"


def test_cli_reference_covers_every_command_and_option():
    text = (DOCS / "cli-reference.md").read_text()
    build_parser()
    for name in COMMANDS:
        assert f"\n## npatch {name}\n" in text, name
    assert "`--resolve {static,import,none}`" in text
    assert "`-o FILE`, `--output FILE`" in text


def test_manifest_reference_covers_every_table_and_key():
    from npatch.dsl.model import TABLES

    text = (DOCS / "manifest-reference.md").read_text()
    for table in TABLES.values():
        assert re.search(rf"`\[{{1,2}}{table.name}\]{{1,2}}`", text), table.name
        for key in table.keys:
            assert f"| `{key.name}` |" in text, f"{table.name}.{key.name}"
    for function in ("installed(name)", "version(name)", "importable(module)", "env(name, [default])", "option(name)"):
        assert f"`{function}`" in text


def test_generation_is_independent_of_the_terminal(monkeypatch):
    first = docs.cli_reference()
    monkeypatch.setenv("COLUMNS", "40")
    assert docs.cli_reference() == first


def test_check_mode_reports_and_write_mode_fixes(tmp_path: Path, capsys):
    (tmp_path / "cli-reference.md").write_text("old\n")
    assert docs.main(["--check", str(tmp_path)]) == 1
    assert "cli-reference.md is stale" in capsys.readouterr().err
    assert docs.main([str(tmp_path)]) == 0
    assert docs.main(["--check", str(tmp_path)]) == 0


def test_commands_are_listed_in_one_order_whichever_module_was_imported_first():
    # `npatch apply`'s fast path imports npatch.cli.apply before the parser is built
    code = """
        import sys
        for name in sys.argv[1:]:
            __import__(f"npatch.cli.{name}")
        from npatch.cli import build_parser
        parser = build_parser()
        action = next(a for a in parser._actions if a.dest == "command")
        print(" ".join(action.choices))
    """
    orders = {run_python(code, *first).stdout for first in ([], ["info", "apply"], ["diff"])}
    assert len(orders) == 1, orders
    assert orders.pop().split()[:3] == ["compile", "apply", "run"]  # COMMAND_MODULES order
