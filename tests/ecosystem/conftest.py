"""Fixtures for the ecosystem tests, built once per session.

``wheels``     the npatch wheel and the npatch-ext-demo wheel (tests/data), built side by side
``demo_site``  the demo wheel unpacked into a directory: a real installed distribution
               (package + dist-info with entry points) for ``PYTHONPATH``, no venv needed
``venv``       a plain virtual environment (no system site-packages) with both wheels and
               numpy, their dependencies (lark, libcst, tomli, packaging) from PyPI by pip
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from npatch_testutil import REPO, clean_env

DEMO = REPO / "tests" / "data" / "npatch_ext_demo"


def pip(python: str | Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
        capture_output=True, text=True, timeout=timeout, env=clean_env(),
    )


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _build_wheels(tmp_path_factory)


def _build_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both wheels, built side by side (each pip build sets up its own isolated backend)."""
    out = tmp_path_factory.mktemp("wheels")
    builds = [
        subprocess.Popen([sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "wheel",
                          "--no-deps", "-q", "-w", str(out), str(source)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
        for source in (REPO, DEMO)
    ]
    for build in builds:
        stdout, stderr = build.communicate(timeout=600)
        assert build.returncode == 0, f"pip wheel failed:\n{stdout}\n{stderr}"
    found = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    assert set(found) == {"npatch", "npatch_ext_demo"}, found
    return {"npatch": found["npatch"], "demo": found["npatch_ext_demo"]}


@pytest.fixture(scope="session")
def demo_site(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _unpack(wheels["demo"], tmp_path_factory)


def _unpack(wheel_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("demo_site")
    with zipfile.ZipFile(wheel_path) as wheel:
        wheel.extractall(site)
    return site


@dataclass
class Venv:
    """A virtual environment and a private plan cache for the commands run in it."""

    root: Path
    cache: Path

    def bin(self, name: str) -> str:
        return str(self.root / "bin" / name)

    def env(self, **extra: str) -> dict[str, str]:
        env = clean_env(XDG_CACHE_HOME=str(self.cache), VIRTUAL_ENV=str(self.root), **extra)
        env["PATH"] = str(self.root / "bin") + os.pathsep + env.get("PATH", "")
        return env

    def run(self, *argv: str, cwd: Path | None = None, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd, env=self.env(**env), timeout=timeout)


@pytest.fixture(scope="session")
def venv(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return _make_venv(wheels, tmp_path_factory)


def _make_venv(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A plain venv; this interpreter's pip installs into it (``--python``), which
    spares the seconds ``ensurepip`` takes and installs the same thing."""
    root = tmp_path_factory.mktemp("venv")
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], capture_output=True, text=True,
                          timeout=300, env=clean_env())
    assert made.returncode == 0, made.stderr
    installed = pip(sys.executable, "--python", str(root / "bin" / "python"), "install", "-q",
                    str(wheels["npatch"]), str(wheels["demo"]), "numpy")
    assert installed.returncode == 0, f"pip install failed:\n{installed.stdout}\n{installed.stderr}"
    return Venv(root, tmp_path_factory.mktemp("venv_cache"))
