"""``during``: an op that holds only while one module executes its import.

The real case: mmdet 3.3.0 refuses mmcv-lite 2.2.0 at import time
("MMCV==2.2.0 is used but incompatible"); a value op on ``mmcv.__version__``
during ``mmdet`` lets the import through and leaves the real version after.
"""
from __future__ import annotations

import textwrap

from rt_helpers import op, plan, run_plan, run_python, statuses


def test_mmdet_refuses_mmcv_2_2_without_the_plan():
    proc = run_python("import mmdet")
    assert proc.returncode == 1
    assert "MMCV==2.2.0 is used but incompatible" in proc.stderr


def test_mmcv_version_during_mmdet_import(tmp_path):
    p = plan(op("value", "mmcv:__version__", name="mmcv-version", value="2.1.0", during="mmdet"))
    proc = run_plan(tmp_path, p, """
        import sys
        assert 'mmcv' not in sys.modules and 'mmdet' not in sys.modules
        print('BEFORE', SESSION.statuses()[0].status)
        import mmdet
        import mmcv
        print('AFTER', mmdet.__version__, mmcv.__version__)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "BEFORE waiting" in proc.stdout
    assert "AFTER 3.3.0 2.2.0" in proc.stdout
    entry = proc.report["ops"][0]
    assert entry["status"] == "applied"
    assert entry["reason"] == "while 'mmdet' was imported (restored after)"


def test_during_with_the_target_imported_first(tmp_path):
    p = plan(op("value", "mmcv:__version__", name="mmcv-version", value="2.1.0", during="mmdet"))
    proc = run_plan(tmp_path, p, """
        import mmcv
        assert mmcv.__version__ == '2.2.0'
        import mmdet
        assert mmcv.__version__ == '2.2.0'
        print('OK')
    """)
    assert proc.returncode == 0, proc.stderr
    assert statuses(proc.report) == {"mmcv-version": "applied"}


def test_during_is_restored_when_the_module_fails(tmp_path):
    (tmp_path / "target.py").write_text("VALUE = 'real'\n")
    (tmp_path / "failing.py").write_text(textwrap.dedent("""
        import target
        assert target.VALUE == 'during'
        raise ImportError('failing module')
    """))
    p = plan(op("value", "target:VALUE", name="v", value="during", during="failing"))
    proc = run_plan(tmp_path, p, """
        try:
            import failing
        except ImportError as exc:
            print('RAISED', exc)
        import target
        print('VALUE', target.VALUE)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "RAISED failing module" in proc.stdout and "VALUE real" in proc.stdout
    assert "which failed: ImportError: failing module" in proc.report["ops"][0]["reason"]


def test_during_module_already_imported_is_skipped(tmp_path):
    (tmp_path / "target.py").write_text("VALUE = 'real'\n")
    (tmp_path / "early.py").write_text("")
    (tmp_path / "sitecustomize.py").write_text("import early\n")
    p = plan(op("value", "target:VALUE", name="v", value="x", during="early"))
    proc = run_plan(tmp_path, p, "import target\nassert target.VALUE == 'real'\n")
    assert proc.returncode == 0, proc.stderr
    assert statuses(proc.report) == {"v": "skipped"}
