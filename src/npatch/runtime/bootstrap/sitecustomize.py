"""npatch bootstrap: applies ``$NPATCH_PLAN`` in every Python process.

``npatch apply`` puts this directory first on ``PYTHONPATH``; the ``site``
module imports ``sitecustomize`` at start-up and finds this file.  It starts
the plan (:func:`npatch.runtime.launcher.boot`, a no-op when called again)
and then runs the user's own ``sitecustomize``, the next one on ``sys.path``
after this directory, under the name ``sitecustomize`` as Python would have.

Nothing here may stop the program: if npatch cannot be imported by this
interpreter (another virtual environment), the process runs without the plan
after one line on stderr, unless ``NPATCH_STRICT`` is set.
"""


def _npatch_bootstrap() -> None:
    import os
    import sys

    try:
        from npatch.runtime.launcher import boot
    except ImportError as exc:
        if os.environ.get("NPATCH_PLAN") or os.environ.get("NPATCH_PLAN_DATA"):
            sys.stderr.write(f"npatch: warning: {sys.executable} cannot import npatch ({exc}); "
                             "the plan is not applied in this process\n")
            if os.environ.get("NPATCH_STRICT") == "1":
                sys.stderr.flush()
                os._exit(1)
    else:
        boot()
    _run_user_sitecustomize(os.path.dirname(os.path.abspath(__file__)))


def _run_user_sitecustomize(here: str) -> None:
    """Find the ``sitecustomize`` this one hides and execute it in its place.

    Every npatch bootstrap on the path is passed over, not only this one: the
    bootstrap of another installation (a second checkout) found next would
    take this one for the user's and run it, which would run that one...
    without end, and the user's never.  A bootstrap is known by where it
    lives, links resolved: a folder ``npatch/runtime/bootstrap``."""
    import os
    import sys

    # importlib.machinery.PathFinder, without importing the importlib package (and warnings) in every
    # process: where no .pth file imported them, that was most of what the bootstrap added
    external = sys.modules.get("_frozen_importlib_external")
    if external is not None:
        PathFinder = external.PathFinder
    else:
        from importlib.machinery import PathFinder

    mark = os.sep + os.path.join("npatch", "runtime", "bootstrap")
    skipped = {os.path.realpath(here)}
    while True:
        path = [p for p in sys.path if isinstance(p, str) and os.path.realpath(p or os.curdir) not in skipped]
        spec = PathFinder.find_spec("sitecustomize", path)
        if spec is None or spec.loader is None:
            return
        folder = os.path.realpath(os.path.dirname(spec.origin or ""))
        if not folder.endswith(mark):
            break
        if folder in skipped:  # found past the filter (a path hook): a bootstrap never runs as the user's
            return
        skipped.add(folder)
    from importlib.util import module_from_spec  # ~2 ms: only when there is one to run

    ours = sys.modules.get("sitecustomize")
    module = module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        # as for a failed import: the name is not left bound to a half-run module
        if ours is not None:
            sys.modules["sitecustomize"] = ours
        raise


_npatch_bootstrap()
