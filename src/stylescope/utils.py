"""Small helpers shared by every subpackage: shape checks, seeding and device selection."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch


class ShapeError(ValueError):
    """A tensor entered a module with a shape the module cannot take."""


def assert_shape(tensor: torch.Tensor, shape: Sequence[int | None], name: str = "tensor") -> None:
    """Check `tensor.shape` against `shape`, where `None` matches any size.

    The error names the tensor, the first dimension that differs and both sizes, so that a wrong
    `ws` or a pruned channel count is found where it enters a module.
    """
    if tensor.ndim != len(shape):
        raise ShapeError(
            f"{name}: expected {len(shape)} dimensions {_fmt(shape)}, "
            f"got {tensor.ndim} dimensions {list(tensor.shape)}"
        )
    for dim, (size, expected) in enumerate(zip(tensor.shape, shape, strict=True)):
        if expected is None:
            continue
        if isinstance(expected, torch.Tensor):
            expected = int(expected)
        if size != expected:
            raise ShapeError(
                f"{name}: dimension {dim} has size {size}, expected {expected} "
                f"(expected shape {_fmt(shape)}, got {list(tensor.shape)})"
            )


def _fmt(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch generators of this process."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def resolve_device(name: str | None = None) -> torch.device:
    """Turn 'auto', 'cpu', 'cuda' or 'cuda:N' into a device; 'auto' prefers CUDA when present."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but CUDA is not available here")
    return device


def latents_from_seeds(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """One z per seed, each drawn from its own generator so that seed k always gives the same z."""
    rows = [torch.from_numpy(np.random.RandomState(s).randn(z_dim)) for s in seeds]
    return torch.stack(rows).float()
