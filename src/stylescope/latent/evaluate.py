"""Measured comparison of edit directions: precision and side effects per target attribute.

For a direction and a target attribute, every evaluation seed is edited at each strength (in
standard deviations of the latents along the direction, see `directions.Direction`), the probe
reads all attributes, and a least-squares line over the strengths gives, per attribute, the change
per unit strength in units of that attribute's range:

* precision: the slope of the target attribute (signed; directions are oriented to increase it);
* side effects: the slopes of every other attribute, summarised as their mean |slope| and the
  largest one; `specificity` = |precision| / (|precision| + sum of |side slopes|);
* identity change: the probe-feature distance between the unedited and the most strongly edited
  images (a synthfaces stand-in; dlib face descriptors are not used in this package).

Unsupervised directions (PCA, SeFa) and S channels carry no attribute name, so for each target the
candidate with the largest |target slope| on separate calibration seeds is chosen and oriented;
only then is it measured on the evaluation seeds. S-channel candidates are pre-ranked by the
gradient of the probe's target read-out with respect to every style channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch

from stylescope.data.synthfaces import ATTRIBUTE_NAMES
from stylescope.latent.common import (
    EDIT_ATTRIBUTES,
    attribute_index,
    device_of,
    read_attribute_matrix,
    render,
)
from stylescope.latent.directions import Direction, channel_direction
from stylescope.latent.edit import edit
from stylescope.latent.stylespace import style_channels, style_dims, style_offsets
from stylescope.metrics.probes import CONTINUOUS, FaceProbe, probe_feature_distance
from stylescope.networks import Generator

log = logging.getLogger(__name__)


@torch.no_grad()
def attribute_slopes(
    G: Generator,
    probe: FaceProbe,
    ws: torch.Tensor,
    direction: Direction,
    strengths: Sequence[float],
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Per-seed slopes [N, A] of every attribute against strength, their mean [A], and the mean
    probe-feature distance between strength 0 and the largest |strength|."""
    img = edit(G, ws, direction, strengths)  # [N, K, C, R, R]
    n, k = img.shape[:2]
    attrs = read_attribute_matrix(probe, img.flatten(0, 1)).reshape(n, k, -1)

    # Least-squares slope per seed and attribute.
    s = torch.tensor(list(strengths), dtype=torch.float32)
    s_centred = s - s.mean()
    slopes = torch.einsum("k,nka->na", s_centred, attrs - attrs.mean(1, keepdim=True))
    slopes = slopes / s_centred.square().sum().clamp_min(1e-12)

    # Identity change at the strongest strength.
    base = render(G, ws)
    far = img[:, int(s.abs().argmax())]
    device = next(probe.parameters()).device
    identity = float(probe_feature_distance(probe, base.to(device), far.to(device)).mean())
    return slopes, slopes.mean(0), identity


def summarise_effects(mean_slopes: torch.Tensor, target: str) -> dict:
    """Precision, side effects and specificity of one direction for `target`."""
    t = attribute_index(target)
    side = {n: float(mean_slopes[i]) for i, n in enumerate(ATTRIBUTE_NAMES) if i != t}
    side_abs = [abs(v) for v in side.values()]
    precision = float(mean_slopes[t])
    worst = max(side, key=lambda n: abs(side[n]))
    return {
        "precision": precision,
        "side_effects": side,
        "side_mean_abs": sum(side_abs) / len(side_abs),
        "worst_side_effect": worst,
        "worst_side_slope": side[worst],
        "specificity": abs(precision) / max(abs(precision) + sum(side_abs), 1e-12),
    }


def select_direction(
    G: Generator,
    probe: FaceProbe,
    candidates: Sequence[Direction],
    target: str,
    ws_calibration: torch.Tensor,
    strength: float = 2.0,
) -> tuple[Direction, float]:
    """The candidate moving `target` most on the calibration ws, oriented to increase it."""
    t = attribute_index(target)
    best, best_slope = None, 0.0
    for candidate in candidates:
        _, mean, _ = attribute_slopes(G, probe, ws_calibration, candidate, [-strength, strength])
        if best is None or abs(float(mean[t])) > abs(best_slope):
            best, best_slope = candidate, float(mean[t])
    if best_slope < 0:
        best = Direction(
            best.name,
            best.space,
            -best.vector,
            best.scale,
            best.layers,
            best.provenance | {"flipped": True},
        )
    return best, abs(best_slope)


def style_channel_gradients(
    G: Generator, probe: FaceProbe, ws: torch.Tensor, target: str, s_std: torch.Tensor
) -> torch.Tensor:
    """d(mean target read-out)/d(style channel) * channel std, flat over S: [style channels]."""
    if target not in CONTINUOUS:
        raise ValueError(f"gradient ranking needs a continuous attribute, not {target!r}")
    dims = style_dims(G)
    offsets = {name: torch.zeros(count, requires_grad=True) for name, count in dims.items()}
    with torch.enable_grad(), style_offsets(G, offsets):
        img = G.synthesis(ws.to(device_of(G)), noise_mode="const")
        value = probe(img).continuous[:, CONTINUOUS.index(target)].mean()
        grads = torch.autograd.grad(value, list(offsets.values()))
    return torch.cat(grads).cpu() * s_std


def style_channel_candidates(
    G: Generator,
    probe: FaceProbe,
    ws: torch.Tensor,
    target: str,
    s_std: torch.Tensor,
    count: int = 8,
) -> list[Direction]:
    """The `count` style channels with the largest gradient-estimated effect on `target`."""
    effect = style_channel_gradients(G, probe, ws, target, s_std)
    channels = style_channels(G)
    top = effect.abs().argsort(descending=True)[:count].tolist()
    return [channel_direction(G, channels[i], float(s_std[i]), ranked_for=target) for i in top]


def evaluate_directions(
    G: Generator,
    probe: FaceProbe,
    methods: dict[str, dict[str, Direction] | Sequence[Direction]],
    ws_eval: torch.Tensor,
    ws_calibration: torch.Tensor,
    strengths: Sequence[float] = (-2.0, -1.0, 0.0, 1.0, 2.0),
    targets: Sequence[str] = EDIT_ATTRIBUTES,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """One result row per (target, method).

    `methods` maps a method name to either named directions (one per target, used as given) or a
    list of candidates (selected per target on `ws_calibration`).
    """
    rows = []
    for target in targets:
        for method, directions in methods.items():
            # Pick the direction for this target.
            if isinstance(directions, dict):
                if target not in directions:
                    continue
                direction, calibration_slope = directions[target], None
            else:
                direction, calibration_slope = select_direction(
                    G, probe, directions, target, ws_calibration
                )

            # Measure it on the evaluation seeds.
            _, mean, identity = attribute_slopes(G, probe, ws_eval, direction, strengths)
            row = {
                "target": target,
                "method": method,
                "direction": direction.name,
                "space": direction.space,
                "layers": direction.layers,
                "calibration_slope": calibration_slope,
                "identity_change": identity,
                "num_seeds": int(ws_eval.shape[0]),
                "strengths": list(strengths),
            }
            row |= summarise_effects(mean, target)
            rows.append(row)
            log.info("%s / %s: precision %.4f", target, method, row["precision"])
            if progress:
                progress(f"{target}/{method}")
    return rows
