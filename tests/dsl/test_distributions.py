"""version()/installed() read distributions without importlib.metadata, and
answer exactly what importlib.metadata answers (issue 16 item 2)."""
from __future__ import annotations

import json
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from npatch_testutil import clean_env, run_npatch, run_python

#: runs in a fresh interpreter: our answers first (importlib.metadata must not
#: be imported by them), then importlib.metadata's for the same names
_COMPARE = """
import json, sys
before = set(sys.modules)  # the interpreter may import zipfile at start-up (a .pth file)
extra = json.loads(sys.argv[1])
sys.path[:0] = extra["path"]
from npatch import distributions
names = extra["names"]
def answer(func, name):
    try:
        return func(name)
    except Exception as exc:  # a damaged distribution fails the same way in both
        return type(exc).__name__
ours = {n: [answer(distributions.version, n), answer(distributions.present, n)] for n in names}
heavy = sorted(m for m in ("importlib.metadata", "email", "csv", "zipfile") if m in set(sys.modules) - before)
from importlib import metadata
def theirs(name):
    try:
        dist = metadata.distribution(name)
    except (metadata.PackageNotFoundError, ValueError):
        return [None, False]
    return [answer(lambda n: dist.version, name), True]
print(json.dumps({"heavy": heavy, "ours": ours, "theirs": {n: theirs(n) for n in names}}))
"""


def _compare(names: list[str], path: list[str] = ()) -> dict:
    out = run_python(_COMPARE, json.dumps({"names": names, "path": list(path)}))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _variants(name: str) -> list[str]:
    """How users spell a distribution: case, and any of - _ . between words."""
    return [name, name.upper(), name.lower().replace("-", "_"), name.replace("_", "-"),
            name.replace("-", ".").replace("_", "."), name.replace("-", "--").title()]


def test_every_installed_distribution_has_importlib_metadatas_version():
    names = sorted({dist.metadata["Name"] for dist in metadata.distributions() if dist.metadata["Name"]})
    assert len(names) > 50 and "torch" in names and "mmcv-lite" in names
    every = [v for name in names for v in _variants(name)] + ["", "no-such-dist-xyz", "torch-", "_torch"]
    result = _compare(every)
    # none of the answers came from the fallback (which imports importlib.metadata)
    assert result["heavy"] == []
    assert result["ours"] == result["theirs"]
    assert result["ours"]["MMCV-LITE"] == [metadata.version("mmcv-lite"), True]


def test_the_editable_install_is_found():
    direct = metadata.distribution("npatch").read_text("direct_url.json")
    assert direct and json.loads(direct)["dir_info"].get("editable"), "npatch is installed editable here"
    result = _compare(["npatch", "NPatch"])
    assert result["ours"] == result["theirs"] and result["ours"]["npatch"][1] is True


def _tree(tmp: Path) -> list[str]:
    """Odd metadata shapes, in two sys.path entries (the first one shadows)."""
    first, second = tmp / "first", tmp / "second"
    for folder, files in {
        "first/Shadow_Pkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: shadow-pkg\nVersion: 1.0\n",
        "second/shadow.pkg-2.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: shadow.pkg\nVersion: 2.0\n",
        "first/legacy_dir-0.5.egg-info/PKG-INFO": "Metadata-Version: 1.0\nName: legacy-dir\nVersion: 0.5\n\nbody\n",
        "first/spaces-3.dist-info/METADATA": "Name: spaces\nSummary: a\n  folded summary\nversion:   3.0  \r\n",
        "first/folded-1.dist-info/METADATA": "Name: folded\nVersion: 1.0\n  .post1\n",
        "first/noversion-1.dist-info/METADATA": "Metadata-Version: 2.1\nName: noversion\n",
        "first/late-1.dist-info/METADATA": "Name: late\n\nVersion: 9.9\n",
        "first/notheader-1.dist-info/METADATA": "Name: notheader\nnot a header line\nVersion: 9.9\n",
        "first/emptymeta-1.dist-info/METADATA": "",
        "first/emptymeta-1.dist-info/PKG-INFO": "Name: emptymeta\nVersion: 4.0\n",
        "first/fromline-1.dist-info/METADATA": "Name: fromline\nFrom someone\nVersion: 5.0\n",
        "first/Upper.Case-7.egg/EGG-INFO/PKG-INFO": "Name: upper.case\nVersion: 7.0\n",
    }.items():
        path = tmp / folder
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files.encode())
    (first / "oldfile-0.1.egg-info").write_text("Metadata-Version: 1.0\nName: oldfile\nVersion: 0.1\n")
    (first / "nometa-1.dist-info").mkdir()
    (first / "badbytes-1.dist-info").mkdir()
    (first / "badbytes-1.dist-info" / "METADATA").write_bytes(b"Name: badbytes\nVersion: 1.\xff\n")
    archive = tmp / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped_dist-3.1.dist-info/METADATA", "Name: zipped-dist\nVersion: 3.1\n")
    return [str(first), str(second), str(tmp / "missing"), str(first / "Upper.Case-7.egg"), str(archive)]


def test_odd_metadata_shapes_answer_like_importlib_metadata(tmp_path):
    path = _tree(tmp_path)
    names = ["shadow-pkg", "SHADOW.PKG", "shadow__pkg", "legacy-dir", "legacy_dir", "spaces", "folded",
             "noversion", "late", "notheader", "emptymeta", "fromline", "upper.case", "Upper-Case",
             "oldfile", "nometa", "zipped-dist", "zipped_dist", "badbytes"]
    result = _compare(names, path[:4])
    assert result["ours"] == result["theirs"]
    assert result["ours"]["shadow-pkg"] == ["1.0", True]  # the first sys.path entry wins
    assert result["ours"]["spaces"] == ["3.0  ", True]  # email keeps trailing blanks, drops the line end
    # a zip archive on sys.path is read by importlib.metadata itself (the fallback)
    with_zip = _compare(names[:2] + ["zipped-dist", "badbytes"], path)
    assert with_zip["ours"] == with_zip["theirs"] and with_zip["ours"]["zipped-dist"] == ["3.1", True]
    assert with_zip["ours"]["badbytes"] == ["UnicodeDecodeError", True]


_WEIGHT = "import sys, json, {program}; print(json.dumps(sorted(sys.modules)))"
#: what the bootstrap imports in every child: it waits for a module of the plan before loading it
#: what the bootstrap imports in a child that imports nothing of the plan (a fresh virtual environment
#: has no .pth file importing importlib, warnings...: they are not the bootstrap's either)
_BOOTSTRAP = {"sitecustomize", "npatch", "npatch.runtime", "npatch.runtime.launcher", "__future__"}


@pytest.mark.parametrize("program", ["os", "numpy"])  # `import os`: a child that imports nothing of a plan
def test_children_under_builtin_manifests_do_not_import_metadata_parsers(tmp_path, program):
    env = clean_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    bare = run_python(_WEIGHT.format(program=program), env=env)
    assert bare.returncode == 0, bare.stderr
    bare_modules = set(json.loads(bare.stdout))
    for manifest in ("mmcv-npu", "torch-npu", "cuda-to-cpu", "mmcv-lite"):
        out = run_npatch("apply", manifest, "--", sys.executable, "-c", _WEIGHT.format(program=program), env=env)
        assert out.returncode == 0, out.stderr
        added = set(json.loads(out.stdout.splitlines()[-1])) - bare_modules
        heavy = sorted(m for m in added if m.split(".")[0] in ("email", "csv", "zipfile")
                       or m.startswith("importlib.metadata"))
        assert heavy == [], (manifest, heavy)
        if program == "os":  # no module of the plan imported: the bootstrap's own modules and nothing else
            assert added <= _BOOTSTRAP, (manifest, sorted(added - _BOOTSTRAP))


_PROVIDING = """
import json, os, sys
sys.path[:0] = json.loads(sys.argv[1])
from npatch import conditions, distributions

def by_listing(module):  # the scan as it was: os.listdir of every entry, each time
    prefix = module.lower().replace("-", "_") + "_"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info") and name.lower().startswith(prefix):
                path = os.path.join(entry, name)
                provided = distributions.read_text(path, "top_level.txt")
                if provided is not None:
                    if module in provided.split():
                        return distributions.version_at(path)
                    continue
                record = distributions.read_text(path, "RECORD") or ""
                if f"\\n{module}/__init__.py," in "\\n" + record:
                    return distributions.version_at(path)
    return None

names = ["provided", "recorded", "other", "Provided", "nothing"]
first = {n: conditions._version_from_named_dist_info(n) for n in names}
os.makedirs(os.path.join(sys.argv[2], "late_pkg-5.0.dist-info"))
open(os.path.join(sys.argv[2], "late_pkg-5.0.dist-info", "METADATA"), "w").write("Name: late-pkg\\nVersion: 5.0\\n")
open(os.path.join(sys.argv[2], "late_pkg-5.0.dist-info", "top_level.txt"), "w").write("late\\n")
names.append("late")
print(json.dumps({"first": first, "ours": {n: conditions._version_from_named_dist_info(n) for n in names},
                  "reference": {n: by_listing(n) for n in names}}))
"""


def test_the_distribution_providing_a_module_is_found_as_a_directory_scan_finds_it(tmp_path):
    def dist(folder, name, version, top_level=None, record=None):
        info = folder / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")
        if top_level is not None:
            (info / "top_level.txt").write_text(top_level)
        if record is not None:
            (info / "RECORD").write_text(record)

    one, two = tmp_path / "one", tmp_path / "two"
    dist(one, "provided_lite", "1.0", top_level="provided\n")
    dist(two, "provided_full", "2.0", top_level="provided\n")  # later on sys.path: the first wins
    dist(one, "recorded_x", "3.0", record="recorded/__init__.py,sha256=x,1\n")
    dist(two, "other_thing", "4.0", top_level="something_else\n")
    (tmp_path / "a.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # a file on sys.path is passed over
    path = [str(one), str(tmp_path / "a.zip"), str(two), str(tmp_path / "missing")]
    out = run_python(_PROVIDING, json.dumps(path), str(two))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ours"] == result["reference"]
    assert result["ours"]["provided"] == "1.0" and result["ours"]["recorded"] == "3.0"
    assert result["first"]["other"] is None and result["ours"]["late"] == "5.0"  # a new directory is seen


def test_dist_info_dirs_finds_what_a_scan_of_every_name_finds(tmp_path):
    """dist_info_dirs looks only at the listing keys that start as the prefix does:
    odd spellings (dots, dashes, capitals, a leading underscore) still match, and the
    order is sys.path's, then the folder's."""
    from npatch import distributions

    names = ["Mmcv_Lite-2.2.0", "mmcv.full-1.7.0", "mmcv_-1.0", "mmcvx-1.0", "_private_pkg-0.1", "__dunder-0.2",
             "zlib_ng-1.0", "mmcv-2.0"]
    for name in names:
        (tmp_path / f"{name}.dist-info").mkdir()
    (tmp_path / "mmcv_old-0.1.egg-info").mkdir()
    path = [str(tmp_path), *sys.path]
    old, sys.path[:] = list(sys.path), path
    try:
        for prefix in ("mmcv_", "_", "_private_", "__", "zlib_", "mmcv", "", "numpy_"):
            everything = [p for entry in path for p in _all_dist_info(entry)]
            expected = [p for p in everything if Path(p).name.lower().startswith(prefix)]
            assert sorted(distributions.dist_info_dirs(prefix)) == sorted(expected), prefix
    finally:
        sys.path[:] = old


def _all_dist_info(entry: str) -> list[str]:
    from npatch import distributions

    try:
        infos = distributions._listing(entry)[0]
    except distributions._Unusual:  # a zip file on sys.path
        return []
    return [p for paths in infos.values() for p in paths if p.endswith(".dist-info")]
