"""The hot path of ``npatch apply``: a well-formed command line whose plan is
in the cache goes from the console script to ``exec`` importing only this
module, :mod:`npatch.plancache` (with :mod:`npatch.outfiles`' private-cache
check), the launcher's parent side :mod:`npatch.runtime.launcher_parent` (with
the environment contract in :mod:`npatch.runtime`, not the child's boot) and
the command table (:mod:`npatch.cli.registry`, which imports nothing).

Every ``npatch apply`` of a training job's processes pays this path, so it
imports no ``argparse``, no :mod:`npatch.errors`, no compiler, no ``json``
(``tests/cli/test_apply_import_weight.py`` holds the list).  Anything else
(no ``--``, an abbreviated option, ``--report``/``--coverage``, a cache
miss, compiler notes to print, a Python flag that skips the bootstrap)
returns ``None``, and :func:`npatch.cli.main` takes the general path, which
says what is wrong or compiles.
"""

class Options:
    """The options of ``apply``/``run`` (what argparse's Namespace holds too)."""

    def __init__(self) -> None:
        self.disable: list[str] = []
        self.set: list[str] = []
        self.strict = False
        self.report: str | None = None
        self.coverage: str | None = None
        self.verbose = 0


#: options that take a value, and the Options attribute it goes to
VALUED = {"--disable": "disable", "--set": "set", "--report": "report", "--coverage": "coverage"}


def parse_fast(argv: list[str]) -> tuple[list[str], list[str], Options] | None:
    """(manifests, command, options) of a well-formed ``apply`` line, else None."""
    if "--" not in argv:
        return None
    cut = argv.index("--")
    front, cmd = argv[:cut], argv[cut + 1:]
    options = Options()
    manifests = []
    words = iter(front)
    for word in words:
        if not word.startswith("-"):
            manifests.append(word)
            continue
        name, eq, value = word.partition("=")
        if name in VALUED:
            if not eq:
                value = next(words, None)
                if value is None or (value.startswith("-") and value != "-"):
                    return None  # argparse says what is missing
            attr = VALUED[name]
            if attr in ("report", "coverage"):
                setattr(options, attr, value)
            else:
                getattr(options, attr).append(value)
        elif word == "--strict":
            options.strict = True
        elif word == "--verbose":
            options.verbose += 1
        elif len(word) > 1 and word[1:] == "v" * (len(word) - 1):
            options.verbose += len(word) - 1
        else:
            return None
    if not manifests or not cmd:
        return None
    return manifests, cmd, options


def launch_cached(argv: list[str]) -> int | None:
    """Exec the command of ``npatch apply ARGV`` under its cached plan; ``None``
    when this is not the plain case (see the module docstring)."""
    parsed = parse_fast(argv)
    if parsed is None:
        return None
    manifests, cmd, options = parsed
    if options.report or options.coverage:
        return None
    from npatch.runtime import launcher_parent

    if launcher_parent.python_flag_problem(cmd):  # a warning to print: the general path
        return None
    from npatch.cli.registry import parse_sets

    try:
        sets = parse_sets(options.set)
    except Exception:  # noqa: BLE001 - "k" alone or "=v": parse_sets' usage error, said by the general path
        return None
    from npatch.plancache import cache_dir, lookup, request_key

    root = cache_dir()
    if root is None:
        return None
    hit = lookup(root, request_key(manifests, sets, options.disable))
    if hit is None or hit.notes:
        return None
    env = launcher_parent.child_environ(hit.path, strict=options.strict, verbose=bool(options.verbose))
    return launcher_parent.exec_command(cmd, env)


__all__ = ["Options", "VALUED", "parse_fast", "launch_cached"]
