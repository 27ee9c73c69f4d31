"""Projection of an image into W or W+, resumable from a saved state.

The optimisation follows the StyleGAN2 projector (Karras et al., "Analyzing and Improving the
Image Quality of StyleGAN", CVPR 2020, arXiv:1912.04958, appendix D): start from w_avg, add
decaying Gaussian noise to w during the first 3/4 of the steps, optimise w and the per-layer noise
maps with Adam under a learning-rate ramp-up and cosine ramp-down, penalise spatial
autocorrelation of the noise maps at every scale and renormalise them after each step. The image
loss is the probe-feature distance of `metrics.probes` (a synthfaces-trained stand-in for LPIPS)
plus a weighted pixel MSE. 'w' optimises one w shared by all layers; 'w+' one per layer.

The w noise of step k is drawn from a generator seeded with (seed, k), and the Adam moments are
saved with the state, so that stopping after k steps and resuming gives the same result as an
uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from stylescope.checkpoint import CheckpointError, atomic_save_tensors, read_safetensors
from stylescope.latent.common import device_of, sample_w
from stylescope.metrics.fidelity import psnr, ssim
from stylescope.metrics.probes import FaceProbe, probe_feature_distance
from stylescope.networks import Generator
from stylescope.networks.layers import NoiseInjection
from stylescope.utils import assert_shape

log = logging.getLogger(__name__)

STATE_FORMAT = "stylescope-projection"


@dataclass
class ProjectionSettings:
    """Settings of one projection.

    Attributes:
        space: 'w' (one w for every layer) or 'w+' (one w per layer).
        num_steps: total optimisation steps (a resumed run continues up to this count).
        lr: peak learning rate.
        pixel_weight: weight of the pixel MSE next to the probe-feature distance.
        noise_reg_weight: weight of the noise-map autocorrelation penalty (0 = noise maps fixed).
        initial_w_noise: std of the noise added to w at step 0, relative to the std of W.
        seed: seed of the w noise.
    """

    space: str = "w"
    num_steps: int = 300
    lr: float = 0.1
    pixel_weight: float = 1.0
    noise_reg_weight: float = 1e3
    initial_w_noise: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.space not in ("w", "w+"):
            raise ValueError(f"projection space must be 'w' or 'w+', got {self.space!r}")
        if self.num_steps < 1 or self.lr <= 0:
            raise ValueError("num_steps and lr must be positive")


@dataclass
class ProjectionState:
    """Where a projection stands: the latent being optimised, noise maps, Adam moments, step."""

    settings: ProjectionSettings
    w: torch.Tensor  # [1, 1 or num_ws, w_dim]
    noises: dict[str, torch.Tensor]
    w_std: float
    step: int = 0
    adam: dict[str, torch.Tensor] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)

    def ws(self, num_ws: int) -> torch.Tensor:
        """ws [1, num_ws, w_dim] of the current latent."""
        return self.w.detach().expand(1, num_ws, -1).clone()


def noise_modules(G: Generator) -> dict[str, NoiseInjection]:
    return {name: m for name, m in G.synthesis.named_modules() if isinstance(m, NoiseInjection)}


@contextmanager
def replaced_noise(G: Generator, noises: dict[str, torch.Tensor]) -> Iterator[None]:
    """Use `noises` as the const noise buffers of G while the context is open."""
    modules = noise_modules(G)
    saved = {name: modules[name].noise_const for name in noises}
    try:
        for name, value in noises.items():
            modules[name].noise_const = value
        yield
    finally:
        for name, value in saved.items():
            modules[name].noise_const = value


def noise_regularisation(noises: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over maps and scales (down to 8 px) of squared one-pixel autocorrelations."""
    loss = torch.zeros((), device=next(iter(noises.values())).device if noises else None)
    for noise in noises.values():
        x = noise
        while True:
            loss = loss + (x * torch.roll(x, 1, dims=3)).mean().square()
            loss = loss + (x * torch.roll(x, 1, dims=2)).mean().square()
            if x.shape[-1] <= 8:
                break
            x = F.avg_pool2d(x, 2)
    return loss


def start_projection(G: Generator, settings: ProjectionSettings, num_w_samples: int = 2_000):
    """A fresh state: w = w_avg (estimated from samples), noise maps from the generator."""
    w = sample_w(G, num_w_samples, seed=settings.seed)
    width = 1 if settings.space == "w" else G.num_ws
    w_init = w.mean(0)[None, None].repeat(1, width, 1)
    w_std = float((w - w.mean(0)).square().sum(dim=1).mean().sqrt())
    noises = {n: m.noise_const.detach().clone().cpu() for n, m in noise_modules(G).items()}
    return ProjectionState(settings, w_init, noises, w_std)


def _learning_rate(settings: ProjectionSettings, step: int) -> float:
    t = step / settings.num_steps
    ramp = min(1.0, (1 - t) / 0.25)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return settings.lr * ramp * min(1.0, t / 0.05)


def project(
    G: Generator,
    target: torch.Tensor,
    probe: FaceProbe,
    state: ProjectionState,
    stop_step: int | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> ProjectionState:
    """Run the projection of `target` [1, C, R, R] in [-1, 1] from `state.step` up to
    `stop_step` (default `settings.num_steps`); returns the updated state."""
    assert_shape(target, [1, G.img_channels, G.img_resolution, G.img_resolution], "target")
    settings = state.settings
    stop_step = settings.num_steps if stop_step is None else min(stop_step, settings.num_steps)
    device = device_of(G)
    target = target.to(device).float()
    for p in list(G.parameters()) + list(probe.parameters()):
        p.requires_grad_(False)

    # Optimised tensors and Adam, with moments restored when resuming.
    w_opt = state.w.clone().to(device).requires_grad_(True)
    # Noise maps in the generator's layer order, which the saved Adam moments follow.
    order = [name for name in noise_modules(G) if name in state.noises]
    noises = {k: state.noises[k].clone().to(device).requires_grad_(True) for k in order}
    params = [w_opt] + (list(noises.values()) if settings.noise_reg_weight > 0 else [])
    optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=settings.lr)
    if state.adam:
        saved = {"param_groups": optimizer.state_dict()["param_groups"], "state": {}}
        for i in range(len(params)):
            saved["state"][i] = {
                "step": state.adam[f"step.{i}"],
                "exp_avg": state.adam[f"exp_avg.{i}"],
                "exp_avg_sq": state.adam[f"exp_avg_sq.{i}"],
            }
        optimizer.load_state_dict(saved)

    for step in range(state.step, stop_step):
        # Learning rate and w noise for this step.
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(settings, step)
        t = step / settings.num_steps
        noise_scale = state.w_std * settings.initial_w_noise * max(0.0, 1 - t / 0.75) ** 2
        rng = torch.Generator().manual_seed(settings.seed * 1_000_003 + step)
        w_noise = torch.randn(w_opt.shape, generator=rng).to(device) * noise_scale

        # Render and measure.
        ws = (w_opt + w_noise).expand(1, G.num_ws, -1)
        with replaced_noise(G, noises):
            img = G.synthesis(ws, noise_mode="const")
        feature_loss = probe_feature_distance(probe, img, target).mean()
        pixel_loss = (img - target).square().mean()
        reg_loss = img.new_zeros(())
        if settings.noise_reg_weight > 0:
            reg_loss = noise_regularisation(noises)
        loss = feature_loss + settings.pixel_weight * pixel_loss
        total = loss + settings.noise_reg_weight * reg_loss

        # Step, then renormalise the noise maps.
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        with torch.no_grad():
            for noise in noises.values():
                noise -= noise.mean()
                noise /= noise.square().mean().sqrt().clamp_min(1e-8)
        record = {
            "step": step,
            "loss": loss.item(),
            "feature": feature_loss.item(),
            "pixel": pixel_loss.item(),
            "noise_reg": float(reg_loss.detach()),
        }
        state.history.append(record)
        if progress:
            progress(step, record)

    # Hand the results back.
    state.step = max(state.step, stop_step)
    state.w = w_opt.detach().cpu()
    state.noises = {k: v.detach().cpu() for k, v in noises.items()}
    adam_state = optimizer.state_dict()["state"]
    state.adam = {}
    for i, moments in adam_state.items():
        state.adam[f"step.{i}"] = torch.as_tensor(moments["step"]).float().cpu()
        state.adam[f"exp_avg.{i}"] = moments["exp_avg"].detach().cpu()
        state.adam[f"exp_avg_sq.{i}"] = moments["exp_avg_sq"].detach().cpu()
    return state


@torch.no_grad()
def reconstruction(G: Generator, state: ProjectionState, target: torch.Tensor):
    """The projected image and its PSNR / SSIM against `target`."""
    with replaced_noise(G, {k: v.to(device_of(G)) for k, v in state.noises.items()}):
        img = G.synthesis(state.ws(G.num_ws).to(device_of(G)), noise_mode="const").cpu()
    target = target.cpu().float()
    return img, {"psnr": float(psnr(img, target)[0]), "ssim": float(ssim(img, target)[0])}


def save_state(path: str | os.PathLike, state: ProjectionState) -> Path:
    """Save a projection state as safetensors (tensors) with JSON metadata."""
    tensors = {"w": state.w} | {f"noise.{k}": v for k, v in state.noises.items()}
    tensors |= {f"adam.{k}": v.reshape(-1) if v.ndim == 0 else v for k, v in state.adam.items()}
    metadata = {
        "format": STATE_FORMAT,
        "settings": json.dumps(state.settings.__dict__),
        "step": str(state.step),
        "w_std": repr(state.w_std),
        "history": json.dumps(state.history),
    }
    atomic_save_tensors(path, tensors, metadata)
    return Path(path)


def load_state(path: str | os.PathLike, G: Generator) -> ProjectionState:
    """Read a projection state and check that it fits `G`."""
    tensors, meta = read_safetensors(path)
    if meta.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a projection state (format {meta.get('format')!r})")
    try:
        settings = ProjectionSettings(**json.loads(meta["settings"]))
        w = tensors["w"]
        width = 1 if settings.space == "w" else G.num_ws
        assert_shape(w, [1, width, G.w_dim], "projection state w")
        expected = noise_modules(G)
        noises = {name: tensors[f"noise.{name}"] for name in expected if f"noise.{name}" in tensors}
        if len(noises) != sum(k.startswith("noise.") for k in tensors) or set(noises) != set(
            expected
        ):
            raise ValueError("its noise maps do not match the generator's noise layers")
        for name, noise in noises.items():
            assert_shape(noise, list(expected[name].noise_const.shape), f"noise map {name}")
        adam = {}
        for k, v in tensors.items():
            if k.startswith("adam."):
                adam[k[5:]] = v.reshape(()) if k.startswith("adam.step.") else v
        return ProjectionState(
            settings,
            w,
            noises,
            float(meta["w_std"]),
            int(meta["step"]),
            adam,
            json.loads(meta.get("history", "[]")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: malformed projection state ({error})") from error
