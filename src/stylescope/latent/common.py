"""Helpers shared by the latent lab: layer ranges, latent sampling, batched rendering and probe
read-outs as one matrix.

Layer ranges everywhere in the lab index `ws` (0 .. num_ws - 1), as GANSpace's "E(v_i, j-k)" and
SeFa's layer groups do; a style layer takes part when its `w_index` is in the range.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch

from stylescope.data.synthfaces import ATTRIBUTE_NAMES, ATTRIBUTE_RANGES
from stylescope.metrics.probes import FaceProbe
from stylescope.networks import Generator
from stylescope.utils import assert_shape, latents_from_seeds

log = logging.getLogger(__name__)

# Continuous attributes are compared in units of their range; these are the edit targets.
EDIT_ATTRIBUTES = ["age", "yaw", "smile"]


def check_layers(G: Generator, layers: Sequence[int] | None) -> list[int]:
    """`ws` indices to edit: all when None; raises ValueError for indices outside the network."""
    if layers is None:
        return list(range(G.num_ws))
    layers = sorted(set(int(i) for i in layers))
    if not layers:
        raise ValueError("the layer range is empty")
    bad = [i for i in layers if not 0 <= i < G.num_ws]
    if bad:
        shown = bad if len(bad) <= 5 else bad[:5] + ["..."]
        raise ValueError(
            f"layers {shown} are outside this generator's ws indices 0..{G.num_ws - 1}"
        )
    return layers


def layer_groups(G: Generator) -> dict[str, list[int]]:
    """'all', and 'coarse' / 'middle' / 'fine' as three contiguous thirds of the ws indices."""
    n = G.num_ws
    cuts = [0, max(1, round(n / 3)), max(2, round(2 * n / 3)), n]
    return {
        "all": list(range(n)),
        "coarse": list(range(cuts[0], cuts[1])),
        "middle": list(range(cuts[1], cuts[2])),
        "fine": list(range(cuts[2], cuts[3])),
    }


def device_of(G: Generator) -> torch.device:
    return next(G.parameters()).device


@torch.no_grad()
def seeds_to_ws(G: Generator, seeds: Sequence[int], truncation_psi: float = 1.0) -> torch.Tensor:
    """ws [N, num_ws, w_dim] of the given seeds (unconditional generators only)."""
    if G.c_dim > 0:
        raise ValueError("the latent lab supports unconditional generators only")
    z = latents_from_seeds(seeds, G.z_dim).to(device_of(G))
    return G.mapping(z, None, truncation_psi)


@torch.no_grad()
def sample_w(G: Generator, num_samples: int, seed: int = 0, batch_size: int = 1024):
    """w [num_samples, w_dim] for z ~ N(0, I) drawn from one seeded generator, no truncation."""
    if G.c_dim > 0:
        raise ValueError("the latent lab supports unconditional generators only")
    rng = torch.Generator().manual_seed(seed)
    rows = []
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        z = torch.randn(count, G.z_dim, generator=rng).to(device_of(G))
        rows.append(G.mapping(z, None)[:, 0].cpu())
    return torch.cat(rows)


@torch.no_grad()
def render(
    G: Generator,
    ws: torch.Tensor,
    batch_size: int = 64,
    noise_mode: str = "const",
    style_offsets_fn: Callable[[int, int], object] | None = None,
) -> torch.Tensor:
    """Images [N, C, R, R] (on the CPU) of ws [N, num_ws, w_dim], in batches.

    `style_offsets_fn(start, stop)`, when given, returns a context manager (e.g. from
    `stylespace.style_offsets`) that is open while rows start..stop are rendered.
    """
    assert_shape(ws, [None, G.num_ws, G.w_dim], "ws")
    out = []
    for start in range(0, ws.shape[0], batch_size):
        stop = min(start + batch_size, ws.shape[0])
        batch = ws[start:stop].to(device_of(G))
        if style_offsets_fn is None:
            out.append(G.synthesis(batch, noise_mode=noise_mode).cpu())
        else:
            with style_offsets_fn(start, stop):
                out.append(G.synthesis(batch, noise_mode=noise_mode).cpu())
    return torch.cat(out)


def attribute_scale(name: str) -> float:
    """Width of an attribute's range: changes are divided by it to compare attributes."""
    lo, hi, _ = ATTRIBUTE_RANGES[name]
    return float(hi - lo)


@torch.no_grad()
def read_attribute_matrix(probe: FaceProbe, img: torch.Tensor, batch_size: int = 256):
    """[N, A] probe read-outs in `ATTRIBUTE_NAMES` order, each divided by its range width."""
    rows = []
    device = next(probe.parameters()).device
    for start in range(0, img.shape[0], batch_size):
        values = probe.read_attributes(img[start : start + batch_size].to(device))
        rows.append(torch.stack([values[n].cpu() / attribute_scale(n) for n in ATTRIBUTE_NAMES], 1))
    return torch.cat(rows)


def attribute_index(name: str) -> int:
    if name not in ATTRIBUTE_NAMES:
        raise KeyError(f"unknown attribute {name!r}; known: {', '.join(ATTRIBUTE_NAMES)}")
    return ATTRIBUTE_NAMES.index(name)


def heatmap(values: np.ndarray) -> np.ndarray:
    """float [H, W] -> uint8 [H, W, 3], black (0) through red and yellow to white (max)."""
    v = values / max(float(values.max()), 1e-12)
    rgb = np.stack([np.clip(3 * v, 0, 1), np.clip(3 * v - 1, 0, 1), np.clip(3 * v - 2, 0, 1)], -1)
    return (rgb * 255).round().astype(np.uint8)
