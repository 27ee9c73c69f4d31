"""Global and single-dimension perturbations of z, w and s, and the global-versus-single study.

The seed study reported that global changes of the latent vector mostly change colour tones,
while changes of single dimensions move facial features. `global_vs_single` tests this with
numbers: it applies global perturbations (scale, shift or isotropic noise of all of z, or of w at
all layers or at one layer group) and single-dimension steps (one z coordinate, one w
coordinate, one style channel, one principal axis of W) to the same seeds, decomposes each image
change with `colour.change_decomposition`, and compares colour share and probe-measured structure.

Step sizes are matched: a shift or noise step of `amount` has whitened length `amount` (w moves
by amount * sigma_w along a unit direction, sigma_w the per-coordinate standard deviation of W),
and so does a single-dimension step (amount * sigma_i along axis i). Scaling multiplies the
offset from w_avg (or z itself) by `scale_factor`. Note that scaling all of z changes nothing:
the mapping network normalises z to unit second moment first. The table keeps that row to show it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from stylescope.latent.colour import change_decomposition, summarise
from stylescope.latent.common import check_layers, device_of, layer_groups, render, sample_w
from stylescope.latent.directions import pca, style_samples
from stylescope.latent.stylespace import style_dims, style_offsets
from stylescope.metrics.probes import FaceProbe
from stylescope.networks import Generator
from stylescope.utils import assert_shape, latents_from_seeds

log = logging.getLogger(__name__)

SPACES = ("z", "w", "s")
GLOBAL_KINDS = ("scale", "shift", "noise")


@dataclass
class LatentStats:
    """Statistics of sampled latents that set step sizes: w_avg [w_dim], per-coordinate standard
    deviations of W [w_dim] and of S [style channels], and the principal axes of W [K, w_dim]
    with their standard deviations [K]."""

    w_mean: torch.Tensor
    w_std: torch.Tensor
    s_std: torch.Tensor
    pca_axes: torch.Tensor
    pca_std: torch.Tensor
    num_samples: int
    seed: int


def latent_stats(G: Generator, num_samples: int = 2_000, seed: int = 0) -> LatentStats:
    """Sample `num_samples` w (no truncation) and measure them."""
    w = sample_w(G, num_samples, seed)
    axes, variances = pca(w, min(G.w_dim, 32))
    return LatentStats(
        w_mean=w.mean(0),
        w_std=w.std(0),
        s_std=style_samples(G, w).std(0),
        pca_axes=axes,
        pca_std=variances.sqrt(),
        num_samples=num_samples,
        seed=seed,
    )


@dataclass(frozen=True)
class Perturbation:
    """One change of the latents.

    Attributes:
        name: label in tables.
        space: 'z', 'w' or 's'.
        kind: 'scale', 'shift' or 'noise' (global), or 'dim' (one coordinate of z, w or s) or
            'pca' (one principal axis of W).
        amount: whitened step length (shift, noise, dim, pca) or multiplier (scale).
        layers: ws indices that a W perturbation touches (None: all).
        index: the coordinate, style channel (flat index) or principal axis for 'dim' / 'pca'.
    """

    name: str
    space: str
    kind: str
    amount: float
    layers: tuple[int, ...] | None = None
    index: int | None = None

    @property
    def scope(self) -> str:
        return "global" if self.kind in GLOBAL_KINDS else "single"


def _unit_noise(shape: Sequence[int], seed: int) -> torch.Tensor:
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return g / g.norm(dim=-1, keepdim=True)


@torch.no_grad()
def perturbed_latents(
    G: Generator,
    z: torch.Tensor,
    p: Perturbation,
    stats: LatentStats,
    amount: torch.Tensor | float | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """ws [N, num_ws, w_dim] and style offsets (layer -> [N, C]) after perturbation `p`.

    `amount` overrides `p.amount`, as a scalar or one value per row [N].
    """
    assert_shape(z, [None, G.z_dim], "z")
    n = z.shape[0]
    a = torch.as_tensor(p.amount if amount is None else amount, dtype=torch.float32)
    a = a.reshape(-1, 1).expand(n, 1).to(z.device)
    offsets: dict[str, torch.Tensor] = {}

    # Z: change z, then map.
    if p.space == "z":
        if p.kind == "scale":
            z = z * a
        elif p.kind == "shift":
            z = z + a * torch.ones_like(z) / G.z_dim**0.5
        elif p.kind == "noise":
            z = z + a * _unit_noise(z.shape, seed).to(z.device)
        elif p.kind == "dim":
            z = z.clone()
            z[:, p.index] += a[:, 0]
        else:
            raise ValueError(f"perturbation kind {p.kind!r} does not apply to z")
        return G.mapping(z, None), offsets

    ws = G.mapping(z, None)

    # W: change the ws at the chosen layers, in whitened units.
    if p.space == "w":
        layers = check_layers(G, p.layers)
        std = stats.w_std.to(z.device)
        w = ws[:, layers]
        if p.kind == "scale":
            mean = stats.w_mean.to(z.device)
            w = mean + a[:, :, None] * (w - mean)
        else:
            if p.kind == "shift":
                step = std * torch.ones(G.w_dim, device=z.device) / G.w_dim**0.5
            elif p.kind == "noise":
                step = std * _unit_noise([n, G.w_dim], seed).to(z.device)
            elif p.kind == "dim":
                step = torch.zeros(G.w_dim, device=z.device)
                step[p.index] = std[p.index]
            elif p.kind == "pca":
                step = stats.pca_axes[p.index].to(z.device) * stats.pca_std[p.index].to(z.device)
            else:
                raise ValueError(f"perturbation kind {p.kind!r} does not apply to w")
            step = step.expand(n, G.w_dim)
            w = w + (a * step)[:, None, :]
        ws = ws.clone()
        ws[:, layers] = w
        return ws, offsets

    # S: one style channel, in units of its standard deviation.
    if p.space == "s" and p.kind == "dim":
        start = 0
        for layer, count in style_dims(G).items():
            if start <= p.index < start + count:
                offset = torch.zeros(n, count)
                offset[:, p.index - start] = a[:, 0].cpu() * stats.s_std[p.index]
                offsets[layer] = offset
                return ws, offsets
            start += count
        raise ValueError(f"style channel {p.index} is outside S")
    raise ValueError(f"perturbation {p.kind!r} in {p.space!r} is not supported")


@torch.no_grad()
def render_perturbed(
    G: Generator,
    z: torch.Tensor,
    p: Perturbation,
    stats: LatentStats,
    amount: torch.Tensor | float | None = None,
    seed: int = 0,
    noise_mode: str = "const",
) -> torch.Tensor:
    """Images [N, C, R, R] after perturbation `p`."""
    ws, offsets = perturbed_latents(G, z, p, stats, amount, seed)

    def offsets_for(start: int, stop: int):
        if not offsets:
            return nullcontext()
        return style_offsets(G, {k: v[start:stop].to(device_of(G)) for k, v in offsets.items()})

    return render(G, ws, noise_mode=noise_mode, style_offsets_fn=offsets_for)


def default_perturbations(
    G: Generator, amount: float, scale_factor: float, num_single: int, seed: int = 0
) -> list[Perturbation]:
    """The study's rows: global z/w changes (w per layer group) and `num_single` random single
    coordinates of z, w and s plus the first `num_single` principal axes of W."""
    rows = [
        Perturbation("z scale (all)", "z", "scale", scale_factor),
        Perturbation("z shift (all)", "z", "shift", amount),
        Perturbation("z noise (all)", "z", "noise", amount),
    ]
    for group, layers in layer_groups(G).items():
        for kind in GLOBAL_KINDS:
            value = scale_factor if kind == "scale" else amount
            rows.append(Perturbation(f"w {kind} ({group})", "w", kind, value, tuple(layers)))
    rng = torch.Generator().manual_seed(seed)
    num_s = sum(style_dims(G).values())
    for space, size in (("z", G.z_dim), ("w", G.w_dim), ("s", num_s)):
        for i in torch.randperm(size, generator=rng)[:num_single].tolist():
            rows.append(Perturbation(f"{space} dim {i}", space, "dim", amount, None, i))
    for k in range(min(num_single, G.w_dim)):
        rows.append(Perturbation(f"w pca {k}", "w", "pca", amount, None, k))
    return rows


@dataclass
class GlobalStudy:
    """Rows of summarised measures per perturbation, and the verdict on the seed's claim."""

    rows: list[dict] = field(default_factory=list)
    verdict: dict = field(default_factory=dict)
    num_seeds: int = 0
    examples: dict[str, torch.Tensor] = field(default_factory=dict)


def global_vs_single(
    G: Generator,
    probe: FaceProbe | None,
    seeds: Sequence[int],
    amount: float = 3.0,
    scale_factor: float = 1.5,
    num_single: int = 4,
    stats: LatentStats | None = None,
    perturbations: list[Perturbation] | None = None,
    progress: Callable[[str], None] | None = None,
) -> GlobalStudy:
    """Measure every perturbation on `seeds` and compare global with single-dimension rows.

    Verdict: the claim is 'confirmed' when the global all-layer rows have a higher mean colour
    share than the single-dimension rows and a lower probe attribute change per unit of pixel
    change; 'refuted' when both comparisons go the other way, else 'mixed'.
    """
    stats = stats or latent_stats(G)
    perturbations = perturbations or default_perturbations(G, amount, scale_factor, num_single)
    z = latents_from_seeds(seeds, G.z_dim).to(device_of(G))
    base = render(G, G.mapping(z, None))
    study = GlobalStudy(num_seeds=len(seeds), examples={"base": base})

    # Measure every row.
    for p in perturbations:
        img = render_perturbed(G, z, p, stats)
        summary = summarise(change_decomposition(base, img, probe))
        if probe is not None:
            summary["structure_per_change"] = summary["attribute_change"] / max(
                summary["pixel_rms"], 1e-8
            )
        row = {
            "name": p.name,
            "space": p.space,
            "kind": p.kind,
            "scope": p.scope,
            "amount": p.amount,
            "layers": list(p.layers) if p.layers else None,
            "index": p.index,
        } | summary
        study.rows.append(row)
        study.examples[p.name] = img
        if progress:
            progress(p.name)

    # Compare global all-layer rows with single-dimension rows.
    is_global = [
        r
        for r in study.rows
        if r["scope"] == "global"
        and r["kind"] != "scale"
        and (r["space"] == "z" or r["layers"] == list(range(G.num_ws)))
    ]
    is_single = [r for r in study.rows if r["scope"] == "single"]

    def mean(rows: list[dict], key: str) -> float | None:
        values = [r[key] for r in rows if key in r and r["pixel_rms"] > 1e-6]
        return sum(values) / len(values) if values else None

    verdict = {
        "global_rows": [r["name"] for r in is_global],
        "single_rows": [r["name"] for r in is_single],
        "global_colour_share": mean(is_global, "colour_share"),
        "single_colour_share": mean(is_single, "colour_share"),
        "global_structure_per_change": mean(is_global, "structure_per_change"),
        "single_structure_per_change": mean(is_single, "structure_per_change"),
    }
    votes = []
    if verdict["global_colour_share"] is not None and verdict["single_colour_share"] is not None:
        votes.append(verdict["global_colour_share"] > verdict["single_colour_share"])
    global_structure = verdict["global_structure_per_change"]
    single_structure = verdict["single_structure_per_change"]
    if global_structure is not None and single_structure is not None:
        votes.append(global_structure < single_structure)
    if votes and all(votes):
        verdict["claim"] = "confirmed"
    elif votes and not any(votes):
        verdict["claim"] = "refuted"
    else:
        verdict["claim"] = "mixed"
    verdict["evidence"] = len(votes)
    study.verdict = verdict
    return study
