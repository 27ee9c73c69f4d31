"""The `stylescope` command line.

Each concern registers its own subcommands: a module listed in `COMMAND_MODULES` exposes
`register(subparsers)`, which adds parsers whose `func(args) -> int` runs the command. The
library stays quiet (it only logs); this layer prints progress and results.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from stylescope import __version__
from stylescope.commands import CommandError

COMMAND_MODULES = [
    "stylescope.commands.summary",
    "stylescope.commands.generate",
    "stylescope.commands.train",
    "stylescope.commands.data",
    "stylescope.commands.demo",
    "stylescope.commands.report",
    "stylescope.commands.probe",
    "stylescope.commands.metrics",
    "stylescope.commands.latent",
    "stylescope.commands.edit",
    "stylescope.commands.project",
    "stylescope.commands.inspect",
    "stylescope.commands.prune",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylescope",
        description="Train, inspect, prune and explain StyleGAN generators.",
    )
    parser.add_argument("--version", action="version", version=f"stylescope {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except CommandError as error:
        print(f"stylescope {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stylescope {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
