"""Turning image tensors into pictures: uint8 conversion, grids and PNG files."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] -> uint8 [N, H, W, C] (C = 1 or 3)."""
    if img.ndim != 4:
        raise ValueError(f"expected images [N, C, H, W], got shape {list(img.shape)}")
    x = (img.detach().float().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def make_grid(images: np.ndarray, columns: int | None = None, padding: int = 0) -> np.ndarray:
    """Tile uint8 [N, H, W, C] images into one [rows*H, columns*W, C] image."""
    n, height, width, channels = images.shape
    columns = columns or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / columns)
    grid = np.zeros(
        (rows * (height + padding) - padding, columns * (width + padding) - padding, channels),
        dtype=np.uint8,
    )
    for i in range(n):
        r, c = divmod(i, columns)
        y, x = r * (height + padding), c * (width + padding)
        grid[y : y + height, x : x + width] = images[i]
    return grid


def save_png(array: np.ndarray, path: str | os.PathLike) -> None:
    """Save a uint8 [H, W, C] array as PNG, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = array[..., 0] if array.shape[-1] == 1 else array
    Image.fromarray(image).save(path)


def save_image_grid(
    img: torch.Tensor, path: str | os.PathLike, columns: int | None = None, upscale: int = 1
) -> None:
    """Save [N, C, H, W] images in [-1, 1] as one PNG grid, optionally upscaled (nearest)."""
    grid = make_grid(to_uint8(img), columns)
    if upscale > 1:
        grid = grid.repeat(upscale, axis=0).repeat(upscale, axis=1)
    save_png(grid, path)
