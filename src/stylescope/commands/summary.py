"""`stylescope summary CONFIG`: parameters, MACs and FLOPs per block of a registered config."""

from __future__ import annotations

import argparse
import json

from stylescope.commands import CommandError
from stylescope.networks import Discriminator, Generator, get_config, list_configs
from stylescope.networks.summary import BlockCost, discriminator_costs, generator_costs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "summary",
        help="parameters, MACs and FLOPs per block of a network config",
        description="Print parameters, MACs and FLOPs per image (batch 1) of G and D, per block. "
        "MACs are counted with torch.utils.flop_counter on a real forward pass.",
    )
    parser.add_argument("config", nargs="?", help=f"registered config: {', '.join(list_configs())}")
    parser.add_argument("--list", action="store_true", help="list the registered configs")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list or args.config is None:
        for name in list_configs():
            print(f"{name:14s} {get_config(name).description}")
        return 0
    try:
        config = get_config(args.config)
    except KeyError as error:
        raise CommandError(str(error.args[0])) from error

    G_rows = generator_costs(Generator(config).eval())
    D_rows = discriminator_costs(Discriminator(config))
    if args.json:
        payload = {
            "config": config.to_dict(),
            "generator": [_row_dict(r) for r in G_rows],
            "discriminator": [_row_dict(r) for r in D_rows],
        }
        print(json.dumps(payload, indent=2))
        return 0

    print(f"{config.name}: {config.description}")
    for title, rows in (("Generator", G_rows), ("Discriminator", D_rows)):
        print(f"\n{title}")
        print(f"  {'block':18s} {'params':>12s} {'MMACs':>12s} {'MFLOPs':>12s}")
        for row in rows:
            print(
                f"  {row.name:18s} {row.params:12,d} {row.macs / 1e6:12.2f} {row.flops / 1e6:12.2f}"
            )
    return 0


def _row_dict(row: BlockCost) -> dict:
    return {"name": row.name, "params": row.params, "macs": row.macs, "flops": row.flops}
