"""Training images held in memory as uint8, sampled by index.

synthfaces is rendered once into a pool of `pool_size` images; image folders and zips are decoded
once. Holding uint8 [N, 3, R, R] costs 3 KiB per image at 32x32 and keeps data loading out of the
training step entirely, which matters on a two-core machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


@dataclass
class ImagePool:
    """uint8 images [N, 3, R, R] and float labels [N, c_dim] (c_dim may be 0)."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor

    @property
    def resolution(self) -> int:
        return self.images.shape[-1]

    @property
    def c_dim(self) -> int:
        return self.labels.shape[1]

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] as float32 and their labels."""
        img = self.images[indices].float().div_(127.5).sub_(1.0)
        return img, self.labels[indices]


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """'synthfaces:size=1000,seed=3' -> ('synthfaces', {'size': '1000', 'seed': '3'})."""
    name, _, rest = spec.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--data {spec!r}: expected key=value after ':', got {item!r}")
        params[key.strip()] = value.strip()
    return name, params


def load_pool(spec: str, resolution: int, pool_size: int, with_labels: bool) -> ImagePool:
    """Load the whole training set named by `spec` into memory at `resolution`."""
    name, params = parse_spec(spec)
    if name == "synthfaces":
        from stylescope.data import SynthFacesDataset

        unknown = set(params) - {"size", "seed"}
        if unknown:
            raise ValueError(
                f"--data synthfaces: unknown parameters {sorted(unknown)}; use size, seed"
            )
        size = int(params.get("size", pool_size))
        seed = int(params.get("seed", 0))
        dataset = SynthFacesDataset(resolution, size=size, seed=seed)
        log.info("rendering %d synthfaces at %dx%d", size, resolution, resolution)
        chunks, labels = [], []
        for start in range(0, size, 1024):
            img, c = dataset.batch(torch.arange(start, min(start + 1024, size)).numpy())
            chunks.append(((img + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
            labels.append(c)
        images, label_tensor = torch.cat(chunks), torch.cat(labels).float()
    else:
        images, label_tensor = _load_image_dataset(spec, resolution)
    if not with_labels:
        label_tensor = torch.zeros(images.shape[0], 0)
    return ImagePool(spec, images.contiguous(), label_tensor)


def _load_image_dataset(path: str, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    from stylescope.data import DatasetError, ImageFolderDataset

    try:
        dataset = ImageFolderDataset(path, resolution)
    except DatasetError as error:
        raise ValueError(str(error)) from error
    log.info("decoding %d images of %s at %dx%d", len(dataset), path, resolution, resolution)
    images = torch.stack(
        [torch.from_numpy(dataset.load_uint8(i)).permute(2, 0, 1) for i in range(len(dataset))]
    )
    labels = torch.from_numpy(dataset.labels.copy())
    return images, labels.float()
