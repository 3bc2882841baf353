"""Sources of packages that cannot be installed here, for static checks of the NPU manifests.

torch-npu cannot be imported without Ascend's CANN (and installing it
breaks ``import torch``), mx-driving imports torch_npu, and the OpenMMLab
1.x packages (mmcv 1.x, mmdet 2.x, mmdet3d 0.x) conflict with the 2.x ones
installed for the other tests.  Their sources are downloaded from PyPI with
``pip download`` (the machine needs PyPI, as CI has), once per version, into
a per-user cache: ``$NPATCH_TEST_CACHE`` or ``~/.cache/npatch-tests``.

Only ``.py`` files (and ``.pyi`` stubs or data files where a ``Dist`` asks) are unpacked.  Each C extension (``.so``) becomes an
empty file of the same name, so static resolution sees an extension module
(its names are *unverifiable*, not *missing*); ``extensions.txt`` in each
directory lists them, and ``downloads.txt`` what each download took.  A
failed download fails the test with pip's message:
these checks are the only check of the NPU manifests on a machine without
an NPU, so they must not skip quietly.

Use the fixtures: ``npu_sources`` (torch-npu + mx-driving),
``mmdet3d_sources`` (mmdet3d 1.x) and ``openmmlab1_sources`` (mmcv 1.x,
mmdet 2.x, mmdet3d 0.x); each gives one directory to pass as a static path.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: a Python extension module file: ``name.so`` or ``name.<tag>.so``
_EXTENSION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[^/]*)?\.so$")


@dataclass(frozen=True)
class Dist:
    """One distribution to fetch: PyPI name, exact version, how pip gets it, what to keep."""

    name: str
    version: str
    pip_args: tuple[str, ...] = ()
    #: top-level packages to keep from an sdist (a wheel keeps every package it has)
    packages: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=())
    #: keep ``.pyi`` type stubs too
    stubs: bool = False
    #: other file suffixes to keep, for data files a package reads when it runs (``(".txt",)``)
    data: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """``name-version``, plus what is kept when that is more than the ``.py`` files of every package.

        What is unpacked depends on ``packages``, ``stubs`` and ``data`` too, so
        a directory unpacked before one of them changed is not reused.
        """
        kept = (*self.packages, *((".pyi",) if self.stubs else ()), *self.data)
        return f"{self.name}-{self.version}" + (f"~{','.join(kept)}" if kept else "")


_WHEEL_311 = ("--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311")

TORCH_NPU = Dist("torch-npu", "2.14.0", _WHEEL_311 + ("--platform", "manylinux_2_28_x86_64"))
MX_DRIVING = Dist("mx-driving", "26.2.0.post2", _WHEEL_311 + ("--platform", "manylinux2014_x86_64"))
MMDET3D = Dist("mmdet3d", "1.4.0", ("--only-binary=:all:",))
# mmcv 1.x and mmdet3d 0.x are sdists only; pip prepares their metadata, which
# needs an old setuptools (mmcv's setup.py imports pkg_resources) or torch
# (mmdet3d's setup.py imports it; hence no build isolation).
MMCV1 = Dist("mmcv", "1.7.2", ("--no-binary=:all:",), packages=("mmcv",), env=(("PIP_CONSTRAINT", "setuptools<70"),))
MMDET2 = Dist("mmdet", "2.28.2", ("--only-binary=:all:",))
MMDET3D0 = Dist("mmdet3d", "0.17.3", ("--no-binary=:all:", "--no-build-isolation"), packages=("mmdet3d",))
# NumPy 1.26, the last 1.x: the reference of numpy-compat (NumPy 2 is installed here).
NUMPY1 = Dist("numpy", "1.26.4", _WHEEL_311 + ("--platform", "manylinux_2_17_x86_64"), stubs=True)


def cache_root() -> Path:
    """Per-user cache directory for downloaded sources."""
    env = os.environ.get("NPATCH_TEST_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "npatch-tests"


def sources(*dists: Dist) -> Path:
    """A directory with the Python sources of ``dists``, downloaded and unpacked once.

    The directory name holds every name and version (and what is kept), so a
    new version, or another choice of files to keep, gets a new directory.  It is built in a temporary directory and renamed into
    place, so concurrent test runs never see half of it.
    """
    root = cache_root()
    final = root / "+".join(d.key for d in dists)
    if (final / "extensions.txt").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
    tree = work / "tree"
    tree.mkdir()
    try:
        extensions: list[str] = []
        for dist in dists:
            archive = _download(dist, work / "download", tree / "downloads.txt")
            extensions += _unpack(archive, tree, dist)
            shutil.rmtree(work / "download")
        (tree / "extensions.txt").write_text("".join(f"{e}\n" for e in sorted(extensions)))
        try:
            os.rename(tree, final)
        except OSError:
            if not (final / "extensions.txt").is_file():  # not another run winning the race
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def extensions(directory: Path) -> list[str]:
    """The ``.so`` files (paths relative to ``directory``) the distributions ship."""
    return (directory / "extensions.txt").read_text().split()


def _download(dist: Dist, into: Path, log: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--dest", str(into), *dist.pip_args, f"{dist.name}=={dist.version}"]
    env = dict(os.environ, **dict(dist.env))
    constraint = env.get("PIP_CONSTRAINT")
    if constraint and not Path(constraint).is_file():
        constraints = into.parent / "constraints.txt"
        constraints.write_text(constraint + "\n")
        env["PIP_CONSTRAINT"] = str(constraints)
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pip download {dist.name}=={dist.version} took more than 30 minutes", pytrace=False)
    files = [p for p in into.iterdir() if p.is_file()]
    if done.returncode != 0 or len(files) != 1:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        pytest.fail(
            f"cannot download {dist.name}=={dist.version} from PyPI, which the static checks of the NPU "
            f"manifests need (it cannot be installed here).\n$ {' '.join(command)}\n{tail}",
            pytrace=False,
        )
    archive = files[0]
    with log.open("a") as record:
        record.write(f"{dist.name} {dist.version} {archive.stat().st_size} bytes {time.monotonic() - started:.1f} s\n")
    return archive


def _unpack(archive: Path, tree: Path, dist: Dist) -> list[str]:
    """Copy the ``.py`` files (and ``.pyi`` with ``stubs``) into ``tree``; leave an empty placeholder for each extension."""
    found: list[str] = []
    for name, read in _members(archive, dist):
        parts = Path(name).parts
        if not parts or any(p in ("..", "") or p.endswith(".dist-info") for p in parts):
            continue
        dest = tree.joinpath(*parts)
        if name.endswith((".py", ".pyi", *dist.data) if dist.stubs else (".py", *dist.data)):
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(read())
        elif ".so" in Path(name).suffixes:
            found.append(name)
            if _EXTENSION.match(parts[-1]):
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.touch()
    return found


def _members(archive: Path, dist: Dist):
    """``(path inside the tree, reader)`` for every file of a wheel or an sdist."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            for info in wheel.infolist():
                if not info.is_dir():
                    yield info.filename, lambda info=info: wheel.read(info)
        return
    with tarfile.open(archive) as sdist:
        for member in sdist.getmembers():
            if not member.isfile():
                continue
            inner = member.name.split("/", 1)[1] if "/" in member.name else ""
            if inner.split("/", 1)[0] in dist.packages:
                yield inner, lambda member=member: sdist.extractfile(member).read()


@pytest.fixture(scope="session")
def npu_sources() -> Path:
    """torch-npu 2.14.0 and mx-driving 26.2.0.post2 sources (``torch_npu/``, ``mx_driving/``)."""
    return sources(TORCH_NPU, MX_DRIVING)


@pytest.fixture(scope="session")
def mmdet3d_sources() -> Path:
    """mmdet3d 1.4.0 sources (the 1.x nuScenes metric)."""
    return sources(MMDET3D)


@pytest.fixture(scope="session")
def openmmlab1_sources() -> Path:
    """mmcv 1.7.2, mmdet 2.28.2 and mmdet3d 0.17.3 sources: what ``mmcv-npu-v1`` targets."""
    return sources(MMCV1, MMDET2, MMDET3D0)


@pytest.fixture(scope="session")
def numpy1_sources() -> Path:
    """NumPy 1.26.4 sources (``numpy/``, with its ``.pyi`` stubs): what ``numpy-compat`` restores."""
    return sources(NUMPY1)
