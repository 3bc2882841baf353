"""A corpus of bad manifests: each must fail with its message at its line and column.

Every case runs through the real CLI (`npatch compile`) in a subprocess for a
sample, and through the compiler API for all, so both the located error and
"no traceback" are checked.
"""
from __future__ import annotations

import textwrap

import pytest

from npatch.compiler import compile_manifests
from npatch.errors import ManifestError, ManifestErrors, NpatchError

HEAD = '[manifest]\nname = "bad"\n'

# (id, manifest text, expected message fragment, line, col, key path or None)
CASES = [
    ("toml-syntax", '[manifest\nname = "x"\n', "invalid TOML", 1, 10, None),
    ("toml-dup-key", '[manifest]\nname = "x"\nname = "y"\n', "invalid TOML", 3, 11, None),
    ("toml-bad-value", '[manifest]\nname = x\n', "invalid TOML", 2, 8, None),
    ("no-manifest-table", '[[patch]]\nname = "p"\n', "missing [manifest] table", 1, 1, "manifest"),
    ("missing-name", '[manifest]\ndescription = "d"\n', "missing required key `name`", 1, 1, "manifest"),
    ("bad-name", '[manifest]\nname = "Bad Name"\n', "invalid manifest name", 2, 8, "manifest.name"),
    ("name-not-string", '[manifest]\nname = 3\n', "`name` must be a string, not an integer", 2, 8, "manifest.name"),
    ("unknown-table", HEAD + '[[pacth]]\nname = "p"\n', "unknown table `pacth`", 3, 1, "pacth"),
    ("unknown-key-manifest", HEAD + 'descripton = "x"\n', "unknown key `descripton`", 3, 1, "manifest.descripton"),
    ("unknown-key-patch", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nprioirty = 3\n', "unknown key `prioirty`", 7, 1, "patch[0].prioirty"),
    ("patch-no-action", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\n', "exactly one of replace / wrap / value / delete / call", 3, 1, "patch[0]"),
    ("patch-two-actions", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nreplace = "x:y"\n', "found `value`, `replace`", 7, 1, "patch[0].replace"),
    ("patch-missing-target", HEAD + '[[patch]]\nname = "p"\nvalue = 1\n', "missing required key `target`", 3, 1, "patch[0]"),
    ("patch-missing-name", HEAD + '[[patch]]\ntarget = "a:b"\nvalue = 1\n', "missing required key `name`", 3, 1, "patch[0]"),
    ("patch-as-table", HEAD + '[patch]\nname = "p"\n', "must be an array of tables", 3, 1, "patch"),
    ("priority-type", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\npriority = "high"\n', "`priority` must be an integer, not a string", 7, 12, "patch[0].priority"),
    ("on-missing-choice", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\non-missing = "warning"\n', 'must be one of "warn" | "error" | "ignore"', 7, 14, "patch[0].on-missing"),
    ("delete-false", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\ndelete = false\n', "must be one of true", 6, 10, "patch[0].delete"),
    ("target-double-dot", HEAD + '[[patch]]\nname = "p"\ntarget = "a..b"\nvalue = 1\n', "empty name before `.`", 5, 13, "patch[0].target"),
    ("target-two-colons", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b:c"\nvalue = 1\n', "at most one `:`", 5, 14, "patch[0].target"),
    ("target-bad-ident", HEAD + '[[patch]]\nname = "p"\ntarget = "a.1b:c"\nvalue = 1\n', "`1b` is not a Python identifier", 5, 13, "patch[0].target"),
    ("replace-module-only", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nreplace = "pkg:"\n', "must name an object inside a module", 6, 11, "patch[0].replace"),
    ("target-module-only-value", HEAD + '[[patch]]\nname = "p"\ntarget = "json:"\nvalue = 1\n', "'json:' names the module 'json' itself", 5, 10, "patch[0].target"),
    ("target-module-only-wrap", HEAD + '[[patch]]\nname = "p"\ntarget = "os.path:"\nwrap = "x:y"\n', "not an attribute a `wrap` can change", 5, 10, "patch[0].target"),
    ("target-module-only-delete", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nalso = ["json:"]\ndelete = true\n', "'json:' names the module", 6, 9, "patch[0].also[0]"),
    ("register-module-only", HEAD + '[[register]]\nregistry = "mmengine.registry:"\nname = "X"\nobject = "x:y"\n', "not an attribute a `register` can change", 4, 12, "register[0].registry"),
    ("when-syntax", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nwhen = "installed(\'x\') andd true"\n', "unexpected `andd`", 7, 24, "patch[0].when"),
    ("when-unknown-function", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nwhen = "instaled(\'x\')"\n', "unknown function `instaled`", 7, 9, "patch[0].when"),
    ("when-arity", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nwhen = "version()"\n', "version() takes 1 argument, got 0", 7, 9, "patch[0].when"),
    ("when-unclosed-string", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nwhen = "env(\'X) == \'1\'"\n', "unexpected `1`", 7, 21, "patch[0].when"),
    ("when-bad-version", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nwhen = "version(\'torch\') >= \'two\'"\n', "'two' is not a valid version", 7, 29, "patch[0].when"),
    ("manifest-when", '[manifest]\nname = "bad"\nwhen = "python_versio > \'3\'"\n', "unknown name `python_versio`", 3, 9, "manifest.when"),
    ("option-undeclared", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nwhen = "option(\'fast\')"\n', "option 'fast' is used but not declared", 7, 8, "patch[0].when"),
    ("duplicate-name", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\n[[patch]]\nname = "p"\ntarget = "a:c"\nvalue = 2\n', "duplicate name 'p'", 8, 8, "patch[1].name"),
    ("same-target-same-priority", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nreplace = "x:y"\n[[patch]]\nname = "q"\ntarget = "a:b"\nreplace = "x:z"\n', "'q' and 'p' both change a:b at priority 0", 9, 10, "patch[1].target"),
    ("alias-collision", HEAD + '[[alias]]\ntarget = "m"\nsource = "x"\n[[alias]]\ntarget = "m"\nsource = "y"\n', "collides", 7, 10, "alias[1].target"),
    ("alias-and-stub", HEAD + '[[alias]]\ntarget = "m"\nsource = "x"\n[[stub]]\nmodule = "m"\n', "both an alias and a stub", 4, 10, "alias[0].target"),
    ("alias-module-colon", HEAD + '[[alias]]\ntarget = "m:x"\nsource = "y"\n', "is a module name", 4, 10, "alias[0].target"),
    ("stub-on-use", HEAD + '[[stub]]\nmodule = "m"\non-use = "raise"\n', "must be one of", 5, 10, "stub[0].on-use"),
    ("register-missing-object", HEAD + '[[register]]\nregistry = "mmengine.registry:MODELS"\nname = "X"\n', "missing required key `object`", 3, 1, "register[0]"),
    ("brake-step-type", HEAD + '[brake]\nstep = "10"\n', "`step` must be an integer", 4, 8, "brake.step"),
    ("brake-array", HEAD + '[[brake]]\nstep = 10\n', "must be a table", 3, 1, "brake"),
    ("profile-level", HEAD + '[profile]\npath = "p"\nlevel = 3\n', "must be one of 0 | 1 | 2", 5, 9, "profile.level"),
    ("include-missing", '[manifest]\nname = "bad"\ninclude = ["./nope.toml"]\n', "manifest file not found", 3, 12, "manifest.include[0]"),
    ("include-unknown-name", '[manifest]\nname = "bad"\ninclude = ["cuda-to-cpux"]\n', "unknown manifest 'cuda-to-cpux'", 3, 12, "manifest.include[0]"),
    ("include-self-cycle", '[manifest]\nname = "bad"\ninclude = ["./m.toml"]\n', "include cycle", 3, 12, "manifest.include[0]"),
    ("disable-unknown", '[manifest]\nname = "bad"\ndisable = ["nope"]\n', "nothing named 'nope' to disable", 3, 12, "manifest.disable[0]"),
    ("options-not-table", '[manifest]\nname = "bad"\noptions = 3\n', "unknown key `options`", 3, 1, "manifest.options"),
    ("rewrite-no-kind", HEAD + '[[rewrite]]\nid = "r"\n', "exactly one rule kind", 3, 1, "rewrite[0]"),
    ("rewrite-bad-params", HEAD + '[[rewrite]]\nid = "r"\nrename = { from = "torch.cuda.x" }\n', "needs `to`", 5, 10, "rewrite[0].rename"),
    ("rewrite-example-keys", HEAD + '[[rewrite]]\nid = "r"\nmethod = { from = "cuda", to = "npu" }\nexamples = [{ before = "x.cuda()" }]\n', "each example is", 6, 13, "rewrite[0].examples[0]"),
    ("rewrite-dup-id", HEAD + '[[rewrite]]\nid = "r"\nmethod = { from = "a", to = "b" }\n[[rewrite]]\nid = "r"\nmethod = { from = "c", to = "d" }\n', "rewrite id 'r' is used twice", 6, 1, "rewrite[1]"),
    ("also-not-list", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nalso = "a:c"\n', "`also` must be an array of strings", 7, 8, "patch[0].also"),
    ("guard-without-replace", HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nguard = "g:f"\n', "`guard` only works with `replace`", 7, 1, "patch[0].guard"),
]


def _errors(exc: NpatchError) -> list[ManifestError]:
    return exc.errors if isinstance(exc, ManifestErrors) else [exc]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_manifest_is_located(case, tmp_path):
    _, text, fragment, line, col, key = case
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(NpatchError) as info:
        compile_manifests([str(path)])
    errors = _errors(info.value)
    assert len(errors) == 1, [str(e) for e in errors]
    error = errors[0]
    assert isinstance(error, ManifestError), repr(error)
    assert fragment in error.message, str(error)
    assert (error.file, error.line, error.col) == (str(path.resolve()), line, col), str(error)
    if key is not None:
        assert error.key == key
    rendered = str(error)
    assert rendered.startswith(f"{path.resolve()}:{line}:{col}: ")


def test_many_errors_reported_together(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nprioirty = 1\n[[stub]]\nmodul = "x"\n')
    with pytest.raises(ManifestErrors) as info:
        compile_manifests([str(path)])
    messages = [e.message for e in info.value.errors]
    assert any("prioirty" in m for m in messages)
    assert any("modul" in m for m in messages)
    assert any("missing required key `module`" in m for m in messages)


def test_hint_says_what_is_valid(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(HEAD + '[[patch]]\nname = "p"\ntarget = "a:b"\nvalue = 1\nprioirty = 1\n')
    with pytest.raises(ManifestErrors) as info:
        compile_manifests([str(path)])
    assert info.value.errors[0].hint == "did you mean `priority`?"


def test_condition_error_underlines_span(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(HEAD + textwrap.dedent('''\
        [[patch]]
        name = "p"
        target = "a:b"
        value = 1
        when = "instaled('x')"
    '''))
    with pytest.raises(ManifestErrors) as info:
        compile_manifests([str(path)])
    rendered = str(info.value.errors[0]).splitlines()
    assert rendered[1].strip() == "instaled('x')"
    assert rendered[2] == "    ^^^^^^^^"


def test_include_cycle_names_every_file(tmp_path):
    (tmp_path / "a.toml").write_text('[manifest]\nname = "a"\ninclude = ["./b.toml"]\n')
    (tmp_path / "b.toml").write_text('[manifest]\nname = "b"\ninclude = ["./a.toml"]\n')
    with pytest.raises(ManifestError) as info:
        compile_manifests([str(tmp_path / "a.toml")])
    message = info.value.message
    assert "a.toml -> " in message and "b.toml -> " in message
    assert info.value.file.endswith("b.toml") and info.value.line == 3


def test_duplicate_manifest_names_across_includes(tmp_path):
    (tmp_path / "a.toml").write_text('[manifest]\nname = "same"\ninclude = ["./b.toml"]\n')
    (tmp_path / "b.toml").write_text('[manifest]\nname = "same"\n')
    with pytest.raises(ManifestErrors) as info:
        compile_manifests([str(tmp_path / "a.toml")])
    error = info.value.errors[0]
    assert "already used" in error.message and "b.toml:2:8" in error.hint
