"""Shared test helpers: tiny versions of every registered network config."""

from __future__ import annotations

import pytest
import torch

from stylescope.networks import NetworkConfig, get_config, list_configs


def tiny_config(name: str, resolution: int = 16, **overrides) -> NetworkConfig:
    """The registered config `name` shrunk to run in milliseconds on a CPU."""
    base = get_config(name)
    changes = dict(
        img_resolution=min(base.img_resolution, resolution),
        channel_base=512,
        channel_max=32,
        z_dim=32,
        w_dim=32,
        mapping_layers=min(base.mapping_layers, 2),
    )
    changes.update(overrides)
    return base.replace(**changes)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)


ALL_CONFIGS = list_configs()
