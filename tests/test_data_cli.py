"""`stylescope data`: synthfaces archives round trip through the loader; `check` reports."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from stylescope.cli import main
from stylescope.data import ATTRIBUTE_NAMES, REGION_NAMES, ImageFolderDataset, render_synthfaces
from stylescope.train.data_source import load_pool


@pytest.mark.parametrize("resolution", [16, 32])
def test_archive_round_trip(tmp_path, resolution, capsys):
    out = tmp_path / "faces.zip"
    args = ["data", "synthfaces", "--count", "12", "--resolution", str(resolution), "--seed",
            "4", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert "12 images" in capsys.readouterr().out
    dataset = ImageFolderDataset(out, resolution)
    assert len(dataset) == 12 and dataset.label_names == ATTRIBUTE_NAMES
    reference = render_synthfaces(12, resolution, seed=4)
    assert np.array_equal(dataset.load_uint8(5), reference.images[5])
    np.testing.assert_allclose(dataset.labels[5], reference.attribute_matrix[5], atol=1e-5)
    with zipfile.ZipFile(out) as z:
        meta = json.loads(z.read("attributes.json"))
        assert meta["region_names"] == REGION_NAMES
        with z.open("regions.npy") as f:
            assert np.array_equal(np.load(f), reference.regions)
    pool = load_pool(str(out), resolution, pool_size=0, with_labels=True)
    assert len(pool) == 12 and pool.c_dim == len(ATTRIBUTE_NAMES)


def test_archive_option_errors(tmp_path, capsys):
    assert main(["data", "synthfaces", "--count", "0", "--out", str(tmp_path / "a.zip")]) == 2
    assert "--count" in capsys.readouterr().err
    args = ["data", "synthfaces", "--count", "2", "--resolution", "48", "--out", "x.zip"]
    assert main(args) == 2
    assert "--resolution" in capsys.readouterr().err


def test_check_command(tmp_path, capsys):
    out = tmp_path / "faces.zip"
    assert (
        main(["data", "synthfaces", "--count", "4", "--resolution", "16", "--out", str(out)]) == 0
    )
    capsys.readouterr()
    assert main(["data", "check", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 4 and report["problems"] == []
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "bad.png").write_bytes(b"nope")
    assert main(["data", "check", str(empty)]) == 1
    assert "bad.png: unreadable" in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path / "absent")]) == 2
