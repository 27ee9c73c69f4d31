"""Layer primitives: equalized-LR gains, resampling, modulated convolution paths."""

from __future__ import annotations

import math

import pytest
import torch

from stylescope.networks.layers import (
    Conv2dLayer,
    FullyConnectedLayer,
    MinibatchStdLayer,
    NoiseInjection,
    bias_act,
    conv2d_resample,
    downsample2d,
    forget_frozen,
    frozen,
    make_fir_filter,
    modulated_conv2d,
    rebuilt_constants,
    scale_bias_act,
    scale_shift_act,
    upsample2d,
)
from stylescope.networks.stylegan2 import SynthesisLayer
from stylescope.utils import ShapeError, assert_shape


def test_fully_connected_gain_and_init():
    layer = FullyConnectedLayer(256, 64, lr_multiplier=0.01)
    assert layer.weight_gain == pytest.approx(0.01 / math.sqrt(256))
    assert layer.bias_gain == 0.01
    # Raw weights ~ N(0, 1 / lr_multiplier^2): effective weights ~ N(0, 1 / fan_in).
    assert layer.weight.std().item() == pytest.approx(100, rel=0.05)
    assert layer.effective_weight().std().item() == pytest.approx(1 / 16, rel=0.05)
    assert "weight_gain=0.000625" in repr(layer)


def test_fully_connected_keeps_activation_scale():
    x = torch.randn(4096, 512)
    y = FullyConnectedLayer(512, 512)(x)
    assert y.square().mean().item() == pytest.approx(1.0, rel=0.1)
    y = FullyConnectedLayer(512, 512, activation="lrelu")(x)
    # Leaky ReLU with gain sqrt(2) keeps the second moment at (1 + 0.2^2) / 2 * 2 = 1.04.
    assert y.square().mean().item() == pytest.approx(1.04, rel=0.1)


def test_conv_gain_and_activation_scale():
    layer = Conv2dLayer(64, 64, 3, activation="lrelu")
    assert layer.weight_gain == pytest.approx(1 / math.sqrt(64 * 9))
    y = layer(torch.randn(16, 64, 16, 16))
    assert y[:, :, 1:-1, 1:-1].square().mean().item() == pytest.approx(1.04, rel=0.15)


def test_modulated_synthesis_layer_keeps_activation_scale():
    layer = SynthesisLayer(64, 64, w_dim=32, resolution=16)
    y = layer(torch.randn(16, 64, 16, 16), torch.randn(16, 32), noise_mode="none")
    assert 0.5 < y.square().mean().item() < 2.0


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("kernel", [1, 3])
def test_fused_and_plain_modulated_conv_agree(up, demodulate, kernel):
    x = torch.randn(3, 8, 8, 8, dtype=torch.float64)
    weight = torch.randn(5, 8, kernel, kernel, dtype=torch.float64)
    styles = torch.randn(3, 8, dtype=torch.float64)
    f = make_fir_filter().double()
    plain = modulated_conv2d(x, weight, styles, up, demodulate, f, fused=False)
    fused = modulated_conv2d(x, weight, styles, up, demodulate, f, fused=True)
    assert plain.shape == (3, 5, 8 * up, 8 * up)
    torch.testing.assert_close(plain.float(), fused.float(), atol=1e-5, rtol=1e-5)


def test_fused_and_plain_agree_in_float32():
    x = torch.randn(4, 16, 8, 8)
    weight = torch.randn(16, 16, 3, 3) / 12
    styles = torch.randn(4, 16)
    f = make_fir_filter()
    for up in (1, 2):
        a = modulated_conv2d(x, weight, styles, up, True, f, fused=False)
        b = modulated_conv2d(x, weight, styles, up, True, f, fused=True)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_demodulation_normalises_output_channels():
    x = torch.randn(64, 32, 16, 16)
    weight = torch.randn(32, 32, 3, 3)
    styles = torch.rand(64, 32) * 3
    y = modulated_conv2d(x, weight, styles, demodulate=True)
    assert y[:, :, 1:-1, 1:-1].std().item() == pytest.approx(1.0, rel=0.1)


def test_fir_resampling_keeps_constants_and_shapes():
    f = make_fir_filter()
    x = torch.ones(2, 3, 8, 8)
    up = upsample2d(x, f)
    down = downsample2d(x, f)
    assert up.shape == (2, 3, 16, 16) and down.shape == (2, 3, 4, 4)
    torch.testing.assert_close(up[:, :, 2:-2, 2:-2], torch.ones(2, 3, 12, 12))
    torch.testing.assert_close(down[:, :, 1:-1, 1:-1], torch.ones(2, 3, 2, 2))


@pytest.mark.parametrize("kernel", [1, 3])
def test_conv2d_resample_shapes(kernel):
    f = make_fir_filter()
    x = torch.randn(2, 4, 8, 8)
    w = torch.randn(6, 4, kernel, kernel)
    assert conv2d_resample(x, w, f).shape == (2, 6, 8, 8)
    assert conv2d_resample(x, w, f, up=2).shape == (2, 6, 16, 16)
    assert conv2d_resample(x, w, f, down=2).shape == (2, 6, 4, 4)
    with pytest.raises(ValueError, match="unsupported resampling"):
        conv2d_resample(x, w, f, up=2, down=2)


def test_upsampling_conv_matches_conv_of_upsampled_input():
    # Transposed conv then FIR equals FIR upsampling then conv with the flipped kernel.
    f = make_fir_filter().double()
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    fast = conv2d_resample(x, w, f, up=2)
    slow = conv2d_resample(upsample2d(x, f), w.flip([2, 3]), f)
    torch.testing.assert_close(fast[:, :, 2:-2, 2:-2], slow[:, :, 2:-2, 2:-2])


def test_bias_act_gain_and_clamp():
    x = torch.full((1, 2, 1, 1), 100.0)
    y = bias_act(x, torch.tensor([1.0, -1.0]), "lrelu", clamp=50)
    assert y.max().item() == 50
    y = bias_act(torch.full((1, 1), -1.0), None, "lrelu")
    assert y.item() == pytest.approx(-0.2 * math.sqrt(2))
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(x, None, "relu")


def test_noise_modes():
    layer = NoiseInjection(8)
    with torch.no_grad():
        layer.noise_strength.fill_(1.0)
    x = torch.zeros(2, 3, 8, 8)
    torch.testing.assert_close(layer(x, "const"), layer(x, "const"))
    assert not torch.equal(layer(x, "random"), layer(x, "random"))
    assert torch.equal(layer(x, "none"), x)
    with pytest.raises(ValueError, match="noise_mode"):
        layer(x, "fixed")


def test_minibatch_std_appends_channel():
    layer = MinibatchStdLayer(group_size=4)
    y = layer(torch.randn(8, 6, 4, 4))
    assert y.shape == (8, 7, 4, 4)
    with pytest.raises(ValueError, match="not divisible"):
        layer(torch.randn(6, 6, 4, 4))


def test_assert_shape_names_dimension_and_sizes():
    assert_shape(torch.zeros(2, 3), [None, 3])
    with pytest.raises(ShapeError, match="dimension 1 has size 4, expected 3"):
        assert_shape(torch.zeros(2, 4), [None, 3], "styles")
    with pytest.raises(ShapeError, match="expected 2 dimensions"):
        assert_shape(torch.zeros(2, 4, 1), [None, 3])


def test_minibatch_std_groups_consecutive_samples():
    layer = MinibatchStdLayer(group_size=2)
    x = torch.cat([torch.zeros(2, 1, 2, 2), torch.randn(2, 1, 2, 2) * 5])
    y = layer(x)[:, 1]
    # The first group is constant: its std is ~0; the second group's is not.
    assert y[:2].abs().max().item() < 1e-3 and y[2:].min().item() > 0.1


@pytest.mark.parametrize("noise_batch", [None, 1, 4])
@pytest.mark.parametrize("with_scale", [True, False])
@pytest.mark.parametrize("clamp", [None, 0.5])
def test_scale_bias_act_matches_the_step_by_step_epilogue(noise_batch, with_scale, clamp):
    x = torch.randn(4, 6, 5, 5).contiguous(memory_format=torch.channels_last)
    scale = torch.rand(4, 6) + 0.5 if with_scale else None
    bias = torch.randn(6)
    noise = None if noise_batch is None else torch.randn(noise_batch, 1, 5, 5) * 0.3
    expected = x if scale is None else x * scale.reshape(4, 6, 1, 1)
    expected = expected if noise is None else expected + noise
    expected = bias_act(expected, bias, "lrelu", clamp=clamp)

    before = x.clone()
    with torch.no_grad():
        y = scale_bias_act(x, scale, bias, noise, "lrelu", clamp=clamp)
    torch.testing.assert_close(y, expected)
    assert torch.equal(x, before)  # The caller's tensor is never changed in place.
    assert y.is_contiguous(memory_format=torch.channels_last)

    # Under autograd: same values and same gradients as the step-by-step version.
    leaves = [t.clone().requires_grad_() for t in (x, bias)]
    y = scale_bias_act(leaves[0], scale, leaves[1], noise, "lrelu", clamp=clamp)
    torch.testing.assert_close(y, expected)
    y.square().sum().backward()
    ref = [t.clone().requires_grad_() for t in (x, bias)]
    r = ref[0] if scale is None else ref[0] * scale.reshape(4, 6, 1, 1)
    r = r if noise is None else r + noise
    bias_act(r, ref[1], "lrelu", clamp=clamp).square().sum().backward()
    for got, want in zip(leaves, ref, strict=True):
        torch.testing.assert_close(got.grad, want.grad)


def test_scale_shift_act_overwrites_only_outside_autograd():
    x = torch.randn(2, 4, 3, 3)
    scale = torch.rand(2, 4) + 0.5
    shift = torch.randn(1, 4, 1, 1)
    expected = torch.nn.functional.leaky_relu(x * scale[:, :, None, None] + shift, 0.2)

    with torch.no_grad():
        kept = x.clone()
        y = scale_shift_act(kept, scale, shift)
        assert torch.equal(kept, x) and y.data_ptr() != kept.data_ptr()
        y = scale_shift_act(kept, scale, shift, overwrite=True)
        assert y.data_ptr() == kept.data_ptr()  # The temporary became the result.
    torch.testing.assert_close(y, expected)

    # Under autograd overwriting would break the backward pass, so it is ignored.
    leaf = x.clone().requires_grad_()
    y = scale_shift_act(leaf, scale, shift, overwrite=True)
    y.sum().backward()
    torch.testing.assert_close(y, expected)
    assert torch.equal(leaf.detach(), x) and leaf.grad is not None


def _synthesis_layer(up: int = 1) -> SynthesisLayer:
    layer = SynthesisLayer(8, 6, w_dim=5, resolution=8, up=up)
    with torch.no_grad():
        layer.noise.noise_strength.fill_(0.3)
        layer.bias.normal_()
    return layer


@pytest.mark.parametrize("noise_mode", ["const", "random", "none"])
@pytest.mark.parametrize("up", [1, 2])
def test_inference_gives_the_training_numbers(noise_mode, up):
    layer = _synthesis_layer(up)
    x = torch.randn(3, 8, 8 // up, 8 // up).contiguous(memory_format=torch.channels_last)
    w = torch.randn(3, 5)
    torch.manual_seed(1)
    recorded = layer(x, w, noise_mode)
    assert recorded.requires_grad and "_frozen" not in layer.__dict__  # Nothing kept.
    with torch.no_grad():
        for _ in range(2):  # The second pass reads the kept tensors.
            torch.manual_seed(1)
            torch.testing.assert_close(layer(x, w, noise_mode), recorded.detach())
    assert "_frozen" in layer.__dict__
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for _ in range(2):
            torch.manual_seed(1)
            y = layer(x.bfloat16(), w, noise_mode)
            assert y.dtype == torch.bfloat16
            assert y.is_contiguous(memory_format=torch.channels_last)
            torch.testing.assert_close(y.float(), recorded.detach(), atol=0.1, rtol=0.05)


def test_kept_tensors_follow_every_parameter_change():
    layer = _synthesis_layer()
    x, w = torch.randn(2, 8, 8, 8), torch.randn(2, 5)

    def fresh() -> torch.Tensor:
        with torch.enable_grad():  # Recording: nothing kept is read.
            return layer(x, w, "const").detach()

    def inferred() -> torch.Tensor:
        with torch.no_grad():
            return layer(x, w, "const")

    torch.testing.assert_close(inferred(), fresh())
    # An optimizer step on every parameter kind: kernel, bias, noise strength, affine.
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    layer(x, w, "const").square().mean().backward()
    optimizer.step()
    torch.testing.assert_close(inferred(), fresh())
    # In-place edits under no_grad and state-dict loads bump the version counters too.
    with torch.no_grad():
        layer.noise.noise_const.mul_(-1)
        layer.affine.bias.add_(1)
    torch.testing.assert_close(inferred(), fresh())
    other = _synthesis_layer()
    layer.load_state_dict(other.state_dict())
    torch.testing.assert_close(inferred(), fresh())
    # Writes through .data do not: forget_frozen is the documented way out.
    layer.weight.data.mul_(2)
    forget_frozen(layer)
    torch.testing.assert_close(inferred(), fresh())


def test_frozen_keeps_nothing_while_recording_or_in_inference_mode():
    module = torch.nn.Linear(2, 2)
    calls = []

    def build() -> torch.Tensor:
        calls.append(1)
        return module.weight * 2

    frozen(module, "w2", build, module.weight)
    with torch.inference_mode():
        frozen(module, "w2", build, module.weight)
    with torch.no_grad(), rebuilt_constants():
        frozen(module, "w2", build, module.weight)
    assert len(calls) == 3 and "_frozen" not in module.__dict__
    with torch.no_grad():
        a = frozen(module, "w2", build, module.weight)
        b = frozen(module, "w2", build, module.weight)
    assert a is b and len(calls) == 4
    # Parameters that need no gradient are constants even while autograd records.
    module.requires_grad_(False)
    assert frozen(module, "w2", build, module.weight) is a and len(calls) == 4


def test_modulated_conv_overwrites_its_input_only_outside_autograd():
    x = torch.randn(2, 4, 5, 5)
    weight = torch.randn(3, 4, 3, 3)
    styles = torch.rand(2, 4) + 0.5
    expected = modulated_conv2d(x, weight, styles)
    with torch.no_grad():
        temporary = x.clone()
        torch.testing.assert_close(
            modulated_conv2d(temporary, weight, styles, overwrite=True), expected
        )
        assert not torch.equal(temporary, x)  # Modulated in place.
    # Styles that need a gradient (projection, editing) keep the input intact.
    temporary = x.clone()
    styles_leaf = styles.clone().requires_grad_()
    y = modulated_conv2d(temporary, weight, styles_leaf, overwrite=True)
    y.sum().backward()
    assert torch.equal(temporary, x) and styles_leaf.grad is not None
