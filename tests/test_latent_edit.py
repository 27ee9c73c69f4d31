"""Editing, perturbations and the colour/structure decomposition."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_config
from stylescope.latent.colour import change_decomposition, rgb_to_lab
from stylescope.latent.common import render, seeds_to_ws
from stylescope.latent.directions import Direction, channel_direction
from stylescope.latent.edit import edit, edited_ws, parse_strengths
from stylescope.latent.perturb import (
    Perturbation,
    global_vs_single,
    latent_stats,
    perturbed_latents,
    render_perturbed,
)
from stylescope.latent.stylespace import recorded_styles, style_channels, style_offsets
from stylescope.metrics.probes import FaceProbe
from stylescope.networks import Generator
from stylescope.utils import latents_from_seeds


def test_parse_strengths():
    assert parse_strengths("-3:3:7") == pytest.approx([-3, -2, -1, 0, 1, 2, 3])
    assert parse_strengths("-1,0.5") == [-1.0, 0.5]
    for bad in ("1:2", "a:b:c", "", "0:1:0"):
        with pytest.raises(ValueError, match="START:STOP:COUNT"):
            parse_strengths(bad)


@pytest.mark.parametrize("name", ["faces32", "faces32-sg1"])
def test_w_edit_is_identity_at_zero_and_touches_only_its_layers(name):
    G = Generator(tiny_config(name)).eval()
    ws = seeds_to_ws(G, [0, 1])
    d = Direction("d", "w", torch.randn(G.w_dim), scale=2.0, layers=[0, 1])
    img = edit(G, ws, d, [-1.0, 0.0, 1.0])
    assert img.shape == (2, 3, 3, G.img_resolution, G.img_resolution)
    # Batch composition changes float rounding in the grouped convolution, hence allclose.
    assert torch.allclose(img[:, 1], render(G, ws), atol=1e-5)
    moved = edited_ws(G, ws, d, 1.5)
    assert torch.equal(moved[:, 2:], ws[:, 2:])
    assert torch.allclose(moved[:, :2] - ws[:, :2], 3.0 * d.vector.expand(2, 2, -1), atol=1e-5)
    # Explicit layers override the direction's own.
    assert torch.equal(edited_ws(G, ws, d, 1.0, layers=[3])[:, :3], ws[:, :3])


@pytest.mark.parametrize("name", ["faces32", "faces32-sg1"])
def test_s_channel_step_changes_only_the_targeted_style(name):
    G = Generator(tiny_config(name)).eval()
    stats = latent_stats(G, 100)
    channel = style_channels(G)[7]
    z = latents_from_seeds([0, 1], G.z_dim)
    p = Perturbation("s", "s", "dim", 3.0, None, channel.index)
    ws, offsets = perturbed_latents(G, z, p, stats)
    assert list(offsets) == [channel.layer]

    # Record after the offsets are added: hooks run in registration order.
    with recorded_styles(G) as base:
        G.synthesis(ws, noise_mode="const")
    with style_offsets(G, offsets), recorded_styles(G) as moved:
        G.synthesis(ws, noise_mode="const")
    for layer in base:
        delta = moved[layer][0] - base[layer][0]
        if layer == channel.layer:
            expected = torch.zeros_like(delta)
            expected[:, channel.channel] = 3.0 * stats.s_std[channel.index]
            assert torch.allclose(delta, expected, atol=1e-5)
        else:
            assert torch.equal(delta, torch.zeros_like(delta))

    # The same channel as an S direction is the identity at strength 0.
    d = channel_direction(G, channel, float(stats.s_std[channel.index]))
    ws = seeds_to_ws(G, [0, 1])
    img = edit(G, ws, d, [0.0, 2.0])
    assert torch.allclose(img[:, 0], render(G, ws), atol=1e-5)
    assert (img[:, 1] - img[:, 0]).abs().max() > 0
    with pytest.raises(ValueError, match="layer ranges apply to W"):
        edit(G, ws, d, [1.0], layers=[0])


def test_scaling_z_changes_nothing_but_w_noise_does():
    G = Generator(tiny_config("faces32")).eval()
    stats = latent_stats(G, 100)
    z = latents_from_seeds([0, 1], G.z_dim)
    base = render(G, G.mapping(z))
    scaled = render_perturbed(G, z, Perturbation("s", "z", "scale", 1.7), stats)
    assert torch.allclose(scaled, base, atol=1e-5)
    noisy = render_perturbed(G, z, Perturbation("n", "w", "noise", 3.0, (0, 1)), stats)
    assert (noisy - base).abs().max() > 1e-3


def test_lab_and_the_colour_structure_split():
    white = torch.ones(1, 3, 8, 8)
    lab = rgb_to_lab(white)
    assert lab[0, 0].mean() == pytest.approx(100, abs=0.1)
    assert lab[0, 1:].abs().max() < 0.1

    # A uniform tint is all colour; a fine checkerboard is all structure.
    img = torch.zeros(2, 3, 16, 16)
    tinted = img.clone()
    tinted[:, 0] += 0.3
    checker = img + 0.3 * ((torch.arange(16)[:, None] + torch.arange(16)) % 2 * 2 - 1).float()
    colour = change_decomposition(img, tinted)
    structure = change_decomposition(img, checker)
    assert colour["colour_share"].min() > 0.99 and colour["mean_colour_de"].min() > 1
    assert structure["colour_share"].max() < 0.05


def test_global_study_gives_rows_and_a_verdict():
    G = Generator(tiny_config("faces32")).eval()
    probe = FaceProbe(16).eval()
    study = global_vs_single(G, probe, [0, 1], num_single=1, stats=latent_stats(G, 100))
    names = [r["name"] for r in study.rows]
    assert "w noise (fine)" in names and "w pca 0" in names
    assert study.verdict["claim"] in ("confirmed", "refuted", "mixed")
    for row in study.rows:
        assert 0 <= row["colour_share"] <= 1 and row["region_change"] >= 0
