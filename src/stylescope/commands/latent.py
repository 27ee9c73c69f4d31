"""`stylescope latent`: the latent lab's analyses.

    stylescope latent global     --seeds 0-15 --amount 3        global vs single-dimension changes
    stylescope latent sweep      --space s --dims 0-63          per-coordinate sweeps, semantic map
    stylescope latent directions --method pca,sefa,supervised   named direction files
    stylescope latent evaluate   --seeds 100-131                precision and side effects

Each writes JSON, PNGs and `report.jsonl` entries into `--out` (`stylescope report DIR` renders
them), prints one status line per stage and shows a progress bar for long loops.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from stylescope.checkpoint import CheckpointError
from stylescope.commands import CommandError, parse_int_list
from stylescope.commands.generate import add_network_options, generator_from_args
from stylescope.data.synthfaces import ATTRIBUTE_NAMES
from stylescope.report.manifest import add_figure, add_table
from stylescope.visual import make_grid, save_png, to_uint8

SECTION = "Latent space"


# ------------------------------------------------------------------------------------------------
# Shared by the latent, edit and project commands.


def add_probe_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--probe", metavar="PATH", default=None, help="probe file (default: the shipped probe32)"
    )


def probe_from_args(args: argparse.Namespace, device):
    from stylescope.metrics.probes import load_probe

    try:
        return load_probe(args.probe, 32, device)
    except CheckpointError as error:
        raise CommandError(f"--probe: {error}") from error


def load_lab_generator(args: argparse.Namespace):
    """The generator of --network / --config, tagged with where it came from."""
    G = generator_from_args(args)
    if G.c_dim > 0:
        raise CommandError("the latent lab supports unconditional generators only")
    G.source_file = str(args.network) if args.network else f"config:{G.config.name}"
    for p in G.parameters():
        p.requires_grad_(False)
    return G


def parse_layers(G, text: str | None, flag: str = "--layers") -> list[int] | None:
    """ws indices from '0-5' / '0,2,4', checked against G; None when not given."""
    from stylescope.latent.common import check_layers

    if text is None:
        return None
    try:
        return check_layers(G, parse_int_list(text, flag))
    except ValueError as error:
        raise CommandError(f"{flag}: {error}") from error


def positive(value: float, flag: str) -> float:
    if not value > 0:
        raise CommandError(f"{flag} must be positive, got {value}")
    return value


def allow_negative_ranges(parser: argparse.ArgumentParser) -> None:
    """Let values such as `--strengths -3:3:7` start with a minus sign.

    NOTE: argparse only treats plain negative numbers as values; this widens its private matcher
    on this one parser so that strength ranges and lists starting with '-' are values too.
    """
    parser._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-[\d.]+[:,]")


def status(command: str, line: str) -> None:
    print(f"{command}: {line}", flush=True)


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=float))
    return path


def fmt(value, digits: int = 4):
    """Round floats for tables; leave everything else."""
    return round(float(value), digits) if isinstance(value, float | np.floating) else value


# ------------------------------------------------------------------------------------------------
# Parsers.


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "latent",
        help="latent-space analyses: global vs single changes, sweeps, directions, evaluation",
        description="Analyses of Z, W and style space S, measured with the synthfaces probes.",
    )
    sub = parser.add_subparsers(dest="latent_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser, seeds: str, out: str) -> None:
        add_network_options(p)
        add_probe_option(p)
        p.add_argument("--seeds", default=seeds, help=f"seeds (default {seeds})")
        p.add_argument("--stats-samples", type=int, default=2000, help="w samples for std/PCA")
        p.add_argument("--out", default=out, help="output folder")

    glob = sub.add_parser("global", help="global perturbations vs single-dimension changes")
    common(glob, "0-15", "out/latent/global")
    glob.add_argument("--amount", type=float, default=3.0, help="step length in std units")
    glob.add_argument("--scale-factor", type=float, default=1.5, help="multiplier of 'scale'")
    glob.add_argument("--num-single", type=int, default=4, help="single coordinates per space")
    glob.set_defaults(func=run_global)

    sweep = sub.add_parser("sweep", help="per-coordinate sweeps of Z, W or S; semantic map")
    common(sweep, "0-7", "out/latent/sweep")
    sweep.add_argument("--space", choices=["z", "w", "s"], default="s", help="space to sweep")
    sweep.add_argument("--dims", default="0-31", help="coordinates (for S: flat channel indices)")
    sweep.add_argument(
        "--style-layer", default=None, help="S only: sweep this layer's channels (--dims index it)"
    )
    sweep.add_argument("--amount", type=float, default=3.0, help="step in std units")
    sweep.set_defaults(func=run_sweep)

    directions = sub.add_parser("directions", help="compute and save named directions")
    common(directions, "0-7", "out/latent/directions")
    directions.add_argument(
        "--method", default="pca,sefa,supervised", help="pca, sefa, supervised (comma-separated)"
    )
    directions.add_argument("--num-components", type=int, default=8, help="PCA/SeFa components")
    directions.add_argument("--layers", default=None, help="ws indices, e.g. 0-5 (default all)")
    directions.add_argument("--samples", type=int, default=1000, help="w samples for PCA/labels")
    directions.add_argument(
        "--attributes", default="age,yaw,smile", help="probe attributes for supervised directions"
    )
    directions.add_argument(
        "--labels",
        default=None,
        metavar="JSON",
        help='user labels instead of the probe: {"name": {"SEED": value, ...}, ...}',
    )
    directions.add_argument("--ratio", type=float, default=0.25, help="top/bottom share to fit")
    directions.add_argument(
        "--condition",
        action="store_true",
        help="also save each supervised direction with the "
        "other supervised directions projected out (e.g. age_c_yaw_c_smile)",
    )
    directions.set_defaults(func=run_directions)

    evaluate = sub.add_parser("evaluate", help="edit precision and side effects per method")
    common(evaluate, "100-131", "out/latent/evaluate")
    evaluate.add_argument("--calibration-seeds", default="200-215", help="seeds for selection")
    evaluate.add_argument("--strengths", default="-2:2:5", help="strengths in std units")
    evaluate.add_argument("--samples", type=int, default=1000, help="w samples for supervised")
    evaluate.add_argument("--num-components", type=int, default=16, help="PCA/SeFa candidates")
    evaluate.add_argument("--attributes", default="age,yaw,smile", help="target attributes")
    evaluate.add_argument(
        "--transfer",
        default=None,
        metavar="DIR",
        help="also measure the directions named like the attributes in DIR (e.g. found on the "
        "dense generator, measured here on a pruned one) as method 'transferred'",
    )
    allow_negative_ranges(evaluate)
    evaluate.set_defaults(func=run_evaluate)


def _setup(args: argparse.Namespace):
    from stylescope.latent.perturb import latent_stats

    seeds = parse_int_list(args.seeds)
    if args.stats_samples < 2:
        raise CommandError(f"--stats-samples must be at least 2, got {args.stats_samples}")
    G = load_lab_generator(args)
    probe = probe_from_args(args, next(G.parameters()).device)
    stats = latent_stats(G, args.stats_samples)
    return seeds, G, probe, stats, Path(args.out)


# ------------------------------------------------------------------------------------------------
# latent global


def run_global(args: argparse.Namespace) -> int:
    from stylescope.latent.perturb import default_perturbations, global_vs_single

    positive(args.amount, "--amount")
    positive(args.scale_factor, "--scale-factor")
    if args.num_single < 1:
        raise CommandError(f"--num-single must be positive, got {args.num_single}")
    seeds, G, probe, stats, out = _setup(args)
    status("latent global", f"{G.source_file}: {len(seeds)} seeds, step {args.amount} std")

    # Measure every perturbation.
    rows = default_perturbations(G, args.amount, args.scale_factor, args.num_single)
    bar = tqdm(total=len(rows), desc="perturbations", unit="row")
    study = global_vs_single(
        G, probe, seeds, stats=stats, perturbations=rows, progress=lambda _: bar.update()
    )
    bar.close()

    # JSON, table and example grid.
    v = study.verdict
    write_json(
        out / "global.json",
        {
            "rows": study.rows,
            "verdict": v,
            "seeds": seeds,
            "amount": args.amount,
            "scale_factor": args.scale_factor,
            "generator": G.source_file,
        },
    )
    columns = [
        "perturbation",
        "scope",
        "pixel_rms",
        "mean_colour_dE",
        "colour_share",
        "high_energy",
        "attribute_change",
        "region_change",
        "structure_per_change",
    ]
    table = [
        [r["name"], r["scope"]]
        + [
            fmt(r.get(k, float("nan")))
            for k in (
                "pixel_rms",
                "mean_colour_de",
                "colour_share",
                "high_energy",
                "attribute_change",
                "region_change",
                "structure_per_change",
            )
        ]
        for r in study.rows
    ]
    caption = (
        f"Mean over {len(seeds)} seeds of the change between the unedited and perturbed image. "
        f"Shift/noise/single steps have whitened length {args.amount} std; scale multiplies z or "
        f"(w - w_avg) by {args.scale_factor}. colour_share = low-frequency CIELAB energy "
        f"(4x4 box filter) / total; attribute_change = mean |probe change| in range units; "
        f"region_change = share of pixels whose probe region changes. Claim 'global changes "
        f"mostly change colour, single dimensions move features': {v['claim']} (global colour "
        f"share {fmt(v['global_colour_share'])} vs single {fmt(v['single_colour_share'])}; "
        f"structure per pixel change {fmt(v['global_structure_per_change'])} vs "
        f"{fmt(v['single_structure_per_change'])})."
    )
    add_table(out, SECTION, "Global vs single-dimension changes", columns, table, caption, 1.0)
    shown = list(study.examples)
    count = min(8, len(seeds))
    cells = torch.cat([study.examples[name][:count] for name in shown])
    save_png(make_grid(to_uint8(cells), count), out / "global_examples.png")
    add_figure(
        out,
        SECTION,
        out / "global_examples.png",
        "Perturbation examples",
        f"Rows: unedited, then {', '.join(shown[1:])}; columns: seeds {seeds[:count]}.",
        1.1,
    )
    status("latent global", f"claim {v['claim']} -> {out / 'global.json'}")
    return 0


# ------------------------------------------------------------------------------------------------
# latent sweep


def run_sweep(args: argparse.Namespace) -> int:
    from stylescope.latent.common import heatmap
    from stylescope.latent.stylespace import style_channels, style_dims
    from stylescope.latent.sweep import sweep

    positive(args.amount, "--amount")
    seeds, G, probe, stats, out = _setup(args)
    dims = parse_int_list(args.dims, "--dims")

    # Style-layer channels are given relative to the layer; turn them into flat indices.
    if args.style_layer is not None:
        if args.space != "s":
            raise CommandError("--style-layer applies to --space s only")
        counts = style_dims(G)
        if args.style_layer not in counts:
            raise CommandError(f"--style-layer: unknown layer; known: {', '.join(counts)}")
        if max(dims) >= counts[args.style_layer]:
            raise CommandError(
                f"--dims: {args.style_layer} has channels 0..{counts[args.style_layer] - 1}"
            )
        start = next(c.index for c in style_channels(G) if c.layer == args.style_layer)
        dims = [start + d for d in dims]
    status("latent sweep", f"{args.space}: {len(dims)} coordinates x {len(seeds)} seeds")
    bar = tqdm(total=len(dims), desc=f"sweep {args.space}", unit="dim")
    try:
        result = sweep(
            G, probe, args.space, dims, seeds, stats, args.amount, lambda _: bar.update()
        )
    except ValueError as error:
        raise CommandError(f"--dims: {error}") from error
    finally:
        bar.close()

    # Semantic map, ranked tables and change maps.
    path = result.save(out / f"semantic_map_{args.space}.json")
    n = len(seeds)
    how = (
        f"{len(dims)} {args.space} coordinates, each moved -{args.amount} and +{args.amount} "
        f"std on {n} seeds; effects = probe read-out change per std in range units."
    )
    table = []
    for attr, ranked in result.ranked_by_attribute(5).items():
        table.append(
            [attr] + [f"{e['dim']} ({e['effect']:+.4f})" for e in ranked] + [""] * (5 - len(ranked))
        )
    columns = ["attribute"] + [f"#{i + 1}" for i in range(5)]
    add_table(
        out, SECTION, f"Strongest {args.space} coordinates per attribute", columns, table, how, 2.0
    )
    table = [
        [region, len(ranked), ", ".join(f"{e['dim']} (x{e['lift']:.1f})" for e in ranked)]
        for region, ranked in result.ranked_by_region(5).items()
    ]
    add_table(
        out,
        SECTION,
        f"{args.space} coordinates localised per region",
        ["region", "localised (top 5 shown)", "coordinates (lift)"],
        table,
        how + " Localised: the region with the highest change per pixel wins on >= half "
        "of the seeds and holds >= 2x its area share of the change energy.",
        2.1,
    )
    order = np.argsort([-e["change"] for e in result.entries])[:16]
    tiles = np.stack([heatmap(result.change_maps[i]) for i in order])
    save_png(make_grid(tiles, 8, padding=1), out / f"change_maps_{args.space}.png")
    labels = ", ".join(str(result.entries[i]["dim"]) for i in order)
    add_figure(
        out,
        SECTION,
        out / f"change_maps_{args.space}.png",
        f"Change maps of the strongest {args.space} coordinates",
        f"Mean |img(+) - img(-)| over {n} seeds, each map scaled to its own maximum; "
        f"coordinates {labels}. " + how,
        2.2,
    )
    localised = sum(e["localised"] for e in result.entries)
    status("latent sweep", f"{localised}/{len(dims)} localised -> {path}")
    return 0


# ------------------------------------------------------------------------------------------------
# latent directions


def read_labels(path: str) -> dict[str, dict[int, float]]:
    """User labels: {"name": {"SEED": value, ...}}, checked."""
    try:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or not data:
            raise ValueError("expected a JSON object of label names")
        labels = {}
        for name, values in data.items():
            if not isinstance(values, dict) or len(values) < 4:
                raise ValueError(f"{name!r}: expected an object of at least 4 seed: value pairs")
            labels[str(name)] = {int(seed): float(value) for seed, value in values.items()}
        return labels
    except (OSError, ValueError, TypeError) as error:
        raise CommandError(f"--labels: cannot read {path} ({error})") from error


def supervised_from_probe(G, probe, num_samples, attributes, layers, ratio, seed=0):
    """Supervised directions for `attributes` from the probe's read-outs of sampled images."""
    from stylescope.latent.common import attribute_index, read_attribute_matrix, render
    from stylescope.latent.directions import sample_w_cached, supervised_direction

    w = sample_w_cached(G, num_samples, seed)
    ws = w[:, None].repeat(1, G.num_ws, 1)
    scores = read_attribute_matrix(probe, render(G, ws))
    return {
        name: supervised_direction(
            G, name, w, scores[:, attribute_index(name)], ratio, layers, seed
        )
        for name in attributes
    }


def parse_attributes(text: str) -> list[str]:
    names = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in names if a not in ATTRIBUTE_NAMES]
    if unknown or not names:
        raise CommandError(
            f"--attributes: unknown {unknown or text!r}; known: {', '.join(ATTRIBUTE_NAMES)}"
        )
    return names


def run_directions(args: argparse.Namespace) -> int:
    from stylescope.latent.common import seeds_to_ws
    from stylescope.latent.directions import (
        conditional_direction,
        ganspace_directions,
        sample_w_cached,
        save_direction,
        sefa_directions,
        supervised_direction,
    )
    from stylescope.latent.edit import edit

    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    unknown = sorted(set(methods) - {"pca", "sefa", "supervised"})
    if unknown or not methods:
        raise CommandError(f"--method: unknown {unknown}; use pca, sefa and/or supervised")
    if args.num_components < 1 or args.samples < 8:
        raise CommandError("--num-components must be >= 1 and --samples >= 8")
    if not 0 < args.ratio <= 0.5:
        raise CommandError(f"--ratio must be in (0, 0.5], got {args.ratio}")
    attributes = parse_attributes(args.attributes)
    seeds = parse_int_list(args.seeds)
    G = load_lab_generator(args)
    layers = parse_layers(G, args.layers)
    out = Path(args.out)
    found = []

    # Unsupervised.
    if "pca" in methods:
        status("latent directions", f"GANSpace PCA of {args.samples} w")
        found += ganspace_directions(G, args.num_components, args.samples, 0, layers)
    if "sefa" in methods:
        status("latent directions", "SeFa factorisation of the style affines")
        found += sefa_directions(G, args.num_components, layers, args.samples)

    # Supervised, from user labels or the probe.
    if "supervised" in methods:
        if args.labels:
            labels = read_labels(args.labels)
            status("latent directions", f"supervised boundaries from {args.labels}")
            supervised = {}
            for name, values in labels.items():
                label_seeds = sorted(values)
                w = seeds_to_ws(G, label_seeds)[:, 0].cpu()
                scores = torch.tensor([values[s] for s in label_seeds])
                supervised[name] = supervised_direction(
                    G, name, w, scores, args.ratio, layers, None, source=args.labels
                )
        else:
            probe = probe_from_args(args, next(G.parameters()).device)
            status(
                "latent directions",
                f"supervised boundaries from probe read-outs of {args.samples} samples",
            )
            supervised = supervised_from_probe(
                G, probe, args.samples, attributes, layers, args.ratio
            )
        found += list(supervised.values())
        if args.condition and len(supervised) > 1:
            w = sample_w_cached(G, args.samples, 0)
            for name, primary in supervised.items():
                others = [d for n, d in supervised.items() if n != name]
                found.append(conditional_direction(primary, others, w))

    # Save every direction, an index and a preview grid.
    index = []
    for direction in tqdm(found, desc="saving", unit="dir"):
        path = save_direction(out / f"{direction.name}.safetensors", direction)
        index.append(
            {
                "name": direction.name,
                "file": path.name,
                "space": direction.space,
                "scale": direction.scale,
                "layers": direction.layers,
                "provenance": direction.provenance,
            }
        )
    write_json(out / "directions.json", index)
    strengths = [-2.0, -1.0, 0.0, 1.0, 2.0]
    ws = seeds_to_ws(G, seeds[:1])
    previews = torch.cat([edit(G, ws, d, strengths)[0] for d in found])
    save_png(make_grid(to_uint8(previews), len(strengths)), out / "directions_preview.png")
    add_figure(
        out,
        SECTION,
        out / "directions_preview.png",
        "Directions preview",
        f"Seed {seeds[0]} edited along each direction ({', '.join(d.name for d in found)}) "
        f"at strengths {strengths} std; one row per direction.",
        3.0,
    )
    accuracy = [
        [
            d.name,
            fmt(d.provenance.get("held_out_accuracy", float("nan"))),
            d.provenance.get("num_samples"),
        ]
        for d in found
        if d.provenance.get("method") == "supervised"
    ]
    if accuracy:
        add_table(
            out,
            SECTION,
            "Supervised boundaries",
            ["direction", "held-out accuracy", "N"],
            accuracy,
            f"Logistic-regression boundary between the top and bottom "
            f"{args.ratio:.0%} of samples by label; accuracy on a held-out 30% of them.",
            3.1,
        )
    status("latent directions", f"{len(found)} directions -> {out}")
    return 0


# ------------------------------------------------------------------------------------------------
# latent evaluate


def run_evaluate(args: argparse.Namespace) -> int:
    from stylescope.latent.common import seeds_to_ws
    from stylescope.latent.directions import ganspace_directions, sefa_directions
    from stylescope.latent.edit import parse_strengths
    from stylescope.latent.evaluate import evaluate_directions, style_channel_candidates

    try:
        strengths = parse_strengths(args.strengths)
    except ValueError as error:
        raise CommandError(f"--strengths: {error}") from error
    if len(set(strengths)) < 2:
        raise CommandError("--strengths needs at least two different values")
    attributes = parse_attributes(args.attributes)
    from stylescope.metrics.probes import CONTINUOUS

    if any(a not in CONTINUOUS for a in attributes):
        raise CommandError(
            f"--attributes: evaluate continuous attributes ({', '.join(CONTINUOUS)})"
        )
    if args.samples < 8 or args.num_components < 1:
        raise CommandError("--samples must be >= 8 and --num-components >= 1")
    seeds, G, probe, stats, out = _setup(args)
    calibration = parse_int_list(args.calibration_seeds, "--calibration-seeds")
    if set(calibration) & set(seeds):
        raise CommandError("--calibration-seeds must not overlap --seeds")
    ws_eval, ws_cal = seeds_to_ws(G, seeds), seeds_to_ws(G, calibration)

    # Candidates of every method.
    status("latent evaluate", "directions: PCA, SeFa, supervised, S channels")
    supervised = supervised_from_probe(G, probe, args.samples, attributes, None, 0.25)
    from stylescope.latent.directions import conditional_direction, sample_w_cached

    w = sample_w_cached(G, args.samples, 0)
    conditional = {
        name: conditional_direction(d, [o for n, o in supervised.items() if n != name], w)
        for name, d in supervised.items()
    }
    channels = {
        name: style_channel_candidates(G, probe, ws_cal, name, stats.s_std) for name in attributes
    }
    methods = {
        "pca": ganspace_directions(G, args.num_components, args.stats_samples),
        "sefa": sefa_directions(G, args.num_components, None, args.stats_samples),
        "supervised": supervised,
        "supervised-conditional": conditional,
    }

    if args.transfer is not None:
        from stylescope.latent.directions import DirectionError, find_direction

        try:
            methods["transferred"] = {}
            for name in attributes:
                direction = find_direction(name, args.transfer)
                direction.check_fits(G)
                methods["transferred"][name] = direction
        except (DirectionError, ValueError) as error:
            raise CommandError(f"--transfer: {error}") from error

    # Measure.
    total = len(attributes) * (len(methods) + 1)
    bar = tqdm(total=total, desc="evaluate", unit="edit")
    rows = evaluate_directions(
        G, probe, methods, ws_eval, ws_cal, strengths, attributes, lambda _: bar.update()
    )
    for name in attributes:
        rows += evaluate_directions(
            G,
            probe,
            {"s-channel": channels[name]},
            ws_eval,
            ws_cal,
            strengths,
            [name],
            lambda _: bar.update(),
        )
    bar.close()

    # JSON and table.
    write_json(
        out / "evaluate.json",
        {
            "rows": rows,
            "seeds": seeds,
            "calibration_seeds": calibration,
            "strengths": strengths,
            "generator": G.source_file,
            "identity_note": "probe-feature distance; dlib descriptors not used",
        },
    )
    rows.sort(key=lambda r: (r["target"], r["method"]))
    columns = [
        "target",
        "method",
        "direction",
        "precision",
        "side mean |slope|",
        "worst side effect",
        "specificity",
        "identity change",
    ]
    table = [
        [
            r["target"],
            r["method"],
            r["direction"],
            fmt(r["precision"]),
            fmt(r["side_mean_abs"]),
            f"{r['worst_side_effect']} ({r['worst_side_slope']:+.4f})",
            fmt(r["specificity"]),
            fmt(r["identity_change"]),
        ]
        for r in rows
    ]
    caption = (
        f"{len(seeds)} evaluation seeds edited at strengths {[round(s, 3) for s in strengths]} "
        f"(std of the latents along each direction, all layers); slopes of probe read-outs per "
        f"unit strength in units of each attribute's range. PCA/SeFa/S-channel directions were "
        f"chosen and oriented per target on {len(calibration)} separate calibration seeds; "
        f"supervised directions were fitted on {args.samples} probe-labelled samples; "
        f"'conditional' projects out the other targets' normals. Identity change: probe-feature "
        f"distance between unedited and strongest edit (dlib descriptors not used)."
    )
    add_table(out, SECTION, "Edit precision and side effects", columns, table, caption, 4.0)
    status("latent evaluate", f"{len(rows)} rows -> {out / 'evaluate.json'}")
    return 0
