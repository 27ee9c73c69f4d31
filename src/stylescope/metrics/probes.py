"""Probes trained on synthfaces ground truth: attribute read-outs, region parsing and features.

A `FaceProbe` is one small convolutional network with two heads, trained by `train_probe` on
rendered synthfaces whose attributes and region maps are known exactly:

* the attribute head reads every attribute of `ATTRIBUTE_NAMES` from an image: continuous ones
  by regression (in their own units), `hair_color`, `hair_style` and `eye_color` by
  classification, `glasses` as a probability;
* the region head labels every pixel with one of `REGION_NAMES` (a U-Net-style decoder);
* the hidden layer of the attribute head is a domain feature space (`embed`), used for the
  Frechet distance `fd_probe`, and the encoder's feature maps give `probe_feature_distance`, a
  perceptual distance between two images of the same size. Neither is LPIPS or Inception: both
  are calibrated only on synthfaces.

The shipped probe (`assets/probe32.safetensors`, with its card `probe32.json`) was trained by
`stylescope probe train --resolution 32`; images of other sizes are resized to the probe's.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylescope.checkpoint import (
    CheckpointError,
    atomic_save_tensors,
    load_state_strict,
    read_safetensors,
)
from stylescope.data.synthfaces import (
    ATTRIBUTE_NAMES,
    ATTRIBUTE_RANGES,
    REGION_NAMES,
    render_synthfaces,
)
from stylescope.metrics.features import FeatureExtractor
from stylescope.utils import assert_shape

log = logging.getLogger(__name__)

PROBE_FORMAT = "stylescope-probe"
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"

# How each attribute is read: categorical ones by classification over their whole-number values.
CATEGORICAL: dict[str, int] = {
    name: int(hi) + 1 for name, (lo, hi, kind) in ATTRIBUTE_RANGES.items() if kind == "index"
}
BINARY: list[str] = [name for name, (_, _, kind) in ATTRIBUTE_RANGES.items() if kind == "binary"]
CONTINUOUS: list[str] = [
    name for name, (_, _, kind) in ATTRIBUTE_RANGES.items() if kind == "continuous"
]

# Dataset seeds of the probe's training and held-out images; the generators train on seed 0.
TRAIN_SEED = 101
TEST_SEED = 202


def default_probe_path(resolution: int) -> Path:
    return ASSETS_DIR / f"probe{resolution}.safetensors"


# ------------------------------------------------------------------------------------------------
# The network.


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


@dataclass
class ProbeOutput:
    """Everything one forward pass reads from a batch of N images.

    Attributes:
        continuous: [N, len(CONTINUOUS)] regressed attributes, normalised to [0, 1] of their range.
        categorical: logits per categorical attribute, [N, classes].
        binary: [N, len(BINARY)] logits.
        regions: [N, len(REGION_NAMES), R, R] per-pixel region logits.
        embedding: [N, embed_dim] hidden features of the attribute head.
        feature_maps: encoder feature maps, finest first.
    """

    continuous: torch.Tensor
    categorical: dict[str, torch.Tensor]
    binary: torch.Tensor
    regions: torch.Tensor
    embedding: torch.Tensor
    feature_maps: list[torch.Tensor]


class FaceProbe(nn.Module):
    """Attribute regressor and region parser for synthfaces-like images.

    Args:
        resolution: input resolution, a power of two >= 8; other sizes are resized to it.
        base_channels: feature maps of the first stage; each later stage doubles them.
        max_channels: cap on the feature maps of a stage.
        embed_dim: size of the attribute head's hidden layer (the `fd_probe` feature space).
    """

    def __init__(
        self,
        resolution: int = 32,
        base_channels: int = 16,
        max_channels: int = 128,
        embed_dim: int = 128,
    ) -> None:
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"probe resolution must be a power of two >= 8, got {resolution}")
        self.resolution = resolution
        self.base_channels = base_channels
        self.max_channels = max_channels
        self.embed_dim = embed_dim
        num_stages = int(math.log2(resolution)) - 1  # Stages at R, R/2, ..., 4.
        self.widths = [min(base_channels * 2**i, max_channels) for i in range(num_stages)]

        # Encoder: a stride-2 conv enters every stage but the first.
        self.stem = _conv(3, self.widths[0])
        self.down = nn.ModuleList()
        prev = self.widths[0]
        for i, width in enumerate(self.widths):
            stride = 1 if i == 0 else 2
            self.down.append(nn.Sequential(_conv(prev, width, stride), _conv(width, width)))
            prev = width

        # Attribute head on the pooled last two stages.
        num_out = len(CONTINUOUS) + sum(CATEGORICAL.values()) + len(BINARY)
        pooled = self.widths[-1] + (self.widths[-2] if len(self.widths) > 1 else 0)
        self.embed = nn.Sequential(nn.Linear(pooled, embed_dim), nn.ReLU(inplace=True))
        self.attributes = nn.Linear(embed_dim, num_out)

        # Region decoder: upsample, concatenate the encoder stage, convolve.
        self.up = nn.ModuleList()
        for i in range(len(self.widths) - 1, 0, -1):
            self.up.append(_conv(self.widths[i] + self.widths[i - 1], self.widths[i - 1]))
        self.regions = nn.Conv2d(self.widths[0], len(REGION_NAMES), 1)

    def prepare(self, img: torch.Tensor) -> torch.Tensor:
        """Resize float images in [-1, 1] to the probe's resolution (area down, bilinear up)."""
        assert_shape(img, [None, 3, None, None], "FaceProbe img")
        if img.shape[-1] == self.resolution and img.shape[-2] == self.resolution:
            return img.float()
        mode = "area" if img.shape[-1] > self.resolution else "bilinear"
        kwargs = {} if mode == "area" else {"align_corners": False}
        return F.interpolate(img.float(), size=(self.resolution,) * 2, mode=mode, **kwargs)

    def encode(self, img: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(self.prepare(img))
        maps = []
        for stage in self.down:
            x = stage(x)
            maps.append(x)
        return maps

    def forward(self, img: torch.Tensor) -> ProbeOutput:
        maps = self.encode(img)

        # Attribute head.
        pooled = [maps[-1].mean(dim=[2, 3])]
        if len(maps) > 1:
            pooled.append(maps[-2].mean(dim=[2, 3]))
        embedding = self.embed(torch.cat(pooled, dim=1))
        out = self.attributes(embedding)
        continuous, rest = out.split([len(CONTINUOUS), out.shape[1] - len(CONTINUOUS)], dim=1)
        categorical = {}
        for name, classes in CATEGORICAL.items():
            categorical[name], rest = rest.split([classes, rest.shape[1] - classes], dim=1)

        # Region decoder.
        x = maps[-1]
        for conv, skip in zip(self.up, reversed(maps[:-1]), strict=True):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = conv(torch.cat([x, skip], dim=1))
        regions = self.regions(x)
        return ProbeOutput(continuous, categorical, rest, regions, embedding, maps)

    # Read-outs in the attributes' own units.
    @torch.no_grad()
    def read_attributes(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        """Attributes of float images [N, 3, H, W] in [-1, 1]: name -> [N] in the units of
        `ATTRIBUTE_RANGES` (categorical: the most likely class; binary: the probability)."""
        return outputs_to_attributes(self(img))

    @torch.no_grad()
    def parse_regions(self, img: torch.Tensor) -> torch.Tensor:
        """Region label map [N, H, W] (int64, values index `REGION_NAMES`) at the input size."""
        logits = self(img).regions
        if logits.shape[-1] != img.shape[-1]:
            logits = F.interpolate(logits, size=img.shape[-2:], mode="bilinear")
        return logits.argmax(dim=1)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, widths={self.widths}, embed_dim={self.embed_dim}"

    def hyperparameters(self) -> dict[str, int]:
        return {
            "resolution": self.resolution,
            "base_channels": self.base_channels,
            "max_channels": self.max_channels,
            "embed_dim": self.embed_dim,
        }


def continuous_to_units(values: torch.Tensor) -> dict[str, torch.Tensor]:
    """[N, len(CONTINUOUS)] normalised values -> name -> [N] in the attributes' own units."""
    result = {}
    for i, name in enumerate(CONTINUOUS):
        lo, hi, _ = ATTRIBUTE_RANGES[name]
        result[name] = lo + (hi - lo) * values[:, i]
    return result


def outputs_to_attributes(out: ProbeOutput) -> dict[str, torch.Tensor]:
    result = continuous_to_units(out.continuous.float())
    for name, logits in out.categorical.items():
        result[name] = logits.argmax(dim=1).float()
    for i, name in enumerate(BINARY):
        result[name] = torch.sigmoid(out.binary[:, i].float())
    return {name: result[name] for name in ATTRIBUTE_NAMES}


def probe_feature_distance(probe: FaceProbe, img_a: torch.Tensor, img_b: torch.Tensor):
    """Perceptual distance [N] between image pairs from the probe's encoder feature maps.

    Per stage, feature vectors are scaled to unit length over channels, and the squared
    difference is summed over channels and averaged over pixels; the stages are summed. This is
    the construction of LPIPS with uniform weights on a synthfaces-trained backbone, so it is
    named after that backbone and is not comparable with LPIPS values.
    """
    if img_a.shape != img_b.shape:
        raise ValueError(f"image shapes differ: {list(img_a.shape)} vs {list(img_b.shape)}")
    total = torch.zeros(img_a.shape[0], device=img_a.device)
    for fa, fb in zip(probe.encode(img_a), probe.encode(img_b), strict=True):
        fa = fa / (fa.square().sum(dim=1, keepdim=True) + 1e-10).sqrt()
        fb = fb / (fb.square().sum(dim=1, keepdim=True) + 1e-10).sqrt()
        total = total + (fa - fb).square().sum(dim=1).mean(dim=[1, 2])
    return total


# ------------------------------------------------------------------------------------------------
# Feature extractor for distribution metrics.


class ProbeExtractor(FeatureExtractor):
    """`fd_probe` features: the probe's attribute-head embedding of uint8 images."""

    name = "probe"
    batch_size = 256

    def __init__(self, probe: FaceProbe | None = None, device="cpu") -> None:
        super().__init__(device)
        self.probe = (probe or load_probe()).to(self.device).eval()
        self.dim = self.probe.embed_dim

    def features(self, img: torch.Tensor) -> torch.Tensor:
        x = img.float() / 127.5 - 1
        return self.probe(x).embedding


# ------------------------------------------------------------------------------------------------
# Files.


def save_probe(path: str | os.PathLike, probe: FaceProbe, card: dict[str, Any]) -> None:
    """Weights as safetensors; hyper-parameters and the card as JSON metadata."""
    metadata = {
        "format": PROBE_FORMAT,
        "hyperparameters": json.dumps(probe.hyperparameters()),
        "card": json.dumps(card),
    }
    atomic_save_tensors(path, probe.state_dict(), metadata)


def load_probe(
    path: str | os.PathLike | None = None, resolution: int = 32, device="cpu"
) -> FaceProbe:
    """Load a probe file, by default the shipped probe of `resolution`."""
    path = Path(path) if path is not None else default_probe_path(resolution)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: no probe file; train one with `stylescope probe train --resolution "
            f"{resolution} --out {path}`"
        )
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != PROBE_FORMAT:
        raise CheckpointError(f"{path}: not a stylescope probe (format {metadata.get('format')!r})")
    try:
        probe = FaceProbe(**json.loads(metadata["hyperparameters"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: malformed probe hyper-parameters ({error})") from error
    load_state_strict(probe, tensors, str(path))
    probe.card = json.loads(metadata.get("card", "{}"))
    return probe.to(device).eval()


# ------------------------------------------------------------------------------------------------
# Training and evaluation.


@dataclass
class ProbeData:
    """Rendered images (float [N, 3, R, R] in [-1, 1]), region maps and attribute targets."""

    images: torch.Tensor
    regions: torch.Tensor
    continuous: torch.Tensor
    categorical: dict[str, torch.Tensor]
    binary: torch.Tensor
    attributes: dict[str, np.ndarray]

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, idx: torch.Tensor) -> ProbeData:
        return ProbeData(
            self.images[idx],
            self.regions[idx],
            self.continuous[idx],
            {k: v[idx] for k, v in self.categorical.items()},
            self.binary[idx],
            {k: v[idx.numpy()] for k, v in self.attributes.items()},
        )


def render_probe_data(count: int, resolution: int, seed: int, num_workers: int = 1) -> ProbeData:
    """Render `count` synthfaces of `seed` with their targets in the probe's encoding."""
    batch = render_synthfaces(count, resolution, seed, num_workers=num_workers)
    img = torch.from_numpy(batch.images).permute(0, 3, 1, 2).float() / 127.5 - 1
    attrs = batch.attributes
    cont = []
    for name in CONTINUOUS:
        lo, hi, _ = ATTRIBUTE_RANGES[name]
        cont.append((torch.from_numpy(attrs[name]).float() - lo) / (hi - lo))
    return ProbeData(
        images=img.contiguous(),
        regions=torch.from_numpy(batch.regions).long(),
        continuous=torch.stack(cont, dim=1),
        categorical={n: torch.from_numpy(attrs[n]).long() for n in CATEGORICAL},
        binary=torch.stack([torch.from_numpy(attrs[n]).float() for n in BINARY], dim=1),
        attributes=attrs,
    )


def _corrupt(img: torch.Tensor) -> torch.Tensor:
    """Mild blur and noise, so that the probe also reads imperfect generated images."""
    n = img.shape[0]
    blurred = F.avg_pool2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    amount = torch.rand(n, 1, 1, 1) * (torch.rand(n, 1, 1, 1) < 0.5)
    img = torch.lerp(img, blurred, amount)
    return img + torch.randn_like(img) * torch.rand(n, 1, 1, 1) * 0.05


def probe_loss(out: ProbeOutput, data: ProbeData) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of the attribute losses and the per-pixel region cross-entropy."""
    loss_cont = F.smooth_l1_loss(out.continuous.float(), data.continuous, beta=0.05) * 20
    loss_cat = sum(
        F.cross_entropy(out.categorical[n].float(), data.categorical[n]) for n in CATEGORICAL
    )
    loss_bin = F.binary_cross_entropy_with_logits(out.binary.float(), data.binary)
    loss_reg = F.cross_entropy(out.regions.float(), data.regions)
    total = loss_cont + loss_cat + loss_bin + 2 * loss_reg
    parts = {
        "continuous": float(loss_cont.detach()),
        "categorical": float(loss_cat.detach()),
        "binary": float(loss_bin.detach()),
        "regions": float(loss_reg.detach()),
    }
    return total, parts


@torch.no_grad()
def evaluate_probe(probe: FaceProbe, data: ProbeData, batch_size: int = 256) -> dict[str, Any]:
    """Per-attribute error and per-region IoU on held-out images.

    Continuous attributes: mean absolute error in their own units and as a share of their range,
    and R^2. Categorical and binary attributes: accuracy. Regions: IoU per region and its mean.
    """
    probe.eval()
    device = next(probe.parameters()).device
    predicted: dict[str, list[torch.Tensor]] = {name: [] for name in ATTRIBUTE_NAMES}
    classes = len(REGION_NAMES)
    intersection = torch.zeros(classes)
    union = torch.zeros(classes)
    for i in range(0, len(data), batch_size):
        img = data.images[i : i + batch_size].to(device)
        out = probe(img)
        for name, value in outputs_to_attributes(out).items():
            predicted[name].append(value.cpu())
        labels = out.regions.argmax(dim=1).cpu()
        truth = data.regions[i : i + batch_size]
        for k in range(classes):
            p, t = labels == k, truth == k
            intersection[k] += (p & t).sum()
            union[k] += (p | t).sum()

    report: dict[str, Any] = {"attributes": {}, "regions": {}, "count": len(data)}
    for name in ATTRIBUTE_NAMES:
        pred = torch.cat(predicted[name]).numpy()
        true = data.attributes[name].astype(np.float64)
        lo, hi, kind = ATTRIBUTE_RANGES[name]
        if kind == "continuous":
            mae = float(np.abs(pred - true).mean())
            r2 = 1 - float(((pred - true) ** 2).mean() / max(true.var(), 1e-12))
            report["attributes"][name] = {
                "mae": mae, "mae_of_range": mae / (hi - lo), "r2": r2,
            }  # fmt: skip
        else:
            guess = (pred > 0.5) if kind == "binary" else pred
            report["attributes"][name] = {"accuracy": float((guess == true).mean())}
    ious = {}
    for k, name in enumerate(REGION_NAMES):
        if union[k] > 0:
            ious[name] = float(intersection[k] / union[k])
    report["regions"] = ious
    report["mean_iou"] = float(np.mean(list(ious.values())))
    return report


def train_probe(
    resolution: int = 32,
    train_count: int = 40_000,
    test_count: int = 2_000,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    precision: str = "bf16",
    device: str | torch.device = "cpu",
    num_workers: int = 1,
    progress_fn: Callable[[str], None] | None = None,
) -> tuple[FaceProbe, dict[str, Any]]:
    """Train a probe on synthfaces and evaluate it on held-out renders.

    Training images are seed `TRAIN_SEED`, held-out ones `TEST_SEED`; neither overlaps the seed-0
    images the generators train on. `precision` 'bf16' autocasts the forward pass (about twice as
    fast on CPUs with bf16 units); the weights stay float32. Returns the probe and its card
    (settings, held-out accuracy, timing).
    """
    say = progress_fn or (lambda line: None)
    start = time.time()
    torch.manual_seed(seed)
    device = torch.device(device)

    # Step 1: data.
    say(f"rendering {train_count} training and {test_count} held-out synthfaces at {resolution}")
    train = render_probe_data(train_count, resolution, TRAIN_SEED, num_workers)
    test = render_probe_data(test_count, resolution, TEST_SEED, num_workers)

    # Step 2: optimisation with a cosine learning-rate schedule.
    probe = FaceProbe(resolution).to(device).train()
    probe = probe.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(train_count / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.1
    )
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        probe.train()
        order = torch.randperm(train_count, generator=generator)
        sums: dict[str, float] = {}
        for step in range(steps_per_epoch):
            idx = order[step * batch_size : (step + 1) * batch_size]
            part = train.subset(idx)
            img = _corrupt(part.images).to(device).contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16"):
                out = probe(img)
            target = ProbeData(
                img, part.regions.to(device), part.continuous.to(device),
                {k: v.to(device) for k, v in part.categorical.items()}, part.binary.to(device),
                part.attributes,
            )  # fmt: skip
            loss, parts = probe_loss(out, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value
        means = ", ".join(f"{k} {v / steps_per_epoch:.3f}" for k, v in sums.items())
        say(f"epoch {epoch + 1}/{epochs}: {means} ({time.time() - start:.0f}s)")

    # Step 3: held-out evaluation and the card.
    report = evaluate_probe(probe, test)
    card = {
        "resolution": resolution,
        "train": {"seed": TRAIN_SEED, "count": train_count, "epochs": epochs,
                  "batch_size": batch_size, "lr": lr, "init_seed": seed, "precision": precision},
        "held_out": {"seed": TEST_SEED} | report,
        "train_seconds": round(time.time() - start, 1),
        "torch_threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in probe.parameters()),
    }  # fmt: skip
    return probe.eval(), card
