"""Figures of a weight inspection, drawn with matplotlib's object API (Agg canvas, no pyplot).

Each function draws one PNG from a `GeneratorInspection` and returns its path. Figures never
touch pyplot's global state, so they are safe inside a web backend or a test process.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import cm, colors
from matplotlib.figure import Figure

from stylescope.inspect.weights import GeneratorInspection, LayerInspection

DPI = 100
GROUP_COLORS = {"mapping": "tab:orange", "affine": "tab:green", "synthesis": "tab:blue"}


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def _ordered_colors(count: int) -> tuple[list, cm.ScalarMappable]:
    """One viridis colour per layer in forward order, and the mappable for a colour bar."""
    norm = colors.Normalize(vmin=0, vmax=max(count - 1, 1))
    mappable = cm.ScalarMappable(norm=norm, cmap="viridis")
    return [mappable.to_rgba(i) for i in range(count)], mappable


def _conv_and_mapping(result: GeneratorInspection) -> list[LayerInspection]:
    return [layer for layer in result.layers if layer.group != "affine"]


def plot_histograms(result: GeneratorInspection, path: Path) -> Path:
    """Small multiples: effective-weight histogram of each mapping and synthesis layer."""
    layers = _conv_and_mapping(result)
    columns = min(6, len(layers))
    rows = math.ceil(len(layers) / columns)
    fig = Figure(figsize=(2.6 * columns, 2.0 * rows + 0.6))
    for i, layer in enumerate(layers):
        ax = fig.add_subplot(rows, columns, i + 1)
        edges = np.asarray(layer.histogram.edges_effective)
        counts = np.asarray(layer.histogram.counts)
        ax.stairs(counts, edges, fill=True, color=GROUP_COLORS[layer.group], alpha=0.8)
        ax.set_yscale("log")
        ax.set_title(f"{layer.name}\nstd {layer.effective.std:.3g}", fontsize=8)
        ax.tick_params(which="both", labelsize=6)
    fig.suptitle("Effective (gain-applied) weight histograms, log counts", fontsize=10)
    # Fixed margins: tight_layout costs seconds on a grid of dozens of axes.
    top = 1 - 0.75 / fig.get_figheight()
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.03, top=top, hspace=0.7, wspace=0.3)
    return _save(fig, path)


def plot_affine_spectra(result: GeneratorInspection, path: Path) -> Path:
    """Normalised singular values of every style affine, and their effective ranks."""
    affines = [layer for layer in result.layers if layer.spectrum is not None]
    fig = Figure(figsize=(12, 4.5))
    ax_spec, ax_rank = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    line_colors, mappable = _ordered_colors(len(affines))

    # Spectra: sigma_i / sigma_1 against i / (number of singular values).
    for layer, color in zip(affines, line_colors, strict=True):
        s = np.asarray(layer.spectrum.singular_values)
        ax_spec.plot(np.arange(len(s)) / max(len(s) - 1, 1), s / s[0], color=color, lw=1)
    ax_spec.set_yscale("log")
    ax_spec.set_xlabel("singular value index / count")
    ax_spec.set_ylabel("sigma_i / sigma_1")
    ax_spec.set_title("Style-affine spectra (colour: forward order)", fontsize=10)
    fig.colorbar(mappable, ax=ax_spec, label="style layer index")

    # Effective rank against the largest possible rank.
    names = [layer.name.removesuffix(".affine") for layer in affines]
    ranks = [layer.spectrum.effective_rank for layer in affines]
    full = [len(layer.spectrum.singular_values) for layer in affines]
    y = np.arange(len(affines))
    ax_rank.barh(y, full, color="0.85", label="number of singular values")
    ax_rank.barh(y, ranks, color="tab:green", label="effective rank")
    ax_rank.set_yticks(y, names, fontsize=7)
    ax_rank.invert_yaxis()
    ax_rank.set_xlabel("rank")
    ax_rank.legend(fontsize=8, loc="lower right")
    ax_rank.set_title("Effective rank (exp entropy of normalised singular values)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_channel_norms(result: GeneratorInspection, path: Path) -> Path:
    """Sorted per-input-channel and per-output-channel norms of every synthesis weight."""
    layers = [layer for layer in result.layers if layer.group == "synthesis"]
    fig = Figure(figsize=(12, 4.5))
    line_colors, mappable = _ordered_colors(len(layers))
    for k, (attr, label) in enumerate(
        (("in_channel_norms", "input"), ("out_channel_norms", "output"))
    ):
        ax = fig.add_subplot(1, 2, k + 1)
        for layer, color in zip(layers, line_colors, strict=True):
            _plot_sorted_shares(ax, getattr(layer, attr), color, lw=1)
        ax.set_xlabel(f"{label} channel rank / count")
        ax.set_ylabel("L2 norm / largest")
        ax.set_ylim(bottom=0)
        ax.set_title(f"Per-{label}-channel norms, sorted", fontsize=10)
        fig.colorbar(mappable, ax=ax, label="synthesis layer index")
    fig.tight_layout()
    return _save(fig, path)


def _plot_sorted_shares(ax, values, color, **kwargs) -> None:
    """Values sorted high to low, divided by the largest, against rank / count."""
    values = np.sort(np.asarray(values))[::-1]
    top = values[0] if values[0] > 0 else 1.0
    ax.plot(np.arange(len(values)) / max(len(values) - 1, 1), values / top, color=color, **kwargs)


def plot_gains_noise(result: GeneratorInspection, path: Path) -> Path:
    """Equalized-LR weight gain per layer, learned noise strengths and bias RMS."""
    layers = _conv_and_mapping(result)
    fig = Figure(figsize=(12, 9))
    x = np.arange(len(layers))
    names = [layer.name for layer in layers]
    bar_colors = [GROUP_COLORS[layer.group] for layer in layers]

    # Gains (log scale): the mapping MLP's lr multiplier 0.01 shows as a hundredfold drop.
    ax = fig.add_subplot(3, 1, 1)
    ax.bar(x, [layer.weight_gain for layer in layers], color=bar_colors)
    ax.set_yscale("log")
    ax.set_ylabel("weight_gain")
    ax.set_title("Equalized-LR weight_gain = lr_multiplier / sqrt(fan_in)", fontsize=10)
    ax.set_xticks(x, [""] * len(x))

    # Noise strengths of the synthesis layers that have noise.
    ax = fig.add_subplot(3, 1, 2)
    strengths = [np.nan if v.noise_strength is None else v.noise_strength for v in layers]
    ax.bar(x, strengths, color="tab:purple")
    ax.axhline(0, color="0.5", lw=0.5)
    ax.set_ylabel("noise strength")
    ax.set_title("Learned noise strength (blank: layer without noise)", fontsize=10)
    ax.set_xticks(x, [""] * len(x))

    # Effective bias RMS.
    ax = fig.add_subplot(3, 1, 3)
    bias_rms = [np.nan if v.bias_effective is None else v.bias_effective.rms for v in layers]
    ax.bar(x, bias_rms, color=bar_colors)
    ax.set_ylabel("bias RMS")
    ax.set_title("Effective (gain-applied) bias RMS", fontsize=10)
    ax.set_xticks(x, names, rotation=90, fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_magnitude_sweep(result: GeneratorInspection, path: Path) -> Path:
    """What global magnitude sparsity removes in total, and from which layers."""
    sweep = result.sweeps["effective"]
    fig = Figure(figsize=(12, 5))
    s = np.asarray(sweep.sparsities)

    # Totals against sparsity.
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(s, sweep.mass_removed, "o-", label="|w| mass removed")
    ax.plot(s, sweep.energy_removed, "s-", label="w^2 energy removed")
    ax.plot(s, sweep.macs_removed, "^-", label="MACs of removed weights")
    if "raw" in result.sweeps:
        ax.plot(s, result.sweeps["raw"].macs_removed, "^--", color="0.5", label="MACs, raw ranking")
    ax.plot([0, 1], [0, 1], color="0.8", lw=0.5)
    ax.set_xlabel("global sparsity (share of weights removed)")
    ax.set_ylabel("share removed")
    ax.legend(fontsize=8)
    ax.set_title("Global magnitude pruning of effective weights", fontsize=10)

    # Per-layer share under the global threshold.
    ax = fig.add_subplot(1, 2, 2)
    grid = np.asarray(sweep.layer_removed)
    image = ax.imshow(grid, aspect="auto", vmin=0, vmax=1, cmap="magma")
    ax.set_yticks(np.arange(len(sweep.layers)), sweep.layers, fontsize=7)
    ax.set_xticks(np.arange(len(s)), [f"{v:g}" for v in s], fontsize=7)
    ax.set_xlabel("global sparsity")
    ax.set_title("Share of each layer's weights removed", fontsize=10)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return _save(fig, path)


def plot_channel_importance(result: GeneratorInspection, path: Path) -> Path:
    """Sorted channel importance of every channel group, per criterion."""
    criteria = list(result.importance)
    fig = Figure(figsize=(6 * len(criteria), 4.5))
    for k, criterion in enumerate(criteria):
        ax = fig.add_subplot(1, len(criteria), k + 1)
        groups = result.importance[criterion]
        line_colors, mappable = _ordered_colors(len(groups))
        for scores, color in zip(groups.values(), line_colors, strict=True):
            _plot_sorted_shares(ax, scores, color)
        ax.set_xlabel("channel rank / count")
        ax.set_ylabel("importance / largest in group")
        ax.set_ylim(bottom=0)
        ax.set_title(f"Channel importance, criterion '{criterion}'", fontsize=10)
        fig.colorbar(mappable, ax=ax, label="channel group index (forward order)")
    fig.tight_layout()
    return _save(fig, path)
