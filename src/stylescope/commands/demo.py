"""`stylescope demo`: the main job on the embedded default.

TODO(pending the training, metrics, pruning and latent commands): today the demo writes the
architecture summary and a sample grid; it will grow into the full study report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from stylescope.checkpoint import DEFAULT_GENERATOR, load_generator
from stylescope.networks import Discriminator
from stylescope.networks.summary import discriminator_costs, generator_costs
from stylescope.utils import latents_from_seeds
from stylescope.visual import save_image_grid


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the study on the embedded default and write its outputs",
        description="Summarise the default generator and render a sample grid.",
    )
    parser.add_argument("--out", default="out/demo", help="output folder")
    parser.add_argument("--quick", action="store_true", help="smallest useful run (tests, CI)")
    parser.set_defaults(func=run)


@torch.no_grad()
def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # Network: the shipped model when present, else an untrained faces32 generator.
    if DEFAULT_GENERATOR.is_file():
        G, source = load_generator(), f"shipped model {DEFAULT_GENERATOR.name}"
    else:
        G, source = load_generator(config="faces32"), "untrained faces32 (no shipped model yet)"
    print(f"demo [1/2] network: {source}")

    # Architecture summary.
    costs = {
        "generator": [vars(r) | {"flops": r.flops} for r in generator_costs(G)],
        "discriminator": [
            vars(r) | {"flops": r.flops} for r in discriminator_costs(Discriminator(G.config))
        ],
        "config": G.config.to_dict(),
    }
    (out / "summary.json").write_text(json.dumps(costs, indent=2))
    total = costs["generator"][-1]
    print(
        f"demo [1/2] generator: {total['params']:,} parameters, {total['macs'] / 1e6:.1f} MMAC/img"
    )

    # Samples from fixed seeds.
    seeds = list(range(16 if args.quick else 64))
    z = latents_from_seeds(seeds, G.z_dim)
    img = G(z, noise_mode="const")
    save_image_grid(img, out / "samples.png", columns=8, upscale=2)
    print(f"demo [2/2] samples: {len(seeds)} seeds -> {out / 'samples.png'}")
    return 0
