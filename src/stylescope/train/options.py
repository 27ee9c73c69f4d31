"""Training options: one dataclass, resolved defaults, and checks phrased in terms of the flags.

`TrainOptions` holds what the user asked for; `resolve()` fills the automatic values (R1 gamma,
EMA half-life, per-device batch) the way StyleGAN2-ADA's 'auto' config does and validates every
combination before any work starts. The resolved options are saved as `training_options.json` in
the run folder and inside each snapshot.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from stylescope.networks import NetworkConfig, get_config

Precision = Literal["fp32", "bf16"]
AugmentMode = Literal["none", "fixed", "ada"]
NanPolicy = Literal["skip", "restore", "lower-lr"]


class OptionError(ValueError):
    """An option or a combination of options is invalid; the message names the flags."""


@dataclass
class TrainOptions:
    """Everything that defines a training run. Flag names are given as `--name` in messages.

    Attributes:
        data: 'synthfaces' (optionally 'synthfaces:size=N,seed=S') or a folder/zip of images.
        cfg: registered network config name.
        cfg_overrides: NetworkConfig fields to change, e.g. {'channel_max': 64}.
        outdir: parent folder of the numbered run folders.
        desc: extra words for the run folder name.
        kimg: training length in thousands of real images shown to D.
        batch: total batch over all devices and accumulation rounds.
        batch_gpu: batch per device and round; None means batch / world size.
        glr, dlr: Adam learning rates of G and D.
        gamma: R1 weight; None means 0.0002 * resolution^2 / batch (StyleGAN2-ADA 'auto').
        r1_interval: lazy R1 every this many minibatches (0 disables R1).
        pl_weight: path-length regulariser weight; 0 disables it.
        pl_interval: lazy path-length regularisation interval.
        style_mixing: probability of style-mixing regularisation.
        ema_kimg: G_ema half-life in kimg; None means batch * 10 / 32.
        ema_rampup: EMA ramp-up coefficient (half-life <= cur_nimg * rampup); None disables.
        augment: 'none', 'fixed' (probability augment_p) or 'ada' (adaptive, towards ada_target).
        augment_p: initial (or fixed) augmentation probability.
        ada_target: target of E[sign(D(real))] for ADA.
        ada_kimg: kimg for ADA to move p by one.
        precision: 'fp32' or 'bf16' autocast for the G and D forward passes.
        conditional: train with the dataset's labels as c.
        fade_kimg, stab_kimg: progressive growing (original StyleGAN only): kimg to fade a new
            resolution in, then to train it stable.
        start_resolution: progressive growing starts here.
        pool_size: synthfaces images rendered into memory once (the training set size).
        tick_kimg: kimg per tick (a status line, stats and maybe images and a snapshot).
        image_ticks: sample grid every this many ticks (0 disables).
        snap_ticks: snapshot every this many ticks (0: only at the end).
        seed: global seed; every iteration reseeds from (seed, rank, iteration).
        nan_policy: what a non-finite loss or gradient does: 'skip' the update, 'restore' the
            last good state, or 'lower-lr' (restore and halve both learning rates).
        device: 'auto', 'cpu', 'cuda'.
        num_threads: CPU threads; None means all cores.
        resume: run folder or snapshot file to continue from.
        stop_after_ticks: stop (with a snapshot) after this many ticks of this process; for tests.
    """

    data: str = "synthfaces"
    cfg: str = "faces32"
    cfg_overrides: dict[str, Any] = field(default_factory=dict)
    outdir: str = "runs"
    desc: str = ""
    kimg: float = 200.0
    batch: int = 32
    batch_gpu: int | None = None
    glr: float = 0.0025
    dlr: float = 0.0025
    gamma: float | None = None
    r1_interval: int = 16
    pl_weight: float = 0.0
    pl_interval: int = 4
    style_mixing: float = 0.9
    ema_kimg: float | None = None
    ema_rampup: float | None = 0.05
    augment: AugmentMode = "ada"
    augment_p: float = 0.0
    ada_target: float = 0.6
    ada_kimg: float = 100.0
    precision: Precision = "bf16"
    conditional: bool = False
    fade_kimg: float = 20.0
    stab_kimg: float = 20.0
    start_resolution: int = 8
    pool_size: int = 20000
    tick_kimg: float = 1.0
    image_ticks: int = 5
    snap_ticks: int = 10
    seed: int = 0
    nan_policy: NanPolicy = "restore"
    device: str = "auto"
    num_threads: int | None = None
    resume: str | None = None
    stop_after_ticks: int | None = None

    def network_config(self) -> NetworkConfig:
        try:
            return get_config(self.cfg, **self.cfg_overrides)
        except KeyError as error:
            raise OptionError(f"--cfg: {error.args[0]}") from error
        except (TypeError, ValueError) as error:
            raise OptionError(f"--cfg-override: {error}") from error

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise OptionError(f"unknown training options {unknown}")
        return cls(**data)

    def resolve(self, world_size: int = 1) -> TrainOptions:
        """A copy with automatic values filled in, after checking every option."""
        opts = dataclasses.replace(self, cfg_overrides=dict(self.cfg_overrides))
        config = opts.network_config()

        # Sizes and counts.
        _check(opts.kimg > 0, "--kimg must be positive")
        _check(opts.batch > 0, f"--batch must be positive, got {opts.batch}")
        _check(world_size >= 1, "world size must be >= 1")
        if opts.batch_gpu is None:
            _check(
                opts.batch % world_size == 0,
                f"--batch {opts.batch} is not divisible by the {world_size} processes",
            )
            opts.batch_gpu = opts.batch // world_size
        _check(opts.batch_gpu > 0, f"--batch-gpu must be positive, got {opts.batch_gpu}")
        _check(
            opts.batch % (opts.batch_gpu * world_size) == 0,
            f"--batch {opts.batch} is not divisible by --batch-gpu {opts.batch_gpu} x "
            f"{world_size} processes",
        )
        group = min(config.mbstd_group_size, opts.batch_gpu)
        _check(
            opts.batch_gpu % group == 0,
            f"--batch-gpu {opts.batch_gpu} must be a multiple of the minibatch-std group size "
            f"{config.mbstd_group_size} (or smaller than it)",
        )
        for name in ("glr", "dlr", "tick_kimg", "fade_kimg", "stab_kimg", "ada_kimg"):
            _check(getattr(opts, name) > 0, f"--{name.replace('_', '-')} must be positive")
        for name in ("r1_interval", "pl_interval", "image_ticks", "snap_ticks", "pool_size"):
            _check(getattr(opts, name) >= 0, f"--{name.replace('_', '-')} must be >= 0")
        _check(opts.pl_interval > 0, "--pl-interval must be positive")
        _check(0 <= opts.style_mixing <= 1, "--style-mixing must lie in [0, 1]")
        _check(0 <= opts.augment_p <= 1, "--augment-p must lie in [0, 1]")
        _check(opts.augment in ("none", "fixed", "ada"), "--augment must be none, fixed or ada")
        _check(opts.precision in ("fp32", "bf16"), "--precision must be fp32 or bf16")
        _check(
            opts.nan_policy in ("skip", "restore", "lower-lr"),
            "--nan-policy must be skip, restore or lower-lr",
        )
        _check(opts.pl_weight >= 0, "--pl-weight must be >= 0")
        _check(opts.seed >= 0, "--seed must be >= 0")
        if opts.stop_after_ticks is not None:
            _check(opts.stop_after_ticks > 0, "--stop-after-ticks must be positive")

        # Progressive growing applies to the original StyleGAN only.
        if config.architecture == "stylegan":
            res = opts.start_resolution
            _check(
                res >= 4 and res & (res - 1) == 0 and res <= config.img_resolution,
                f"--start-resolution {res} must be a power of two in [4, {config.img_resolution}]",
            )

        # Automatic values (StyleGAN2-ADA 'auto' config).
        if opts.gamma is None:
            opts.gamma = 0.0002 * config.img_resolution**2 / opts.batch
        _check(opts.gamma >= 0, "--gamma must be >= 0")
        if opts.ema_kimg is None:
            opts.ema_kimg = opts.batch * 10 / 32
        _check(opts.ema_kimg >= 0, "--ema-kimg must be >= 0")
        return opts


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise OptionError(message)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ['channel_max=64', 'img_resolution=16'] into typed NetworkConfig overrides."""
    fields = {f.name: f for f in dataclasses.fields(NetworkConfig)}
    overrides: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise OptionError(f"--cfg-override {item!r}: use NAME=VALUE")
        name, text = item.split("=", 1)
        if name not in fields or name in ("name", "channel_overrides"):
            choices = sorted(set(fields) - {"name", "channel_overrides"})
            raise OptionError(f"--cfg-override: unknown field {name!r}; choose from {choices}")
        try:
            overrides[name] = json.loads(text)
        except json.JSONDecodeError:
            overrides[name] = text
    return overrides
