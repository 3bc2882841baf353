"""The runtime's inner contracts: the finder and the op kinds reach a session
only through the public methods of ``npatch.runtime.protocols``."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

from npatch.plan import Plan
from npatch.runtime import finder, ops
from npatch.runtime.protocols import ApplyHost, FinderClient
from npatch.runtime.session import Session


def test_a_session_is_a_finder_client_and_an_apply_host():
    session = Session(Plan())
    assert isinstance(session, FinderClient)
    assert isinstance(session, ApplyHost)
    for protocol in (FinderClient, ApplyHost):
        for name, member in vars(protocol).items():
            if callable(member) and not name.startswith("_"):
                ours = inspect.signature(getattr(Session, name))
                assert list(ours.parameters) == list(inspect.signature(member).parameters), name


def _private_uses(module, receivers: set[str]) -> list[str]:
    """``x._name`` where ``x`` is one of ``receivers`` (``client``, ``self.session``...),
    and every ``getattr`` with a string literal: the protocol is called directly."""
    tree = ast.parse(Path(module.__file__).read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if ast.unparse(node.value) in receivers:
                found.append(f"{ast.unparse(node)} (line {node.lineno})")
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "getattr" and len(node.args) > 1 \
                and isinstance(node.args[1], ast.Constant) and ast.unparse(node.args[0]) in receivers:
            found.append(f"{ast.unparse(node)} (line {node.lineno})")
    return found


def test_the_finder_calls_its_clients_by_their_public_methods():
    assert _private_uses(finder, {"client", "c"}) == []


def test_apply_contexts_call_the_session_by_its_public_methods():
    assert _private_uses(ops, {"self.session", "session"}) == []
