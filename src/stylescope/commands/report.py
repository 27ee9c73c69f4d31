"""`stylescope report RUN_DIR`: one self-contained HTML page from what commands wrote there."""

from __future__ import annotations

import argparse

from stylescope.commands import CommandError
from stylescope.report import build_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="build a self-contained HTML report from a run folder",
        description="Gather every report.jsonl manifest under RUN_DIR (written by demo, train, "
        "inspect, prune, latent and metrics) into one HTML file with embedded figures.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="folder to gather from")
    parser.add_argument("--out", default=None, help="HTML file (default RUN_DIR/report.html)")
    parser.add_argument("--title", default="", help="page title")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        path = build_report(args.run_dir, args.out, args.title)
    except FileNotFoundError as error:
        raise CommandError(str(error)) from error
    print(f"report: {path}")
    return 0
