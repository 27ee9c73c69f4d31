"""`stylescope project`: find the W or W+ latent of an image, resumably.

    stylescope project --network G.safetensors --target face.png --space w+ --steps 300
    stylescope project ... --resume out/project/state.safetensors --steps 600

The state (latent, noise maps, Adam moments, step, loss history) is saved every `--save-every`
steps and at the end; `--stop-after K` stops after step K so a run can be split. Reconstruction
PSNR and SSIM are printed and written to project.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from stylescope.checkpoint import CheckpointError
from stylescope.commands import CommandError
from stylescope.commands.generate import add_network_options
from stylescope.commands.latent import (
    SECTION,
    add_probe_option,
    load_lab_generator,
    probe_from_args,
    status,
    write_json,
)
from stylescope.report.manifest import add_figure, add_table
from stylescope.visual import save_image_grid


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "project",
        help="project an image into W or W+",
        description="Optimise a W or W+ latent (and noise maps) to reproduce an image.",
    )
    add_network_options(parser)
    add_probe_option(parser)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--target", default=None, help="image file (resized to the generator)")
    target.add_argument("--target-seed", type=int, default=None, help="project a generated seed")
    parser.add_argument("--space", choices=["w", "w+"], default="w", help="latent space")
    parser.add_argument("--steps", type=int, default=300, help="total optimisation steps")
    parser.add_argument("--lr", type=float, default=0.1, help="peak learning rate")
    parser.add_argument("--pixel-weight", type=float, default=1.0, help="pixel MSE weight")
    parser.add_argument("--noise-reg", type=float, default=1e3, help="noise regularisation weight")
    parser.add_argument("--seed", type=int, default=0, help="seed of the w noise")
    parser.add_argument("--resume", default=None, help="projection state to continue")
    parser.add_argument("--stop-after", type=int, default=None, help="stop after this step")
    parser.add_argument("--save-every", type=int, default=100, help="save the state every N steps")
    parser.add_argument("--out", default="out/project", help="output folder")
    parser.set_defaults(func=run)


def load_target(path: str, resolution: int) -> torch.Tensor:
    """An image file as [1, 3, R, R] in [-1, 1], centre-cropped square and resized."""
    try:
        image = Image.open(path).convert("RGB")
    except (OSError, ValueError) as error:
        raise CommandError(f"--target: cannot read {path} ({error})") from error
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((resolution, resolution), Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1
    return torch.from_numpy(array).permute(2, 0, 1)[None]


def run(args: argparse.Namespace) -> int:
    from stylescope.latent.common import seeds_to_ws
    from stylescope.latent.project import (
        ProjectionSettings,
        load_state,
        project,
        reconstruction,
        save_state,
        start_projection,
    )

    if args.target is None and args.target_seed is None:
        raise CommandError("give --target IMAGE or --target-seed N")
    if args.steps < 1 or args.save_every < 1:
        raise CommandError("--steps and --save-every must be positive")
    G = load_lab_generator(args)
    device = next(G.parameters()).device
    probe = probe_from_args(args, device)
    if args.target is not None:
        target = load_target(args.target, G.img_resolution)
        source = args.target
    else:
        with torch.no_grad():
            target = G.synthesis(seeds_to_ws(G, [args.target_seed]), noise_mode="const").cpu()
        source = f"seed {args.target_seed}"
    out = Path(args.out)
    state_path = out / "state.safetensors"

    # Start or resume.
    if args.resume:
        try:
            state = load_state(args.resume, G)
        except CheckpointError as error:
            raise CommandError(f"--resume: {error}") from error
        state.settings.num_steps = args.steps
        status("project", f"resuming {args.resume} at step {state.step} of {args.steps}")
    else:
        try:
            settings = ProjectionSettings(
                args.space, args.steps, args.lr, args.pixel_weight, args.noise_reg, seed=args.seed
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        state = start_projection(G, settings)
        status("project", f"{source} into {args.space}, {args.steps} steps")
    stop = min(args.stop_after, args.steps) if args.stop_after is not None else args.steps
    if stop <= state.step:
        raise CommandError(f"nothing to do: the state is at step {state.step}, asked for {stop}")

    # Optimise, saving every --save-every steps.
    bar = tqdm(total=stop - state.step, desc="project", unit="step")
    while state.step < stop:
        chunk = min(stop, (state.step // args.save_every + 1) * args.save_every)
        state = project(
            G,
            target,
            probe,
            state,
            chunk,
            lambda step, rec: bar.set_postfix(loss=f"{rec['loss']:.4f}") or bar.update(),
        )
        save_state(state_path, state)
    bar.close()

    # Reconstruction quality.
    img, quality = reconstruction(G, state, target)
    save_image_grid(torch.cat([target, img]), out / "projection.png", columns=2)
    torch_ws = state.ws(G.num_ws)
    write_json(
        out / "project.json",
        {
            "target": source,
            "space": state.settings.space,
            "step": state.step,
            "num_steps": state.settings.num_steps,
            "first_loss": state.history[0]["loss"],
            "last_loss": state.history[-1]["loss"],
            "generator": G.source_file,
            "ws_shape": list(torch_ws.shape),
            **quality,
        },
    )
    add_figure(
        out,
        SECTION,
        out / "projection.png",
        "Projection",
        f"Left: target ({source}); right: reconstruction after {state.step} steps in "
        f"{state.settings.space}.",
        6.0,
    )
    add_table(
        out,
        SECTION,
        "Projection quality",
        ["space", "steps", "PSNR (dB)", "SSIM", "loss first", "loss last"],
        [
            [
                state.settings.space,
                state.step,
                round(quality["psnr"], 2),
                round(quality["ssim"], 4),
                round(state.history[0]["loss"], 4),
                round(state.history[-1]["loss"], 4),
            ]
        ],
        f"One image ({source}); loss = probe-feature distance + {state.settings.pixel_weight}"
        f" x pixel MSE; PSNR/SSIM of the reconstruction against the target.",
        6.1,
    )
    status(
        "project",
        f"step {state.step}: PSNR {quality['psnr']:.2f} dB, SSIM "
        f"{quality['ssim']:.4f} -> {state_path}",
    )
    return 0
