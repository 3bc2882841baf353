"""Shared test helpers (a uniquely named module: several test folders have a
``conftest.py`` of their own, so ``from conftest import`` would be ambiguous).

Runtime scenarios run in a fresh interpreter, as users run them: use
:func:`run_python` (``python -c CODE``) or :func:`run_npatch` (the CLI) rather
than patching the test process itself.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a user would have: no npatch variables leaking in from the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NPATCH_")}
    env.pop("PYTHONPATH", None)
    env["TORCH_DEVICE_BACKEND_AUTOLOAD"] = "0"
    env.update(extra)
    return env


def run_python(code: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout,
    )


def run_npatch(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "npatch", *args],
        cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout, input=input,
    )


def torchrun() -> list[str]:
    """The ``torchrun`` console script users type, next to this interpreter
    when installed there; ``python -m torch.distributed.run`` otherwise (a
    venv that sees torch through ``--system-site-packages`` has no script)."""
    script = Path(sys.executable).parent / "torchrun"
    return [str(script)] if script.exists() else [sys.executable, "-m", "torch.distributed.run"]


def npatch_on_terminal(*args: str, cwd: Path, timeout: float = 300) -> tuple[int, str]:
    """Run ``npatch ARGS`` with stderr on a pseudo-terminal (stdout discarded):
    its exit code and what it wrote there (progress bars show only on a terminal)."""
    import pty

    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "npatch", *args], cwd=cwd, env=clean_env(),
                            stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    code = proc.wait(timeout=timeout)
    os.close(primary)
    return code, b"".join(chunks).decode()


#: the one-op manifest of the launcher and cache tests: ``colorsys.rgb_to_yiq`` becomes 42
YIQ_MANIFEST = """
[manifest]
name = "m"

[[patch]]
name = "yiq"
target = "colorsys:rgb_to_yiq"
value = 42
"""
