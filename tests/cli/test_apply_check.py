"""`npatch apply` runs the static check on a cache miss: findings are warnings, --strict refuses to start."""
from __future__ import annotations

from pathlib import Path

from npatch_testutil import clean_env, run_npatch

MANIFEST = """\
[manifest]
name = "mine"

[[patch]]
name = "loader"
target = "proj.data:build_loader"
replace = "proj.cpu:build_loader"
"""


def _project(root: Path, replacement: str) -> dict[str, str]:
    (root / "proj").mkdir()
    (root / "proj" / "__init__.py").write_text("")
    (root / "proj" / "data.py").write_text("def build_loader(cfg, num_workers=2):\n    return 'data'\n")
    (root / "proj" / "cpu.py").write_text(replacement)
    (root / "my.toml").write_text(MANIFEST)
    (root / "main.py").write_text("import proj.data\nprint('ran', proj.data.build_loader(1))\n")
    return clean_env(XDG_CACHE_HOME=str(root / "cache"))


def test_a_miss_warns_about_a_wrong_signature_and_still_runs(tmp_path: Path) -> None:
    env = _project(tmp_path, "def build_loader(cfg):\n    return 'cpu'\n")
    result = run_npatch("apply", "my.toml", "--", "python", "main.py", cwd=tmp_path, env=env)
    assert result.returncode == 0 and "ran cpu" in result.stdout, result.stderr
    assert "my.toml:7:11: patch[0].replace: warning: replace proj.cpu:build_loader does not accept every call" \
           in result.stderr
    assert "target(cfg, num_workers=2), replacement(cfg) [static check]" in result.stderr
    again = run_npatch("apply", "my.toml", "--", "python", "main.py", cwd=tmp_path, env=env)  # a hit says it again
    assert again.returncode == 0 and "[static check]" in again.stderr


def test_strict_refuses_to_start_on_a_miss_and_on_a_hit(tmp_path: Path) -> None:
    env = _project(tmp_path, "def build_loader(cfg):\n    return 'cpu'\n")
    for _attempt in range(2):
        result = run_npatch("apply", "--strict", "my.toml", "--", "python", "main.py", cwd=tmp_path, env=env)
        assert result.returncode == 1 and "ran" not in result.stdout
        assert "--strict does not start the program" in result.stderr
        assert "Traceback" not in result.stderr
    relaxed = run_npatch("apply", "my.toml", "--", "python", "main.py", cwd=tmp_path, env=env)
    assert relaxed.returncode == 0 and "ran cpu" in relaxed.stdout


def test_a_compatible_manifest_starts_quietly_under_strict(tmp_path: Path) -> None:
    env = _project(tmp_path, "def build_loader(cfg, num_workers=0, **more):\n    return 'cpu'\n")
    result = run_npatch("apply", "--strict", "my.toml", "--", "python", "main.py", cwd=tmp_path, env=env)
    assert result.returncode == 0 and "ran cpu" in result.stdout and result.stderr == "", result.stderr


def test_a_missing_name_is_a_warning_and_the_run_reports_it_too(tmp_path: Path) -> None:
    env = _project(tmp_path, "def build_loader(cfg, num_workers=2):\n    return 'cpu'\n")
    (tmp_path / "my.toml").write_text(MANIFEST.replace("proj.data:build_loader", "proj.data:build_loder"))
    result = run_npatch("apply", "my.toml", "--", "python", "main.py", cwd=tmp_path, env=env)
    assert "my.toml:6:10: patch[0].target: warning: proj.data:build_loder: 'build_loder' is not defined" in result.stderr
    assert "ran data" in result.stdout
