"""Real image datasets by path: a folder tree or a zip of PNG/JPEG/WebP images, with labels.

Images are centre-cropped to a square and resized to the model resolution (Lanczos when
shrinking, bicubic when enlarging). Every mode is turned into 8-bit RGB: grayscale and palette
images are expanded, CMYK is converted, 16-bit images are scaled to 8 bits, and transparency is
composited onto white. Labels come from a `dataset.json` in the StyleGAN2-ADA layout or from
CelebA's `list_attr_celeba.txt`.

Bad input never stops a training run half-way. At construction every file's header is read:
zero-byte, unreadable, non-image and tiny files are skipped and listed in `skipped`, and an empty
folder, a zip with unsafe member names or a label file that does not match the images is a clear
error. A file that fails only when decoded later is logged, remembered, and replaced by the next
good image. `scan_dataset` decodes everything and reports.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp"}
LABEL_FILES = ("dataset.json", "list_attr_celeba.txt")
# Files that travel with a dataset and are neither images nor problems.
COMPANION_FILES = set(LABEL_FILES) | {"attributes.json", "regions.npy", "README.md", "LICENSE.txt"}


class DatasetError(ValueError):
    """A dataset path, archive or label file cannot be used; the message says why."""


# ------------------------------------------------------------------------------------------------
# Sources: folders and zips behind one interface.


class _Source:
    """Names (posix paths relative to the root) and bytes of the files of a folder or a zip."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        if not self.path.exists():
            raise DatasetError(f"{self.path}: no such file or folder")
        if self.path.is_dir():
            self.names = sorted(
                p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()
            )
        elif zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
            for member in members:
                _check_member_name(self.path, member.filename)
            self.names = sorted(m.filename for m in members)
        else:
            raise DatasetError(f"{self.path}: neither a folder nor a zip archive")

    def read(self, name: str) -> bytes:
        if self.path.is_dir():
            return (self.path / name).read_bytes()
        if self._zip is None:  # Opened lazily: each DataLoader worker gets its own handle.
            self._zip = zipfile.ZipFile(self.path)
        return self._zip.read(name)

    def size(self, name: str) -> int:
        if self.path.is_dir():
            return (self.path / name).stat().st_size
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip.getinfo(name).file_size

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_zip"] = None
        return state


def _check_member_name(archive: Path, name: str) -> None:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts:
        raise DatasetError(f"{archive}: refusing a zip with an unsafe member name {name!r}")


def _is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


# ------------------------------------------------------------------------------------------------
# Decoding.


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode; transparency is composited onto white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        image = Image.fromarray(array, mode="L")
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(array * 255 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def centre_crop_resize(image: Image.Image, resolution: int) -> Image.Image:
    """Crop the largest centred square, then resize it to resolution x resolution."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != resolution:
        method = Image.LANCZOS if side > resolution else Image.BICUBIC
        image = image.resize((resolution, resolution), method)
    return image


def _probe(data: bytes) -> tuple[tuple[int, int], str, str]:
    """(size, mode, format) from the header only."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size, image.mode, image.format or "?"


def _decode(data: bytes, resolution: int) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        image = centre_crop_resize(to_rgb(image), resolution)
        return np.array(image, dtype=np.uint8)


# ------------------------------------------------------------------------------------------------
# Labels.


def read_labels(source: _Source, image_names: list[str]) -> tuple[np.ndarray | None, list[str]]:
    """Labels [N, L] for `image_names` from dataset.json or list_attr_celeba.txt, if present."""
    present = [name for name in LABEL_FILES if name in source.names]
    if not present:
        return None, []
    if present[0] == "dataset.json":
        return _read_dataset_json(source, image_names)
    return _read_celeba(source, image_names)


def _match(source: _Source, kind: str, table: dict[str, object], image_names: list[str]):
    missing_files = sorted(set(table) - set(image_names))
    unlabelled = [n for n in image_names if n not in table]
    if missing_files:
        raise DatasetError(
            f"{source.path}: {kind} labels {len(missing_files)} files that are not usable images, "
            f"e.g. {missing_files[:3]}"
        )
    if unlabelled:
        raise DatasetError(
            f"{source.path}: {len(unlabelled)} images have no label in {kind}, "
            f"e.g. {unlabelled[:3]}"
        )
    return [table[n] for n in image_names]


def _read_dataset_json(source: _Source, image_names: list[str]):
    try:
        data = json.loads(source.read("dataset.json"))
        entries = data["labels"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise DatasetError(f"{source.path}: dataset.json is malformed ({error})") from error
    if entries is None:
        return None, []
    try:
        table = {str(name).replace("\\", "/"): value for name, value in entries}
    except (TypeError, ValueError) as error:
        raise DatasetError(
            f"{source.path}: dataset.json labels must be [name, label] pairs"
        ) from error
    values = _match(source, "dataset.json", table, image_names)
    if all(isinstance(v, int) for v in values):
        num_classes = max(values) + 1
        if min(values) < 0:
            raise DatasetError(f"{source.path}: dataset.json has negative class labels")
        labels = np.eye(num_classes, dtype=np.float32)[values]
        return labels, [f"class{i}" for i in range(num_classes)]
    try:
        labels = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise DatasetError(
            f"{source.path}: dataset.json labels are not numbers or lists"
        ) from error
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2:
        raise DatasetError(f"{source.path}: dataset.json labels have inconsistent lengths")
    names = data.get("label_names") or [f"label{i}" for i in range(labels.shape[1])]
    return labels, list(names)


def _read_celeba(source: _Source, image_names: list[str]):
    lines = source.read("list_attr_celeba.txt").decode("utf-8", "replace").splitlines()
    try:
        count = int(lines[0].strip())
        names = lines[1].split()
        rows = [line.split() for line in lines[2:] if line.strip()]
    except (IndexError, ValueError) as error:
        raise DatasetError(f"{source.path}: list_attr_celeba.txt is malformed") from error
    if len(rows) != count or any(len(r) != len(names) + 1 for r in rows):
        raise DatasetError(
            f"{source.path}: list_attr_celeba.txt declares {count} rows of {len(names)} "
            f"attributes but has {len(rows)} rows or rows of other lengths"
        )
    by_basename = {PurePosixPath(n).name: n for n in image_names}
    table = {by_basename.get(r[0], r[0]): [(int(v) + 1) / 2 for v in r[1:]] for r in rows}
    values = _match(source, "list_attr_celeba.txt", table, image_names)
    return np.asarray(values, dtype=np.float32), names


# ------------------------------------------------------------------------------------------------
# The dataset.


class ImageFolderDataset(torch.utils.data.Dataset):
    """Images of a folder tree or zip: item i is (img [3, R, R] in [-1, 1], c [L] labels).

    Args:
        path: folder or .zip.
        resolution: output side in pixels.
        use_labels: read dataset.json / list_attr_celeba.txt when present.
        min_size: images whose shorter side is below this are skipped.
    """

    num_channels = 3

    def __init__(
        self,
        path: str | os.PathLike,
        resolution: int,
        use_labels: bool = True,
        min_size: int = 8,
    ) -> None:
        if resolution < 1:
            raise DatasetError(f"resolution must be positive, got {resolution}")
        self.source = _Source(path)
        self.name = self.source.path.name
        self.resolution = resolution
        self.skipped: list[tuple[str, str]] = []
        self._bad: set[int] = set()

        # Step 1: keep files whose header reads as an image of a usable size.
        names = []
        for name in self.source.names:
            if not _is_image_name(name):
                if name not in COMPANION_FILES:
                    self.skipped.append((name, "not an image file"))
                continue
            reason = self._header_problem(name, min_size)
            if reason:
                self.skipped.append((name, reason))
            else:
                names.append(name)
        if not names:
            detail = (
                f" ({len(self.skipped)} files skipped: {self.skipped[:3]})" if self.skipped else ""
            )
            raise DatasetError(f"{self.source.path}: no usable images{detail}")
        self.image_names = names
        for name, reason in self.skipped:
            log.warning("%s: skipped %s (%s)", self.source.path, name, reason)

        # Step 2: labels.
        labels, self.label_names = read_labels(self.source, names) if use_labels else (None, [])
        self._labels = labels if labels is not None else np.zeros((len(names), 0), np.float32)

    def _header_problem(self, name: str, min_size: int) -> str | None:
        try:
            if self.source.size(name) == 0:
                return "empty file"
            (width, height), _, _ = _probe(self.source.read(name))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            return f"unreadable: {error}"
        if min(width, height) < min_size:
            return f"too small: {width}x{height} < {min_size}"
        return None

    @property
    def labels(self) -> np.ndarray:
        """All labels, float32 [N, label_dim]."""
        return self._labels

    @property
    def label_dim(self) -> int:
        return self._labels.shape[1]

    @property
    def has_labels(self) -> bool:
        return self.label_dim > 0

    def __len__(self) -> int:
        return len(self.image_names)

    def load_uint8(self, index: int) -> np.ndarray:
        """Image `index` as uint8 [R, R, 3]; a file that fails to decode is replaced by the next."""
        for offset in range(len(self)):
            i = (index + offset) % len(self)
            if i in self._bad:
                continue
            try:
                return _decode(self.source.read(self.image_names[i]), self.resolution)
            except (OSError, SyntaxError, ValueError) as error:
                self._bad.add(i)
                log.warning("%s: cannot decode %s (%s); using the next image",
                            self.source.path, self.image_names[i], error)  # fmt: skip
        raise DatasetError(f"{self.source.path}: no image could be decoded")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        array = self.load_uint8(index)
        img = torch.from_numpy(array).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
        return img, torch.from_numpy(self._labels[index])


# ------------------------------------------------------------------------------------------------
# Scanning and opening.


@dataclass
class DatasetReport:
    """What `scan_dataset` found."""

    path: str
    files: int = 0
    images: int = 0
    sizes: Counter = field(default_factory=Counter)
    modes: Counter = field(default_factory=Counter)
    formats: Counter = field(default_factory=Counter)
    duplicates: list[list[str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    labels: str = "none"

    @property
    def usable(self) -> bool:
        return self.images > 0

    def to_dict(self) -> dict:
        return {
            "path": self.path, "files": self.files, "images": self.images,
            "sizes": {f"{w}x{h}": n for (w, h), n in self.sizes.most_common()},
            "modes": dict(self.modes.most_common()), "formats": dict(self.formats.most_common()),
            "duplicates": self.duplicates, "problems": [list(p) for p in self.problems],
            "labels": self.labels, "usable": self.usable,
        }  # fmt: skip


def scan_dataset(path: str | os.PathLike, min_size: int = 8) -> DatasetReport:
    """Decode every file of a folder or zip and report counts, sizes, modes, duplicates and
    every problem. Raises DatasetError only when the path itself cannot be opened."""
    source = _Source(path)
    report = DatasetReport(str(source.path), files=len(source.names))
    hashes: dict[str, list[str]] = {}
    good = []
    for name in source.names:
        if name in COMPANION_FILES:
            continue
        if not _is_image_name(name):
            report.problems.append((name, "not an image file"))
            continue
        data = source.read(name)
        if not data:
            report.problems.append((name, "empty file"))
            continue
        try:
            size, mode, fmt = _probe(data)
            _decode(data, 8)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            report.problems.append((name, f"unreadable: {error}"))
            continue
        if min(size) < min_size:
            report.problems.append((name, f"too small: {size[0]}x{size[1]} < {min_size}"))
            continue
        report.images += 1
        report.sizes[size] += 1
        report.modes[mode] += 1
        report.formats[fmt] += 1
        hashes.setdefault(hashlib.sha1(data).hexdigest(), []).append(name)
        good.append(name)
    report.duplicates = [names for names in hashes.values() if len(names) > 1]
    try:
        labels, label_names = read_labels(source, good)
        if labels is not None:
            report.labels = f"{labels.shape[1]} labels ({', '.join(label_names[:5])}...)"
    except DatasetError as error:
        report.problems.append(("labels", str(error)))
        report.labels = "mismatched"
    return report


def open_dataset(spec: str, resolution: int):
    """'synthfaces[:size=N,seed=S]' or a folder/zip path, as a dataset of (img, c) items."""
    if spec == "synthfaces" or spec.startswith("synthfaces:"):
        from stylescope.data.synthfaces import SynthFacesDataset

        params = dict(item.split("=", 1) for item in spec.partition(":")[2].split(",") if item)
        unknown = set(params) - {"size", "seed"}
        if unknown:
            raise DatasetError(f"{spec}: unknown synthfaces parameters {sorted(unknown)}")
        return SynthFacesDataset(
            resolution, size=int(params.get("size", 10000)), seed=int(params.get("seed", 0))
        )
    return ImageFolderDataset(spec, resolution)
