"""`stylescope prune`: a lightweight generator from a trained one, with its costs and fidelity.

    stylescope prune --method channel --keep 0.3 --criterion content --distill-kimg 10
    stylescope prune --method channel --keep 0.7,0.5,0.3 --metrics fid1k     # a sweep
    stylescope prune --method channel --keep 0.25 --keep-at b4=0.5,b8=0.5  # per-block fractions
    stylescope prune --method channel --spec out/prune/keep0.3/spec.json   # rebuild from a spec
    stylescope prune --method magnitude --sparsities 0,0.5,0.8,0.9,0.95      # unstructured curve

Writes to `--out`: `prune.jsonl` (one JSON object per pruned variant: MACs, latency, fidelity
before and after distillation), per channel variant a folder `keepK/` (`keepK-b4x0.5...` with
--keep-at) with `spec.json`, the pruned `generator.safetensors`, the resumable
`distill-state.safetensors` and a comparison grid, the sparsity or keep -> fidelity curve as PNG,
and report.jsonl entries for `stylescope report`. Kept channel counts are rounded to multiples
of --channel-multiple (16, the CPU vector width) so that the MACs removed are time saved.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from stylescope.checkpoint import CheckpointError, save_network
from stylescope.commands import CommandError
from stylescope.commands.generate import add_network_options, generator_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prune",
        help="prune a generator (channels or magnitudes) and measure cost and fidelity",
        description="Structured channel pruning with optional distillation, or unstructured "
        "magnitude pruning, with MACs, latency and fidelity of every variant.",
    )
    add_network_options(parser)
    parser.add_argument("--method", choices=["channel", "magnitude"], default="channel")
    parser.add_argument(
        "--keep", default="0.3", help="channel: kept fraction(s) of every group, e.g. 0.7,0.5,0.3"
    )
    parser.add_argument("--keep-at", default="", metavar="NAME=FRAC,...",
                        help="channel: kept fraction of named blocks or groups instead of --keep, "
                        "e.g. b4=0.5,b8=0.5,b16=0.375")  # fmt: skip
    parser.add_argument("--channel-multiple", type=int, default=16,
                        help="channel: round kept counts to a multiple of this (CPU vector width; "
                        "1 keeps exact fractions)")  # fmt: skip
    parser.add_argument("--criterion", choices=["l1", "style", "content"], default="content",
                        help="channel: importance criterion")  # fmt: skip
    parser.add_argument("--spec", default=None, metavar="PATH",
                        help="channel: rebuild from this pruning spec instead")  # fmt: skip
    parser.add_argument("--min-channels", type=int, default=4, help="channel: fewest kept")
    parser.add_argument("--importance-samples", type=int, default=256, help="latents scored")
    parser.add_argument("--distill-kimg", type=float, default=0.0, help="distillation length")
    parser.add_argument("--distill-batch", type=int, default=32)
    parser.add_argument("--distill-lr", type=float, default=0.002)
    parser.add_argument("--distill-rampdown", type=float, default=0.25,
                        help="fraction of the distillation over which the learning rate falls "
                        "to 0 (0: constant)")  # fmt: skip
    parser.add_argument("--feature-weight", type=float, default=1.0,
                        help="probe feature-distance weight of the distillation loss")  # fmt: skip
    parser.add_argument("--region-weight", type=float, default=0.0,
                        help="extra pixel-loss weight on face regions")  # fmt: skip
    parser.add_argument("--resume", action="store_true", help="continue distillation states")
    parser.add_argument("--sparsities", default="0,0.25,0.5,0.7,0.8,0.9,0.95",
                        help="magnitude: sparsities of the curve")  # fmt: skip
    parser.add_argument("--scope", choices=["global", "layer"], default="layer",
                        help="magnitude: rank weights globally or per layer")  # fmt: skip
    parser.add_argument("--metrics", default="", help="distribution metrics, e.g. fid1k,fd_probe1k")
    parser.add_argument("--fidelity-samples", type=int, default=256,
                        help="latents of the same-latent PSNR/SSIM/probe distance")  # fmt: skip
    parser.add_argument("--no-latency", action="store_true", help="skip latency measurements")
    parser.add_argument("--compiled-latency", action="store_true",
                        help="also time batch 32 with both networks compiled by torch.compile "
                        "(needs a C++ compiler on CPU; adds a minute)")  # fmt: skip
    parser.add_argument("--probe", default=None, metavar="PATH", help="probe file")
    parser.add_argument("--data", default="synthfaces", help="real data of the metrics")
    parser.add_argument("--out", default="out/prune", help="output folder")
    parser.set_defaults(func=run)


def _fractions(text: str, flag: str, lo_open: bool) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as error:
        raise CommandError(f"{flag}: cannot read {text!r}; use numbers like 0.5,0.3") from error
    if not values:
        raise CommandError(f"{flag}: no values in {text!r}")
    for v in values:
        if (lo_open and not 0 < v <= 1) or (not lo_open and not 0 <= v < 1):
            interval = "(0, 1]" if lo_open else "[0, 1)"
            raise CommandError(f"{flag}: {v} is outside {interval}")
    return values


def _overrides(text: str) -> dict[str, float]:
    """'b4=0.5,b16.conv0=0.25' -> {'b4': 0.5, 'b16.conv0': 0.25}."""
    overrides = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CommandError(f"--keep-at: {item!r} is not NAME=FRACTION")
        overrides[name.strip()] = _fractions(value, f"--keep-at {name.strip()}", lo_open=True)[0]
    return overrides


def _variant_name(keep: float, overrides: dict[str, float]) -> str:
    return f"keep{keep:g}" + "".join(f"-{name}x{ratio:g}" for name, ratio in overrides.items())


def run(args: argparse.Namespace) -> int:
    from stylescope.metrics.probes import load_probe

    if args.distill_kimg < 0:
        raise CommandError("--distill-kimg must be >= 0")
    if args.fidelity_samples < 2:
        raise CommandError("--fidelity-samples must be at least 2")
    if args.importance_samples < 1:
        raise CommandError("--importance-samples must be at least 1")
    if args.min_channels < 1:
        raise CommandError("--min-channels must be at least 1")
    if args.channel_multiple < 1:
        raise CommandError("--channel-multiple must be at least 1")
    if args.keep_at and args.spec:
        raise CommandError("--keep-at selects channels; a --spec already lists them")
    if args.method == "magnitude" and (args.spec or args.distill_kimg > 0 or args.resume):
        raise CommandError("--spec, --distill-kimg and --resume apply to --method channel only")
    if args.metrics:
        from stylescope.metrics.evaluate import parse_metrics

        try:
            parse_metrics(args.metrics)
        except ValueError as error:
            raise CommandError(f"--metrics: {error}") from error
    G = generator_from_args(args).eval()
    device = next(G.parameters()).device
    if args.compiled_latency and not args.no_latency:
        from stylescope.networks import compile_problem

        problem = compile_problem(device)
        if problem is not None:
            raise CommandError(f"--compiled-latency: {problem}")
    try:
        probe = load_probe(args.probe, 32, device)
    except CheckpointError as error:
        raise CommandError(f"--probe: {error}") from error
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # A rerun into the same folder replaces the results and report entries of the last one.
    for name in ("prune.jsonl", "report.jsonl"):
        (out / name).unlink(missing_ok=True)
    source = args.network or (f"config {args.config}" if args.config else "shipped default")

    # Step 1: the dense reference.
    print(f"prune: dense generator ({source})", flush=True)
    dense = _costs(G, args) | _distribution(G, args, probe, "dense")
    dense |= {"variant": "dense", "network": str(source)}
    print(f"prune: dense {_describe(dense)}", flush=True)
    (out / "dense.json").write_text(json.dumps(dense, indent=1))

    if args.method == "magnitude":
        rows = _run_magnitude(G, probe, dense, args, out)
    else:
        rows = _run_channel(G, probe, dense, args, out, str(source))
    _write_report(out, dense, rows, args)
    print(f"prune: {len(rows)} variant(s) -> {out / 'prune.jsonl'}")
    return 0


def _size(G) -> dict[str, Any]:
    from stylescope.prune.evaluate import generator_macs

    return {"macs": generator_macs(G), "params": G.num_parameters()}


def _costs(G, args) -> dict[str, Any]:
    from stylescope.prune.evaluate import cost_table

    return _size(G) if args.no_latency else cost_table(G)


def _speed(dense_G, pruned, args) -> dict[str, Any]:
    """The pruned generator's latency timed against the dense one (nothing with --no-latency)."""
    from stylescope.prune.evaluate import speed_table

    return {} if args.no_latency else speed_table(dense_G, pruned, args.compiled_latency)


def _distribution(G, args, probe, label: str) -> dict[str, float]:
    from stylescope.metrics.evaluate import default_cache_dir
    from stylescope.metrics.features import ExtractorUnavailable
    from stylescope.prune.evaluate import distribution

    if not args.metrics:
        return {}
    print(f"prune: {label}: metrics {args.metrics}", flush=True)
    try:
        return distribution(G, args.metrics, probe, args.data, default_cache_dir())
    except ExtractorUnavailable as error:
        raise CommandError(str(error)) from error
    except ValueError as error:
        raise CommandError(f"--data {args.data}: {error}") from error


def _same_latent(dense_G, pruned, probe, args) -> dict[str, float]:
    from stylescope.metrics.fidelity import compare_generators

    return compare_generators(dense_G, pruned, probe, num_samples=args.fidelity_samples)


def _describe(row: dict[str, Any]) -> str:
    parts = [f"{row['macs'] / 1e6:.1f} MMAC/img", f"{row['params'] / 1e6:.3f} M params"]
    if "ms_per_img_b32_bf16" in row:
        parts.append(f"{row['ms_per_img_b32_bf16']:.3f} ms/img (b32 bf16)")
    speedups = [k for k in row if k.startswith("speedup_")]
    if speedups:
        parts.append(
            "speed-up "
            + " ".join(
                f"{k.removeprefix('speedup_').replace('_', ' ')} {row[k]:.2f}x" for k in speedups
            )
        )
    for key in ("psnr", "ssim", "probe_distance"):
        if key in row:
            parts.append(f"{key} {row[key]:.4g}")
    parts += [f"{k} {v:.4g}" for k, v in row.items() if k.startswith(("fid", "fd_probe"))]
    return ", ".join(parts)


def _append(out: Path, row: dict[str, Any]) -> None:
    with open(out / "prune.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row | {"timestamp": time.time()}) + "\n")


def _run_magnitude(G, probe, dense, args, out: Path) -> list[dict[str, Any]]:
    from tqdm import tqdm

    from stylescope.prune.magnitude import magnitude_prune, weight_sparsity

    rows = []
    sparsities = _fractions(args.sparsities, "--sparsities", lo_open=False)
    for sparsity in tqdm(sparsities, desc="magnitude sparsities", unit="step"):
        pruned = magnitude_prune(G, sparsity, args.scope)
        row = {"variant": f"magnitude{sparsity:g}", "method": "magnitude", "scope": args.scope,
               "sparsity": weight_sparsity(pruned)["total"],
               "target_sparsity": sparsity}  # fmt: skip
        row |= _size(pruned) | _speed(G, pruned, args) | _same_latent(G, pruned, probe, args)
        row |= _distribution(pruned, args, probe, row["variant"])
        tqdm.write(f"prune: sparsity {sparsity:.2f}: {_describe(row)}")
        _append(out, row)
        rows.append(row)
    return rows


def _run_channel(G, probe, dense, args, out: Path, source: str) -> list[dict[str, Any]]:
    from stylescope.prune.channels import keep_ratios, score_channels, select_channels
    from stylescope.prune.spec import PruneSpec, SpecError, apply_spec, load_spec, save_spec

    # Step 2: which channels survive, from a spec or from importance scores.
    if args.spec is not None:
        try:
            specs = [load_spec(args.spec)]
        except SpecError as error:
            raise CommandError(f"--spec: {error}") from error
    else:
        keeps = _fractions(args.keep, "--keep", lo_open=True)
        if len(set(keeps)) != len(keeps):
            raise CommandError(f"--keep: repeated ratios in {args.keep!r}")
        overrides = _overrides(args.keep_at)
        print(f"prune: scoring channels by {args.criterion} on {args.importance_samples} latents",
              flush=True)  # fmt: skip
        try:
            scores = score_channels(G, args.criterion, probe, args.importance_samples)
        except ValueError as error:
            raise CommandError(f"--criterion {args.criterion}: {error}") from error
        specs = []
        for keep in keeps:
            try:
                ratios = keep_ratios(list(scores), keep, overrides)
            except KeyError as error:
                raise CommandError(f"--keep-at: {error.args[0]}") from error
            kept = select_channels(scores, ratios, args.min_channels, args.channel_multiple)
            provenance = {"criterion": args.criterion, "keep_ratio": keep, "keep_at": overrides,
                          "channel_multiple": args.channel_multiple, "network": source,
                          "importance_samples": args.importance_samples,
                          "min_channels": args.min_channels,
                          "name": _variant_name(keep, overrides),
                          "created": time.strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
            specs.append(PruneSpec.for_generator(G, kept, provenance))

    rows = []
    for spec in specs:
        keep = spec.provenance.get("keep_ratio")
        name = spec.provenance.get("name") if args.spec is None else Path(args.spec).stem
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        try:
            pruned = apply_spec(G, spec)
        except SpecError as error:
            raise CommandError(f"{'--spec' if args.spec else '--keep'}: {error}") from error
        save_spec(folder / "spec.json", spec)

        # Step 3: costs and fidelity before distillation.
        row = {"variant": name, "method": "channel", "criterion": spec.provenance.get("criterion"),
               "keep_ratio": keep, "spec": str(folder / "spec.json")}  # fmt: skip
        row["channels"] = {group: len(indices) for group, indices in spec.keep.items()}
        row |= _size(pruned)
        row["mac_reduction"] = dense["macs"] / row["macs"]
        before = _same_latent(G, pruned, probe, args)
        row |= {f"{k}_before_distill": v for k, v in before.items()}
        print(f"prune: {name}: {row['mac_reduction']:.1f}x fewer MACs; before distillation "
              + ", ".join(f"{k} {v:.4g}" for k, v in before.items()), flush=True)  # fmt: skip

        # Step 4: distillation from the dense teacher.
        if args.distill_kimg > 0:
            row |= _distill(G, pruned, probe, spec, folder, args)
        row |= _same_latent(G, pruned, probe, args)
        row |= _distribution(pruned, args, probe, name)
        # Speed does not depend on the weights' values, but timing after distillation keeps the
        # cores free of it.
        row |= _speed(G, pruned, args)
        pruned.config = pruned.config.replace(description=f"pruned from {source}: {name}")
        save_network(folder / "generator.safetensors", pruned)
        _comparison_grid(G, pruned, folder / "samples.png")
        print(f"prune: {name}: {_describe(row)}", flush=True)
        _append(out, row)
        rows.append(row)
    return rows


def _distill(G, pruned, probe, spec, folder: Path, args) -> dict[str, Any]:
    from tqdm import tqdm

    from stylescope.checkpoint import CheckpointError
    from stylescope.prune.distill import DistillOptions, distill

    options = DistillOptions(kimg=args.distill_kimg, batch=args.distill_batch, lr=args.distill_lr,
                             feature_weight=args.feature_weight,
                             region_weight=args.region_weight,
                             lr_rampdown=args.distill_rampdown)  # fmt: skip
    state = folder / "distill-state.safetensors"
    resume = args.resume and state.is_file()
    if args.resume and not resume:
        print(f"prune: --resume: no state in {folder}, distilling from the start", flush=True)
    bar = tqdm(total=round(args.distill_kimg * 1000), desc=f"distill {folder.name}", unit="img")

    def progress(stats: dict[str, float]) -> None:
        bar.n = round(stats["kimg"] * 1000)
        bar.set_postfix(loss=f"{stats['loss']:.4f}", refresh=False)
        bar.update(0)

    try:
        # The state names the channels it was made for; provenance (dates) may differ on rerun.
        structure = {k: v for k, v in spec.to_dict().items() if k != "provenance"}
        summary = distill(G, pruned, probe, options, state, resume,
                          {"spec": json.dumps(structure)}, progress)  # fmt: skip
    except (CheckpointError, ValueError) as error:
        raise CommandError(f"distillation: {error}") from error
    except FloatingPointError as error:
        raise CommandError(
            f"distillation diverged ({error}); lower --distill-lr and continue with --resume "
            "(the last state file is kept)"
        ) from error
    finally:
        bar.close()
    return {"distill_kimg": summary["kimg"], "distill_start_kimg": summary["start_kimg"],
            "distill_seconds": summary["seconds"],
            "distill_final_loss": summary.get("loss")}  # fmt: skip


@torch.no_grad()
def _comparison_grid(G, pruned, path: Path, count: int = 8) -> None:
    from stylescope.utils import latents_from_seeds
    from stylescope.visual import save_image_grid

    z = latents_from_seeds(range(count), G.z_dim).to(next(G.parameters()).device)
    images = torch.cat([G(z, noise_mode="const"), pruned(z, noise_mode="const")])
    save_image_grid(images.float(), path, columns=count, upscale=2)


def _write_report(out: Path, dense: dict, rows: list[dict], args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stylescope.report.manifest import add_figure, add_table

    n = args.fidelity_samples
    if args.method == "magnitude":
        x = [r["sparsity"] for r in rows]
        xlabel, title = "weight sparsity (fraction of synthesis conv weights zeroed)", "magnitude"
    else:
        x = [dense["macs"] / r["macs"] for r in rows]
        xlabel, title = "MAC reduction (dense / pruned)", "channel"
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    axes[0].plot(x, [r["psnr"] for r in rows], "o-", label="after" if args.distill_kimg else None)
    axes[1].plot(x, [r["ssim"] for r in rows], "o-")
    if args.method == "channel" and args.distill_kimg > 0:
        axes[0].plot(x, [r["psnr_before_distill"] for r in rows], "s--", label="before distill")
        axes[1].plot(x, [r["ssim_before_distill"] for r in rows], "s--")
        axes[0].legend()
    axes[0].set_ylabel("PSNR vs dense (dB)")
    axes[1].set_ylabel("SSIM vs dense")
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / f"{title}_curve.png", dpi=110)
    plt.close(fig)
    add_figure(out, "Pruning", out / f"{title}_curve.png", f"{title.title()} pruning curve",
               f"Same-latent fidelity of the pruned generator against the dense one: PSNR and "
               f"SSIM over {n} latents with constant noise, per variant.", order=1)  # fmt: skip

    columns = ["variant", "MMAC/img", "MAC cut", "PSNR dB", "SSIM", "probe dist"]
    latency = "ms_per_img_b32_bf16" in dense
    if latency:
        columns += ["ms/img b1 fp32", "ms/img b32 fp32", "ms/img b32 bf16",
                    "speed-up b1 fp32", "speed-up b32 fp32", "speed-up b32 bf16"]  # fmt: skip
    compiled = [k for k in ("b32_fp32_compiled", "b32_bf16_compiled")
                if any(f"speedup_{k}" in r for r in rows)]  # fmt: skip
    columns += [f"speed-up {k.replace('_', ' ')}" for k in compiled]
    extra = [k for k in rows[0] if k.startswith(("fid", "fd_probe"))] if rows else []
    columns += extra
    table = []
    for r in [dense] + rows:
        cells = [r["variant"], round(r["macs"] / 1e6, 2), round(dense["macs"] / r["macs"], 2),
                 _round(r.get("psnr")), _round(r.get("ssim")),
                 _round(r.get("probe_distance"))]  # fmt: skip
        if latency:
            cells += [_round(r.get(f"ms_per_img_{k}")) for k in ("b1_fp32", "b32_fp32", "b32_bf16")]
            cells += [_round(r.get(f"speedup_{k}"), 2) for k in ("b1_fp32", "b32_fp32", "b32_bf16")]
        cells += [_round(r.get(f"speedup_{k}"), 2) for k in compiled]
        cells += [_round(r.get(k)) for k in extra]
        table.append(cells)
    caption = (f"MACs counted by torch.utils.flop_counter at batch 1; latency is the median of "
               f"timed forward passes on this machine, and each variant's speed-up the median "
               f"ratio over rounds that time it and the dense generator alternately (with "
               f"'compiled', both run through torch.compile); "
               f"PSNR/SSIM/probe distance against the dense generator over {n} shared latents "
               f"with constant noise")  # fmt: skip
    if args.method == "channel" and args.distill_kimg > 0:
        caption += f", after {args.distill_kimg:g} kimg of distillation"
    caption += "."
    if extra:
        caption += f" Distribution metrics ({args.metrics}) against {args.data}."
    add_table(out, "Pruning", f"{title.title()} pruning: cost and fidelity", columns, table,
              caption, order=2)  # fmt: skip
    for r in rows:
        grid = out / r["variant"] / "samples.png"
        if grid.is_file():
            add_figure(out, "Pruning", grid, f"Dense vs {r['variant']}",
                       "Top row: dense generator; bottom row: pruned generator, seeds 0-7, "
                       "constant noise.", order=3)  # fmt: skip


def _round(value, digits: int = 4):
    return None if value is None else round(float(value), digits)
