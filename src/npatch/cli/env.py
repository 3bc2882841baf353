"""``npatch env``: the environment that puts a process on any node under a plan."""
from __future__ import annotations

import sys

from npatch.cli.registry import command, parse_sets
from npatch.cli.compile import add_manifest_arguments
from npatch.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from npatch.cli.registry import Handler


def _sh(env: dict[str, str]) -> str:
    import shlex

    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in env.items())


def _dotenv(env: dict[str, str]) -> str:
    # KEY=value, unquoted: what `docker run --env-file`, systemd and srun --export take literally
    for key, value in env.items():
        if "\n" in value:
            raise UsageError(f"{key} contains a newline, which --format dotenv cannot carry; use --format json")
    return "\n".join(f"{key}={value}" for key, value in env.items())


def _json(env: dict[str, str]) -> str:
    import json

    return json.dumps(env, indent=2)


FORMATS = {"sh": _sh, "dotenv": _dotenv, "json": _json}


@command(
    "env", "print the environment that puts any Python process under a plan, on any node",
    "Print the variables that put every Python process started with them under the\n"
    "plan of MANIFEST...: for a shell (`eval \"$(npatch env cuda-to-cpu)\"`), another\n"
    "torchrun node, `srun --export`, `mpirun -x`, a pod spec or `ray start`.\n\n"
    "The plan travels in NPATCH_PLAN_DATA itself (compressed; by reference to the\n"
    "manifests when larger than 32 KiB, recompiled and checked by hash where it\n"
    "arrives), so the receiving node needs only the same npatch version, installed\n"
    "at any path (its npatch.pth boots the plan), and no file of this one.\n\n"
    "Examples:\n"
    "  eval \"$(npatch env cuda-to-cpu)\" && torchrun --nnodes 2 ... train.py\n"
    "  npatch env cuda-to-cpu --format dotenv > npatch.env\n"
    "  npatch env mmcv-npu --strict --format json\n\n"
    "Exit status: 0 ok, 1 invalid manifest, 2 usage error.",
)
def setup_env(parser: argparse.ArgumentParser) -> Handler:
    add_manifest_arguments(parser)
    parser.add_argument("--format", choices=sorted(FORMATS), default="sh",
                        help="sh: `export` lines (default); dotenv: KEY=value lines; json: one object")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 in a process whose plan fails or does not match the version installed there")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="each process prints its status tree to stderr at exit")
    parser.add_argument("--ship", choices=("auto", "inline", "reference"), default="auto",
                        help="inline: the plan itself; reference: the manifest names, recompiled and "
                             "checked where they arrive; auto (default): inline up to 32 KiB")
    return run_env


def run_env(args: argparse.Namespace) -> int:
    from npatch.shipping import portable_environ

    env = portable_environ(list(args.manifests), parse_sets(args.set), list(args.disable), strict=args.strict,
                           verbose=args.verbose, ship=args.ship)
    sys.stdout.write(FORMATS[args.format](env) + "\n")
    return 0


__all__ = ["FORMATS", "setup_env", "run_env"]
