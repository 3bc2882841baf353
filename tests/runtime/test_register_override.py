"""``[[register]]`` overriding a name the library registers itself, later,
during its own import, on the real mmdet 3.3.0 (with the built-in
``mmcv-lite`` manifest, which lets mmdet import with mmcv-lite 2.2.0).

``mmdet.registry`` creates ``MODELS`` (the op applies there, at once), and
``mmdet.models.backbones.resnet`` registers ``ResNet`` afterwards: that
registration must neither fail ("ResNet is already registered") nor undo the
override, and restore must give back the library's ``ResNet``.
"""
from __future__ import annotations

import sys

from npatch_testutil import clean_env, run_npatch

MINE = "class MyResNet:\n    def __init__(self, **kwargs):\n        self.kwargs = kwargs\n"


def _manifest(tmp_path, force: bool = True, registry: str = "mmdet.registry:MODELS", name: str = "ResNet"):
    (tmp_path / "npt_mine.py").write_text(MINE)
    path = tmp_path / "m.toml"
    path.write_text(f'[manifest]\nname = "t"\ninclude = ["mmcv-lite"]\n\n[[register]]\nregistry = "{registry}"\n'
                    f'name = "{name}"\nobject = "npt_mine:MyResNet"\nforce = {str(force).lower()}\n')
    return path


def _run(tmp_path, manifest, code: str):
    env = clean_env(PYTHONPATH=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    return run_npatch("apply", str(manifest), "--", sys.executable, "-c", code, cwd=tmp_path, env=env, timeout=600)


STOP = """
from npatch.runtime.launcher import SESSIONS
for _, session in reversed(SESSIONS):
    session.stop()
"""


def test_override_holds_after_the_library_registers_and_restore_gives_it_back(tmp_path):
    code = """
import mmdet.models
from mmdet.registry import MODELS
from mmdet.models.backbones.resnet import ResNet
built = MODELS.build(dict(type='ResNet', depth=18))
print('BUILT', type(built).__name__, built.kwargs)
""" + STOP + """
print('AFTER', MODELS.get('ResNet') is ResNet, '_register_module' in vars(MODELS))
"""
    proc = _run(tmp_path, _manifest(tmp_path), code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BUILT MyResNet {'depth': 18}" in proc.stdout
    assert "AFTER True False" in proc.stdout
    assert "already registered" not in proc.stderr


def test_override_holds_when_the_registry_imports_its_locations_lazily(tmp_path):
    # MODELS.get() imports mmdet.models itself (mmengine's `locations`): the library registers inside get()
    code = """
from mmdet.registry import MODELS
from mmengine.registry import init_default_scope
init_default_scope('mmdet')
print('GOT', MODELS.get('ResNet').__name__)
import mmdet.models.backbones.resnet as resnet
print('REAL', MODELS.get('ResNet') is resnet.ResNet)
""" + STOP + """
print('AFTER', MODELS.get('ResNet') is resnet.ResNet)
"""
    proc = _run(tmp_path, _manifest(tmp_path), code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "GOT MyResNet" in proc.stdout and "REAL False" in proc.stdout and "AFTER True" in proc.stdout


def test_without_force_the_library_registration_wins_quietly(tmp_path):
    code = """
import mmdet.models
from mmdet.registry import MODELS
from mmdet.models.backbones.resnet import ResNet
print('GOT', MODELS.get('ResNet') is ResNet)
""" + STOP + """
print('AFTER', MODELS.get('ResNet') is ResNet, '_register_module' in vars(MODELS))
"""
    proc = _run(tmp_path, _manifest(tmp_path, force=False), code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "GOT True" in proc.stdout and "AFTER True False" in proc.stdout
    assert "already registered" not in proc.stderr


def test_override_of_another_late_entry_in_the_task_registry(tmp_path):
    # another registry and another name mmdet registers during its import
    code = """
import mmdet.models
from mmdet.registry import TASK_UTILS
from mmdet.models.task_modules.assigners import MaxIoUAssigner
print('GOT', TASK_UTILS.get('MaxIoUAssigner').__name__)
""" + STOP + """
print('AFTER', TASK_UTILS.get('MaxIoUAssigner') is MaxIoUAssigner)
"""
    manifest = _manifest(tmp_path, registry="mmdet.registry:TASK_UTILS", name="MaxIoUAssigner")
    proc = _run(tmp_path, manifest, code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "GOT MyResNet" in proc.stdout and "AFTER True" in proc.stdout
