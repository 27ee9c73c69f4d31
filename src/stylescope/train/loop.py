"""The StyleGAN training loop: StyleGAN2 at a fixed resolution, the original StyleGAN growing.

Follows the training procedure of StyleGAN2 (arXiv:1912.04958) as StyleGAN2-ADA implements it:
non-saturating logistic loss, lazy R1 on D, optional lazy path-length regularisation, style
mixing, Adam(0, 0.99) with the lazy-regularisation correction of lr and betas, a G_ema with a
half-life in kimg, and adaptive augmentation. Two choices differ for speed on CPUs, both honest
to the objective:

* one G forward per minibatch serves both players: D trains on the detached fakes, then G
  trains through the same fakes against the updated D (NVlabs runs G twice);
* reals and fakes go through D as one concatenated batch (minibatch-std groups never mix them).

Every minibatch reseeds the random generators from (seed, rank, minibatch index), so a run
resumed from a snapshot draws the same latents, noise and augmentations as an uninterrupted one,
and the weights agree bit for bit.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import resource
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stylescope.checkpoint import CheckpointError, save_network
from stylescope.networks import Discriminator, Generator, NetworkConfig
from stylescope.train import distributed
from stylescope.train.augment import AdaptiveAugment, augment
from stylescope.train.data_source import load_pool, parse_spec
from stylescope.train.loss import discriminator_loss, generator_loss, path_lengths, r1_penalty
from stylescope.train.options import OptionError, TrainOptions
from stylescope.train.progressive import progressive_phase
from stylescope.train.snapshot import Counters, find_latest_snapshot, load_snapshot, save_snapshot
from stylescope.train.stats import StatsCollector
from stylescope.utils import resolve_device
from stylescope.visual import save_image_grid

log = logging.getLogger(__name__)
# Status lines go to the run's log.txt only; the CLI prints them through `progress_fn`.
status_log = logging.getLogger("stylescope.train.status")
status_log.setLevel(logging.INFO)
status_log.propagate = False

GRID_SIZE = 64  # Fixed latents in every sample grid.


def new_run_dir(outdir: str | os.PathLike, name: str) -> Path:
    """outdir/NNNNN-name with the next free number; numbers are never reused."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name[:5]) for p in outdir.iterdir() if p.name[:5].isdigit()]
    run_id = max(numbers, default=-1) + 1
    while True:
        run_dir = outdir / f"{run_id:05d}-{name}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:  # Another process took it; try the next number.
            run_id += 1


class NonFiniteError(RuntimeError):
    """A loss or gradient was NaN or infinite."""


class Trainer:
    """Holds the networks, optimisers and counters of one run; `run()` trains to `kimg`.

    Args:
        options: training options (resolved here).
        progress_fn: receives each human-readable status line (the CLI prints them); the library
            itself only logs.
    """

    def __init__(
        self, options: TrainOptions, progress_fn: Callable[[str], None] | None = None
    ) -> None:
        self.device = resolve_device(options.device)
        self.group = distributed.init_from_env(self.device.type)
        if self.device.type == "cuda" and self.group.world_size > 1:
            self.device = torch.device("cuda", self.group.local_rank)
            torch.cuda.set_device(self.device)
        self.progress_fn = progress_fn or (lambda line: None)
        self._inject_nan_at: int | None = None  # Test hook: poison one minibatch's D loss.

        # Options, possibly taken over from the snapshot being resumed.
        self.snapshot = None
        if options.resume:
            self.snapshot = load_snapshot(find_latest_snapshot(options.resume))
        self.options = options.resolve(self.group.world_size)
        threads = self.options.num_threads or max(1, (os.cpu_count() or 1) // _local_world())
        torch.set_num_threads(threads)

        # Data, and the label size it gives a conditional network.
        self.config = self._network_config()
        try:
            self.pool = load_pool(
                self.options.data,
                self.config.img_resolution,
                self.options.pool_size,
                self.options.conditional,
            )
        except ValueError as error:
            raise OptionError(f"--data {self.options.data}: {error}") from error
        if self.options.conditional:
            if self.pool.c_dim == 0:
                raise OptionError(f"--conditional: --data {self.options.data} has no labels")
            if self.snapshot is None:
                self.config = self.config.replace(c_dim=self.pool.c_dim)

        # Networks and optimisers with the lazy-regularisation correction.
        torch.manual_seed(self.options.seed)
        self.G = Generator(self.config).to(self.device).train()
        self.D = Discriminator(self.config).to(self.device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_G = self._adam(
            self.G, self.options.glr, self.options.pl_interval if self.options.pl_weight > 0 else 0
        )
        self.opt_D = self._adam(
            self.D, self.options.dlr, self.options.r1_interval if self.options.gamma > 0 else 0
        )
        self.augment = AdaptiveAugment(
            self.options.augment_p if self.options.augment != "none" else 0.0,
            self.options.ada_target if self.options.augment == "ada" else None,
            self.options.ada_kimg,
        )
        self.pl_mean = torch.zeros([], device=self.device)
        self.counters = Counters()
        if self.snapshot is not None:
            self._restore(self.snapshot)
        for module in (self.G, self.D, self.G_ema):
            distributed.broadcast_parameters(module, self.group)
        self._last_good = self._capture()
        self.stats = StatsCollector()
        self.run_dir: Path | None = None

    # --------------------------------------------------------------------------------------------
    # Set-up helpers.

    def _network_config(self) -> NetworkConfig:
        if self.snapshot is not None:
            return NetworkConfig.from_dict(self.snapshot.config)
        return self.options.network_config()

    def _adam(self, module: torch.nn.Module, lr: float, reg_interval: int) -> torch.optim.Adam:
        ratio = reg_interval / (reg_interval + 1) if reg_interval > 0 else 1.0
        betas = (0.0**ratio, 0.99**ratio)
        return torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=betas, eps=1e-8)

    def _restore(self, snapshot) -> None:
        snapshot.restore_into(self.G, self.D, self.G_ema, self.opt_G, self.opt_D)
        self.counters = snapshot.counters
        self.augment.load_state(snapshot.augment)
        self.pl_mean.fill_(float(snapshot.tensors["state/pl_mean"][0]))
        log.info("resumed from %s at %.3f kimg", snapshot.path, self.counters.cur_nimg / 1000)

    def _capture(self) -> dict:
        """An in-memory copy of the weights and optimiser states: the last good state."""
        return {
            "G": copy.deepcopy(self.G.state_dict()),
            "D": copy.deepcopy(self.D.state_dict()),
            "G_ema": copy.deepcopy(self.G_ema.state_dict()),
            "opt_G": copy.deepcopy(self.opt_G.state_dict()),
            "opt_D": copy.deepcopy(self.opt_D.state_dict()),
            "pl_mean": self.pl_mean.clone(),
        }

    def _restore_last_good(self) -> None:
        good = self._last_good
        self.G.load_state_dict(good["G"])
        self.D.load_state_dict(good["D"])
        self.G_ema.load_state_dict(good["G_ema"])
        self.opt_G.load_state_dict(copy.deepcopy(good["opt_G"]))
        self.opt_D.load_state_dict(copy.deepcopy(good["opt_D"]))
        self.pl_mean.copy_(good["pl_mean"])
        self._apply_lr_scale()

    def _apply_lr_scale(self) -> None:
        for opt, base, interval, enabled in (
            (self.opt_G, self.options.glr, self.options.pl_interval, self.options.pl_weight > 0),
            (self.opt_D, self.options.dlr, self.options.r1_interval, self.options.gamma > 0),
        ):
            ratio = interval / (interval + 1) if enabled and interval > 0 else 1.0
            for group in opt.param_groups:
                group["lr"] = base * ratio * self.counters.lr_scale

    # --------------------------------------------------------------------------------------------
    # One minibatch.

    def _autocast(self):
        if self.options.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _phase(self) -> tuple[int, float]:
        if self.config.architecture != "stylegan":
            return self.config.img_resolution, 1.0
        return progressive_phase(
            self.counters.cur_nimg,
            self.options.start_resolution,
            self.config.img_resolution,
            self.options.fade_kimg,
            self.options.stab_kimg,
        )

    def _reseed(self) -> None:
        seed = [self.options.seed, self.group.rank, self.counters.batch_idx]
        seed_int = int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0] >> 1)
        torch.manual_seed(seed_int)
        np.random.seed(seed_int % 2**32)
        random.seed(seed_int)

    def _latents(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = torch.randn(n, self.G.z_dim, device=self.device)
        c = None
        if self.config.c_dim > 0:
            idx = torch.randint(len(self.pool), (n,))
            c = self.pool.labels[idx].to(self.device)
        return z, c

    def _mapping(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        ws = self.G.mapping(z, c, update_emas=True)
        if self.options.style_mixing > 0 and torch.rand([]).item() < self.options.style_mixing:
            cutoff = int(torch.randint(1, ws.shape[1], []).item())
            ws2 = self.G.mapping(torch.randn_like(z), c, update_emas=False)
            ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return ws

    def _reals(self, n: int, resolution: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.randint(len(self.pool), (n,))
        img, c = self.pool.batch(idx)
        img = img.to(self.device)
        if resolution < img.shape[-1]:
            img = F.adaptive_avg_pool2d(img, resolution)
        return img, (c.to(self.device) if self.config.c_dim > 0 else None)

    def _step(self, params: list[torch.nn.Parameter], opt: torch.optim.Optimizer, what: str):
        """Average gradients over ranks, refuse non-finite ones, and step."""
        distributed.average_gradients(params, self.group)
        grads = [p.grad for p in params if p.grad is not None]
        if grads and not all(torch.isfinite(g).all() for g in grads):
            raise NonFiniteError(f"non-finite {what} gradient")
        opt.step()

    def train_minibatch(self) -> None:
        """D step, G step, lazy regularisers and the G_ema update for one minibatch."""
        o = self.options
        self._reseed()
        resolution, alpha = self._phase()
        rounds = o.batch // (o.batch_gpu * self.group.world_size)
        p = self.augment.p
        G_params = list(self.G.parameters())
        D_params = list(self.D.parameters())
        do_r1 = o.gamma > 0 and o.r1_interval > 0 and self.counters.batch_idx % o.r1_interval == 0
        do_pl = o.pl_weight > 0 and self.counters.batch_idx % o.pl_interval == 0

        # Main D step on reals and detached fakes, keeping each round's G graph for the G step.
        self.opt_D.zero_grad(set_to_none=True)
        fakes = []
        for _ in range(rounds):
            real, real_c = self._reals(o.batch_gpu, resolution)
            z, gen_c = self._latents(o.batch_gpu)
            with self._autocast():
                ws = self._mapping(z, gen_c)
                fake = (
                    self.G.synthesis(ws, resolution=resolution, alpha=alpha)
                    if self._grows
                    else self.G.synthesis(ws)
                )
                both = augment(torch.cat([real, fake.detach()]), p)
                c_both = None if real_c is None else torch.cat([real_c, gen_c])
                logits = self.D(both, c_both, alpha=alpha).float()
            real_logits, fake_logits = logits.split(o.batch_gpu)
            loss_D = discriminator_loss(real_logits, fake_logits)
            if self._inject_nan_at == self.counters.batch_idx:
                loss_D = loss_D * float("nan")
            if not torch.isfinite(loss_D):
                raise NonFiniteError("non-finite D loss")
            (loss_D / rounds).backward()
            fakes.append((fake, gen_c))
            self.augment.observe(real_logits)
            self.stats.add("Loss/D/loss", loss_D)
            self.stats.add("Loss/scores/real", real_logits.mean())
            self.stats.add("Loss/scores/fake", fake_logits.mean())
            self.stats.add("Loss/signs/real", real_logits.sign().mean())
        self._step(D_params, self.opt_D, "D")

        # Main G step through the same fakes, against the updated D.
        self.opt_G.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)
        for fake, gen_c in fakes:
            with self._autocast():
                fake_logits = self.D(augment(fake, p), gen_c, alpha=alpha).float()
            loss_G = generator_loss(fake_logits)
            if not torch.isfinite(loss_G):
                raise NonFiniteError("non-finite G loss")
            (loss_G / rounds).backward()
            self.stats.add("Loss/G/loss", loss_G)
        self.D.requires_grad_(True)
        del fakes
        self._step(G_params, self.opt_G, "G")

        # Lazy R1 on reals, in float32.
        if do_r1:
            self.opt_D.zero_grad(set_to_none=True)
            for _ in range(rounds):
                real, real_c = self._reals(o.batch_gpu, resolution)
                real = augment(real, p).detach().requires_grad_(True)
                real_logits = self.D(real, real_c, alpha=alpha)
                penalty = r1_penalty(real, real_logits)
                loss_r1 = penalty.mean() * (o.gamma / 2) * o.r1_interval
                if not torch.isfinite(loss_r1):
                    raise NonFiniteError("non-finite R1 penalty")
                (loss_r1 / rounds).backward()
                self.stats.add("Loss/r1_penalty", penalty.mean())
            self._step(D_params, self.opt_D, "D (R1)")

        # Lazy path-length regularisation on half a batch, in float32.
        if do_pl:
            self.opt_G.zero_grad(set_to_none=True)
            for _ in range(rounds):
                z, gen_c = self._latents(max(o.batch_gpu // 2, 1))
                ws = self._mapping(z, gen_c)
                img = (
                    self.G.synthesis(ws, resolution=resolution, alpha=alpha)
                    if self._grows
                    else self.G.synthesis(ws)
                )
                lengths = path_lengths(img, ws)
                pl_mean = self.pl_mean.lerp(lengths.mean().detach(), 0.01)
                self.pl_mean.copy_(pl_mean)
                penalty = (lengths - pl_mean).square()
                loss_pl = penalty.mean() * o.pl_weight * o.pl_interval
                (loss_pl / rounds).backward()
                self.stats.add("Loss/pl_penalty", penalty.mean())
            distributed.average_tensor(self.pl_mean, self.group)
            self._step(G_params, self.opt_G, "G (path length)")

        # Buffers that each rank updated from its own batch.
        distributed.average_tensor(self.G.mapping.w_avg, self.group)

        # G_ema: half-life ema_kimg, ramped up over the start of training.
        self.counters.cur_nimg += o.batch
        self.counters.batch_idx += 1
        ema_nimg = o.ema_kimg * 1000
        if o.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.counters.cur_nimg * o.ema_rampup)
        beta = 0.5 ** (o.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p_live in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
                p_ema.copy_(p_live.detach().lerp(p_ema, beta))
            for b_ema, b_live in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
                b_ema.copy_(b_live)

        # Adaptive augmentation.
        self.augment.step(o.batch, lambda s, n: distributed.sum_scalars((s, n), self.group))

    @property
    def _grows(self) -> bool:
        return self.config.architecture == "stylegan"

    # --------------------------------------------------------------------------------------------
    # The run.

    def run(self) -> Path | None:
        """Train until `kimg`; returns the run folder (None on ranks other than 0)."""
        o = self.options
        main = self.group.is_main
        if main:
            name = f"{self.config.name}-{parse_spec(o.data)[0]}" + (f"-{o.desc}" if o.desc else "")
            self.run_dir = new_run_dir(o.outdir, name)
            (self.run_dir / "training_options.json").write_text(o.to_json())
            # log.txt gets every status line and every library warning.
            self._log_handler = logging.FileHandler(self.run_dir / "log.txt")
            self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            status_log.addHandler(self._log_handler)
            logging.getLogger("stylescope").addHandler(self._log_handler)
            self._say(f"run folder {self.run_dir}")
            self._say(
                f"training {self.config.name} on {o.data} for {o.kimg:g} kimg, "
                f"batch {o.batch}, {o.precision}, {self.group.world_size} process(es)"
            )
            self._write_reals()
        grid_z = torch.from_numpy(np.random.RandomState(o.seed).randn(GRID_SIZE, self.G.z_dim))
        self._grid_z = grid_z.float().to(self.device)

        total_nimg = int(o.kimg * 1000)
        tick_nimg = int(o.tick_kimg * 1000)
        ticks_done = 0
        tick_start_time = time.time()
        start_time = tick_start_time
        if self.counters.cur_nimg == 0 and main:
            self._write_fakes()
        try:
            while self.counters.cur_nimg < total_nimg:
                try:
                    self.train_minibatch()
                except NonFiniteError as error:
                    self._handle_non_finite(error)
                    continue
                done = self.counters.cur_nimg >= total_nimg
                if not done and self.counters.cur_nimg < self.counters.tick_start_nimg + tick_nimg:
                    continue

                # Tick: status line, stats, images, snapshot.
                self.counters.cur_tick += 1
                ticks_done += 1
                now = time.time()
                stop = o.stop_after_ticks is not None and ticks_done >= o.stop_after_ticks
                self._end_tick(now - tick_start_time, now - start_time, done or stop)
                tick_start_time = time.time()
                if stop:
                    break
        finally:
            if main:
                logging.getLogger("stylescope").removeHandler(self._log_handler)
                status_log.removeHandler(self._log_handler)
                self._log_handler.close()
            distributed.shutdown(self.group)
        return self.run_dir

    def _handle_non_finite(self, error: NonFiniteError) -> None:
        self.counters.nan_events += 1
        policy = self.options.nan_policy
        for opt in (self.opt_G, self.opt_D):
            opt.zero_grad(set_to_none=True)
        self.D.requires_grad_(True)
        if policy in ("restore", "lower-lr"):
            if policy == "lower-lr":
                self.counters.lr_scale *= 0.5
            self._restore_last_good()
        # The minibatch is skipped either way: the next one draws new latents.
        self.counters.batch_idx += 1
        log.warning(
            "%s at minibatch %d (%.3f kimg): %s (event %d, lr scale %g)",
            error,
            self.counters.batch_idx - 1,
            self.counters.cur_nimg / 1000,
            {
                "skip": "skipped the update",
                "restore": "restored the last good state",
                "lower-lr": "restored the last good state and halved the learning rates",
            }[policy],
            self.counters.nan_events,
            self.counters.lr_scale,
        )

    def _end_tick(self, tick_seconds: float, total_seconds: float, final: bool) -> None:
        o = self.options
        c = self.counters
        tick_imgs = c.cur_nimg - c.tick_start_nimg
        c.tick_start_nimg = c.cur_nimg
        weights_ok = all(
            torch.isfinite(p).all() for m in (self.G, self.D, self.G_ema) for p in m.parameters()
        )
        if not weights_ok:
            c.nan_events += 1
            log.warning(
                "non-finite weights at the end of tick %d: restored the last good state", c.cur_tick
            )
            self._restore_last_good()
        self._last_good = self._capture()

        resolution, alpha = self._phase()
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        record = self.stats.means()
        record.update(
            {
                "Progress/tick": c.cur_tick,
                "Progress/kimg": c.cur_nimg / 1000,
                "Progress/augment": self.augment.p,
                "Progress/resolution": resolution,
                "Progress/alpha": alpha,
                "Progress/nan_events": c.nan_events,
                "Timing/total_sec": total_seconds,
                "Timing/sec_per_tick": tick_seconds,
                "Timing/sec_per_kimg": tick_seconds / max(tick_imgs / 1000, 1e-9),
                "Timing/img_per_sec": tick_imgs / max(tick_seconds, 1e-9),
                "Resources/peak_rss_mib": rss_mib,
                "timestamp": time.time(),
            }
        )
        if self.device.type == "cuda":
            record["Resources/peak_gpu_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
        self.stats.reset()
        if not self.group.is_main:
            return

        with open(self.run_dir / "stats.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self._say(
            f"tick {c.cur_tick:<5d} kimg {c.cur_nimg / 1000:<8.3f} "
            f"time {_fmt_time(total_seconds):<9s} sec/kimg {record['Timing/sec_per_kimg']:<7.2f} "
            f"img/s {record['Timing/img_per_sec']:<7.1f} "
            f"G {record.get('Loss/G/loss', math.nan):<6.3f} "
            f"D {record.get('Loss/D/loss', math.nan):<6.3f} "
            f"augment {self.augment.p:<5.3f} mem {rss_mib:<6.0f}MiB"
            + (f" res {resolution} alpha {alpha:.2f}" if self._grows else "")
        )
        if final or (o.image_ticks and c.cur_tick % o.image_ticks == 0):
            self._write_fakes()
        if final or (o.snap_ticks and c.cur_tick % o.snap_ticks == 0):
            self._write_snapshot()

    def _write_reals(self) -> None:
        idx = torch.arange(min(GRID_SIZE, len(self.pool)))
        img, _ = self.pool.batch(idx)
        save_image_grid(img, self.run_dir / "reals.png", columns=8)

    @torch.no_grad()
    def _write_fakes(self) -> None:
        resolution, alpha = self._phase()
        c = None
        if self.config.c_dim > 0:
            c = self.pool.labels[torch.arange(GRID_SIZE) % len(self.pool)].to(self.device)
        kwargs = {"resolution": resolution, "alpha": alpha} if self._grows else {}
        img = self.G_ema(self._grid_z, c, noise_mode="const", **kwargs)
        if img.shape[-1] < self.config.img_resolution:
            img = F.interpolate(img, size=self.config.img_resolution, mode="nearest")
        name = f"fakes{self.counters.cur_nimg / 1000:010.3f}.png"
        save_image_grid(img, self.run_dir / name, columns=8)

    def _write_snapshot(self) -> None:
        kimg = f"{self.counters.cur_nimg / 1000:010.3f}"
        try:
            save_snapshot(
                self.run_dir / f"snapshot-{kimg}.safetensors",
                self.G,
                self.D,
                self.G_ema,
                self.opt_G,
                self.opt_D,
                self.counters,
                self.options.to_json(),
                self.augment.state(),
                self.pl_mean,
            )
            save_network(
                self.run_dir / f"network-G_ema-{kimg}.safetensors",
                self.G_ema,
                {"cur_nimg": str(self.counters.cur_nimg)},
            )
        except CheckpointError as error:
            log.error("snapshot not written: %s", error)
            return
        self._say(f"snapshot {kimg} kimg written")

    def _say(self, line: str) -> None:
        status_log.info(line)
        self.progress_fn(line)


def _fmt_time(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"


def _local_world() -> int:
    return int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))


def train(options: TrainOptions, progress_fn: Callable[[str], None] | None = None) -> Path | None:
    """Train with `options`; returns the run folder on rank 0."""
    return Trainer(options, progress_fn).run()
