"""Distillation fine-tune of a pruned generator (student) from its dense teacher.

Both generators see the same w (the teacher's mapping output; the student keeps the teacher's
mapping network frozen, so latent directions found on the dense W stay valid) and the same
per-pixel noise. The student's synthesis network learns to reproduce the teacher's image with

    loss = pixel_weight * mean(r * |x_s - x_t|) + feature_weight * d_probe(x_s, x_t)

where r weighs pixels by face region (1 + region_weight on the face parsed by the probe) and
d_probe is the probe's feature distance (`metrics.probes.probe_feature_distance`). Adam uses
StyleGAN2's betas (0, 0.99).

Every minibatch reseeds the random generators from (seed, minibatch index), and the state file
holds the student, the Adam moments and the counters, so `resume` continues bit for bit on a CPU
(on a GPU as far as its convolution backward is deterministic). State files are safetensors
written atomically; a killed process leaves the previous one intact.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stylescope.checkpoint import (
    CheckpointError,
    atomic_save_tensors,
    load_state_strict,
    read_safetensors,
)
from stylescope.networks import Generator
from stylescope.prune.channels import face_region_weights
from stylescope.train.snapshot import load_optimizer, optimizer_groups, optimizer_tensors

log = logging.getLogger(__name__)

STATE_FORMAT = "stylescope-distill-state"


@dataclass
class DistillOptions:
    """Settings of a distillation run.

    Attributes:
        kimg: length in thousands of images.
        batch: images per minibatch.
        lr: Adam learning rate of the student's synthesis network.
        pixel_weight: weight of the (region-weighted) L1 pixel loss.
        feature_weight: weight of the probe feature distance.
        region_weight: extra pixel-loss weight on the probe's face regions (0: uniform).
        style_mixing: probability of mixing two latents per minibatch, to cover W+.
        precision: 'fp32' or 'bf16' autocast of both generators' forward passes.
        seed: every minibatch draws its latents and noise from (seed, minibatch index).
        state_kimg: write the resumable state every this many kimg (0: only at the end).
        lr_rampdown: fraction of the run at its end over which the learning rate falls to 0
            along a half cosine (0: constant). The schedule follows `kimg`, so resuming with a
            longer run moves the ramp-down to the new end.
    """

    kimg: float = 10.0
    batch: int = 32
    lr: float = 0.002
    pixel_weight: float = 1.0
    feature_weight: float = 1.0
    region_weight: float = 0.0
    style_mixing: float = 0.5
    precision: str = "bf16"
    seed: int = 0
    state_kimg: float = 2.0
    lr_rampdown: float = 0.25

    def check(self) -> None:
        if self.kimg <= 0 or self.batch <= 0 or self.lr <= 0:
            raise ValueError("distillation kimg, batch and lr must be positive")
        if not 0 <= self.lr_rampdown <= 1:
            raise ValueError("lr_rampdown must lie in [0, 1]")
        if min(self.pixel_weight, self.feature_weight, self.region_weight) < 0:
            raise ValueError("distillation loss weights must be >= 0")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if not 0 <= self.style_mixing <= 1:
            raise ValueError("style mixing probability must lie in [0, 1]")


def learning_rate(options: DistillOptions, cur_nimg: int) -> float:
    """The learning rate after `cur_nimg` images: constant, then a half-cosine ramp-down to 0
    over the last `lr_rampdown` of the run."""
    if options.lr_rampdown == 0:
        return options.lr
    remaining = 1 - cur_nimg / (options.kimg * 1000)
    ramp = min(1.0, max(0.0, remaining) / options.lr_rampdown)
    return options.lr * 0.5 * (1 - math.cos(math.pi * ramp))


def distill_latents(
    teacher: Generator, batch: int, seed: int, index: int, style_mixing: float
) -> torch.Tensor:
    """ws [batch, num_ws, w_dim] of minibatch `index`, with optional style mixing."""
    device = next(teacher.parameters()).device
    gen = torch.Generator().manual_seed(seed * 1_000_003 + index)
    z = torch.randn(2, batch, teacher.z_dim, generator=gen).to(device)
    c = torch.zeros(batch, teacher.c_dim, device=device) if teacher.c_dim else None
    with torch.no_grad():
        ws = teacher.mapping(z[0], c)
        if torch.rand([], generator=gen) < style_mixing:
            cut = int(torch.randint(1, teacher.num_ws, [], generator=gen))
            ws[:, cut:] = teacher.mapping(z[1], c)[:, cut:]
    return ws


def distill(
    teacher: Generator,
    student: Generator,
    probe,
    options: DistillOptions,
    state_path: str | os.PathLike | None = None,
    resume: bool = False,
    extra_metadata: dict[str, str] | None = None,
    progress_fn: Callable[[dict[str, float]], None] | None = None,
    stop_after_kimg: float | None = None,
) -> dict[str, Any]:
    """Fine-tune `student` in place to imitate `teacher`; returns a summary.

    Args:
        teacher: the dense generator (kept frozen).
        student: the pruned generator; its mapping network is frozen too.
        probe: a FaceProbe for the feature distance and the face regions (may be None when
            feature_weight and region_weight are 0).
        options: the settings.
        state_path: resumable state file, written every `state_kimg` and at the end.
        resume: continue from `state_path`.
        extra_metadata: strings stored with the state (e.g. the pruning spec).
        progress_fn: called after each minibatch with {'kimg', 'loss', 'pixel', 'feature'}.
        stop_after_kimg: stop early at this kimg (writing the state), as a kill would; for tests.
    """
    options.check()
    if (probe is None) and (options.feature_weight > 0 or options.region_weight > 0):
        raise ValueError("the feature distance and region weighting need a probe")
    if teacher.num_ws != student.num_ws or teacher.z_dim != student.z_dim:
        raise ValueError("teacher and student differ in num_ws or z_dim")
    fixed = [teacher] if probe is None else [teacher, probe]
    with _without_gradients(*fixed):
        return _distill(teacher, student, probe, options, state_path, resume, extra_metadata,
                        progress_fn, stop_after_kimg)  # fmt: skip


@contextmanager
def _without_gradients(*modules: torch.nn.Module) -> Iterator[None]:
    """Parameters without gradients while the context is open, then as they were."""
    saved = [(p, p.requires_grad) for m in modules for p in m.parameters()]
    try:
        for p, _ in saved:
            p.requires_grad_(False)
        yield
    finally:
        for p, requires_grad in saved:
            p.requires_grad_(requires_grad)


def _distill(teacher, student, probe, options, state_path, resume, extra_metadata, progress_fn,
             stop_after_kimg) -> dict[str, Any]:  # fmt: skip
    device = next(student.parameters()).device
    teacher.eval()
    student.train()
    student.mapping.requires_grad_(False)
    params = list(student.synthesis.parameters())
    opt = torch.optim.Adam(params, lr=options.lr, betas=(0.0, 0.99), eps=1e-8)
    total_nimg = int(options.kimg * 1000)
    cur_nimg = batch_idx = 0

    # Step 1: resume.
    if resume:
        if state_path is None or not Path(state_path).is_file():
            raise CheckpointError(f"cannot resume: no distillation state at {state_path}")
        cur_nimg, batch_idx = load_distill_state(
            state_path, student, opt, options, extra_metadata or {}
        )
        log.info("resumed distillation at %.1f kimg from %s", cur_nimg / 1000, state_path)

    # Step 2: minibatches until the length is reached.
    autocast = dict(device_type=device.type, dtype=torch.bfloat16)
    autocast["enabled"] = options.precision == "bf16"
    start = time.time()
    start_nimg = last_state_nimg = cur_nimg
    losses: dict[str, float] = {}
    stop_nimg = total_nimg if stop_after_kimg is None else int(stop_after_kimg * 1000)
    while cur_nimg < min(total_nimg, stop_nimg):
        ws = distill_latents(teacher, options.batch, options.seed, batch_idx, options.style_mixing)
        noise_seed = options.seed * 1_000_003 + batch_idx + 7_919
        with torch.no_grad(), torch.autocast(**autocast):
            torch.manual_seed(noise_seed)
            target = teacher.synthesis(ws, noise_mode="random").float()
        with torch.autocast(**autocast):
            torch.manual_seed(noise_seed)  # The same noise maps as the teacher's.
            img = student.synthesis(ws, noise_mode="random").float()
        weights = torch.ones_like(target[:, :1])
        if options.region_weight > 0:
            with torch.no_grad():
                weights = 1 + options.region_weight * face_region_weights(probe, target)
        pixel = ((img - target).abs() * weights).mean()
        loss = options.pixel_weight * pixel
        feature = torch.zeros([], device=device)
        if options.feature_weight > 0:
            from stylescope.metrics.probes import probe_feature_distance

            feature = probe_feature_distance(probe, img, target).mean()
            loss = loss + options.feature_weight * feature
        opt.zero_grad(set_to_none=True)
        loss.backward()
        loss = loss.detach()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite distillation loss at minibatch {batch_idx}")
        for group in opt.param_groups:
            group["lr"] = learning_rate(options, cur_nimg)
        opt.step()
        cur_nimg += options.batch
        batch_idx += 1
        losses = {"loss": loss.item(), "pixel": pixel.item(), "feature": feature.item()}
        if progress_fn is not None:
            progress_fn({"kimg": cur_nimg / 1000, **losses})

        # Step 3: periodic state.
        due = options.state_kimg > 0 and cur_nimg - last_state_nimg >= options.state_kimg * 1000
        if state_path is not None and due:
            save_distill_state(state_path, student, opt, options, cur_nimg, batch_idx,
                               extra_metadata)  # fmt: skip
            last_state_nimg = cur_nimg
    if state_path is not None:
        save_distill_state(state_path, student, opt, options, cur_nimg, batch_idx, extra_metadata)
    student.eval()
    return {"kimg": cur_nimg / 1000, "start_kimg": start_nimg / 1000,
            "seconds": time.time() - start, **losses}  # fmt: skip


def save_distill_state(
    path: str | os.PathLike,
    student: Generator,
    opt: torch.optim.Optimizer,
    options: DistillOptions,
    cur_nimg: int,
    batch_idx: int,
    extra_metadata: dict[str, str] | None = None,
) -> None:
    """Student weights, Adam state and counters in one safetensors file, written atomically."""
    tensors = {f"student/{k}": v for k, v in student.state_dict().items()}
    tensors.update(optimizer_tensors("opt", opt))
    metadata = dict(extra_metadata or {})
    metadata.update({
        "format": STATE_FORMAT,
        "config": student.config.to_json(),
        "options": json.dumps(dataclasses.asdict(options)),
        "counters": json.dumps({"cur_nimg": cur_nimg, "batch_idx": batch_idx}),
        "opt_groups": json.dumps(optimizer_groups(opt)),
    })  # fmt: skip
    atomic_save_tensors(path, tensors, metadata)


def load_distill_state(
    path: str | os.PathLike,
    student: Generator,
    opt: torch.optim.Optimizer,
    options: DistillOptions,
    expected_metadata: dict[str, str] | None = None,
) -> tuple[int, int]:
    """Restore the student and Adam; returns (cur_nimg, batch_idx).

    Every option but the length must match the saved ones, and so must each entry of
    `expected_metadata` (e.g. the pruning spec), so that a resumed run is the run it continues.
    """
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a stylescope distillation state")
    try:
        saved = json.loads(metadata["options"])
        counters = json.loads(metadata["counters"])
        groups = json.loads(metadata["opt_groups"])
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{path}: malformed distillation state ({error})") from error
    for key, value in (expected_metadata or {}).items():
        if metadata.get(key) != value:
            raise CheckpointError(
                f"{path}: saved with a different {key}; resume with the same {key} or start anew"
            )
    saved.setdefault("lr_rampdown", 0.0)  # States from before the ramp-down had none.
    for key in ("batch", "seed", "style_mixing", "precision", "lr", "pixel_weight",
                "feature_weight", "region_weight", "lr_rampdown"):  # fmt: skip
        if saved.get(key) != getattr(options, key):
            raise CheckpointError(
                f"{path}: saved with {key}={saved.get(key)!r}, resuming with "
                f"{getattr(options, key)!r}; resume with the same settings"
            )
    state = {k.removeprefix("student/"): v for k, v in tensors.items() if k.startswith("student/")}
    load_state_strict(student, state, str(path))
    load_optimizer(opt, "opt", tensors, groups)
    return int(counters["cur_nimg"]), int(counters["batch_idx"])
