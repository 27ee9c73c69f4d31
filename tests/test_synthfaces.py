"""synthfaces: determinism, attribute ranges, region maps consistent with the pictures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylescope.data import (
    ATTRIBUTE_NAMES,
    ATTRIBUTE_RANGES,
    REGION_NAMES,
    SynthFacesDataset,
    render_synthfaces,
)

REGION = {name: i for i, name in enumerate(REGION_NAMES)}


def test_same_seed_same_pixels_alone_or_in_a_batch():
    batch = render_synthfaces(np.arange(10), 32, seed=3)
    alone = render_synthfaces([7], 32, seed=3)
    assert np.array_equal(batch.images[7], alone.images[0])
    assert np.array_equal(batch.regions[7], alone.regions[0])
    again = render_synthfaces(10, 32, seed=3)
    assert np.array_equal(batch.images, again.images)
    other = render_synthfaces(10, 32, seed=4)
    assert not np.array_equal(batch.images, other.images)


@pytest.mark.parametrize("resolution", [16, 32, 64, 128])
def test_shapes_at_each_resolution(resolution):
    batch = render_synthfaces(3, resolution)
    assert batch.images.shape == (3, resolution, resolution, 3)
    assert batch.images.dtype == np.uint8
    assert batch.regions.shape == (3, resolution, resolution)
    assert batch.attribute_matrix.shape == (3, len(ATTRIBUTE_NAMES))


def test_bad_resolutions_and_seeds():
    for bad in (8, 48, 512):
        with pytest.raises(ValueError, match="power of two"):
            render_synthfaces(1, bad)
    with pytest.raises(ValueError):
        render_synthfaces(1, 32, seed=-1)


def test_attribute_ranges():
    batch = render_synthfaces(256, 16, seed=1)
    for name, (low, high, kind) in ATTRIBUTE_RANGES.items():
        values = batch.attributes[name]
        assert values.min() >= low - 1e-6 and values.max() <= high + 1e-6, name
        if kind != "continuous":
            assert np.array_equal(values, np.round(values)), name
    assert 0 < batch.attributes["glasses"].mean() < 1


def test_regions_are_consistent_with_attributes_and_layout():
    batch = render_synthfaces(64, 64, seed=2)
    glasses = batch.attributes["glasses"] > 0.5
    has_glasses_region = (batch.regions == REGION["glasses"]).any(axis=(1, 2))
    assert not has_glasses_region[~glasses].any()
    assert has_glasses_region[glasses].all()
    for name in ("skin", "eyes", "mouth", "hair", "nose"):
        assert (batch.regions == REGION[name]).any(axis=(1, 2)).all(), name
    corners = batch.regions[:, :2, :2]
    assert (corners == REGION["background"]).mean() > 0.5
    assert batch.regions.max() < len(REGION_NAMES)


def test_overrides_change_only_the_requested_attribute():
    base = render_synthfaces(4, 32, seed=5)
    smiling = render_synthfaces(4, 32, seed=5, overrides={"smile": 1.0})
    assert np.all(smiling.attributes["smile"] == 1.0)
    assert np.array_equal(smiling.attributes["yaw"], base.attributes["yaw"])
    assert not np.array_equal(smiling.images, base.images)


def test_dataset_items_and_batches():
    dataset = SynthFacesDataset(resolution=32, size=20, seed=0)
    img, c = dataset[3]
    assert img.shape == (3, 32, 32) and img.dtype == torch.float32
    assert -1 <= img.min() and img.max() <= 1
    assert c.shape == (len(ATTRIBUTE_NAMES),)
    imgs, cs = dataset.batch([3, 4])
    torch.testing.assert_close(imgs[0], img)
    with pytest.raises(IndexError):
        dataset.batch([20])
    loader = torch.utils.data.DataLoader(dataset, batch_size=8)
    assert next(iter(loader))[0].shape == (8, 3, 32, 32)
