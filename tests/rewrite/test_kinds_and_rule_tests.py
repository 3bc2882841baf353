"""Kind validation (the compiler's contract) and `npatch test`'s per-rule verdicts."""
from __future__ import annotations

import subprocess
import sys

import pytest

from npatch.rewrite_kinds import REWRITE_KINDS, kind_of, map_string, validate
from npatch.rewrite.testing import check_rewrite, check_rewrites, format_results
from rewrite_helpers import rw


def test_kinds_module_does_not_import_libcst():
    code = "import sys, npatch.rewrite_kinds; print('libcst' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_kind_has_a_rule_class():
    from npatch.rewrite.rules import RULES, build_rules

    build_rules([])
    assert set(RULES) == set(REWRITE_KINDS)


@pytest.mark.parametrize("kind, params, problem", [
    ("rename", {"from": "torch.cuda"}, ("", "`rename` needs `to`")),
    ("rename", {"from": "torch.cuda", "to": "torch.cuda"}, ("to", "`to` is the same as `from`")),
    ("rename", {"from": "torch..cuda", "to": "x"}, ("from", "expected a dotted name")),
    ("rename", {"from": "a", "to": "b", "too": 1}, ("too", "unknown key 'too'")),
    ("method", {"from": "cuda", "to": "n pu"}, ("to", "expected an identifier")),
    ("argument", {"callables": ["*.to"], "values": {"cuda": "npu"}}, ("", "needs `keywords`, `positions`")),
    ("argument", {"callables": ["x y"], "positions": [0], "values": {"cuda": "npu"}}, ("callables", "'*.method'")),
    ("argument", {"callables": ["*"], "positions": [-1], "values": {"cuda": "npu"}}, ("positions", ">= 0")),
    ("argument", {"callables": ["*"], "keywords": ["device"], "values": {"cuda": 1}}, ("values", "string values")),
    ("import", {"add": "torch_npu", "remove": "apex"}, ("", "exactly one of `add`, `remove`")),
    ("import", {"from": "apex"}, ("", "`from` needs `to`")),
    ("import", {"remove": "apex", "after": "torch"}, ("after", "`after` goes with `add`")),
    ("unsupported", {}, ("", "needs `names`, `methods` or both")),
    ("rename", "torch.cuda", ("", "must be a table like")),
    ("nope", {}, ("", "unknown rewrite kind 'nope'")),
])
def test_validation_problems_are_located(kind, params, problem):
    problems = validate(kind, params)
    assert any(sub == problem[0] and problem[1] in message for sub, message in problems), problems


def test_valid_tables_and_kind_detection():
    assert validate("argument", {"callables": ["torch.device", "*.to", "*"], "positions": [0],
                                 "keywords": ["device"], "values": {"cuda": "npu"}}) == []
    assert validate("import", {"add": "torch_npu", "after": "torch", "uses": ["npu"], "name": "x"}) == []
    assert kind_of({"id": "x", "rename": {}, "message": ""}) == ["rename"]


def test_prefix_semantics_of_values():
    assert map_string("cuda", {"cuda": "npu"}) == "npu"
    assert map_string("cuda:0", {"cuda": "npu"}) == "npu:0"
    assert map_string("cudagraph", {"cuda": "npu"}) is None


def statuses(result):
    return [(c.label, c.status) for c in result.cases]


def test_rule_test_verdicts():
    rule = rw("m", "method", from_="cuda", to="npu",
              examples=[("x.cuda()", "x.npu()"),            # validated
                        ("x.cpu()", "x.npu()"),             # missing: not changed
                        ("x.cuda(0)", "x.npu()"),           # wrong: changed differently
                        ("x.cuda(", "x.npu(")],             # error: does not parse
              valid=["x.is_cuda", "y.cuda()"])             # validated, noisy
    result = check_rewrite(rule)
    assert statuses(result) == [("example 1", "validated"), ("example 2", "missing"), ("example 3", "wrong"),
                                ("example 4", "error"), ("valid 1", "validated"), ("valid 2", "noisy")]
    assert result.status == "failed"
    text = format_results([result])
    assert "FAIL       m  error, missing, noisy, wrong (4 of 6 cases)" in text
    assert "+x.npu(0)" in text                                # the wrong case shows a diff


def test_one_line_examples_get_their_root_import():
    rule = rw("s", "rename", from_="torch.cuda.synchronize", to="torch.npu.synchronize",
              examples=[("torch.cuda.synchronize()", "torch.npu.synchronize()"),
                        ("from torch import cuda\ncuda.synchronize()",
                         "from torch import cuda\nimport torch\ntorch.npu.synchronize()")],
              valid=["def f(torch):\n    torch.cuda.synchronize()"])
    assert check_rewrite(rule).status == "validated"


def test_unsupported_examples_must_be_reported_and_unchanged():
    rule = rw("u", "unsupported", names=["torch.cuda.nvtx"],
              examples=[("torch.cuda.nvtx.mark('a')", "torch.cuda.nvtx.mark('a')"), ("x = 1", "x = 1")],
              valid=["torch.cuda.synchronize()", "torch.cuda.nvtx.mark('b')"])
    assert statuses(check_rewrite(rule)) == [("example 1", "validated"), ("example 2", "missing"),
                                             ("valid 1", "validated"), ("valid 2", "noisy")]


def test_builtin_manifest_rules_all_validate(builtin_rewrites):
    results = check_rewrites(builtin_rewrites)
    assert all(r.status == "validated" for r in results), format_results(results)
    assert all(r.rewrite.examples for r in results)
    assert {r.rewrite.kind for r in results} == set(REWRITE_KINDS)
