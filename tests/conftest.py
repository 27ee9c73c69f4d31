"""Shared test helpers: tiny versions of every registered network config."""

from __future__ import annotations

import pytest
import torch

from stylescope.networks import Generator, NetworkConfig, get_config, list_configs


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


def tiny_generator(name: str) -> Generator:
    """A tiny generator of config `name` in eval mode, with non-trivial biases and noise
    strengths (fresh ones are zero, which would hide mistakes in their handling)."""
    G = Generator(tiny_config(name)).eval()
    with torch.no_grad():
        for p in G.synthesis.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return G


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)


ALL_CONFIGS = list_configs()
