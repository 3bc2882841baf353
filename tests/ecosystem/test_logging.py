"""NPATCH_LOG and the `npatch` logger, each case in a fresh interpreter."""
from __future__ import annotations

import re

from npatch_testutil import clean_env, run_python

EMIT = """
    import sys
    import npatch
    from npatch import log
    log.debug("probe", "hello %s", 42)
    print("logging" in sys.modules)
"""


def test_debug_goes_to_stderr_with_pid_and_logger_name():
    out = run_python(EMIT, env=clean_env(NPATCH_LOG="debug"))
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(r"npatch\[\d+\] DEBUG npatch\.probe: hello 42\n", out.stderr), out.stderr


def test_unset_costs_no_logging_import_and_prints_nothing():
    out = run_python(EMIT, env=clean_env())
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout.strip() == "False"


def test_level_filters_and_unknown_values_are_reported_once():
    out = run_python(EMIT, env=clean_env(NPATCH_LOG="info"))
    assert out.stderr == ""
    out = run_python(EMIT, env=clean_env(NPATCH_LOG="loud"))
    assert out.stderr == "npatch: warning: NPATCH_LOG='loud' is not one of debug, info, warning, error; ignored\n"


def test_a_program_that_configures_logging_itself_gets_the_records():
    out = run_python("""
        import logging, sys
        logging.basicConfig(stream=sys.stdout, level=logging.DEBUG, format="%(name)s %(levelname)s %(message)s")
        import npatch
        from npatch import log
        log.debug("probe", "hello %s", 42)
        logging.getLogger("npatch").setLevel(logging.INFO)
        log.debug("probe", "hidden")
        log.info("probe", "shown")
    """, env=clean_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["npatch.probe DEBUG hello 42", "npatch.probe INFO shown"]
