"""`stylescope probe`: train and evaluate the synthfaces attribute and region probes.

    stylescope probe train --resolution 32 --out probe32.safetensors
    stylescope probe eval [--probe PATH] [--count 2000]

The card (settings, held-out error per attribute, IoU per region, time) is written as JSON beside
the probe file and stored in its metadata.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from stylescope.checkpoint import CheckpointError
from stylescope.commands import CommandError
from stylescope.data.synthfaces import check_resolution
from stylescope.utils import resolve_device


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="train or evaluate the synthfaces attribute/region probes",
        description="Probes read synthfaces attributes and region maps from images; metrics, "
        "latent analyses and content-aware pruning use them.",
    )
    sub = parser.add_subparsers(dest="probe_command", metavar="ACTION", required=True)

    train = sub.add_parser("train", help="train a probe on rendered synthfaces")
    train.add_argument("--resolution", type=int, default=32, help="probe input resolution")
    train.add_argument("--count", type=int, default=30_000, help="training images")
    train.add_argument("--test-count", type=int, default=2_000, help="held-out images")
    train.add_argument("--epochs", type=int, default=6, help="passes over the training images")
    train.add_argument("--batch", type=int, default=128, help="batch size")
    train.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    train.add_argument("--seed", type=int, default=0, help="initialisation and order seed")
    train.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    train.add_argument("--workers", type=int, default=2, help="rendering processes")
    train.add_argument("--device", default="auto", help="cpu, cuda or auto")
    train.add_argument("--out", required=True, help="probe file to write (.safetensors)")
    train.set_defaults(func=run_train)

    evaluate = sub.add_parser("eval", help="held-out error of a probe")
    evaluate.add_argument("--probe", default=None, help="probe file (default: the shipped one)")
    evaluate.add_argument("--resolution", type=int, default=32, help="shipped probe to use")
    evaluate.add_argument("--count", type=int, default=2_000, help="held-out images")
    evaluate.add_argument("--device", default="auto", help="cpu, cuda or auto")
    evaluate.set_defaults(func=run_eval)


def run_train(args: argparse.Namespace) -> int:
    from stylescope.metrics.probes import save_probe, train_probe

    try:
        check_resolution(args.resolution)
        device = resolve_device(args.device)
    except ValueError as error:
        raise CommandError(str(error)) from error
    for flag, value in (("--count", args.count), ("--test-count", args.test_count),
                        ("--epochs", args.epochs), ("--batch", args.batch)):  # fmt: skip
        if value < 1:
            raise CommandError(f"{flag} must be positive, got {value}")
    out = Path(args.out)
    probe, card = train_probe(
        resolution=args.resolution,
        train_count=args.count,
        test_count=args.test_count,
        epochs=args.epochs,
        batch_size=args.batch,
        lr=args.lr,
        seed=args.seed,
        precision=args.precision,
        device=device,
        num_workers=args.workers,
        progress_fn=lambda line: print(f"probe: {line}", flush=True),
    )
    card["command"] = (
        f"stylescope probe train --resolution {args.resolution} --count {args.count} "
        f"--test-count {args.test_count} --epochs {args.epochs} --batch {args.batch} "
        f"--lr {args.lr:g} --seed {args.seed} --precision {args.precision}"
    )
    save_probe(out, probe, card)
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    _print_report(card["held_out"])
    print(f"probe: wrote {out} and {out.with_suffix('.json')}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from stylescope.metrics.probes import TEST_SEED, evaluate_probe, load_probe, render_probe_data

    try:
        device = resolve_device(args.device)
        probe = load_probe(args.probe, args.resolution, device)
    except (CheckpointError, ValueError) as error:
        raise CommandError(str(error)) from error
    data = render_probe_data(args.count, probe.resolution, TEST_SEED)
    data.images = data.images.to(device)
    with torch.no_grad():
        report = evaluate_probe(probe, data)
    _print_report(report)
    return 0


def _print_report(report: dict) -> None:
    print(f"{'attribute':18s} {'MAE':>8s} {'MAE/range':>9s} {'R^2':>6s} {'accuracy':>8s}")
    for name, row in report["attributes"].items():
        if "mae" in row:
            print(f"{name:18s} {row['mae']:8.4f} {row['mae_of_range']:9.3f} {row['r2']:6.3f}")
        else:
            print(f"{name:18s} {'':8s} {'':9s} {'':6s} {row['accuracy']:8.3f}")
    print("region IoU: " + ", ".join(f"{k} {v:.3f}" for k, v in report["regions"].items()))
    print(f"mean IoU {report['mean_iou']:.3f} on {report['count']} held-out images")
