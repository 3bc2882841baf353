"""The ``npatch`` command line: a thin shell over the layers.

Each subcommand lives in its own module in this package and registers itself
with :func:`~npatch.cli.registry.command`; ``main`` builds the parser from the
registry.  Command
modules import their layer lazily (inside the handler), so ``npatch apply``
with a cached plan never imports lark, libcst or tomli.

Exit codes: 0 ok, 1 invalid manifest (or a failed check), 2 usage error;
``apply`` passes the command's own exit code through.
"""
import sys

from npatch.cli.registry import COMMANDS, Command, command, parse_sets

TYPE_CHECKING = False
if TYPE_CHECKING:  # `npatch apply` with a cached plan must start fast: no typing, no argparse
    import argparse
    from collections.abc import Iterable

#: modules that register commands, in the order ``--help`` lists them
COMMAND_MODULES = ("compile", "apply", "env", "diff", "scan", "report", "info")


def build_parser() -> "argparse.ArgumentParser":
    import argparse
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(f"npatch.cli.{module}")
    from npatch import __version__

    parser = argparse.ArgumentParser(
        prog="npatch",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Declarative patches for Python programs, from TOML manifests.\n\n"
            "  npatch compile my.toml                         validate, check every path, summarize\n"
            "  npatch apply cuda-to-cpu -- python train.py    run a program under a manifest\n"
            "  npatch diff cuda-to-npu src/                   static rewrites as a unified diff\n\n"
            "A manifest is a .toml path, a built-in name (see `npatch list`), or a name an\n"
            "installed package provides through the `npatch.manifests` entry-point group."
        ),
        epilog="Exit codes: 0 ok, 1 invalid manifest or failed check, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"npatch {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in _in_listed_order(COMMANDS.values()):
        sub = subparsers.add_parser(
            cmd.name, help=cmd.help, description=cmd.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(_handler=cmd.setup(sub))
    return parser


def _in_listed_order(commands: "Iterable[Command]") -> list[Command]:
    """Commands by their module's place in :data:`COMMAND_MODULES`, then as
    registered: registration order alone depends on which command module a
    process happened to import first (``apply``'s fast path imports its own)."""
    rank = {f"{__name__}.{module}": index for index, module in enumerate(COMMAND_MODULES)}
    return sorted(commands, key=lambda cmd: rank.get(cmd.setup.__module__, len(rank)))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["apply"]:
        # the hottest path: a cached plan, straight to exec (npatch.cli.hot)
        from npatch.cli.hot import launch_cached

        code = launch_cached(argv[1:])
        if code is not None:
            return code
    from npatch.errors import NpatchError

    try:
        if argv[:1] == ["apply"]:
            # the hot path: a well-formed `apply` line skips building the parser
            from npatch.cli.apply import fast_apply

            code = fast_apply(argv[1:])
            if code is not None:
                return code
        parser = build_parser()
        args = parser.parse_args(argv)
        handler = getattr(args, "_handler", None)
        if handler is None:
            parser.print_help(sys.stderr)
            return 2
        return handler(args)
    except NpatchError as exc:
        from npatch.errors import ManifestError, ManifestErrors

        located = isinstance(exc, (ManifestError, ManifestErrors))
        print(str(exc) if located else f"npatch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `npatch schema | head`: the reader left, which is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


__all__ = ["COMMANDS", "COMMAND_MODULES", "Command", "build_parser", "command", "main", "parse_sets"]
