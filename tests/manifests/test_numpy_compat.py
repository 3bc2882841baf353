"""The built-in ``numpy-compat`` manifest on the installed NumPy 2.x, and the
library it points at.

Old code (``np.int``, ``np.float``, ``np.NaN``, ``np.float_``, ``np.asfarray``...)
runs under ``npatch apply numpy-compat``; names NumPy 2 has with a new
meaning (``np.bool``, ``np.long``) are left alone and reported skipped; a
``with`` block of the Python API takes the names away again.
"""
from __future__ import annotations

import builtins
import json
import math
import sys
import types

import numpy as np
import pytest

from npatch_testutil import clean_env, run_npatch, run_python
from npu_sources import numpy1_sources  # noqa: F401  (fixture)
from numpy1_namespace import public_namespace
from npatch.library import numpy_compat

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

MANIFEST = numpy_compat.__file__.replace("library/numpy_compat.py", "manifests/numpy-compat.toml")


def manifest_entries() -> list[dict]:
    with open(MANIFEST, "rb") as f:
        return [patch["options"] for patch in tomllib.load(f)["patch"]]


# builtins as the script sees them before `from numpy import int, ...` shadows them
OLD_CODE_PRELUDE = "import builtins as _b\nbuiltins_int, builtins_float, builtins_str = _b.int, _b.float, _b.str\n" \
                   "builtins_object, builtins_complex = _b.object, _b.complex\n"


@pytest.fixture
def env(tmp_path):
    return clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))


# -- the manifest ---------------------------------------------------------------------
def test_every_restored_object_exists():
    for entry in manifest_entries():
        assert "value" in entry or numpy_compat._load(entry["object"]) is not None, entry


def test_every_name_is_one_numpy_removed_or_reintroduced():
    for entry in manifest_entries():
        name = entry["name"]
        assert name in ("bool", "long") or numpy_compat._absent(np, name), f"numpy {np.__version__} has {name}"


def test_compiles_with_import_resolution(env):
    proc = run_npatch("compile", "--resolve", "import", "numpy-compat", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "101 ops" in proc.stdout and "0 errors" in proc.stdout


OLD_CODE = r'''
from numpy import bool, int, float, complex, object, unicode, str
import json
import math
import numpy as np

checks = {
    "int": np.int is int, "float": np.float is float, "complex": np.complex is complex,
    "object": np.object is object, "str": np.str is str, "unicode": np.unicode is str,
    "bool_kept": np.bool is np.bool_, "long_kept": np.long is np.dtype("long").type,
    "float_": np.float_ is np.float64, "complex_": np.complex_ is np.complex128, "string_": np.string_ is np.bytes_,
    "unicode_": np.unicode_ is np.str_, "int0": np.int0 is np.intp, "bool8": np.bool8 is np.bool_,
    "NaN": math.isnan(np.NaN), "Inf": np.Inf == np.PINF == np.infty == np.Infinity == math.inf,
    "NINF": np.NINF == -math.inf, "NZERO": math.copysign(1, np.NZERO) == -1 and np.PZERO == 0,
    "dtype": np.zeros(2, dtype=np.float).dtype == np.float64 and np.array([1], dtype=np.int).dtype == np.int_,
    "isinstance": isinstance(3, np.int),
    "asfarray": np.asfarray([1, 2]).dtype == np.float64 and np.asfarray([1], dtype=np.float32).dtype == np.float32,
    "product": np.product([2, 3]) == 6 and list(np.cumproduct([2, 3])) == [2, 6],
    "alltrue": bool(np.alltrue([True, True])) and bool(np.sometrue([False, True])),
    "round_": np.round_(1.26, 1) == 1.3, "msort": np.msort(np.array([[3, 1], [1, 2]])).tolist() == [[1, 1], [3, 2]],
    "in1d": np.in1d([[1, 2], [3, 4]], [2, 3]).tolist() == [False, True, True, False],
    "trapz": np.trapz([1, 2, 3]) == 4.0, "mat": np.mat([[1, 2]]).shape == (1, 2),
    "math": np.math.pi == math.pi, "typeDict": np.typeDict is np.sctypeDict,
    "sctypes": np.sctypes["float"][:3] == [np.float16, np.float32, np.float64],
    "issubclass_": np.issubclass_(np.float64, np.floating) and not np.issubclass_(1, int),
    "module_top": int is builtins_int and float is builtins_float and str is builtins_str and unicode is builtins_str
                  and object is builtins_object and complex is builtins_complex and bool is np.bool_,
    "NAN": math.isnan(np.NAN), "constants": np.CLIP == 0 and np.BUFSIZE == 8192 and np.ERR_DEFAULT == 521,
    "exceptions": issubclass(np.AxisError, ValueError) and np.VisibleDeprecationWarning is np.exceptions.VisibleDeprecationWarning,
    "sctype": np.obj2sctype(np.array([1.0])) is np.float64 and np.sctype2char(np.float32) == "f"
              and np.maximum_sctype(np.int8) is np.int64 and np.issctype(np.float32) and not np.issctype(object),
    "cast": np.cast[np.float32]([1, 2]).dtype == np.float32 and np.nbytes[np.float64] == 8 and np.nbytes["i4"] == 4,
    "safe_eval": np.safe_eval("[1, 2]") == [1, 2],
}
print(json.dumps({k: True if v else False for k, v in checks.items()}))
'''


def test_old_code_runs_under_the_manifest(tmp_path, env):
    script = tmp_path / "old.py"
    script.write_text(OLD_CODE.replace("import json\n", "import json\n" + OLD_CODE_PRELUDE, 1))
    proc = run_npatch("apply", "-v", "numpy-compat", "--", sys.executable, str(script), env=env)
    assert proc.returncode == 0, proc.stderr
    checks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [name for name, ok in checks.items() if not ok] == []
    skipped = [line for line in proc.stderr.splitlines() if "skipped" in line and "numpy." in line]
    assert len(skipped) == 2 and all("has 'bool' already" in s or "has 'long' already" in s for s in skipped)


PUBLIC_HOMES = r'''
import json, sys
import numpy as np
light = [name for name in ("numpy.char", "numpy.rec", "numpy.strings") if name in sys.modules]
import numpy.char, numpy.rec
print(json.dumps([light, np.format_parser is np.rec.format_parser,
                  np.compare_chararrays is np.char.compare_chararrays]))
'''


def test_names_taken_from_private_modules_are_the_public_objects(env):
    """format_parser and compare_chararrays are taken from where NumPy defines them: importing
    numpy under the manifest does not import numpy.char or numpy.rec, and the restored names are
    those modules' own objects."""
    proc = run_npatch("apply", "--strict", "numpy-compat", "--", sys.executable, "-c", PUBLIC_HOMES, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [[], True, True]


def test_old_code_fails_without_it(env):
    proc = run_python("import numpy as np; np.float_", env=env)
    assert proc.returncode != 0 and "np.float64" in proc.stderr


API = r'''
import json
import numpy as np
import npatch

with npatch.load("numpy-compat").apply():
    inside = [np.int is int, np.NaN != np.NaN, "int" in vars(np), np.bool is np.bool_]
after = ["int" in vars(np), "NaN" in vars(np), np.bool is np.bool_]
try:
    np.int
    gone = False
except AttributeError:
    gone = True
print(json.dumps([inside, after, gone]))
'''


def test_python_api_restores_numpy(env):
    proc = run_python(API, env=env)
    assert proc.returncode == 0, proc.stderr
    inside, after, gone = json.loads(proc.stdout.strip().splitlines()[-1])
    assert inside == [True, True, True, True]
    assert after == [False, False, True] and gone


# -- the library -------------------------------------------------------------------------
def test_restore_sets_a_missing_name_and_undoes_it():
    module = types.ModuleType("fake_numpy")
    undo = numpy_compat.restore(module, {"name": "int", "object": "builtins:int"})
    assert module.int is builtins.int
    undo()
    assert not hasattr(module, "int")


WARNING_STATE = r'''
import json, warnings
warnings.simplefilter("error", UserWarning)
import numpy as np
try:
    warnings.warn("still raised", UserWarning)
    raised = False
except UserWarning:
    raised = True
print(json.dumps([repr(warnings.filters), raised, hasattr(np, "float")]))
'''


def test_probing_the_names_leaves_the_programs_warning_filters(env):
    """The probe of each name ignores NumPy's warnings for its duration only: once numpy is
    imported under the manifest, the warning filters are those of the bare program."""
    proc = run_npatch("apply", "--strict", "numpy-compat", "--", sys.executable, "-c", WARNING_STATE, env=env)
    assert proc.returncode == 0, proc.stderr
    bare = run_python(WARNING_STATE, env=env)
    assert bare.returncode == 0, bare.stderr
    patched, raised, restored = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [patched, raised, restored] == [*json.loads(bare.stdout.strip().splitlines()[-1])[:2], True]


def test_restore_declares_that_an_existing_name_is_left_alone():
    """restore's skip check (asked by the run before calling it, and by `npatch explain`)."""
    module = types.ModuleType("fake_numpy")
    module.bool = "mine"
    assert numpy_compat.restore.npatch_skip_check is numpy_compat.present
    assert numpy_compat.present(module, {"name": "bool"}) == "fake_numpy ? has 'bool' already"
    assert numpy_compat.present(module, {"name": "int"}) == ""


def test_undo_keeps_a_name_set_later_by_someone_else():
    module = types.ModuleType("fake_numpy")
    undo = numpy_compat.restore(module, {"name": "float", "object": "builtins:float"})
    module.float = "user's"
    undo()
    assert module.float == "user's"


def test_absent_probe_is_quiet(recwarn):
    assert numpy_compat._absent(np, "object") and numpy_compat._absent(np, "float_")
    assert not numpy_compat._absent(np, "float64")
    assert not [w for w in recwarn if "numpy" in str(w.message).lower()]


def test_removed_name_tables_answer_as_the_probe_does(recwarn):
    """_absent takes most names from NumPy's own removed-name tables without asking:
    for every name of the manifest, of those tables, and a few that exist or are
    loaded lazily, it says what getattr says."""
    names = {e["name"] for e in manifest_entries()}
    for table in numpy_compat._REMOVED_TABLES:
        names |= set(vars(np).get(table, ()))
    names |= {"float64", "linalg", "char", "chararray", "array_api", "object", "no_such_name"}
    assert {n: numpy_compat._absent(np, n) for n in names} == {n: numpy_compat._probe(np, n) for n in names}
    assert not recwarn.list


def test_reimplemented_functions():
    assert numpy_compat.asfarray([1, 2]).dtype == np.float64
    assert numpy_compat.asfarray(np.array([1], dtype=np.float16), dtype=np.float16).dtype == np.float16
    assert numpy_compat.asfarray([1], dtype=np.int32).dtype == np.float64
    assert numpy_compat.msort(np.array([[2, 0], [1, 3]])).tolist() == [[1, 0], [2, 3]]
    assert numpy_compat.in1d([1, 2, 3], [2], invert=True).tolist() == [True, False, True]
    assert numpy_compat.issubclass_(bool, int) and not numpy_compat.issubclass_("x", int)
    sctypes = numpy_compat.sctypes
    assert sctypes["int"] == [np.int8, np.int16, np.int32, np.int64]
    assert sctypes["uint"][-1] is np.uint64 and sctypes["others"][0] is bool
    assert math.copysign(1.0, numpy_compat.NZERO) == -1.0 and numpy_compat.NINF == -math.inf
    with pytest.raises(AttributeError):
        numpy_compat.no_such_name  # noqa: B018


# -- against NumPy 1.26 itself ---------------------------------------------------------
def test_every_name_numpy_2_removed_from_numpy_126_is_restored_or_listed(numpy1_sources):
    """The reference is NumPy 1.26's public namespace, read from its wheel; what
    the installed NumPy lacks of it is restored, or left out with a reason."""
    public = public_namespace(numpy1_sources)
    assert {"NAN", "NaN", "float_", "asfarray", "sctypes", "cast", "AxisError"} <= public  # the reader reads
    removed = {name for name in public if numpy_compat._absent(np, name)}
    restored = {entry["name"] for entry in manifest_entries()}
    assert sorted(removed - restored - set(numpy_compat.NOT_RESTORED)) == []
    assert sorted(set(numpy_compat.NOT_RESTORED) - removed) == []  # no stale reason
    assert restored & set(numpy_compat.NOT_RESTORED) == set()


def stub_literals(numpy1_sources) -> dict[str, object]:
    """``NAME: L[value]`` constants of NumPy 1.26's ``__init__.pyi``."""
    import ast

    tree = ast.parse((numpy1_sources / "numpy" / "__init__.pyi").read_text())
    found = {}
    for node in tree.body:
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(node.annotation, ast.Subscript)
                and isinstance(node.annotation.value, ast.Name) and node.annotation.value.id == "L"):
            found[node.target.id] = ast.literal_eval(node.annotation.slice)
    return found


def test_restored_constants_have_numpy_126s_values(numpy1_sources):
    literals = stub_literals(numpy1_sources)
    checked = 0
    for entry in manifest_entries():
        name = entry["name"]
        if name not in literals:
            continue
        value = entry["value"] if "value" in entry else numpy_compat._load(entry["object"])
        assert value == literals[name], name
        checked += 1
    assert checked >= 17  # the ERR_*, FPE_*, SHIFT_* constants and friends


class MayVary(__import__("doctest").OutputChecker):
    """NumPy's doctest convention (its refguide checker): output marked ``# may vary`` is not compared."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return "# may vary" in want or super().check_output(want, got, optionflags)


DOCTESTED = ("obj2sctype", "issctype", "issubsctype", "sctype2char", "maximum_sctype")


def numpy126_docstring(numpy1_sources, name: str) -> str:
    import ast

    tree = ast.parse((numpy1_sources / "numpy" / "core" / "numerictypes.py").read_text())
    return next(ast.get_docstring(n, clean=True) for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


@pytest.mark.parametrize("name", DOCTESTED)
def test_reimplementations_pass_numpy_126s_own_examples(numpy1_sources, name):
    """The Examples section of each function's docstring in NumPy 1.26, run on the restored function."""
    import doctest

    text = numpy126_docstring(numpy1_sources, name)
    namespace = types.SimpleNamespace(**{n: getattr(np, n) for n in dir(np) if not n.startswith("__")})
    for entry in manifest_entries():
        setattr(namespace, entry["name"], entry["value"] if "value" in entry else numpy_compat._load(entry["object"]))
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {"np": namespace}, name, None, 0)
    assert test.examples, name
    runner = doctest.DocTestRunner(checker=MayVary(), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    output: list[str] = []
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)


MODULE_TOP = '''
from numpy import bool, int, float, complex, object, unicode, str
KINDS = (bool, int, float, complex, object, unicode, str)
'''


def test_from_numpy_import_at_a_modules_top(tmp_path, env):
    """An imported module (not only __main__) doing the old star of builtin aliases at its top."""
    (tmp_path / "oldmod.py").write_text(MODULE_TOP)
    script = tmp_path / "main.py"
    script.write_text("import builtins, numpy, oldmod\n"
                      "print(oldmod.KINDS == (numpy.bool_, int, float, complex, object, str, str))\n")
    proc = run_npatch("apply", "--strict", "numpy-compat", "--", sys.executable, str(script),
                      env={**env, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"
    bare = run_python("import oldmod", env={**env, "PYTHONPATH": str(tmp_path)})
    assert bare.returncode != 0 and "cannot import name 'int' from 'numpy'" in bare.stderr


def test_restore_of_a_constant_value():
    module = types.ModuleType("fake_numpy")
    undo = numpy_compat.restore(module, {"name": "ERR_LOG", "value": 5})
    assert module.ERR_LOG == 5
    undo()
    assert not hasattr(module, "ERR_LOG")


def test_record_readers(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("A,b\n1,x\n2,y\n")
    records = numpy_compat.recfromcsv(data, encoding="utf-8")
    assert isinstance(records, np.recarray) and records.a.tolist() == [1, 2] and records.b.tolist() == ["x", "y"]
    text = tmp_path / "d.txt"
    text.write_text("1 2.5\n3 4.5\n")
    plain = numpy_compat.recfromtxt(text)
    assert isinstance(plain, np.recarray) and plain["f1"].tolist() == [2.5, 4.5]
    masked = numpy_compat.recfromtxt(text, usemask=True)
    assert type(masked).__name__ == "MaskedRecords"
    assert numpy_compat.fastCopyAndTranspose(np.arange(6).reshape(2, 3)).flags.c_contiguous
