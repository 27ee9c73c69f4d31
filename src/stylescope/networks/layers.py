"""Layer primitives shared by the StyleGAN2 and original StyleGAN networks.

Every learned layer uses the Equalized Learning Rate of Karras et al., "Progressive Growing of GANs
for Improved Quality, Stability, and Variation" (ICLR 2018, arXiv:1710.10196), section 4.1: raw
weights are drawn from N(0, 1 / lr_multiplier^2) and scaled at run time by
`weight_gain = lr_multiplier / sqrt(fan_in)`, so that Adam's per-parameter step size acts on every
layer alike. Modulated convolution with demodulation follows Karras et al., "Analyzing and
Improving the Image Quality of StyleGAN" (CVPR 2020, arXiv:1912.04958), section 2.2.

All ops are plain PyTorch and run on CPU and GPU. Resampling uses the separable [1, 3, 3, 1] FIR
filter, expressed as strided (transposed) depthwise convolutions rather than loops.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylescope.utils import assert_shape

Activation = Literal["linear", "lrelu"]
NoiseMode = Literal["random", "const", "none"]

# Gain that keeps the second moment of activations at 1 after each activation function.
ACTIVATION_GAIN = {"linear": 1.0, "lrelu": math.sqrt(2.0)}
LRELU_SLOPE = 0.2

T = TypeVar("T")


# ------------------------------------------------------------------------------------------------
# Constants kept between inference passes.


def records_grad(*tensors: torch.Tensor) -> bool:
    """True when autograd is on and records an op on any of `tensors`."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


_keep_constants = True


@contextmanager
def rebuilt_constants() -> Iterator[None]:
    """While open, `frozen` keeps nothing and rebuilds every value on every pass, as training
    does: for code that edits weights through `param.data`, and to measure what keeping saves."""
    global _keep_constants
    saved, _keep_constants = _keep_constants, False
    try:
        yield
    finally:
        _keep_constants = saved


def frozen(module: nn.Module, key: Hashable, build: Callable[[], T], *sources: torch.Tensor) -> T:
    """`build()`, kept on `module` and reused while `sources` are unchanged and need no gradient.

    Every forward pass derives tensors from the parameters alone: gain-scaled weights, the
    squared kernel norms of demodulation, bias plus constant noise. Under autograd they must be
    rebuilt so that gradients reach the parameters; at inference they need not, and in a thin
    (pruned) network the dozens of small ops that build them take as long as its convolutions.

    A kept value is stamped with the storage and version counter of each source, so optimizer
    steps, `load_state_dict`, EMA updates and device moves all make it stale. Writes through
    `param.data` bypass the version counter: call `forget_frozen(module)` after them.
    Nothing is kept while autograd records the sources, inside `torch.inference_mode` (whose
    tensors could not be used by a later autograd pass), inside `rebuilt_constants()` or while
    torch.compile traces.

    Args:
        module: owner of the kept value.
        key: what the value is, including every non-tensor input of `build` (dtype, flags).
        build: computes the value from `sources`.
        sources: the tensors the value depends on.
    """
    if (
        torch.compiler.is_compiling()  # A compiled graph folds the constants itself.
        or not _keep_constants
        or records_grad(*sources)
        or torch.is_inference_mode_enabled()  # Never reached while tracing: dynamo rejects it.
    ):
        return build()
    try:
        stamp = tuple((t.data_ptr(), t._version) for t in sources)
    except RuntimeError:  # A tensor made under inference mode has no version counter.
        return build()
    kept = module.__dict__.setdefault("_frozen", {})
    entry = kept.get(key)
    if entry is None or entry[0] != stamp:
        entry = (stamp, build())
        kept[key] = entry
    return entry[1]


def forget_frozen(module: nn.Module) -> None:
    """Drop every value `frozen` kept on `module` and its submodules."""
    for m in module.modules():
        m.__dict__.pop("_frozen", None)


# ------------------------------------------------------------------------------------------------
# Bias, activation and normalisation.


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: Activation = "linear",
    gain: float = 1.0,
    clamp: float | None = None,
) -> torch.Tensor:
    """Add a per-channel bias (channels on dim 1), apply the activation and its gain, then clamp.

    `gain` multiplies the activation's own gain (sqrt(2) for leaky ReLU), as when a residual branch
    is scaled by sqrt(0.5). `clamp=None` means no clamping.
    """
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2))
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif activation != "linear":
        raise ValueError(f"unknown activation {activation!r}; choose 'linear' or 'lrelu'")
    gain = gain * ACTIVATION_GAIN[activation]
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def is_channels_last(x: torch.Tensor) -> bool:
    """True for a 4D tensor laid out NHWC (and not also NCHW, as tensors with C = 1 can be)."""
    return (
        x.dim() == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    )


def epilogue_shift(
    bias: torch.Tensor, noise: torch.Tensor | None, activation: Activation, like: torch.Tensor
) -> torch.Tensor:
    """(bias + noise) * activation gain, in the dtype and memory format of `like`.

    The part of a synthesis conv's epilogue that is the same for every sample: [1, C, 1, 1], or
    [1, C, H, W] with shared noise [1, 1, H, W]. A result takes its memory format from its
    operands, so this small tensor must share the activations' (channels-last activations would
    otherwise come out NCHW).
    """
    gain = ACTIVATION_GAIN[activation]
    shift = bias.float().reshape(1, -1, 1, 1) * gain
    if noise is not None:
        assert_shape(noise, [1, 1, None, None], "epilogue_shift noise")
        shift = shift + noise.float() * gain
    memory_format = torch.channels_last if is_channels_last(like) else torch.contiguous_format
    return shift.to(like.dtype).contiguous(memory_format=memory_format)


def scale_shift_act(
    x: torch.Tensor,
    scale: torch.Tensor | float,
    shift: torch.Tensor,
    activation: Activation = "lrelu",
    clamp: float | None = None,
    noise: torch.Tensor | None = None,
    overwrite: bool = False,
) -> torch.Tensor:
    """act(x * scale + shift + noise), clamped, with the activation's gain already folded in.

    Two passes over x (or three with per-sample noise) instead of one per step. Folding the gain
    into scale, shift and noise is exact because leaky ReLU is positively homogeneous:
    lrelu(a) * g = lrelu(a * g) for g > 0. Outside autograd the activation and the clamp run in
    place on the freshly made sum.

    Args:
        x: conv output [N, C, H, W].
        scale: per-sample output-channel scales [N, C] fp32, or one number.
        shift: `epilogue_shift(...)`, broadcastable to x, in x's dtype.
        activation: 'linear' or 'lrelu'.
        clamp: clamp the result to +-clamp; None means no clamp.
        noise: per-sample noise [N, 1, H, W], gain included, or None.
        overwrite: x is a temporary that the caller no longer needs (its fresh conv output).
            Outside autograd the result is then written into x: a new activation tensor costs
            an allocation and, for the megabyte-sized ones, fresh pages from the system, which
            on a CPU take longer than the arithmetic. Otherwise x is never changed.
    """
    batch, channels = x.shape[:2]
    per_sample = isinstance(scale, torch.Tensor)
    reuse = overwrite and not records_grad(x, shift, *([scale] if per_sample else []))
    if per_sample:
        assert_shape(scale, [batch, channels], "scale_shift_act scale")
        scale = scale.to(x.dtype).reshape(batch, channels, 1, 1)
    if reuse:
        # In place, a multiply and an add: bf16 addcmul runs several times slower on CPUs.
        x = x.mul_(scale).add_(shift)
    elif per_sample:
        x = torch.addcmul(shift, x, scale)
    else:
        x = torch.add(shift, x, alpha=scale)
    if noise is not None:
        x = x.add_(noise.to(x.dtype)) if reuse else x + noise.to(x.dtype)
    inplace = not records_grad(x)
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE, inplace=inplace)
    elif activation != "linear":
        raise ValueError(f"unknown activation {activation!r}; choose 'linear' or 'lrelu'")
    if clamp is not None:
        x = x.clamp_(-clamp, clamp) if inplace else x.clamp(-clamp, clamp)
    return x


def scale_bias_act(
    x: torch.Tensor,
    scale: torch.Tensor | None,
    bias: torch.Tensor,
    noise: torch.Tensor | None = None,
    activation: Activation = "lrelu",
    clamp: float | None = None,
) -> torch.Tensor:
    """act(x * scale + noise + bias) * act_gain, clamped: the epilogue of a synthesis conv.

    Gives the same numbers as scaling, adding noise, `bias_act` and clamping one after another,
    in two or three passes over x instead of five (see `scale_shift_act`). This matters most for
    thin (pruned) layers, whose elementwise work is as large relative to their convolutions as
    their channels are few.

    Args:
        x: conv output [N, C, H, W].
        scale: per-sample output-channel scales [N, C] (the demodulation), or None.
        bias: per-channel bias [C].
        noise: noise already multiplied by its strength, [1 or N, 1, H, W], or None.
        activation: 'linear' or 'lrelu'.
        clamp: clamp the result to +-clamp; None means no clamp.
    """
    gain = ACTIVATION_GAIN[activation]
    shared = noise is not None and noise.shape[0] == 1
    shift = epilogue_shift(bias, noise if shared else None, activation, x)
    per_sample = None if noise is None or shared else noise.float() * gain
    gained = gain if scale is None else scale.float() * gain
    return scale_shift_act(x, gained, shift, activation, clamp, per_sample)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm: scale each vector to unit root-mean-square along `dim`."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


# ------------------------------------------------------------------------------------------------
# FIR resampling.


def make_fir_filter(taps: tuple[float, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """Outer product of a 1D kernel with itself, normalised to unit sum: [K, K]."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def _depthwise(f: torch.Tensor, channels: int, dtype: torch.dtype) -> torch.Tensor:
    return f.to(dtype)[None, None].expand(channels, 1, *f.shape)


def fir_filter(
    x: torch.Tensor, f: torch.Tensor, padding: tuple[int, int, int, int], gain: float = 1.0
) -> torch.Tensor:
    """Pad by (left, right, top, bottom) and convolve each channel with the 2D filter `f`."""
    channels = x.shape[1]
    weight = _depthwise(f * gain, channels, x.dtype)
    # The filter is symmetric, so correlation and convolution agree. Symmetric padding is left
    # to the convolution, which avoids materialising a padded copy.
    left, right, top, bottom = padding
    if left == right == top == bottom:
        return F.conv2d(x, weight, padding=left, groups=channels)
    return F.conv2d(F.pad(x, padding), weight, groups=channels)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Double the resolution: zero insertion followed by the FIR filter with gain 4.

    Written as one transposed depthwise convolution with stride 2, which is the same operation
    without materialising the zeros. [N, C, H, W] -> [N, C, 2H, 2W].
    """
    channels = x.shape[1]
    pad = (f.shape[-1] - 2) // 2
    return F.conv_transpose2d(
        x, _depthwise(f * 4, channels, x.dtype), stride=2, padding=pad, groups=channels
    )


def downsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Halve the resolution: FIR low-pass, then every second pixel. [N,C,H,W] -> [N,C,H/2,W/2]."""
    channels = x.shape[1]
    pad = (f.shape[-1] - 2) // 2
    return F.conv2d(x, _depthwise(f, channels, x.dtype), stride=2, padding=pad, groups=channels)


def conv2d_resample(
    x: torch.Tensor,
    weight: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Convolution with 'same' padding, optionally with 2x FIR upsampling or downsampling.

    Upsampling runs the convolution as a stride-2 transposed convolution on the low-resolution
    input (a quarter of the work of convolving the upsampled image) and then smooths with the FIR
    filter; downsampling smooths first and then convolves with stride 2. `weight` is
    [O, I / groups, K, K] in both cases.
    """
    out_channels, _, kh, kw = weight.shape
    if kh != kw:
        raise ValueError(f"square kernels only, got {kh}x{kw}")
    if up not in (1, 2) or down not in (1, 2) or (up == 2 and down == 2):
        raise ValueError(f"unsupported resampling up={up} down={down}; use 1 or 2, not both")

    # Plain convolution.
    if up == 1 and down == 1:
        return F.conv2d(x, weight, padding=kw // 2, groups=groups)

    assert f is not None, "resampling needs the FIR filter"
    fw = f.shape[-1]

    # Downsampling: low-pass with enough padding for a stride-2 'same' convolution afterwards.
    if down == 2:
        p = (fw - 2) + (kw - 1)
        x = fir_filter(x, f, (p // 2 + p % 2, p // 2, p // 2 + p % 2, p // 2))
        return F.conv2d(x, weight, stride=2, groups=groups)

    # Upsampling: transposed convolution wants weights as [I, O / groups, K, K].
    if groups == 1:
        w_t = weight.transpose(0, 1)
    else:
        in_per_group = weight.shape[1]
        w_t = weight.reshape(groups, out_channels // groups, in_per_group, kh, kw)
        w_t = w_t.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kh, kw)
    x = F.conv_transpose2d(x, w_t, stride=2, groups=groups)  # [N, O, 2H + K - 2, ...]
    # Trim the (K - 2) extra pixels while smoothing: total padding fw - 1 - (kw - 2).
    p = (fw - 1) - (kw - 2)
    pad = (p // 2, p - p // 2, p // 2, p - p // 2)
    if min(pad) < 0:
        raise ValueError(f"kernel size {kw} is too large for the {fw}-tap upsampling filter")
    return fir_filter(x, f, pad, gain=4)


# ------------------------------------------------------------------------------------------------
# Equalized-learning-rate layers.


class FullyConnectedLayer(nn.Module):
    """Equalized-LR dense layer: y = act(x @ (W * weight_gain)^T + b * bias_gain).

    Args:
        in_features: size of each input vector.
        out_features: size of each output vector.
        bias: learn an additive bias.
        activation: 'linear' or 'lrelu' (with gain sqrt(2)).
        lr_multiplier: learning-rate multiplier; the mapping network uses 0.01.
        bias_init: initial effective bias value, a float or one value per output feature.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: Activation = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float | list[float] | torch.Tensor = 0.0,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.lr_multiplier = lr_multiplier
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        if bias:
            init = torch.broadcast_to(
                torch.as_tensor(bias_init, dtype=torch.float32), [out_features]
            )
            self.bias = nn.Parameter(init.clone() / lr_multiplier)
        else:
            self.bias = None
        # Equalized LR, PGGAN section 4.1: the He constant applied at run time.
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.weight_gain

    def effective_bias(self) -> torch.Tensor | None:
        return None if self.bias is None else self.bias * self.bias_gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, self.in_features], "FullyConnectedLayer input")
        weight_t, b = frozen(
            self, ("effective", x.dtype), lambda: self._effective(x.dtype), *self.parameters()
        )
        if self.activation == "linear" and b is not None:
            return torch.addmm(b, x, weight_t)
        return bias_act(x.matmul(weight_t), b, self.activation)

    def _effective(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The effective weight transposed, [in, out], and bias as [1, out], in `dtype`."""
        weight_t = self.effective_weight().to(dtype).t()
        b = self.effective_bias()
        return weight_t, None if b is None else b.to(dtype).unsqueeze(0)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, activation={self.activation}, "
            f"lr_multiplier={self.lr_multiplier:g}, weight_gain={self.weight_gain:.6g}, "
            f"bias_gain={self.bias_gain:g}"
        )


class Conv2dLayer(nn.Module):
    """Equalized-LR convolution with optional FIR up/downsampling, bias, activation and clamp.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel width.
        bias: learn a per-channel bias.
        activation: 'linear' or 'lrelu'.
        up: 2 to upsample the input first, else 1.
        down: 2 to downsample the output, else 1.
        conv_clamp: clamp activations to +-conv_clamp; None means no clamp.
        lr_multiplier: learning-rate multiplier.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: Activation = "linear",
        up: int = 1,
        down: int = 1,
        conv_clamp: float | None = None,
        lr_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.lr_multiplier = lr_multiplier
        self.register_buffer("resample_filter", make_fir_filter(), persistent=False)
        shape = [out_channels, in_channels, kernel_size, kernel_size]
        self.weight = nn.Parameter(torch.randn(shape) / lr_multiplier)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_channels * kernel_size**2)
        self.bias_gain = lr_multiplier

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.weight_gain

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        assert_shape(x, [None, self.in_channels, None, None], "Conv2dLayer input")
        w = self.effective_weight().to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, up=self.up, down=self.down)
        b = None if self.bias is None else (self.bias * self.bias_gain).to(x.dtype)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, b, self.activation, gain=gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"kernel_size={self.kernel_size}, activation={self.activation}, up={self.up}, "
            f"down={self.down}, lr_multiplier={self.lr_multiplier:g}, "
            f"weight_gain={self.weight_gain:.6g}, bias_gain={self.bias_gain:g}"
        )


# ------------------------------------------------------------------------------------------------
# Modulated convolution.


def kernel_square_norms(weight: torch.Tensor) -> torch.Tensor:
    """sum_k w_oik^2 of a kernel [O, I, K, K] as [I, O] fp32: what demodulation reads."""
    return weight.float().square().sum(dim=[2, 3]).t()


def demodulation_coefficients(
    weight_sq: torch.Tensor, styles: torch.Tensor, gain: float = 1.0
) -> torch.Tensor:
    """StyleGAN2 eq. 3: gain / sqrt(sum_{i,k} (w_oik * s_i)^2 + eps), [N, O] in fp32.

    Args:
        weight_sq: `kernel_square_norms` of the kernel (gain applied), [I, O].
        styles: per-sample input-channel scales [N, I].
        gain: multiplies the result (an activation gain folded in), > 0.
    """
    d = (styles.float().square() @ weight_sq).add_(1e-8).rsqrt_()
    return d if gain == 1 else d * gain  # Not in place: rsqrt's backward reads its output.


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    up: int = 1,
    demodulate: bool = True,
    resample_filter: torch.Tensor | None = None,
    fused: bool = False,
    overwrite: bool = False,
) -> torch.Tensor:
    """Convolve each sample with the weight scaled by its own styles, optionally demodulated.

    Args:
        x: activations [N, I, H, W].
        weight: shared kernel [O, I, K, K], already multiplied by its equalized-LR gain.
        styles: per-sample input-channel scales [N, I].
        up: 2 to upsample by 2 with the FIR filter.
        demodulate: divide each output channel by the norm of its modulated kernel
            (StyleGAN2 eq. 3).
        fused: run as one grouped convolution with a kernel per sample; otherwise scale the
            activations before and after one shared convolution. Both give the same numbers; the
            plain path is faster on CPU, the fused one often on GPU at small batch.
        overwrite: x is a temporary the caller no longer needs; outside autograd the plain path
            then modulates it in place instead of allocating a scaled copy.
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    assert_shape(x, [None, in_channels, None, None], "modulated_conv2d x")
    assert_shape(styles, [batch, in_channels], "modulated_conv2d styles")

    dcoefs = None
    if demodulate:
        dcoefs = demodulation_coefficients(kernel_square_norms(weight), styles)

    if not fused:
        s = styles.to(x.dtype).reshape(batch, -1, 1, 1)
        x = x.mul_(s) if overwrite and not records_grad(x, styles) else x * s
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up)
        if dcoefs is not None:
            x = x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)
        return x

    # Fused path: fold the batch into convolution groups.
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)  # [N, O, I, K, K]
    if dcoefs is not None:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)
    w = w.reshape(batch * out_channels, in_channels, kh, kw).to(x.dtype)
    x = x.reshape(1, batch * in_channels, *x.shape[2:])  # [1, N*I, H, W]
    x = conv2d_resample(x, w, resample_filter, up=up, groups=batch)
    return x.reshape(batch, out_channels, *x.shape[2:])  # [N, O, H', W']


class NoiseInjection(nn.Module):
    """Adds single-channel per-pixel noise scaled by a learned strength (initialised to 0).

    Modes: 'random' draws fresh noise, 'const' uses a fixed buffer (deterministic output), 'none'
    adds nothing.
    """

    def __init__(self, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def sample(self, x: torch.Tensor, noise_mode: NoiseMode = "random") -> torch.Tensor | None:
        """The noise that `forward` adds to x, times its strength: [N or 1, 1, H, W] fp32, or
        None for 'none'."""
        if noise_mode == "none":
            return None
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device)
        elif noise_mode == "const":
            noise = self.noise_const
        else:
            raise ValueError(f"unknown noise_mode {noise_mode!r}; use 'random', 'const' or 'none'")
        return noise * self.noise_strength

    def forward(self, x: torch.Tensor, noise_mode: NoiseMode = "random") -> torch.Tensor:
        noise = self.sample(x, noise_mode)
        return x if noise is None else x + noise.to(x.dtype)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}"


class MinibatchStdLayer(nn.Module):
    """Appends the mean standard deviation over groups of samples as extra feature maps.

    Groups are runs of consecutive samples, so a batch that concatenates reals and fakes (each a
    multiple of the group size) never mixes the two in a group.

    Args:
        group_size: samples per group; the batch must be divisible by min(group_size, batch).
        num_channels: feature groups, each giving one extra channel.
    """

    def __init__(self, group_size: int, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        f = self.num_channels
        if n % g != 0:
            raise ValueError(f"minibatch std: batch {n} is not divisible by group size {g}")
        y = x.float().reshape(n // g, g, f, c // f, h, w)  # [N/G, G, F, C/F, H, W]
        y = y - y.mean(dim=1, keepdim=True)
        y = (y.square().mean(dim=1) + 1e-8).sqrt()  # [N/G, F, C/F, H, W]
        y = y.mean(dim=[2, 3, 4])  # [N/G, F]
        y = y.repeat_interleave(g, dim=0).reshape(n, f, 1, 1).expand(n, f, h, w)  # [N, F, H, W]
        return torch.cat([x, y.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature maps of a block at `resolution`: min(channel_base / resolution, channel_max)."""
    return int(min(channel_base // resolution, channel_max))


def resolution_log2(resolution: int) -> int:
    log2 = int(np.log2(resolution))
    if resolution != 2**log2 or resolution < 4:
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
    return log2
