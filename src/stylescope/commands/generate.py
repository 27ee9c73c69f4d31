"""`stylescope generate`: images from seeds, style-mixing grids and latent interpolations.

Modes: plain (one PNG per seed and a grid), `--style-mix` (rows take the coarse styles of the row
seeds and the `--mix-layers` styles of the column seeds) and `--interpolate` (a GIF, and an MP4
when imageio-ffmpeg is installed, walking through the seeds' w latents).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
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
    mix = parser.add_argument_group("style mixing")
    mix.add_argument("--style-mix", metavar="ROW_SEEDS", help="row seeds of a style-mixing grid")
    mix.add_argument("--cols", metavar="COL_SEEDS", default="100-104", help="column seeds")
    mix.add_argument(
        "--mix-layers", default="0-3", help="ws indices copied from the column seeds (e.g. 0-3)"
    )
    interp = parser.add_argument_group("interpolation")
    interp.add_argument(
        "--interpolate", action="store_true", help="animate a walk through the seeds' w latents"
    )
    interp.add_argument("--frames", type=int, default=24, help="frames between two seeds")
    interp.add_argument("--fps", type=int, default=24, help="frames per second")
    interp.add_argument(
        "--mp4", action="store_true", help="also write an MP4 (needs imageio-ffmpeg)"
    )
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

    out = Path(args.out)
    if args.style_mix:
        return _style_mix(G, args, out)
    if args.interpolate:
        return _interpolate(G, seeds, c, args, out)
    z = latents_from_seeds(seeds, G.z_dim).to(device)
    img = G(z, c, args.trunc, args.trunc_cutoff, noise_mode=args.noise_mode)

    if not args.no_singles:
        for seed, array in zip(seeds, to_uint8(img), strict=True):
            save_png(array, out / f"seed{seed:04d}.png")
    save_image_grid(img, out / "grid.png", args.columns)
    print(f"generate: {len(seeds)} images at {G.img_resolution}x{G.img_resolution} -> {out}")
    return 0


def _ws(G, seeds: list[int], args: argparse.Namespace, c=None) -> torch.Tensor:
    device = next(G.parameters()).device
    z = latents_from_seeds(seeds, G.z_dim).to(device)
    if c is not None and c.shape[0] != len(seeds):
        c = c[:1].expand(len(seeds), -1)
    return G.mapping(z, c, args.trunc, args.trunc_cutoff)


def _style_mix(G, args: argparse.Namespace, out: Path) -> int:
    """Grid: top row the column seeds, left column the row seeds, cells mixed."""
    if G.c_dim > 0:
        raise CommandError("--style-mix supports unconditional generators only")
    row_seeds = parse_int_list(args.style_mix, "--style-mix")
    col_seeds = parse_int_list(args.cols, "--cols")
    layers = parse_int_list(args.mix_layers, "--mix-layers")
    if max(layers) >= G.num_ws:
        raise CommandError(f"--mix-layers: this generator has ws indices 0..{G.num_ws - 1}")
    row_ws, col_ws = _ws(G, row_seeds, args), _ws(G, col_seeds, args)
    blank = torch.ones(1, G.img_channels, G.img_resolution, G.img_resolution)
    cells = [blank, G.synthesis(col_ws, noise_mode=args.noise_mode).cpu()]
    for i in range(len(row_seeds)):
        mixed = row_ws[i : i + 1].repeat(len(col_seeds), 1, 1)
        mixed[:, layers] = col_ws[:, layers]
        row_img = G.synthesis(row_ws[i : i + 1], noise_mode=args.noise_mode).cpu()
        cells += [row_img, G.synthesis(mixed, noise_mode=args.noise_mode).cpu()]
    save_image_grid(torch.cat(cells), out / "style_mix.png", columns=len(col_seeds) + 1)
    print(f"generate: style mixing {len(row_seeds)}x{len(col_seeds)} -> {out / 'style_mix.png'}")
    return 0


def _interpolate(G, seeds: list[int], c, args: argparse.Namespace, out: Path) -> int:
    """Linear walk in W through the seeds (and back to the first), as GIF and optional MP4."""
    from PIL import Image

    if len(seeds) < 2:
        raise CommandError("--interpolate needs at least two seeds")
    if args.frames < 1 or args.fps < 1:
        raise CommandError("--frames and --fps must be positive")
    ws = _ws(G, seeds + seeds[:1], args, c)
    steps = torch.linspace(0, 1, args.frames + 1)[:-1].to(ws.device)
    frames = []
    for a, b in zip(ws[:-1], ws[1:], strict=True):
        path = torch.lerp(a[None], b[None], steps[:, None, None])
        frames.append(to_uint8(G.synthesis(path, noise_mode=args.noise_mode)))
    frames = np.concatenate(frames)
    out.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(f) for f in frames]
    gif = out / "interpolation.gif"
    images[0].save(gif, save_all=True, append_images=images[1:], duration=1000 / args.fps, loop=0)
    print(f"generate: {len(frames)} frames -> {gif}")
    if args.mp4:
        try:
            import imageio.v2 as imageio
        except ImportError as error:
            raise CommandError("--mp4 needs imageio and imageio-ffmpeg installed") from error
        with imageio.get_writer(out / "interpolation.mp4", fps=args.fps) as writer:
            for frame in frames:
                writer.append_data(frame)
        print(f"generate: MP4 -> {out / 'interpolation.mp4'}")
    return 0
