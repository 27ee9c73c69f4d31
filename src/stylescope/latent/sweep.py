"""Per-dimension sweeps of Z, W and S, and the semantic map they produce.

For each swept coordinate (a z or w coordinate, or a style channel of S) every seed is rendered
at -amount and +amount standard deviations along it, and the sweep records:

* the change map: mean over seeds of |img(+) - img(-)| (averaged over RGB), [R, R];
* localisation: the probe parses each seed's unedited image into `REGION_NAMES`. Per seed, the
  winning region is the one with the highest change energy per pixel among regions covering at
  least 1% of the image; the coordinate is 'localised' to region r when r wins for at least half
  of the seeds and its change-energy share is at least twice its area share (after StyleSpace's
  rule of a majority winner with a margin, using region masks instead of gradient maps);
* the effect on each probe attribute: (read-out at + minus read-out at -) / (2 amount), in units
  of the attribute's range per standard deviation, averaged over seeds;
* the colour share of the change (`colour.change_decomposition`).

`SemanticMap` ranks coordinates per attribute and per region and is saved as JSON, which the
editor reads back with `direction_from_semantic_map`. Z and W coordinates are arbitrary axes
(Z is isotropic); only S channels are expected to be individually meaningful.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stylescope.data.synthfaces import ATTRIBUTE_NAMES, ATTRIBUTE_RANGES, REGION_NAMES
from stylescope.latent.colour import change_decomposition
from stylescope.latent.common import attribute_index, device_of, read_attribute_matrix, render
from stylescope.latent.directions import Direction, DirectionError, channel_direction, provenance
from stylescope.latent.perturb import LatentStats, Perturbation, render_perturbed
from stylescope.latent.stylespace import style_channels
from stylescope.metrics.probes import FaceProbe
from stylescope.networks import Generator
from stylescope.utils import latents_from_seeds

log = logging.getLogger(__name__)

SEMANTIC_MAP_FORMAT = "stylescope-semantic-map"
MIN_REGION_AREA = 0.01
CONTINUOUS_ATTRIBUTES = [n for n in ATTRIBUTE_NAMES if ATTRIBUTE_RANGES[n][2] == "continuous"]


@dataclass
class SemanticMap:
    """Sweep results: one entry per coordinate, rankings, and the change maps [D, R, R]."""

    space: str
    amount: float
    seeds: list[int]
    entries: list[dict] = field(default_factory=list)
    change_maps: np.ndarray | None = None
    generator: str = ""

    def ranked_by_attribute(self, top: int = 10) -> dict[str, list[dict]]:
        """Per attribute: coordinates with the largest |effect|, largest first."""
        result = {}
        for name in ATTRIBUTE_NAMES:
            order = sorted(self.entries, key=lambda e: -abs(e["attributes"].get(name, 0.0)))
            result[name] = [{"dim": e["dim"], "effect": e["attributes"][name]} for e in order[:top]]
        return result

    def ranked_by_region(self, top: int = 10) -> dict[str, list[dict]]:
        """Per region: coordinates localised to it, highest lift first."""
        result = {}
        for region in REGION_NAMES:
            hits = [e for e in self.entries if e["localised"] and e["top_region"] == region]
            hits.sort(key=lambda e: -e["region_lift"][region])
            result[region] = [{"dim": e["dim"], "lift": e["region_lift"][region]} for e in hits]
            result[region] = result[region][:top]
        return result

    def to_json(self) -> dict:
        return {
            "format": SEMANTIC_MAP_FORMAT,
            "space": self.space,
            "amount": self.amount,
            "seeds": self.seeds,
            "generator": self.generator,
            "entries": self.entries,
            "ranked": {"attribute": self.ranked_by_attribute(), "region": self.ranked_by_region()},
        }

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path


def load_semantic_map(path: str | os.PathLike) -> dict:
    """Read a semantic map JSON, checking its format and fields."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        if data.get("format") != SEMANTIC_MAP_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}")
        if data["space"] not in ("z", "w", "s") or not isinstance(data["entries"], list):
            raise ValueError("bad space or entries")
        return data
    except (OSError, ValueError, KeyError, AttributeError) as error:
        raise DirectionError(f"{path}: not a readable semantic map ({error})") from error


@torch.no_grad()
def sweep(
    G: Generator,
    probe: FaceProbe,
    space: str,
    dims: Sequence[int],
    seeds: Sequence[int],
    stats: LatentStats,
    amount: float = 3.0,
    progress: Callable[[int], None] | None = None,
) -> SemanticMap:
    """Sweep coordinates `dims` of `space` ('z', 'w' or 's' flat channel indices) on `seeds`."""
    size = {"z": G.z_dim, "w": G.w_dim, "s": len(style_channels(G))}[space]
    bad = [d for d in dims if not 0 <= d < size]
    if bad:
        raise ValueError(f"{space} coordinates {bad[:5]} are outside 0..{size - 1}")
    channels = style_channels(G) if space == "s" else None
    n = len(seeds)
    z = latents_from_seeds(seeds, G.z_dim).to(device_of(G))

    # Regions of the unedited images.
    base = render(G, G.mapping(z, None))
    regions = probe.parse_regions(base.to(next(probe.parameters()).device)).cpu()  # [N, R, R]
    masks = torch.stack([regions == r for r in range(len(REGION_NAMES))], 1).float()
    area = masks.mean(dim=[2, 3])  # [N, regions]

    result = SemanticMap(space, amount, list(seeds), generator=getattr(G, "source_file", ""))
    maps = []
    z2 = torch.cat([z, z])
    signs = torch.cat([torch.full([n], amount), torch.full([n], -amount)])
    # TODO(speed): one render call per coordinate; stacking several coordinates per batch would
    # help full S sweeps of large generators (9,088 channels at 1024 px).
    for dim in dims:
        p = Perturbation(f"{space}{dim}", space, "dim", amount, None, dim)
        img = render_perturbed(G, z2, p, stats, signs)
        plus, minus = img[:n], img[n:]

        # Change map and its localisation.
        change = (plus - minus).abs().mean(dim=1)  # [N, R, R]
        energy = (change.square()[:, None] * masks).sum(dim=[2, 3])  # [N, regions]
        share = energy / energy.sum(dim=1, keepdim=True).clamp_min(1e-12)
        density = torch.where(area >= MIN_REGION_AREA, share / area.clamp_min(1e-12), -1.0)
        winners = density.argmax(dim=1)
        top = int(torch.bincount(winners, minlength=len(REGION_NAMES)).argmax())
        wins = float((winners == top).float().mean())
        lift = share.mean(0) / area.mean(0).clamp_min(1e-12)
        localised = wins >= 0.5 and float(lift[top]) >= 2.0

        # Attribute effects per standard deviation, and the colour share.
        attrs = read_attribute_matrix(probe, img)
        effect = ((attrs[:n] - attrs[n:]) / (2 * amount)).mean(0)
        parts = change_decomposition(minus, plus)
        entry = {
            "dim": dim,
            "change": float(change.mean()),
            "colour_share": float(parts["colour_share"].mean()),
            "top_region": REGION_NAMES[top],
            "top_region_wins": wins,
            "localised": bool(localised),
            "region_share": {r: float(share[:, i].mean()) for i, r in enumerate(REGION_NAMES)},
            "region_lift": {r: float(lift[i]) for i, r in enumerate(REGION_NAMES)},
            "attributes": {a: float(effect[i]) for i, a in enumerate(ATTRIBUTE_NAMES)},
        }
        strongest = max(CONTINUOUS_ATTRIBUTES, key=lambda a: abs(float(effect[attribute_index(a)])))
        entry["top_attribute"] = strongest
        if space == "s":
            entry |= {
                "layer": channels[dim].layer,
                "channel": channels[dim].channel,
                "scale": float(stats.s_std[dim]),
            }
        elif space == "w":
            entry["scale"] = float(stats.w_std[dim])
        else:
            entry["scale"] = 1.0
        result.entries.append(entry)
        maps.append(change.mean(0).numpy())
        if progress:
            progress(dim)
    result.change_maps = np.stack(maps) if maps else None
    return result


def direction_from_semantic_map(
    G: Generator, semantic_map: dict, attribute: str, rank: int = 0
) -> Direction:
    """The `rank`-th coordinate of a semantic map for `attribute`, as a W or S direction whose
    positive strength increases the attribute."""
    space = semantic_map["space"]
    if space == "z":
        raise DirectionError("Z coordinates cannot be edited as directions; sweep W or S instead")
    if attribute not in ATTRIBUTE_NAMES:
        known = ", ".join(ATTRIBUTE_NAMES)
        raise DirectionError(f"unknown attribute {attribute!r}; known: {known}")
    order = sorted(semantic_map["entries"], key=lambda e: -abs(e["attributes"][attribute]))
    if rank >= len(order):
        raise DirectionError(f"the semantic map has only {len(order)} entries")
    entry = order[rank]
    sign = 1.0 if entry["attributes"][attribute] >= 0 else -1.0
    if space == "s":
        channel = style_channels(G)[entry["dim"]]
        if (channel.layer, channel.channel) != (entry["layer"], entry["channel"]):
            raise DirectionError("the semantic map was made for a different generator layout")
        direction = channel_direction(G, channel, entry["scale"], attribute=attribute)
        direction.vector = direction.vector * sign
        direction.name = f"{attribute}_{direction.name}"
        return direction
    vector = torch.zeros(G.w_dim)
    vector[entry["dim"]] = sign
    record = provenance(
        "w-coordinate",
        G,
        None,
        None,
        len(semantic_map["seeds"]),
        dim=entry["dim"],
        attribute=attribute,
    )
    return Direction(f"{attribute}_w{entry['dim']}", "w", vector, entry["scale"], None, record)
