"""`stylescope generate`: images from seeds with truncation and noise control."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stylescope.checkpoint import CheckpointError, load_generator
from stylescope.commands import CommandError, parse_int_list
from stylescope.utils import latents_from_seeds, resolve_device
from stylescope.visual import save_image_grid, save_png, to_uint8


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """--network / --config / --init-seed / --device, shared by commands that need a generator."""
    group = parser.add_argument_group("network")
    group.add_argument(
        "--network", metavar="PATH", help="generator file (default: the shipped faces32 model)"
    )
    group.add_argument(
        "--config", metavar="NAME", help="use an untrained generator of this registered config"
    )
    group.add_argument("--init-seed", type=int, default=0, help="initialisation seed for --config")
    group.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")


def generator_from_args(args: argparse.Namespace):
    try:
        device = resolve_device(args.device)
        return load_generator(args.network, args.config, args.init_seed, device)
    except (CheckpointError, KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) else str(error)
        raise CommandError(message) from error


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate images from seeds",
        description="Generate one PNG per seed and a grid of all of them.",
    )
    add_network_options(parser)
    parser.add_argument("--seeds", default="0-15", help="seeds, e.g. 0-15 or 1,5,9 (default 0-15)")
    parser.add_argument("--trunc", type=float, default=1.0, help="truncation psi (1 = none)")
    parser.add_argument(
        "--trunc-cutoff", type=int, default=None, help="truncate only the first N ws (default all)"
    )
    parser.add_argument(
        "--noise-mode", choices=["const", "random", "none"], default="const", help="noise inputs"
    )
    parser.add_argument("--class", dest="class_idx", type=int, default=None, help="class label")
    parser.add_argument("--out", default="out/generate", help="output folder")
    parser.add_argument("--columns", type=int, default=None, help="grid columns")
    parser.add_argument("--no-singles", action="store_true", help="write only the grid")
    parser.set_defaults(func=run)


@torch.no_grad()
def run(args: argparse.Namespace) -> int:
    seeds = parse_int_list(args.seeds)
    G = generator_from_args(args)
    device = next(G.parameters()).device
    c = None
    if G.c_dim > 0:
        if args.class_idx is None or not 0 <= args.class_idx < G.c_dim:
            raise CommandError(f"--class: this generator is conditional; give 0..{G.c_dim - 1}")
        c = torch.zeros(len(seeds), G.c_dim, device=device)
        c[:, args.class_idx] = 1

    z = latents_from_seeds(seeds, G.z_dim).to(device)
    img = G(z, c, args.trunc, args.trunc_cutoff, noise_mode=args.noise_mode)

    out = Path(args.out)
    if not args.no_singles:
        for seed, array in zip(seeds, to_uint8(img), strict=True):
            save_png(array, out / f"seed{seed:04d}.png")
    save_image_grid(img, out / "grid.png", args.columns)
    print(f"generate: {len(seeds)} images at {G.img_resolution}x{G.img_resolution} -> {out}")
    return 0
