"""Image folders and zips: modes, crops, labels, and every kind of bad input."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from stylescope.data import DatasetError, ImageFolderDataset, open_dataset, scan_dataset


def _png(path, size=(40, 30), mode="RGB", color=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "faces"
    _png(root / "a.png")
    _png(root / "sub" / "b.jpg", color=(10, 200, 10))
    Image.new("RGB", (64, 64), (0, 0, 250)).save(root / "c.webp")
    return root


def test_folder_loads_crops_and_resizes(folder):
    dataset = ImageFolderDataset(folder, resolution=16)
    assert len(dataset) == 3 and dataset.image_names == ["a.png", "c.webp", "sub/b.jpg"]
    img, c = dataset[0]
    assert img.shape == (3, 16, 16) and c.shape == (0,)
    assert img[0].mean() > 0.5 and img[1].mean() < -0.5  # red survives
    assert not dataset.has_labels


@pytest.mark.parametrize(
    ("mode", "color"),
    [("L", 128), ("P", 3), ("CMYK", (0, 255, 255, 0)), ("RGBA", (255, 0, 0, 0)),
     ("LA", (50, 255)), ("I;16", 40000)],
)  # fmt: skip
def test_every_mode_becomes_rgb(tmp_path, mode, color):
    name = "x.jpg" if mode == "CMYK" else "x.png"
    Image.new(mode, (20, 20), color).save(tmp_path / name)
    img, _ = ImageFolderDataset(tmp_path, resolution=8)[0]
    assert img.shape == (3, 8, 8) and torch.isfinite(img).all()
    if mode == "RGBA":  # fully transparent red is composited onto white
        assert img.min() > 0.99
    if mode == "I;16":
        assert img.mean().item() == pytest.approx(40000 / 65535 * 2 - 1, abs=0.02)


def test_bad_files_are_skipped_and_listed(tmp_path):
    _png(tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.png").write_bytes(b"this is not a png")
    _png(tmp_path / "tiny.png", size=(4, 4))
    good = (tmp_path / "good.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    dataset = ImageFolderDataset(tmp_path, resolution=8)
    reasons = dict(dataset.skipped)
    assert reasons["empty.png"] == "empty file"
    assert reasons["notes.txt"] == "not an image file"
    assert reasons["fake.png"].startswith("unreadable")
    assert reasons["tiny.png"].startswith("too small")
    # The truncated file has a valid header: it is caught when decoded and replaced.
    names = dataset.image_names
    assert "good.png" in names
    for i in range(len(dataset)):
        assert torch.isfinite(dataset[i][0]).all()


def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(DatasetError, match="no usable images"):
        ImageFolderDataset(tmp_path, resolution=8)
    with pytest.raises(DatasetError, match="no such file"):
        ImageFolderDataset(tmp_path / "absent", resolution=8)
    (tmp_path / "plain.bin").write_bytes(b"x")
    with pytest.raises(DatasetError, match="neither a folder nor a zip"):
        ImageFolderDataset(tmp_path / "plain.bin", resolution=8)


@pytest.mark.parametrize("name", ["../evil.png", "/abs.png", "a/../../b.png", "C:/x.png"])
def test_zip_with_unsafe_names_is_refused(tmp_path, name):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(name, b"x")
    with pytest.raises(DatasetError, match="unsafe member name"):
        ImageFolderDataset(archive, resolution=8)


def test_zip_with_dataset_json_labels(tmp_path, folder):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.rglob("*.*")):
            z.write(path, path.relative_to(folder).as_posix())
        labels = [["a.png", 0], ["c.webp", 2], ["sub/b.jpg", 1]]
        z.writestr("dataset.json", json.dumps({"labels": labels}))
    dataset = ImageFolderDataset(archive, resolution=8)
    assert dataset.label_dim == 3
    assert dataset[1][1].tolist() == [0, 0, 1]  # one-hot class 2 for c.webp


def test_mismatched_labels_are_errors(folder):
    (folder / "dataset.json").write_text(json.dumps({"labels": [["a.png", 1]]}))
    with pytest.raises(DatasetError, match="have no label"):
        ImageFolderDataset(folder, resolution=8)
    labels = [["a.png", 0], ["c.webp", 1], ["sub/b.jpg", 1], ["gone.png", 0]]
    (folder / "dataset.json").write_text(json.dumps({"labels": labels}))
    with pytest.raises(DatasetError, match="not usable images"):
        ImageFolderDataset(folder, resolution=8)
    (folder / "dataset.json").write_text("{broken")
    with pytest.raises(DatasetError, match="malformed"):
        ImageFolderDataset(folder, resolution=8)


def test_celeba_attribute_file(folder):
    text = "3\nSmiling Young\na.png 1 -1\nb.jpg -1 -1\nc.webp 1 1\n"
    (folder / "list_attr_celeba.txt").write_text(text)
    dataset = ImageFolderDataset(folder, resolution=8)
    assert dataset.label_names == ["Smiling", "Young"]
    assert dataset.labels.tolist() == [[1, 0], [1, 1], [0, 0]]
    (folder / "list_attr_celeba.txt").write_text("5\nSmiling Young\na.png 1 -1\n")
    with pytest.raises(DatasetError, match="declares 5 rows"):
        ImageFolderDataset(folder, resolution=8)


def test_scan_reports_everything(tmp_path, folder):
    (folder / "copy.png").write_bytes((folder / "a.png").read_bytes())
    (folder / "empty.png").write_bytes(b"")
    report = scan_dataset(folder)
    assert report.images == 4 and report.usable
    assert report.duplicates == [["a.png", "copy.png"]]
    assert ("empty.png", "empty file") in report.problems
    assert report.sizes[(40, 30)] == 3
    assert json.loads(json.dumps(report.to_dict()))["images"] == 4


@pytest.mark.parametrize("resolution", [16, 32])
def test_open_dataset_specs(folder, resolution):
    synth = open_dataset("synthfaces:size=5,seed=2", resolution)
    assert len(synth) == 5 and synth[0][0].shape == (3, resolution, resolution)
    images = open_dataset(str(folder), resolution)
    assert images[0][0].shape == (3, resolution, resolution)
    with pytest.raises(DatasetError, match="unknown synthfaces parameters"):
        open_dataset("synthfaces:colour=1", resolution)


def test_grayscale_and_16bit_array_values(tmp_path):
    array = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)
    Image.fromarray(array).save(tmp_path / "deep.png")
    img, _ = ImageFolderDataset(tmp_path, resolution=16)[0]
    assert img.min().item() == pytest.approx(-1, abs=0.01)
    assert img.max().item() == pytest.approx(1, abs=0.01)
