"""The command registry: each command module registers its subcommand here
with :func:`command` (this module imports none of them, so they can import it)."""
TYPE_CHECKING = False
if TYPE_CHECKING:  # `npatch apply` with a cached plan must start fast: no typing, no argparse
    import argparse
    from collections.abc import Callable

    Handler = Callable[[argparse.Namespace], int]
    Setup = Callable[[argparse.ArgumentParser], Handler]


class Command:
    """A registered subcommand: its help texts and the function that sets up its parser."""

    __slots__ = ("name", "help", "description", "setup")

    def __init__(self, name: str, help: str, description: str, setup: "Setup") -> None:
        self.name = name
        self.help = help
        self.description = description
        self.setup = setup


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, description: str = "") -> "Callable[[Setup], Setup]":
    """Register a subcommand.  The decorated function adds its arguments to the
    sub-parser and returns the handler ``handler(args) -> exit code``."""

    def register(setup: "Setup") -> "Setup":
        COMMANDS[name] = Command(name, help, description or help, setup)
        return setup

    return register


def parse_sets(pairs: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a pair without ``=`` is a usage error.
    (A cached ``npatch apply`` calls this: :mod:`npatch.errors` only to raise.)"""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            from npatch.errors import UsageError

            raise UsageError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def source_dirs(paths: list[str]) -> list[str]:
    """The ``--path`` directories; one that is not a directory is a usage error
    (a typo would otherwise leave the user's own modules not found, quietly)."""
    import os

    for path in paths:
        if not os.path.isdir(path):
            from npatch.errors import UsageError

            raise UsageError(f"--path {path}: no such directory")
    return paths


__all__ = ["COMMANDS", "Command", "command", "parse_sets", "source_dirs"]
