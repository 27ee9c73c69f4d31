"""Style space: flat channel order, styles without synthesis, offsets and recording via hooks."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_config
from stylescope.latent.stylespace import (
    channel_offset,
    compute_styles,
    recorded_styles,
    style_channels,
    style_dims,
    style_offsets,
)
from stylescope.networks import Generator


@pytest.mark.parametrize("name", ["faces32", "faces32-sg1"])
def test_styles_match_what_the_synthesis_computes(name):
    G = Generator(tiny_config(name)).eval()
    ws = G.mapping(torch.randn(3, G.z_dim))
    dims = style_dims(G)
    assert list(dims) == [info.name for info in G.style_layers()]
    assert len(style_channels(G)) == sum(dims.values())
    with recorded_styles(G) as record, torch.no_grad():
        G.synthesis(ws, noise_mode="const")
    styles = compute_styles(G, ws)
    for layer, value in styles.items():
        assert value.shape == (3, dims[layer])
        assert torch.allclose(record[layer][0], value, atol=1e-6)
    # Hooks are gone after the context.
    assert all(not info.affine._forward_hooks for info in G.style_layers())


def test_offsets_change_only_while_open_and_zero_offsets_change_nothing():
    G = Generator(tiny_config("faces32")).eval()
    ws = G.mapping(torch.randn(2, G.z_dim))
    with torch.no_grad():
        base = G.synthesis(ws, noise_mode="const")
        channel = style_channels(G)[5]
        with style_offsets(G, channel_offset(G, channel, 0.0)):
            same = G.synthesis(ws, noise_mode="const")
        with style_offsets(G, channel_offset(G, channel, torch.tensor([3.0, -3.0]))):
            moved = G.synthesis(ws, noise_mode="const")
        after = G.synthesis(ws, noise_mode="const")
    assert torch.equal(base, same) and torch.equal(base, after)
    assert (moved - base).abs().amax(dim=[1, 2, 3]).min() > 0


def test_offset_errors_name_the_layer():
    G = Generator(tiny_config("faces32"))
    with pytest.raises(KeyError, match="unknown style layers"):
        with style_offsets(G, {"b999.conv0": torch.zeros(4)}):
            pass
    layer = G.style_layers()[0].name
    with pytest.raises(ValueError, match=f"style offset for {layer}"):
        with style_offsets(G, {layer: torch.zeros(3)}):
            pass
    assert all(not info.affine._forward_hooks for info in G.style_layers())
