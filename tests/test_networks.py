"""Every registered config at a tiny size: shapes, finiteness, gradients and latent invariants."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import ALL_CONFIGS, tiny_config
from stylescope.networks import Discriminator, Generator, get_config, mix_styles, truncate
from stylescope.utils import ShapeError


@pytest.mark.parametrize("name", ALL_CONFIGS)
def test_generator_shape_range_and_finiteness(name):
    G = Generator(tiny_config(name))
    img = G(torch.randn(4, G.z_dim))
    assert img.shape == (4, 3, G.img_resolution, G.img_resolution)
    assert torch.isfinite(img).all()
    # Untrained images are centred and of order one, not saturated or vanishing.
    assert 0.05 < img.std().item() < 5
    assert img.abs().max().item() < 30


@pytest.mark.parametrize("name", ALL_CONFIGS)
@pytest.mark.parametrize("c_dim", [0, 3])
def test_every_generator_parameter_gets_a_gradient(name, c_dim):
    G = Generator(tiny_config(name, c_dim=c_dim))
    z = torch.randn(4, G.z_dim)
    c = torch.eye(3)[torch.tensor([0, 1, 2, 0])] if c_dim else None
    ws = G.mapping(z, c)
    loss = G.synthesis(ws).square().mean()
    if G.config.architecture == "stylegan":
        # Lower-resolution ToRGBs are used only while growing.
        for res in G.synthesis.block_resolutions[1:]:
            loss = loss + G.synthesis(ws, resolution=res, alpha=0.5).square().mean()
    loss.backward()
    missing = [n for n, p in G.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize("name", ALL_CONFIGS)
@pytest.mark.parametrize("c_dim", [0, 3])
def test_discriminator_shapes_and_gradients(name, c_dim):
    config = tiny_config(name, c_dim=c_dim)
    D = Discriminator(config)
    res = config.img_resolution
    c = torch.eye(3)[torch.tensor([0, 1, 2, 0])] if c_dim else None
    img = torch.randn(4, 3, res, res, requires_grad=True)
    logits = D(img, c)
    assert logits.shape == (4, 1) and torch.isfinite(logits).all()
    loss = logits.sum()
    if D.progressive:
        for block_res in D.block_resolutions[1:] + [4]:
            low = torch.randn(4, 3, block_res, block_res)
            loss = loss + D(low, c, alpha=0.5).sum()
    loss.backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    missing = [n for n, p in D.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_non_progressive_discriminator_refuses_other_resolutions():
    D = Discriminator(tiny_config("faces32"))
    with pytest.raises(ValueError, match="without progressive FromRGB"):
        D(torch.randn(4, 3, 8, 8))


@pytest.mark.parametrize("name", ALL_CONFIGS)
def test_num_ws_matches_synthesis_layers(name):
    G = Generator(tiny_config(name))
    log2 = int(math.log2(G.img_resolution))
    assert G.num_ws == 2 * log2 - 2
    indices = sorted({info.w_index for info in G.style_layers()})
    assert indices == list(range(G.num_ws))
    assert G.mapping(torch.randn(2, G.z_dim)).shape == (2, G.num_ws, G.w_dim)


def test_paper_configs_have_the_paper_num_ws():
    assert 2 * int(math.log2(get_config("ffhq1024").img_resolution)) - 2 == 18
    assert 2 * int(math.log2(get_config("paper256").img_resolution)) - 2 == 14


@pytest.mark.parametrize("name", ALL_CONFIGS)
def test_each_ws_entry_reaches_only_its_own_layers(name):
    G = Generator(tiny_config(name)).eval()
    layers = G.style_layers()
    styles = {}
    hooks = [
        info.affine.register_forward_hook(lambda m, i, o, key=info.name: styles.__setitem__(key, o))
        for info in layers
    ]
    ws = G.mapping(torch.randn(2, G.z_dim))
    G.synthesis(ws, noise_mode="const")
    before = dict(styles)
    for j in range(G.num_ws):
        ws_changed = ws.clone()
        ws_changed[:, j] += 1.0
        G.synthesis(ws_changed, noise_mode="const")
        changed = {n for n in before if not torch.equal(before[n], styles[n])}
        assert changed == {info.name for info in layers if info.w_index == j}
    for hook in hooks:
        hook.remove()


@pytest.mark.parametrize("name", ["faces32", "faces32-sg1"])
def test_truncation_identity_and_centre(name):
    G = Generator(tiny_config(name))
    G.mapping.w_avg.copy_(torch.randn(G.w_dim))
    z = torch.randn(3, G.z_dim)
    ws = G.mapping(z)
    torch.testing.assert_close(G.mapping(z, truncation_psi=1.0), ws)
    centre = G.mapping(z, truncation_psi=0.0)
    torch.testing.assert_close(centre, G.w_avg.expand_as(ws))
    cut = G.mapping(z, truncation_psi=0.0, truncation_cutoff=2)
    torch.testing.assert_close(cut[:, :2], G.w_avg.expand(3, 2, -1))
    torch.testing.assert_close(cut[:, 2:], ws[:, 2:])
    torch.testing.assert_close(truncate(ws, G.w_avg, 0.5), (ws + G.w_avg) / 2)


def test_w_avg_tracking():
    G = Generator(tiny_config("faces32"))
    z = torch.randn(64, G.z_dim)
    G.mapping(z, update_emas=True)
    assert G.w_avg.abs().sum() > 0
    before = G.w_avg.clone()
    G.mapping(z)
    assert torch.equal(G.w_avg, before)


@pytest.mark.parametrize("name", ALL_CONFIGS)
def test_const_noise_is_deterministic(name):
    G = Generator(tiny_config(name)).eval()
    for info in G.style_layers():
        noise = getattr(info.module, "noise", None)
        if noise is not None:
            noise.noise_strength.data.fill_(0.5)
    z = torch.randn(2, G.z_dim)
    torch.testing.assert_close(G(z, noise_mode="const"), G(z, noise_mode="const"))
    assert not torch.equal(G(z, noise_mode="random"), G(z, noise_mode="random"))


def test_style_mixing_takes_layers_from_each_side():
    a, b = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    mixed = mix_styles(a, b, 2)
    assert torch.equal(mixed[:, :2], a[:, :2]) and torch.equal(mixed[:, 2:], b[:, 2:])
    assert torch.equal(mix_styles(a, b, 0), b) and torch.equal(mix_styles(a, b, 6), a)
    with pytest.raises(ValueError, match="crossover"):
        mix_styles(a, b, 7)


@pytest.mark.parametrize("name", ["faces32", "faces32-sg1"])
def test_style_mixing_changes_only_fine_layers(name):
    G = Generator(tiny_config(name)).eval()
    ws_a = G.mapping(torch.randn(1, G.z_dim))
    ws_b = G.mapping(torch.randn(1, G.z_dim))
    crossover = G.num_ws - 1
    styles = {}
    hooks = [
        info.affine.register_forward_hook(lambda m, i, o, key=info.name: styles.__setitem__(key, o))
        for info in G.style_layers()
    ]
    G.synthesis(ws_a, noise_mode="const")
    ref = dict(styles)
    G.synthesis(mix_styles(ws_a, ws_b, crossover), noise_mode="const")
    for info in G.style_layers():
        same = torch.equal(ref[info.name], styles[info.name])
        assert same == (info.w_index < crossover), info.name
    for hook in hooks:
        hook.remove()


def test_fused_and_plain_generators_agree():
    G = Generator(tiny_config("faces32")).eval()
    ws = G.mapping(torch.randn(3, G.z_dim))
    plain = G.synthesis(ws, noise_mode="const", fused_modconv=False)
    fused = G.synthesis(ws, noise_mode="const", fused_modconv=True)
    torch.testing.assert_close(plain, fused, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ALL_CONFIGS)
def test_inference_passes_give_the_training_images(name):
    # Inference passes reuse parameter-derived tensors (`frozen`); the images must not change,
    # also after the parameters do.
    G = Generator(tiny_config(name))
    z = torch.randn(3, G.z_dim)
    for _ in range(2):
        recorded = G(z, noise_mode="const").detach()
        with torch.no_grad():
            torch.testing.assert_close(G(z, noise_mode="const"), recorded)
            torch.testing.assert_close(G(z, noise_mode="const"), recorded)
        with torch.no_grad():
            for p in G.parameters():
                p.add_(0.05 * torch.randn_like(p))


def test_channels_last_gives_the_same_images():
    for name in ("faces32", "faces32-sg1"):
        G = Generator(tiny_config(name)).eval()
        D = Discriminator(tiny_config(name))
        z = torch.randn(4, G.z_dim)
        assert G.synthesis.channels_last and D.channels_last
        img = G(z, noise_mode="const")
        logits = D(img)
        G.synthesis.channels_last = D.channels_last = False
        torch.testing.assert_close(G(z, noise_mode="const"), img, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(D(img), logits, atol=1e-5, rtol=1e-5)


def test_bf16_autocast_runs_and_stays_close():
    G = Generator(tiny_config("faces32")).eval()
    z = torch.randn(2, G.z_dim)
    ref = G(z, noise_mode="const")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        img = G(z, noise_mode="const")
    assert img.dtype == torch.float32
    assert (img - ref).abs().mean().item() < 0.05 * ref.abs().mean().item() + 0.02


def test_progressive_resolution_and_fade():
    G = Generator(tiny_config("faces32-sg1")).eval()
    ws = G.mapping(torch.randn(2, G.z_dim))
    assert G.synthesis(ws, resolution=8).shape == (2, 3, 8, 8)
    full = G.synthesis(ws, noise_mode="const")
    faded = G.synthesis(ws, noise_mode="const", resolution=16, alpha=1.0)
    torch.testing.assert_close(full, faded)
    with pytest.raises(ValueError, match="resolution 12"):
        G.synthesis(ws, resolution=12)


def test_shape_errors_name_the_input():
    G = Generator(tiny_config("faces32"))
    with pytest.raises(ShapeError, match="z: dimension 1 has size 31, expected 32"):
        G(torch.randn(2, 31))
    with pytest.raises(ShapeError, match="ws: dimension 1"):
        G.synthesis(torch.randn(2, G.num_ws + 1, G.w_dim))
    conditional = Generator(tiny_config("faces32", c_dim=2))
    with pytest.raises(ValueError, match="conditional"):
        conditional(torch.randn(2, 32))


def test_channel_overrides_shrink_layers_and_reject_unknown_names():
    config = tiny_config("faces32", channel_overrides={"b8.conv0": 8, "b16.conv1": 4})
    G = Generator(config)
    assert G.synthesis.b8.conv0.out_channels == 8
    assert G.synthesis.b8.conv1.in_channels == 8
    assert G.synthesis.b16.torgb.in_channels == 4
    assert G(torch.randn(2, 32)).shape == (2, 3, 16, 16)
    with pytest.raises(KeyError, match="b9.conv0"):
        Generator(tiny_config("faces32", channel_overrides={"b9.conv0": 8}))


def test_style_affines_accessor():
    G = Generator(tiny_config("faces32"))
    affines = G.style_affines()
    assert list(affines)[:3] == ["b4.conv1", "b4.torgb", "b8.conv0"]
    assert affines["b8.conv0"].out_features == G.synthesis.b8.conv0.in_channels
    G1 = Generator(tiny_config("faces32-sg1"))
    assert G1.style_affines()["b8.layer0"].out_features == 2 * G1.synthesis.b8.layer0.out_channels


def test_config_validation():
    with pytest.raises(ValueError, match="power of two"):
        get_config("faces32", img_resolution=48)
    with pytest.raises(KeyError, match="unknown network config"):
        get_config("faces33")
    with pytest.raises(ValueError, match="unknown keys"):
        type(get_config("faces32")).from_dict({**get_config("faces32").to_dict(), "bogus": 1})
