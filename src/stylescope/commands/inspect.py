"""`stylescope inspect`: what a generator learned, layer by layer, and what pruning would cut.

    stylescope inspect --network G.safetensors --out out/inspect
    stylescope report out/inspect

Writes inspection.json (every number), six PNG figures and report.jsonl entries in the 'Weights'
section; see `stylescope.inspect` for what is measured.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stylescope.commands import CommandError
from stylescope.commands.generate import add_network_options, generator_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="weight statistics, spectra, channel norms and pruning headroom of a generator",
        description="Inspect every weight layer of a generator (raw and gain-applied statistics, "
        "histograms, equalized-LR gains, style-affine spectra, channel norms, noise strengths, "
        "biases), simulate global magnitude sparsity and score channels for structured "
        "pruning. Writes inspection.json, PNG figures and report.jsonl entries.",
    )
    add_network_options(parser)
    parser.add_argument("--out", default="out/inspect", help="output folder")
    parser.add_argument(
        "--samples", type=int, default=256, help="latents for style-aware importance"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of those latents")
    parser.add_argument(
        "--sparsities",
        default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95",
        help="comma-separated global magnitude sparsities in [0, 1)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier inspection in --out (and its report entries)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylescope.inspect import inspect_generator, write_inspection
    from stylescope.inspect.output import JSON_NAME, remove_inspection

    # Check the options before loading anything.
    sparsities = _parse_sparsities(args.sparsities)
    if args.samples <= 0:
        raise CommandError(f"--samples must be positive, got {args.samples}")
    out = Path(args.out)
    if (out / JSON_NAME).exists():
        if not args.overwrite:
            raise CommandError(f"{out / JSON_NAME} exists; pass --overwrite or another --out")
        remove_inspection(out)

    # Inspect and write.
    G = generator_from_args(args)
    if args.network:
        source = str(args.network)
    else:
        source = f"config {args.config} (untrained)" if args.config else "shipped default"
    print(f"inspect: {source}: {G.config.name}, {G.num_parameters():,} parameters")
    result = inspect_generator(G, args.samples, args.seed, sparsities)
    paths = write_inspection(result, out, source)

    # Headline numbers.
    sweep = result.sweeps["effective"]
    print(f"inspect: {len(result.layers)} weight layers")
    print(f"  {'sparsity':>8s} {'|w| mass':>9s} {'MACs':>7s}  (global magnitude, effective w)")
    for s, mass, macs in zip(sweep.sparsities, sweep.mass_removed, sweep.macs_removed, strict=True):
        print(f"  {s:8.2f} {mass:9.3f} {macs:7.3f}")
    print(f"inspect: {len(paths)} files -> {out} (render with: stylescope report {out})")
    return 0


def _parse_sparsities(text: str) -> tuple[float, ...]:
    values = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            value = float(part)
        except ValueError as error:
            raise CommandError(f"--sparsities: cannot read {part!r} as a number") from error
        if not 0 <= value < 1:
            raise CommandError(f"--sparsities: {value:g} is outside [0, 1)")
        values.append(value)
    if not values:
        raise CommandError(f"--sparsities: no values in {text!r}")
    return tuple(values)
