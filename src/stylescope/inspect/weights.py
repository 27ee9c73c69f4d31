"""Per-layer weight statistics of a generator, raw and with the equalized-LR gain applied.

Every learned layer stores raw weights and applies `weight_gain = lr_multiplier / sqrt(fan_in)` at
run time (Karras et al., PGGAN, arXiv:1710.10196, section 4.1). The raw weights show what the
optimiser saw; the effective (gain-applied) weights are what the forward pass multiplies with, so
they are the ones to compare across layers and to rank for magnitude pruning. Because each gain is
one scalar per layer, every effective statistic is the raw one times the gain, except the
near-zero fraction, which is measured relative to each tensor's own RMS and so is the same for
both.

Layers are found through `Generator.style_layers()`, the synthesis blocks and the mapping MLP's
module list, never by matching state-dict keys, so pruned generators (`channel_overrides`) and
both architectures work unchanged. Layer names:

    mapping.fc0 ...          mapping MLP layers ('mapping.embed' for a label embedding)
    b8.conv0, b8.torgb       StyleGAN2 modulated convs and ToRGB (names of `style_layers()`)
    b8.layer0                original StyleGAN AdaIN layers (their 3x3 conv; the first has none)
    b8.torgb                 original StyleGAN per-block 1x1 ToRGB conv (not style-modulated)
    b8.conv0.affine          the style affine A of a style layer

MACs are those of each weight's convolution or matrix product at batch 1 (FIR filters,
demodulation and element-wise ops are not counted): a 3x3 conv applies each weight once per
pixel it runs on, which is the input resolution for an upsampling conv (it runs as a stride-2
transposed conv on the low-resolution input) and the output resolution otherwise.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from stylescope.inspect.importance import channel_groups, channel_importance
from stylescope.networks import Generator
from stylescope.networks.layers import FullyConnectedLayer

log = logging.getLogger(__name__)

LayerGroup = Literal["mapping", "synthesis", "affine"]
QUANTILES = (0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999)
DEFAULT_SPARSITIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
HISTOGRAM_BINS = 64


# ------------------------------------------------------------------------------------------------
# Statistics of one tensor.


@dataclass(frozen=True)
class TensorStats:
    """Summary of the values of one tensor.

    Attributes:
        numel: number of values.
        mean, std, abs_mean, rms, min, max: the usual moments and extremes (std is the
            population std, i.e. divided by numel).
        quantiles: value at each probability of `QUANTILES`, keyed by the probability as text.
        near_zero_fraction: share of values with |x| < near_zero_rel * rms.
        near_zero_rel: the relative threshold used for `near_zero_fraction`.
    """

    numel: int
    mean: float
    std: float
    abs_mean: float
    rms: float
    min: float
    max: float
    quantiles: dict[str, float]
    near_zero_fraction: float
    near_zero_rel: float


def tensor_stats(x: torch.Tensor, near_zero_rel: float = 0.01) -> TensorStats:
    """Moments, extremes, quantiles and near-zero share of all values of `x` (in float64)."""
    values = x.detach().double().flatten().cpu()
    if values.numel() == 0:
        raise ValueError("cannot summarise an empty tensor")
    rms = float(values.square().mean().sqrt())
    # numpy's quantile has no size limit (torch.quantile stops at 2^24 values).
    quantiles = np.quantile(values.numpy(), QUANTILES)
    near_zero = float((values.abs() < near_zero_rel * rms).double().mean()) if rms > 0 else 1.0
    return TensorStats(
        numel=values.numel(),
        mean=float(values.mean()),
        std=float(values.std(correction=0)),
        abs_mean=float(values.abs().mean()),
        rms=rms,
        min=float(values.min()),
        max=float(values.max()),
        quantiles={f"{q:g}": float(v) for q, v in zip(QUANTILES, quantiles, strict=True)},
        near_zero_fraction=near_zero,
        near_zero_rel=near_zero_rel,
    )


@dataclass(frozen=True)
class Histogram:
    """Counts of the effective weights in equal bins over [-max|w|, max|w|].

    The raw-weight histogram has the same counts with every edge divided by the layer's
    weight_gain (`edges_raw`).
    """

    counts: list[int]
    edges_effective: list[float]
    edges_raw: list[float]


def weight_histogram(effective: torch.Tensor, gain: float, bins: int = HISTOGRAM_BINS) -> Histogram:
    values = effective.detach().float().flatten().cpu()
    limit = float(values.abs().max()) or 1.0
    counts = torch.histc(values, bins=bins, min=-limit, max=limit)
    edges = torch.linspace(-limit, limit, bins + 1, dtype=torch.float64)
    return Histogram(
        counts=[int(c) for c in counts.tolist()],
        edges_effective=edges.tolist(),
        edges_raw=(edges / gain).tolist(),
    )


# ------------------------------------------------------------------------------------------------
# Which layers hold weights.


@dataclass(frozen=True)
class WeightLayer:
    """One learned weight tensor of the generator and what the forward pass does with it.

    Attributes:
        name: see the module docstring.
        group: 'mapping', 'synthesis' or 'affine' (style affines of synthesis layers).
        kind: 'fc' (mapping and affines), 'modconv', 'torgb' (StyleGAN2, modulated), 'adain'
            (original StyleGAN 3x3 conv), 'rgb' (original StyleGAN unmodulated 1x1 ToRGB).
        module: holds `weight` ([O, I] or [O, I, K, K]), `weight_gain` and `effective_weight()`.
        bias: the bias parameter that follows this weight, or None.
        bias_gain: run-time multiplier of `bias` (1 where the layer adds it unscaled).
        noise: the layer's noise injection (its `noise_strength`), or None.
        resolution: output resolution of a synthesis layer; None for dense layers.
        macs: MACs of this weight's conv or matmul per image (see the module docstring).
    """

    name: str
    group: LayerGroup
    kind: str
    module: nn.Module
    bias: torch.Tensor | None
    bias_gain: float
    noise: nn.Module | None
    resolution: int | None
    macs: int


def weight_layers(G: Generator, include_affines: bool = True) -> list[WeightLayer]:
    """Every learned weight of G in forward order: mapping, then synthesis (affine first)."""
    layers: list[WeightLayer] = []

    # Mapping MLP (and the label embedding of a conditional generator).
    fcs = [("mapping.embed", G.mapping.embed)] if G.mapping.embed is not None else []
    fcs += [(f"mapping.fc{i}", fc) for i, fc in enumerate(G.mapping.layers)]
    for name, fc in fcs:
        layers.append(_dense(name, "mapping", fc))

    # Synthesis layers that read a style, each preceded by its style affine.
    for info in G.style_layers():
        if include_affines:
            layers.append(_dense(f"{info.name}.affine", "affine", info.affine))
        layer = info.module
        if info.kind == "adain":
            if layer.conv is None:
                continue  # The first AdaIN layer reads the learned constant: no weight.
            conv, up = layer.conv, layer.conv.up
        else:
            conv, up = layer, 1 if info.kind == "torgb" else layer.up
        kernel_area = conv.weight[0, 0].numel()
        pixels = (info.resolution // up) ** 2
        macs = info.out_channels * info.in_channels * kernel_area * pixels
        # StyleGAN2 layers and AdaIN layers add their bias unscaled; ToRGB has no noise.
        layers.append(
            WeightLayer(
                info.name,
                "synthesis",
                info.kind,
                conv,
                layer.bias,
                1.0,
                None if info.kind == "torgb" else layer.noise,
                info.resolution,
                macs,
            )
        )

    # The original StyleGAN's ToRGB convs are not style layers; only the last runs at full size.
    if G.config.architecture == "stylegan":
        for block in G.synthesis.blocks():
            rgb = block.torgb
            used = block.resolution == G.img_resolution
            macs = rgb.weight.numel() * block.resolution**2 if used else 0
            layers.append(
                WeightLayer(
                    f"b{block.resolution}.torgb",
                    "synthesis",
                    "rgb",
                    rgb,
                    rgb.bias,
                    rgb.bias_gain,
                    None,
                    block.resolution,
                    macs,
                )
            )
    return layers


def _dense(name: str, group: LayerGroup, fc: FullyConnectedLayer) -> WeightLayer:
    return WeightLayer(name, group, "fc", fc, fc.bias, fc.bias_gain, None, None, fc.weight.numel())


# ------------------------------------------------------------------------------------------------
# Spectra and channel norms.


@dataclass(frozen=True)
class Spectrum:
    """Singular values of a style affine's effective weight [styles, w_dim].

    Attributes:
        singular_values: descending, of the effective (gain-applied) weight; divide by
            `weight_gain` for the raw weight's.
        effective_rank: exp of the entropy of the normalised singular values (Roy & Vetterli,
            EUSIPCO 2007): equals k for k equal singular values and 1 for rank one.
        stable_rank: squared Frobenius norm over the squared largest singular value.

    Both ranks are 0 for an all-zero weight.
    """

    singular_values: list[float]
    effective_rank: float
    stable_rank: float


def affine_spectrum(affine: FullyConnectedLayer) -> Spectrum:
    w = affine.effective_weight().detach().double().cpu()
    # Square roots of the Gram matrix's eigenvalues, in float64: the same values as
    # torch.linalg.svdvals to ~1e-8 of the largest, and here 50-100x faster than LAPACK's SVD.
    gram = w @ w.t() if w.shape[0] <= w.shape[1] else w.t() @ w
    s = torch.linalg.eigvalsh(gram).flip(0).clamp_min(0).sqrt()
    if float(s[0]) == 0:
        return Spectrum(singular_values=s.tolist(), effective_rank=0.0, stable_rank=0.0)
    p = s / s.sum()
    entropy = -(p * p.clamp_min(1e-300).log()).sum()
    return Spectrum(
        singular_values=s.tolist(),
        effective_rank=float(entropy.exp()),
        stable_rank=float(s.square().sum() / s[0].square()),
    )


def channel_norms(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L2 norms of a weight [O, I(, K, K)] per output channel [O] and per input channel [I]."""
    w = weight.detach().double()
    out_norms = w.flatten(1).norm(dim=1)
    in_norms = w.transpose(0, 1).flatten(1).norm(dim=1)
    return out_norms, in_norms


# ------------------------------------------------------------------------------------------------
# What unstructured magnitude pruning would cut.


@dataclass(frozen=True)
class MagnitudeSweep:
    """Global and per-layer magnitude pruning at several sparsities, measured without pruning.

    Global pruning removes the `sparsity` share of all pooled weights with the smallest |w|
    (effective or raw, see `scale`) under one threshold; uniform pruning removes that share of
    each layer separately.

    Attributes:
        scale: 'effective' (gain-applied) or 'raw' weights were ranked.
        layers: names of the pooled layers, in the order of the per-layer lists.
        sparsities: the requested shares of pooled weights to remove.
        thresholds: global |w| threshold at each sparsity (weights with |w| <= it go; -1 when
            the sparsity removes nothing).
        removed_fraction: share of pooled weights actually removed (ties can add a few).
        mass_removed: share of the pooled sum of |w| removed.
        energy_removed: share of the pooled sum of w^2 removed.
        macs_removed: share of the pooled layers' MACs whose weight is removed (the saving a
            perfectly sparse kernel could reach; dense kernels run as fast with zeros).
        layer_removed: [layer][sparsity] share of each layer's weights under the global threshold.
        layer_mass_removed: [layer][sparsity] share of each layer's |w| mass removed by global
            pruning.
        uniform_mass_removed: [layer][sparsity] share of each layer's |w| mass removed when every
            layer is pruned to the same sparsity.
    """

    scale: str
    layers: list[str]
    sparsities: list[float]
    thresholds: list[float]
    removed_fraction: list[float]
    mass_removed: list[float]
    energy_removed: list[float]
    macs_removed: list[float]
    layer_removed: list[list[float]]
    layer_mass_removed: list[list[float]]
    uniform_mass_removed: list[list[float]]


def magnitude_sweep(
    layers: list[WeightLayer],
    sparsities: tuple[float, ...] = DEFAULT_SPARSITIES,
    scale: Literal["effective", "raw"] = "effective",
) -> MagnitudeSweep:
    """Measure what global and uniform magnitude pruning of `layers` would remove."""
    if not layers:
        raise ValueError("magnitude_sweep needs at least one layer")
    if any(not 0 <= s < 1 for s in sparsities):
        raise ValueError(f"sparsities must lie in [0, 1), got {list(sparsities)}")

    # Sorted |w| per layer with running sums, so that any threshold is one binary search.
    sorted_abs, mass_cum, energy_cum = [], [], []
    for layer in layers:
        w = layer.module.effective_weight() if scale == "effective" else layer.module.weight
        a = w.detach().double().flatten().abs().sort().values.cpu()
        sorted_abs.append(a)
        mass_cum.append(torch.cat([torch.zeros(1, dtype=a.dtype), a.cumsum(0)]))
        energy_cum.append(torch.cat([torch.zeros(1, dtype=a.dtype), a.square().cumsum(0)]))
    pooled = torch.cat(sorted_abs).sort().values
    total = pooled.numel()
    total_mass = sum(float(m[-1]) for m in mass_cum)
    total_energy = sum(float(e[-1]) for e in energy_cum)
    macs_per_weight = [layer.macs / layer.module.weight.numel() for layer in layers]
    total_macs = sum(layer.macs for layer in layers)

    # Global threshold at each sparsity, then what it removes from each layer.
    sweep: dict[str, Any] = {k: [] for k in ("thresholds", "removed", "mass", "energy", "macs")}
    layer_removed = [[] for _ in layers]
    layer_mass = [[] for _ in layers]
    uniform_mass = [[] for _ in layers]
    for s in sparsities:
        k = int(round(s * total))
        threshold = float(pooled[k - 1]) if k > 0 else -1.0
        removed = mass = energy = macs = 0.0
        for i, a in enumerate(sorted_abs):
            n = int(torch.searchsorted(a, torch.tensor([threshold], dtype=a.dtype), right=True))
            removed += n
            mass += float(mass_cum[i][n])
            energy += float(energy_cum[i][n])
            macs += n * macs_per_weight[i]
            layer_removed[i].append(n / a.numel())
            layer_mass[i].append(_share(float(mass_cum[i][n]), float(mass_cum[i][-1])))
            n_uniform = int(round(s * a.numel()))
            uniform_mass[i].append(_share(float(mass_cum[i][n_uniform]), float(mass_cum[i][-1])))
        sweep["thresholds"].append(threshold)
        sweep["removed"].append(removed / total)
        sweep["mass"].append(_share(mass, total_mass))
        sweep["energy"].append(_share(energy, total_energy))
        sweep["macs"].append(_share(macs, total_macs))

    return MagnitudeSweep(
        scale=scale,
        layers=[layer.name for layer in layers],
        sparsities=list(sparsities),
        thresholds=sweep["thresholds"],
        removed_fraction=sweep["removed"],
        mass_removed=sweep["mass"],
        energy_removed=sweep["energy"],
        macs_removed=sweep["macs"],
        layer_removed=layer_removed,
        layer_mass_removed=layer_mass,
        uniform_mass_removed=uniform_mass,
    )


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


# ------------------------------------------------------------------------------------------------
# The whole inspection.


@dataclass(frozen=True)
class LayerInspection:
    """Everything measured on one weight layer; see `WeightLayer` for the identifying fields.

    Attributes:
        shape: shape of the weight.
        fan_in: inputs per output value, I * K * K.
        weight_gain: the equalized-LR run-time gain.
        lr_multiplier: weight_gain * sqrt(fan_in): 0.01 in the mapping MLP, 1 elsewhere.
        raw, effective: statistics of the stored and the gain-applied weight.
        histogram: effective-weight histogram (raw edges included).
        out_channel_norms, in_channel_norms: L2 norm of the effective weight per output channel
            (over I, K, K) and per input channel (over O, K, K), in channel order.
        bias_raw, bias_effective: statistics of the stored and the gain-applied bias, or None.
        noise_strength: learned noise strength of a synthesis layer, or None.
        spectrum: singular values of a style affine (group 'affine' only), or None.
    """

    name: str
    group: str
    kind: str
    resolution: int | None
    macs: int
    shape: list[int]
    fan_in: int
    weight_gain: float
    lr_multiplier: float
    raw: TensorStats
    effective: TensorStats
    histogram: Histogram
    out_channel_norms: list[float]
    in_channel_norms: list[float]
    bias_gain: float
    bias_raw: TensorStats | None
    bias_effective: TensorStats | None
    noise_strength: float | None
    spectrum: Spectrum | None


@dataclass
class GeneratorInspection:
    """A whole generator's weight inspection; `to_dict()` gives plain JSON-ready data.

    Attributes:
        config: the generator's NetworkConfig as a dict.
        layers: one entry per weight layer, in forward order.
        sweeps: magnitude sweeps over all non-affine weight layers, keyed 'effective' and 'raw'.
        importance: channel importance per criterion, then channel group, in channel order
            (see `stylescope.inspect.importance`).
        channel_groups: the channel groups, their producer and reader layers.
        num_style_samples: latents sampled for the style-aware importance.
        seed: seed of those latents.
    """

    config: dict[str, Any]
    layers: list[LayerInspection]
    sweeps: dict[str, MagnitudeSweep]
    importance: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    channel_groups: list[dict[str, Any]] = field(default_factory=list)
    num_style_samples: int = 0
    seed: int = 0

    def layer(self, name: str) -> LayerInspection:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no weight layer {name!r}; known: {[x.name for x in self.layers]}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def inspect_layer(layer: WeightLayer, near_zero_rel: float = 0.01) -> LayerInspection:
    """Statistics, histogram, channel norms, bias, noise and (for affines) spectrum of a layer."""
    module = layer.module
    raw = module.weight.detach()
    gain = float(module.weight_gain)
    effective = module.effective_weight().detach()
    fan_in = raw[0].numel()
    out_norms, in_norms = channel_norms(effective)

    bias_raw = bias_eff = None
    if layer.bias is not None:
        bias_raw = tensor_stats(layer.bias, near_zero_rel)
        bias_eff = tensor_stats(layer.bias.detach() * layer.bias_gain, near_zero_rel)
    noise = None if layer.noise is None else float(layer.noise.noise_strength)
    spectrum = affine_spectrum(module) if layer.group == "affine" else None
    return LayerInspection(
        name=layer.name,
        group=layer.group,
        kind=layer.kind,
        resolution=layer.resolution,
        macs=layer.macs,
        shape=list(raw.shape),
        fan_in=fan_in,
        weight_gain=gain,
        lr_multiplier=gain * math.sqrt(fan_in),
        raw=tensor_stats(raw, near_zero_rel),
        effective=tensor_stats(effective, near_zero_rel),
        histogram=weight_histogram(effective, gain),
        out_channel_norms=out_norms.tolist(),
        in_channel_norms=in_norms.tolist(),
        bias_gain=float(layer.bias_gain),
        bias_raw=bias_raw,
        bias_effective=bias_eff,
        noise_strength=noise,
        spectrum=spectrum,
    )


@torch.no_grad()
def inspect_generator(
    G: Generator,
    num_samples: int = 256,
    seed: int = 0,
    sparsities: tuple[float, ...] = DEFAULT_SPARSITIES,
    near_zero_rel: float = 0.01,
) -> GeneratorInspection:
    """Inspect every weight layer of G, sweep magnitude sparsity and score channels.

    Args:
        G: the generator (dense or pruned, either architecture).
        num_samples: latents z ~ N(0, I) mapped to w for the style-aware channel importance.
        seed: seed of those latents.
        sparsities: shares of weights for the magnitude sweeps, each in [0, 1).
        near_zero_rel: |w| below this times the tensor's RMS counts as near zero.
    """
    # Per-layer statistics.
    layers = weight_layers(G)
    inspections = [inspect_layer(layer, near_zero_rel) for layer in layers]
    log.info("inspected %d weight layers", len(inspections))

    # Magnitude sweeps over the weights that pruning would cut: mapping and synthesis convs.
    pooled = [layer for layer in layers if layer.group != "affine"]
    sweeps = {scale: magnitude_sweep(pooled, sparsities, scale) for scale in ("effective", "raw")}

    # Channel importance for structured pruning.
    importance = {
        criterion: {
            name: scores.tolist()
            for name, scores in channel_importance(G, criterion, num_samples, seed).items()
        }
        for criterion in ("l1", "style")
    }
    return GeneratorInspection(
        config=G.config.to_dict(),
        layers=inspections,
        sweeps=sweeps,
        importance=importance,
        channel_groups=[group.describe() for group in channel_groups(G)],
        num_style_samples=num_samples,
        seed=seed,
    )
