"""The compiler and its CLI on good input: plans, resolution modes, options, views."""
from __future__ import annotations

import json
import sys
import textwrap

import pytest

from npatch_testutil import run_npatch, run_python
from npatch.compiler import compile_manifests, load_plan
from npatch.dsl.discovery import list_manifests
from npatch.errors import UsageError
from npatch.plan import Plan, Target

FULL = '''
[manifest]
name = "full"
description = "every table"
include = ["./base.toml"]
disable = ["base-off"]

[options]
fast = false
step = 64

[[alias]]
target = "my_alias_mod"
source = "json"

[[stub]]
module = "torch_scatter"

[[patch]]
name = "sync"
target = "torch.cuda.synchronize"
also = ["torch.cuda:current_device"]
replace = "npatch_test_repl:sync"
priority = 5
when = "option('fast') or version('torch') >= '2.0'"
options = { im2col_step = 64, names = ["a", "b"] }
rebind = true

[[patch]]
name = "ver"
target = "mmcv:__version__"
value = ["2", "1", "0"]
during = "mmdet"

[[register]]
registry = "mmengine.registry:MODELS"
name = "Thing"
object = "collections:OrderedDict"

[[rewrite]]
id = "sync"
rename = { from = "torch.cuda.synchronize", to = "torch.npu.synchronize" }
examples = [{ before = "torch.cuda.synchronize()", after = "torch.npu.synchronize()" }]
'''

BASE = '''
[manifest]
name = "base"
[[patch]]
name = "base-off"
target = "os:getcwd"
delete = true
[[patch]]
name = "base-on"
target = "os:sep"
value = "/"
priority = -1
'''


@pytest.fixture
def full(tmp_path):
    (tmp_path / "base.toml").write_text(BASE)
    path = tmp_path / "full.toml"
    path.write_text(FULL)
    return path


def test_plan_round_trip_and_order(full):
    plan = compile_manifests([str(full)]).plan
    assert Plan.from_dict(plan.to_dict()) == plan
    assert Plan.from_json(plan.to_json()) == plan
    assert [op.name for op in plan.ops][:2] == ["base-on", "alias:my_alias_mod"]  # priority -1 first, then declaration order
    assert plan.disabled == ("base-off",)
    sync = plan.op("sync")
    assert sync.targets == (Target("torch.cuda", "synchronize"), Target("torch.cuda", "current_device"))
    assert sync.options_dict == {"im2col_step": 64, "names": ("a", "b")}
    assert plan.op("ver").value == ["2", "1", "0"]
    assert [m.name for m in plan.manifests] == ["base", "full"]


def test_content_hash_is_stable_across_processes(full):
    here = compile_manifests([str(full)]).plan.content_hash
    code = f"from npatch.compiler import compile_manifests; print(compile_manifests([{str(full)!r}]).plan.content_hash)"
    other = run_python(code)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == here
    assert len(here) == 64


def test_saved_plan_loads_without_compile_half(full, tmp_path):
    out = tmp_path / "plan.json"
    result = run_npatch("compile", str(full), "-o", str(out))
    assert result.returncode == 0, result.stderr
    code = f"""
        import sys
        from npatch.compiler import read_plan
        from pathlib import Path
        plan = read_plan(Path({str(out)!r}))
        heavy = [m for m in ('tomli', 'lark', 'libcst', 'packaging') if m in sys.modules]
        print(len(plan.ops), heavy)
    """
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(None, 1) == ["6", "[]\n"]
    assert load_plan([str(out)]) == compile_manifests([str(full)]).plan


def test_damaged_plan_is_a_clear_error(tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text('{"schema": 99}')
    result = run_npatch("show", str(bad))
    assert result.returncode != 0 and "Traceback" not in result.stderr


def test_set_and_disable(full):
    plan = compile_manifests([str(full)], sets={"fast": "true", "step": "8"}, disable=["sync"]).plan
    assert plan.options_dict == {"fast": True, "step": 8}
    assert "sync" in plan.disabled and all(op.name != "sync" for op in plan.ops)
    with pytest.raises(UsageError, match="no such option.*did you mean `fast`"):
        compile_manifests([str(full)], sets={"fastt": "1"})
    with pytest.raises(UsageError, match="expected an integer"):
        compile_manifests([str(full)], sets={"step": "many"})
    with pytest.raises(UsageError, match="did you mean `sync`"):
        compile_manifests([str(full)], disable=["synk"])


def test_manifest_when_is_combined_with_entry_when(write_manifest):
    path = write_manifest('''
        [manifest]
        name = "w"
        when = "installed('torch')"
        [[patch]]
        name = "p"
        target = "os:sep"
        value = "/"
        when = "env('X') == '1'"
    ''')
    op = compile_manifests([str(path)]).plan.op("p")
    assert op.when[0] == "and" and op.when[1][1] == "installed"


def test_dotted_target_is_split_at_longest_module(write_manifest):
    path = write_manifest('''
        [manifest]
        name = "d"
        [[patch]]
        name = "nms"
        target = "mmcv.ops.nms.nms"
        value = 1
        [[patch]]
        name = "cuda"
        target = "torch.nn.modules.module.Module.cuda"
        value = 1
    ''')
    plan = compile_manifests([str(path)]).plan
    assert plan.op("nms").target == Target("mmcv.ops.nms", "nms")
    assert plan.op("cuda").target == Target("torch.nn.modules.module", "Module.cuda")


def test_static_resolution_against_real_torch(write_manifest):
    path = write_manifest('''
        [manifest]
        name = "s"
        [[patch]]
        name = "found"
        target = "torch.cuda:synchronize"
        value = 1
        [[patch]]
        name = "class-attr"
        target = "torch.nn.modules.module:Module.cuda"
        value = 1
        [[patch]]
        name = "c-ext"
        target = "torch:zeros"
        value = 1
        [[patch]]
        name = "gone"
        target = "torch.cuda:synchronise"
        value = 1
        [[patch]]
        name = "gone-but-ignored"
        target = "torch.cuda:nothing_here"
        value = 1
        on-missing = "ignore"
    ''')
    result = compile_manifests([str(path)], resolve="static")
    codes = {d.op: (d.severity, d.code) for d in result.diagnostics}
    assert "found" not in codes and "class-attr" not in codes
    assert codes["c-ext"] == ("info", "unverifiable")
    assert codes["gone"] == ("error", "missing")
    assert codes["gone-but-ignored"] == ("info", "missing")
    error = next(d for d in result.diagnostics if d.op == "gone")
    assert error.origin.line == 17 and error.origin.key == "patch[3].target"
    assert "synchronise" in error.message


def test_static_compile_executes_nothing(tmp_path, write_manifest):
    pkg = tmp_path / "src" / "sideeffect"
    pkg.mkdir(parents=True)
    marker = tmp_path / "imported.txt"
    (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef f(x):\n    return x\n")
    path = write_manifest('''
        [manifest]
        name = "se"
        [[patch]]
        name = "p"
        target = "sideeffect:f"
        replace = "sideeffect:f"
    ''')
    result = run_npatch("compile", str(path), "--resolve", "static", "--path", str(tmp_path / "src"))
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    result = run_npatch("compile", str(path), "--resolve", "import", env=None, cwd=tmp_path / "src")
    assert marker.exists()  # the import mode really imports: the marker proves the static test could fail


def test_import_mode_reports_the_real_cause(tmp_path, write_manifest):
    src = tmp_path / "src"
    (src / "brokenpkg").mkdir(parents=True)
    (src / "brokenpkg" / "__init__.py").write_text("")
    (src / "brokenpkg" / "sub.py").write_text("import not_installed_anywhere\ndef f():\n    pass\n")
    (src / "repl.py").write_text("def two(a, b):\n    return a\ndef one(a):\n    return a\ndef anyargs(*a, **k):\n    pass\n")
    (src / "orig.py").write_text("def f(a, b=1):\n    return a\n")
    path = write_manifest('''
        [manifest]
        name = "imp"
        [[patch]]
        name = "broken"
        target = "brokenpkg.sub:f"
        replace = "repl:anyargs"
        [[patch]]
        name = "narrow"
        target = "orig:f"
        replace = "repl:one"
        [[patch]]
        name = "needs-more"
        target = "orig:f"
        replace = "repl:two"
        priority = 1
        [[patch]]
        name = "fine"
        target = "orig:f"
        replace = "repl:anyargs"
        priority = 2
    ''')
    sys.path.insert(0, str(src))
    try:
        result = compile_manifests([str(path)], resolve="import")
    finally:
        sys.path.remove(str(src))
        for name in ("brokenpkg", "brokenpkg.sub", "repl", "orig"):
            sys.modules.pop(name, None)
    found = {d.op: d for d in result.diagnostics if d.code in ("import-error", "incompatible")}
    assert found["broken"].code == "import-error"
    assert "not_installed_anywhere" in found["broken"].message
    assert found["narrow"].code == "incompatible" and "2 positional" in found["narrow"].message
    assert found["needs-more"].code == "incompatible" and "requires 'b'" in found["needs-more"].message
    assert "fine" not in found


def test_cli_exit_codes(tmp_path, write_manifest):
    good = write_manifest('[manifest]\nname = "g"\n', "g.toml")
    bad = write_manifest('[manifest]\nname = "g"\nfoo = 1\n', "b.toml")
    assert run_npatch("compile", str(good)).returncode == 0
    result = run_npatch("compile", str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}:3:1: manifest.foo: unknown key `foo`")
    assert "Traceback" not in result.stderr
    for args in (["compile"], ["compile", "no-such-manifest"], ["compile", str(good), "--resolve", "maybe"],
                 ["compile", str(good), "--set", "novalue"], []):
        result = run_npatch(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_unknown_name_lists_what_exists():
    result = run_npatch("compile", "cuda-to-cpux")
    assert result.returncode == 2
    assert "did you mean `cuda-to-cpu`" in result.stderr
    assert "available:" in result.stderr


def test_show_draws_tree(full):
    result = run_npatch("show", str(full))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("full  (")
    assert lines[1].startswith("├── base  (")
    assert any(line.startswith("│   └── value    base-on") for line in lines)
    assert lines[-2].startswith("└── rewrite  sync")
    assert lines[-1] == "disabled: base-off"


def test_explain_says_why(write_manifest):
    path = write_manifest('''
        [manifest]
        name = "e"
        [[patch]]
        name = "yes"
        target = "os:sep"
        value = "/"
        when = "installed('torch')"
        [[patch]]
        name = "no"
        target = "os:sep"
        value = "/"
        priority = 1
        when = "version('torch') >= '99'"
    ''')
    result = run_npatch("explain", str(path))
    assert result.returncode == 0, result.stderr
    assert "apply    yes" in result.stdout
    no = next(line for line in result.stdout.splitlines() if line.startswith("skip     no"))
    assert "2.13.0" in no and "99" in no
    assert result.stdout.splitlines()[-1] == "1 of 2 ops would apply here; 0 disabled"


def test_format_json(full):
    result = run_npatch("compile", str(full), "--format", "json", "--resolve", "static")
    data = json.loads(result.stdout)
    assert data["plan"]["schema"] == 1 and len(data["hash"]) == 64
    assert any(d["code"] == "unverifiable" and "npatch_test_repl" in d["message"]
               for d in data["diagnostics"])  # npatch_test_repl is not installed
    assert result.returncode == 0
    assert run_npatch("compile", str(full), "--format", "json", "--strict").returncode == 1


@pytest.mark.parametrize("available", list_manifests(), ids=lambda a: a.name)
def test_every_builtin_manifest_compiles(available):
    result = compile_manifests([available.name])
    assert result.plan.ops or result.plan.rewrites
    assert Plan.from_json(result.plan.to_json()) == result.plan


def test_schema_validates_builtin_manifests():
    jsonschema = pytest.importorskip("jsonschema")
    import tomli

    from npatch.dsl.schema import json_schema

    schema = json_schema()
    for available in list_manifests():
        jsonschema.validate(tomli.loads(available.path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"manifest": {"name": "x"}, "patch": [{"name": "p", "target": "a:b"}]}, schema)


def test_import_mode_runs_under_the_plans_own_stubs():
    """mmcv.ops only imports with mmcv._ext stubbed: import mode must check under the stub, then remove it."""
    before = set(sys.modules)
    result = compile_manifests(["mmcv-lite"], resolve="import")
    assert result.errors == [], [str(d) for d in result.errors]
    assert "mmcv._ext" not in sys.modules or "mmcv._ext" in before
    import importlib.util

    assert importlib.util.find_spec("mmcv._ext") is None  # the stub is gone again


def test_call_target_must_be_a_module(write_manifest):
    path = write_manifest('''
        [manifest]
        name = "c"
        [[patch]]
        name = "on-module"
        target = "mmcv.ops"
        call = "os:getcwd"
        [[patch]]
        name = "on-function"
        target = "json:dumps"
        call = "os:getcwd"
    ''')
    result = compile_manifests([str(path)])
    assert result.plan.op("on-module").target == Target("mmcv.ops", "")
    [error] = result.errors
    assert error.op == "on-function" and "targets a module, not 'json:dumps'" in error.message
    assert (error.origin.line, error.origin.col) == (9, 10)
