"""Semantic directions in W and S: unsupervised, closed-form and supervised, saved with provenance.

* GANSpace (Haerkoenen et al., "GANSpace: Discovering Interpretable GAN Controls", NeurIPS 2020,
  arXiv:2004.02546): principal components of sampled w, applied to a range of layers.
* SeFa (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021,
  arXiv:2007.06600): eigenvectors of A^T A, where A stacks the style-affine weights of the chosen
  layers with each output unit's row scaled to unit length; no sampling, no training.
* InterFaceGAN (Shen et al., "Interpreting the Latent Space of GANs for Semantic Face Editing",
  CVPR 2020, arXiv:1907.10786): the normal of a linear boundary between the highest and lowest
  scoring samples of an attribute (here probe read-outs or user labels), and conditional
  directions that project out other attributes' normals.
* Single style channels of S (StyleSpace), as one-hot directions over the flat channel order of
  `stylespace.style_channels`.

A `Direction` holds a unit vector and a `scale`: the standard deviation of the latents along that
vector, so that an edit of strength 1 moves one standard deviation whatever the method, and
strengths are comparable across methods. Files are safetensors (the vector) with the rest as JSON
metadata, or plain JSON; both are checked on load.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from stylescope.checkpoint import CheckpointError, atomic_save_tensors, read_safetensors
from stylescope.latent.common import check_layers, device_of
from stylescope.latent.stylespace import StyleChannel, compute_styles, style_channels
from stylescope.networks import Generator

log = logging.getLogger(__name__)

DIRECTION_FORMAT = "stylescope-direction"
SPACES = ("w", "s")


class DirectionError(ValueError):
    """A direction file or request is malformed or does not fit the generator."""


@dataclass
class Direction:
    """A named edit direction.

    Attributes:
        name: what it edits, e.g. 'age', 'pca03', 'age_c_smile'.
        space: 'w' (vector of size w_dim, added to the ws at `layers`) or 's' (vector over every
            style channel, added to the styles of the layers it touches).
        vector: unit vector [w_dim] or [number of style channels].
        scale: standard deviation of the latents along `vector`; strength 1 moves this much.
        layers: ws indices the edit applies to ('w' only; None means all).
        provenance: method, generator file, layers, date, seed, N and method settings.
    """

    name: str
    space: str
    vector: torch.Tensor
    scale: float = 1.0
    layers: list[int] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise DirectionError(f"direction {self.name!r}: space must be one of {SPACES}")
        if self.vector.ndim != 1 or self.vector.numel() == 0:
            raise DirectionError(
                f"direction {self.name!r}: vector must be 1-D, got shape {list(self.vector.shape)}"
            )
        if not torch.isfinite(self.vector).all() or self.vector.norm() == 0:
            raise DirectionError(f"direction {self.name!r}: vector is zero or not finite")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise DirectionError(f"direction {self.name!r}: scale must be positive and finite")
        self.vector = (self.vector / self.vector.norm()).float().cpu()

    def check_fits(self, G: Generator) -> None:
        """Raise DirectionError when the vector or layers do not fit `G`."""
        size = G.w_dim if self.space == "w" else len(style_channels(G))
        if self.vector.numel() != size:
            raise DirectionError(
                f"direction {self.name!r}: {self.space} vector has {self.vector.numel()} entries, "
                f"this generator needs {size}"
            )
        if self.layers is not None:
            try:
                check_layers(G, self.layers)
            except ValueError as error:
                raise DirectionError(f"direction {self.name!r}: {error}") from error


def provenance(
    method: str, G: Generator, layers, seed: int | None, num_samples: int | None, **settings
) -> dict[str, Any]:
    """The record every direction file carries."""
    return {
        "method": method,
        "generator": getattr(G, "source_file", None) or f"config:{G.config.name}",
        "layers": layers,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "num_samples": num_samples,
        **settings,
    }


# ------------------------------------------------------------------------------------------------
# Files.


def save_direction(path: str | os.PathLike, direction: Direction) -> Path:
    """Write `direction` as .safetensors (vector + JSON metadata) or .json (everything)."""
    path = Path(path)
    meta = {
        "format": DIRECTION_FORMAT,
        "name": direction.name,
        "space": direction.space,
        "scale": direction.scale,
        "layers": direction.layers,
        "provenance": direction.provenance,
    }
    if path.suffix == ".json":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(meta | {"vector": direction.vector.tolist()}, indent=1))
    elif path.suffix == ".safetensors":
        metadata = {k: json.dumps(v) for k, v in meta.items()}
        atomic_save_tensors(path, {"vector": direction.vector}, metadata)
    else:
        raise DirectionError(f"{path}: direction files end in .safetensors or .json")
    log.info("saved direction %s to %s", direction.name, path)
    return path


def load_direction(path: str | os.PathLike) -> Direction:
    """Read a direction file written by `save_direction`, checking every field."""
    path = Path(path)
    if not path.is_file():
        raise DirectionError(f"{path}: no such direction file")
    try:
        if path.suffix == ".json":
            meta = json.loads(path.read_text())
            if not isinstance(meta, dict):
                raise DirectionError("the file does not hold a JSON object")
            vector = torch.tensor(meta.pop("vector"), dtype=torch.float32)
        else:
            tensors, raw = read_safetensors(path)
            meta = {k: json.loads(v) for k, v in raw.items()}
            if set(tensors) != {"vector"}:
                raise DirectionError(f"expected one tensor 'vector', found {sorted(tensors)}")
            vector = tensors["vector"].float()
        if meta.get("format") != DIRECTION_FORMAT:
            raise DirectionError(f"format is {meta.get('format')!r}, not {DIRECTION_FORMAT!r}")
        layers = meta.get("layers")
        if layers is not None and not (
            isinstance(layers, list) and all(isinstance(i, int) for i in layers)
        ):
            raise DirectionError(f"layers must be a list of integers or null, got {layers!r}")
        return Direction(
            name=str(meta["name"]),
            space=str(meta["space"]),
            vector=vector,
            scale=float(meta.get("scale", 1.0)),
            layers=layers,
            provenance=dict(meta.get("provenance") or {}),
        )
    except DirectionError as error:
        raise DirectionError(f"{path}: malformed direction file: {error}") from error
    except (CheckpointError, KeyError, TypeError, ValueError) as error:
        raise DirectionError(f"{path}: malformed direction file ({error!r})") from error


def find_direction(name_or_path: str, folder: str | os.PathLike | None = None) -> Direction:
    """A direction by file path, or by name inside `folder` (NAME.safetensors or NAME.json)."""
    path = Path(name_or_path)
    if path.suffix in (".safetensors", ".json") and path.is_file():
        return load_direction(path)
    if folder is not None:
        for suffix in (".safetensors", ".json"):
            candidate = Path(folder) / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return load_direction(candidate)
        files = list(Path(folder).glob("*.safetensors")) + list(Path(folder).glob("*.json"))
        known = sorted({p.stem for p in files} - {"directions"})
        raise DirectionError(
            f"unknown direction {name_or_path!r} in {folder}; known: {', '.join(known) or 'none'}"
        )
    raise DirectionError(f"unknown direction {name_or_path!r}: give a file or a directions folder")


# ------------------------------------------------------------------------------------------------
# Scale: the standard deviation of the latents along a direction.


def w_std_along(w: torch.Tensor, vector: torch.Tensor) -> float:
    """Standard deviation of samples w [N, D] projected on `vector` (made unit length)."""
    unit = vector / vector.norm()
    return float((w.float() @ unit.to(w.device)).std())


def style_samples(G: Generator, w: torch.Tensor) -> torch.Tensor:
    """Flat styles [N, number of style channels] of w [N, w_dim], in `style_channels` order."""
    with torch.no_grad():
        ws = w.to(device_of(G))[:, None].repeat(1, G.num_ws, 1)
        return torch.cat(list(compute_styles(G, ws).values()), dim=1).cpu()


# ------------------------------------------------------------------------------------------------
# GANSpace: PCA in W.


def pca(samples: torch.Tensor, num_components: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal axes [K, D] (unit rows, largest variance first) and their variances [K]."""
    if samples.ndim != 2 or samples.shape[0] < 2:
        raise ValueError(f"PCA needs samples [N >= 2, D], got {list(samples.shape)}")
    x = samples.double() - samples.double().mean(dim=0)
    cov = x.T @ x / (x.shape[0] - 1)
    variances, vectors = torch.linalg.eigh(cov)
    order = variances.argsort(descending=True)[:num_components]

    # Fix each axis's sign so that its largest entry is positive (eigh's sign is arbitrary).
    axes = vectors[:, order].T
    signs = torch.sign(axes.gather(1, axes.abs().argmax(dim=1, keepdim=True)))
    return (axes * signs).float(), variances[order].clamp_min(0).float()


def ganspace_directions(
    G: Generator,
    num_components: int = 16,
    num_samples: int = 10_000,
    seed: int = 0,
    layers: list[int] | None = None,
) -> list[Direction]:
    """PCA of sampled w (no truncation); each component's scale is its standard deviation."""
    layers = check_layers(G, layers) if layers is not None else None
    w = sample_w_cached(G, num_samples, seed)
    axes, variances = pca(w, min(num_components, G.w_dim))
    record = provenance("ganspace", G, layers, seed, num_samples)
    return [
        Direction(
            f"pca{k:02d}",
            "w",
            axes[k],
            float(variances[k].sqrt()),
            layers,
            record | {"component": k, "variance": float(variances[k])},
        )
        for k in range(axes.shape[0])
    ]


def sample_w_cached(G: Generator, num_samples: int, seed: int) -> torch.Tensor:
    """`common.sample_w`, memoised on the generator object for repeated calls with equal args."""
    from stylescope.latent.common import sample_w

    cache = G.__dict__.setdefault("_latent_w_cache", {})
    key = (num_samples, seed)
    if key not in cache:
        cache.clear()
        cache[key] = sample_w(G, num_samples, seed)
    return cache[key]


# ------------------------------------------------------------------------------------------------
# SeFa: closed-form factorisation of the style affines.


def sefa_weight(G: Generator, layers: list[int] | None = None) -> torch.Tensor:
    """A [sum of style channels, w_dim]: effective affine weights of the style layers that read
    the ws indices `layers`, each row (one output unit) scaled to unit length."""
    layers = check_layers(G, layers)
    rows = [
        info.affine.effective_weight().detach().float().cpu()
        for info in G.style_layers()
        if info.w_index in layers
    ]
    weight = torch.cat(rows)
    return weight / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)


def sefa_factorise(G: Generator, layers: list[int] | None = None):
    """Eigenvalues [w_dim] (descending) and unit eigenvectors [w_dim, w_dim] (rows) of A^T A."""
    weight = sefa_weight(G, layers).double()
    eigenvalues, eigenvectors = torch.linalg.eigh(weight.T @ weight)
    order = eigenvalues.argsort(descending=True)
    vectors = eigenvectors[:, order].T
    signs = torch.sign(vectors.gather(1, vectors.abs().argmax(dim=1, keepdim=True)))
    return eigenvalues[order].float(), (vectors * signs).float()


def sefa_directions(
    G: Generator,
    num_components: int = 16,
    layers: list[int] | None = None,
    num_samples: int = 2_000,
    seed: int = 0,
) -> list[Direction]:
    """SeFa directions applied to `layers`; scales are measured on `num_samples` sampled w."""
    layers = check_layers(G, layers) if layers is not None else None
    eigenvalues, vectors = sefa_factorise(G, layers)
    w = sample_w_cached(G, num_samples, seed)
    record = provenance("sefa", G, layers, seed, num_samples)
    directions = []
    for k in range(min(num_components, vectors.shape[0])):
        extra = {"component": k, "eigenvalue": float(eigenvalues[k])}
        scale = w_std_along(w, vectors[k])
        directions.append(Direction(f"sefa{k:02d}", "w", vectors[k], scale, layers, record | extra))
    return directions


# ------------------------------------------------------------------------------------------------
# Supervised boundaries (InterFaceGAN) and conditional directions.


def linear_boundary(
    w: torch.Tensor, scores: torch.Tensor, ratio: float = 0.25, steps: int = 200
) -> tuple[torch.Tensor, float]:
    """Unit normal [D] of a logistic-regression boundary between the top and bottom `ratio` of
    samples by score, and its accuracy on a held-out 30% of those samples.

    InterFaceGAN fits a linear SVM on the top and bottom 2% of 500k samples; with the few
    thousand samples a CPU affords, wider tails and logistic loss give a steadier normal.
    """
    if w.ndim != 2 or scores.shape != (w.shape[0],):
        raise ValueError(f"need w [N, D] and scores [N], got {list(w.shape)}, {list(scores.shape)}")
    if not 0 < ratio <= 0.5:
        raise ValueError(f"ratio must be in (0, 0.5], got {ratio}")
    count = max(2, int(len(scores) * ratio))
    order = scores.argsort()
    idx = torch.cat([order[:count], order[-count:]])
    labels = torch.cat([torch.zeros(count), torch.ones(count)])

    # Standardise, shuffle, split 70/30.
    perm = torch.randperm(len(idx), generator=torch.Generator().manual_seed(0))
    idx, labels = idx[perm], labels[perm]
    x = w[idx].double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    x = (x - mean) / std
    split = max(1, int(0.7 * len(idx)))
    x_train, y_train = x[:split], labels[:split].double()

    # L2-regularised logistic regression with L-BFGS.
    weight = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = x_train @ weight + bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y_train)
        loss = loss + 1e-3 * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)

    # Back to raw w coordinates: the boundary normal is weight / std.
    with torch.no_grad():
        x_test, y_test = x[split:], labels[split:]
        accuracy = float(((x_test @ weight + bias > 0).float() == y_test).float().mean())
        normal = (weight / std).float()
    return normal / normal.norm().clamp_min(1e-12), accuracy


def supervised_direction(
    G: Generator,
    name: str,
    w: torch.Tensor,
    scores: torch.Tensor,
    ratio: float = 0.25,
    layers: list[int] | None = None,
    seed: int | None = None,
    source: str = "probe",
) -> Direction:
    """InterFaceGAN-style direction for attribute `name` from sampled w [N, w_dim] and their
    scores [N] (probe read-outs or user labels)."""
    normal, accuracy = linear_boundary(w, scores, ratio)
    record = provenance(
        "supervised",
        G,
        layers,
        seed,
        len(scores),
        labels=source,
        ratio=ratio,
        held_out_accuracy=accuracy,
    )
    return Direction(name, "w", normal, w_std_along(w, normal), layers, record)


def project_out(primary: torch.Tensor, conditions: list[torch.Tensor]) -> torch.Tensor:
    """`primary` with its component in the span of `conditions` removed, re-normalised.

    This is InterFaceGAN's conditional manipulation for any number of conditions: a least-squares
    projection onto the orthogonal complement of the condition normals.
    """
    if not conditions:
        return primary / primary.norm()
    basis = torch.stack([c.double() for c in conditions], dim=1)  # [D, K]
    q, _ = torch.linalg.qr(basis)
    p = primary.double()
    residual = p - q @ (q.T @ p)
    if residual.norm() < 1e-6 * p.norm():
        raise DirectionError("the primary direction lies in the span of the conditions")
    return (residual / residual.norm()).float()


def conditional_direction(
    primary: Direction, conditions: list[Direction], w: torch.Tensor | None = None
) -> Direction:
    """A copy of `primary` that does not move the `conditions` (all in W), named 'a_c_b_c'."""
    if primary.space != "w" or any(c.space != "w" for c in conditions):
        raise DirectionError("conditional editing needs W directions")
    vector = project_out(primary.vector, [c.vector for c in conditions])
    scale = w_std_along(w, vector) if w is not None else primary.scale
    names = [c.name for c in conditions]
    record = primary.provenance | {"conditioned_on": names, "method": "supervised-conditional"}
    name = primary.name + "".join(f"_c_{n}" for n in names)
    return Direction(name, "w", vector, scale, primary.layers, record)


# ------------------------------------------------------------------------------------------------
# Style-space channels.


def channel_direction(G: Generator, channel: StyleChannel, scale: float, **settings) -> Direction:
    """One-hot S direction for one style channel; `scale` is that channel's standard deviation."""
    vector = torch.zeros(len(style_channels(G)))
    vector[channel.index] = 1
    record = provenance(
        "stylespace-channel",
        G,
        None,
        None,
        None,
        layer=channel.layer,
        channel=channel.channel,
        **settings,
    )
    return Direction(f"s_{channel.layer}_{channel.channel}", "s", vector, scale, None, record)
