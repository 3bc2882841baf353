"""Stubs are packages; any use of what they give raises NpatchStubError naming
the stub, its manifest and the file:line of its ``[[stub]]`` (issue 10, item 2)."""
from __future__ import annotations

import sys

from rt_helpers import op, plan, run_plan, statuses
from tree_helpers import apply_scenario, expect_lines

HEAD = '[manifest]\nname = "m"\n'
APEX = HEAD + '\n[[stub]]\nmodule = "apex"\n'

#: prints "OK <label>" when a use raised NpatchStubError naming stub, manifest and line, else what happened
PROBE = """
import sys
from npatch.runtime.errors import NpatchStubError
STUB_LINE = "m.toml:%d"
def probe(label, use):
    try:
        use()
    except NpatchStubError as exc:
        text = str(exc)
        ok = "'stub:apex'" in text and "manifest 'm'" in text and STUB_LINE in text
        print("OK" if ok else "BADMSG", label, "|", text)
    except BaseException as exc:
        print("WRONG", label, type(exc).__name__, exc)
    else:
        print("NOERROR", label)
"""


def _run(tmp_path, manifest: str, code: str, *options: str, files=None):
    stub_line = line_of_text(manifest, "[[stub]]")
    proc = apply_scenario(tmp_path, manifest, PROBE % stub_line + code, files, *options)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _stubs(*modules: str, forced: tuple[str, ...] = ()) -> str:
    """A manifest named m with one ``[[stub]]`` per module."""
    return HEAD + "".join(f'\n[[stub]]\nmodule = "{m}"\n' + ("force = true\n" if m in forced else "") for m in modules)


def line_of_text(manifest: str, text: str) -> int:
    """The line of ``text`` in the manifest as written (dedented, leading newline dropped)."""
    import textwrap

    lines = textwrap.dedent(manifest).lstrip("\n").splitlines()
    return next((number for number, line in enumerate(lines, 1) if text in line), 0)


def _probe_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.split(" ", 1)[0] in ("OK", "BADMSG", "WRONG", "NOERROR")]


def test_imports_under_a_stub_succeed_and_every_use_raises(tmp_path):
    proc = _run(tmp_path, APEX, """
import types
import apex.amp
from apex.parallel import DistributedDataParallel
from apex import amp
import apex.contrib.optimizers.fused_adam as deep
from apex.normalization.fused_layer_norm import FusedLayerNorm
print("IMPORTED", type(apex.amp).__name__, apex.__path__, sys.modules["apex.contrib.optimizers"].__name__)
probe("call", lambda: DistributedDataParallel(object()))
probe("initialize", lambda: amp.initialize(1, 2, opt_level="O1"))
probe("module-attr-call", lambda: apex.amp.initialize(1, 2))
probe("attr-of-attr", lambda: apex.parallel.DistributedDataParallel.forward)
probe("subclass", lambda: types.new_class("M", (apex.parallel.SyncBatchNorm,)))
probe("class-statement", lambda: exec("class M(FusedLayerNorm): pass"))
probe("subclass-module", lambda: exec("class M(apex.amp): pass"))
probe("isinstance", lambda: isinstance(1, DistributedDataParallel))
probe("issubclass", lambda: issubclass(int, apex.X))
probe("deep-call", lambda: deep.FusedAdam([]))
probe("module-call", lambda: apex.amp())
print("HASATTR", hasattr(apex, "anything"), apex.X is apex.X)
""")
    out = proc.stdout
    assert "IMPORTED StubModule [] apex.contrib.optimizers" in out
    lines = _probe_lines(out)
    assert len(lines) == 11 and all(l.startswith("OK ") for l in lines), out
    assert "HASATTR True True" in out


def test_a_stub_never_hides_an_installed_module_unless_forced(tmp_path):
    manifest = _stubs("mmengine", "mmdet", "mm", forced=("mmdet",))
    proc = _run(tmp_path, manifest, """
import mmengine.config
print("REAL", type(mmengine).__name__, hasattr(mmengine.config, "Config"))
import mmdet.models.backbones
print("FORCED", type(mmdet.models.backbones).__name__)
import mm.x
print("PREFIX", type(mm).__name__)
""", "--report", "report.json")
    out = proc.stdout
    expect_lines(out, "REAL module True", "FORCED StubModule", "PREFIX StubModule")


def test_stub_whose_name_is_a_prefix_of_a_real_package(tmp_path):
    # stubbing "num" must not touch numpy; a stub under a real package leaves the package real
    proc = _run(tmp_path, _stubs("num", "json.tool_missing"), """
import numpy, json, json.decoder
print("REAL", type(numpy).__name__, numpy.__name__, type(json.decoder).__name__)
import num.py
print("STUB", type(num).__name__, type(num.py).__name__)
import json.tool_missing.deeper
print("UNDER-REAL", type(json.tool_missing.deeper).__name__, type(json).__name__)
""")
    expect_lines(proc.stdout,
                 "REAL module numpy module", "STUB StubModule StubModule", "UNDER-REAL StubModule module")


def test_nested_stubs_and_aliases_in_an_included_manifest(tmp_path):
    (tmp_path / "inner.toml").write_text(
        '[manifest]\nname = "inner"\n\n[[stub]]\nmodule = "apex"\n\n[[stub]]\nmodule = "apex.quiet"\non-use = "none"\n')
    manifest = """
        [manifest]
        name = "m"
        include = ["inner.toml"]

        [[alias]]
        target = "amp_compat"
        source = "apex.amp"
    """
    proc = _run(tmp_path, manifest, """
import apex.quiet.sub
import amp_compat, apex.amp
print("NONE", apex.quiet.anything, apex.quiet.sub.anything)
print("ALIAS", amp_compat is apex.amp)
try:
    amp_compat.initialize(1)
except NpatchStubError as exc:
    print("INNER", "manifest 'inner'" in str(exc), "inner.toml:4" in str(exc))
""")
    expect_lines(proc.stdout, "NONE None None", "ALIAS True", "INNER True True")


def test_restore_removes_every_stub_module_it_served(tmp_path):
    proc = run_plan(tmp_path, plan(op("stub", "apex", name="s")), """
        import sys, importlib.util
        import apex.amp, apex.parallel.ddp
        from apex import fused
        served = sorted(n for n in sys.modules if n.startswith("apex"))
        SESSION.stop()
        print("SERVED", served)
        print("LEFT", sorted(n for n in sys.modules if n.startswith("apex")))
        print("GONE", importlib.util.find_spec("apex"))
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expect_lines(proc.stdout,
                 "SERVED ['apex', 'apex.amp', 'apex.parallel', 'apex.parallel.ddp']", "LEFT []", "GONE None")
    assert statuses(proc.report) == {"s": "applied"}


def test_stub_error_from_a_plan_built_in_code_names_the_plan(tmp_path):
    proc = run_plan(tmp_path, plan(op("stub", "apex", name="s")), """
        from npatch.runtime.errors import NpatchStubError
        import apex.amp as amp
        try:
            amp.scale_loss(1, 2)
        except NpatchStubError as exc:
            print("MSG", exc)
    """)
    assert "MSG apex.amp.scale_loss is not available: 'apex' is a stub (stub 's' in manifest '<plan>'); it was called" \
        in proc.stdout, proc.stdout + proc.stderr


def test_forced_stub_of_an_imported_interpreter_module_warns_and_does_nothing(tmp_path):
    the_plan = plan(op("stub", "sys", name="s-sys", force=True), op("stub", "encodings", name="s-enc", force=True),
                    op("stub", "os.path", name="s-path", force=True))
    proc = run_plan(tmp_path, the_plan, """
        import sys, os, encodings
        print("REAL", type(sys).__name__, type(os.path).__name__, type(encodings).__name__, os.path.join("a", "b"))
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "REAL module module module a/b" in proc.stdout
    assert statuses(proc.report) == {"s-sys": "skipped", "s-enc": "skipped", "s-path": "skipped"}
    assert proc.stderr.count("NpatchWarning") == 3 and "part of the interpreter" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_saved_plan_with_a_forced_sys_stub_starts_every_child(tmp_path):
    # a plan.json skips the compiler's check: the bootstrap must still start
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan(op("stub", "sys", name="s-sys", force=True),
                              op("stub", "builtins", name="s-builtins", force=True)).to_json())
    from npatch_testutil import clean_env, run_npatch

    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    code = "import sys; print('ran', type(sys).__name__)"
    proc = run_npatch("apply", str(plan_file), "--", sys.executable, "-c", code, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "ran module"
    assert "Traceback" not in proc.stderr
