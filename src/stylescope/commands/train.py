"""`stylescope train`: train a generator on synthfaces or an image folder, on CPU or GPUs.

Multi-process: `torchrun --nproc_per_node N -m stylescope.cli train ...` (see docs/training.md).
"""

from __future__ import annotations

import argparse
import sys

from stylescope.checkpoint import CheckpointError
from stylescope.commands import CommandError
from stylescope.networks import list_configs
from stylescope.train import OptionError, Trainer, TrainOptions
from stylescope.train.options import parse_overrides

DEFAULTS = TrainOptions()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a StyleGAN2 or original StyleGAN generator",
        description="Train G and D with the StyleGAN2 losses. Writes a numbered run folder with "
        "training_options.json, log.txt, stats.jsonl, sample grids and safetensors snapshots.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--data", default=DEFAULTS.data, help="synthfaces[:size=N,seed=S] or an image folder/zip")
    add("--cfg", default=DEFAULTS.cfg, help=f"network config: {', '.join(list_configs())}")
    add(
        "--cfg-override",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a field of the network config (repeatable)",
    )
    add("--outdir", default=DEFAULTS.outdir, help="parent folder of the numbered run folders")
    add("--desc", default="", help="extra words for the run folder name")
    add("--kimg", type=float, default=DEFAULTS.kimg, help="training length in thousands of images")
    add("--batch", type=int, default=DEFAULTS.batch, help="total batch size")
    add("--batch-gpu", type=int, default=None, help="batch per process and accumulation round")
    add("--glr", type=float, default=DEFAULTS.glr, help="G learning rate")
    add("--dlr", type=float, default=DEFAULTS.dlr, help="D learning rate")
    add("--gamma", type=float, default=None, help="R1 weight (default 0.0002 res^2 / batch)")
    add("--r1-interval", type=int, default=DEFAULTS.r1_interval, help="lazy R1 interval")
    add("--pl-weight", type=float, default=DEFAULTS.pl_weight, help="path-length weight (0: off)")
    add("--pl-interval", type=int, default=DEFAULTS.pl_interval, help="lazy path-length interval")
    add("--style-mixing", type=float, default=DEFAULTS.style_mixing, help="mixing probability")
    add("--ema-kimg", type=float, default=None, help="G_ema half-life (default batch*10/32)")
    add("--ema-rampup", type=float, default=DEFAULTS.ema_rampup, help="EMA ramp-up (0: off)")
    add(
        "--augment",
        choices=["none", "fixed", "ada"],
        default=DEFAULTS.augment,
        help="augmentation of D's inputs",
    )
    add("--augment-p", type=float, default=DEFAULTS.augment_p, help="initial/fixed probability")
    add("--ada-target", type=float, default=DEFAULTS.ada_target, help="ADA target")
    add("--ada-kimg", type=float, default=DEFAULTS.ada_kimg, help="ADA speed")
    add(
        "--precision",
        choices=["fp32", "bf16"],
        default=DEFAULTS.precision,
        help="autocast precision of the G and D passes",
    )
    add("--conditional", action="store_true", help="condition on the dataset's labels")
    add("--fade-kimg", type=float, default=DEFAULTS.fade_kimg, help="progressive fade-in length")
    add("--stab-kimg", type=float, default=DEFAULTS.stab_kimg, help="progressive stable length")
    add(
        "--start-resolution",
        type=int,
        default=DEFAULTS.start_resolution,
        help="progressive growing start",
    )
    add("--pool-size", type=int, default=DEFAULTS.pool_size, help="synthfaces images in memory")
    add("--tick-kimg", type=float, default=DEFAULTS.tick_kimg, help="kimg per tick")
    add("--image-ticks", type=int, default=DEFAULTS.image_ticks, help="sample grid interval")
    add("--snap-ticks", type=int, default=DEFAULTS.snap_ticks, help="snapshot interval")
    add("--seed", type=int, default=DEFAULTS.seed, help="random seed")
    add(
        "--nan-policy",
        choices=["skip", "restore", "lower-lr"],
        default=DEFAULTS.nan_policy,
        help="what a NaN/inf loss or gradient does",
    )
    add("--device", default=DEFAULTS.device, help="auto, cpu, cuda")
    add("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    add("--resume", default=None, metavar="RUN_OR_SNAPSHOT", help="continue a run exactly")
    add("--stop-after-ticks", type=int, default=None, help="stop after N ticks (with snapshot)")
    add("--dry-run", action="store_true", help="print the resolved options and exit")
    parser.set_defaults(func=run)


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    return TrainOptions(
        data=args.data,
        cfg=args.cfg,
        cfg_overrides=parse_overrides(args.cfg_override),
        outdir=args.outdir,
        desc=args.desc,
        kimg=args.kimg,
        batch=args.batch,
        batch_gpu=args.batch_gpu,
        glr=args.glr,
        dlr=args.dlr,
        gamma=args.gamma,
        r1_interval=args.r1_interval,
        pl_weight=args.pl_weight,
        pl_interval=args.pl_interval,
        style_mixing=args.style_mixing,
        ema_kimg=args.ema_kimg,
        ema_rampup=args.ema_rampup or None,
        augment=args.augment,
        augment_p=args.augment_p,
        ada_target=args.ada_target,
        ada_kimg=args.ada_kimg,
        precision=args.precision,
        conditional=args.conditional,
        fade_kimg=args.fade_kimg,
        stab_kimg=args.stab_kimg,
        start_resolution=args.start_resolution,
        pool_size=args.pool_size,
        tick_kimg=args.tick_kimg,
        image_ticks=args.image_ticks,
        snap_ticks=args.snap_ticks,
        seed=args.seed,
        nan_policy=args.nan_policy,
        device=args.device,
        num_threads=args.threads,
        resume=args.resume,
        stop_after_ticks=args.stop_after_ticks,
    )


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from_args(args)
        if args.dry_run:
            print(options.resolve().to_json())
            return 0
        trainer = Trainer(options, progress_fn=lambda line: print(line, flush=True))
        run_dir = trainer.run()
    except (OptionError, CheckpointError) as error:
        raise CommandError(str(error)) from error
    if run_dir is not None:
        print(f"train: done, run folder {run_dir}", file=sys.stderr)
    return 0
