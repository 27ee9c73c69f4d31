"""`stylescope edit`: edit grids along a named direction.

    stylescope edit --network G.safetensors --seeds 0-7 --direction age --strengths -3:3:7 \
        --layers 0-5 [--directions out/latent/directions] [--condition yaw,smile]

`--direction` is a direction file, a name inside `--directions`, or, with `--semantic-map`, an
attribute whose strongest coordinate in the map is edited. `--projection STATE` edits a projected
image instead of seeds. Rows of the grid are seeds, columns strengths.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stylescope.commands import CommandError, parse_int_list
from stylescope.commands.generate import add_network_options
from stylescope.commands.latent import (
    SECTION,
    allow_negative_ranges,
    load_lab_generator,
    parse_layers,
    status,
    write_json,
)
from stylescope.report.manifest import add_figure
from stylescope.visual import save_image_grid


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "edit",
        help="render edit grids along a direction",
        description="Edit seeds (or a projected image) along a saved direction.",
    )
    add_network_options(parser)
    parser.add_argument("--seeds", default="0-7", help="seeds, one grid row each")
    parser.add_argument("--direction", required=True, help="direction file or name")
    parser.add_argument(
        "--directions", default="out/latent/directions", help="folder of named direction files"
    )
    parser.add_argument("--semantic-map", default=None, help="semantic map JSON (from sweep)")
    parser.add_argument("--strengths", default="-3:3:7", help="START:STOP:COUNT or a list")
    parser.add_argument("--layers", default=None, help="ws indices to edit, e.g. 0-5")
    parser.add_argument(
        "--condition", default=None, help="W directions to project out, e.g. yaw,smile"
    )
    parser.add_argument("--projection", default=None, help="projection state to edit")
    parser.add_argument("--trunc", type=float, default=1.0, help="truncation psi of the seeds")
    parser.add_argument("--out", default="out/edit", help="output folder")
    allow_negative_ranges(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stylescope.checkpoint import CheckpointError
    from stylescope.latent.common import seeds_to_ws
    from stylescope.latent.directions import DirectionError, conditional_direction, find_direction
    from stylescope.latent.edit import edit, parse_strengths
    from stylescope.latent.project import load_state
    from stylescope.latent.sweep import direction_from_semantic_map, load_semantic_map

    try:
        strengths = parse_strengths(args.strengths)
    except ValueError as error:
        raise CommandError(f"--strengths: {error}") from error
    seeds = parse_int_list(args.seeds)
    G = load_lab_generator(args)
    layers = parse_layers(G, args.layers)

    # Resolve the direction (and its conditions).
    try:
        if args.semantic_map:
            direction = direction_from_semantic_map(
                G, load_semantic_map(args.semantic_map), args.direction
            )
        else:
            direction = find_direction(args.direction, args.directions)
        direction.check_fits(G)
        if args.condition:
            names = [n.strip() for n in args.condition.split(",") if n.strip()]
            conditions = [find_direction(n, args.directions) for n in names]
            direction = conditional_direction(direction, conditions)
    except DirectionError as error:
        raise CommandError(f"--direction: {error}") from error
    if direction.space == "s" and layers is not None:
        raise CommandError("--layers applies to W directions; this S direction names its channel")

    # Latents to edit.
    if args.projection:
        try:
            ws = load_state(args.projection, G).ws(G.num_ws)
        except CheckpointError as error:
            raise CommandError(f"--projection: {error}") from error
        rows = ["projection"]
    else:
        ws = seeds_to_ws(G, seeds, args.trunc)
        rows = seeds
    status(
        "edit",
        f"{direction.name} ({direction.space}) on {len(rows)} rows at {len(strengths)} strengths",
    )
    img = edit(G, ws, direction, strengths, layers)

    # Grid, JSON and manifest.
    out = Path(args.out)
    grid = out / f"edit_{direction.name}.png"
    save_image_grid(img.flatten(0, 1), grid, columns=len(strengths))
    used = layers if layers is not None else direction.layers
    write_json(
        out / f"edit_{direction.name}.json",
        {
            "direction": direction.name,
            "space": direction.space,
            "scale": direction.scale,
            "layers": used,
            "strengths": strengths,
            "rows": rows,
            "provenance": direction.provenance,
            "generator": G.source_file,
        },
    )
    add_figure(
        out,
        SECTION,
        grid,
        f"Edit: {direction.name}",
        f"Rows: {rows}; columns: strengths {[round(s, 3) for s in strengths]} in std of "
        f"the latents along the direction; layers {used or 'all'}.",
        5.0,
    )
    status("edit", f"grid -> {grid}")
    return 0
