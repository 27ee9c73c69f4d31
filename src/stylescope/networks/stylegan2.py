"""StyleGAN2 synthesis network: modulated convolutions with demodulation and skip ToRGB outputs.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020,
arXiv:1912.04958). Matches the 'skip' generator architecture of config F: a learned 4x4 constant,
one modulated 3x3 conv at 4x4 and two per higher resolution (the first upsamples), and a modulated
1x1 ToRGB per resolution whose outputs are upsampled and summed. Block at resolution r reads
ws[i : i + 3] where the last of the three (its ToRGB latent) is also the first latent of the next
block, so num_ws = 2 * log2(img_resolution) - 2.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stylescope.networks.base import StyleLayerInfo
from stylescope.networks.layers import (
    ACTIVATION_GAIN,
    FullyConnectedLayer,
    NoiseInjection,
    NoiseMode,
    bias_act,
    channels_at,
    demodulation_coefficients,
    epilogue_shift,
    frozen,
    is_channels_last,
    kernel_square_norms,
    make_fir_filter,
    modulated_conv2d,
    resolution_log2,
    scale_bias_act,
    scale_shift_act,
    upsample2d,
)
from stylescope.utils import assert_shape


def kept_kernel(layer: nn.Module, dtype: torch.dtype) -> torch.Tensor:
    """The layer's gain-scaled kernel in `dtype`, kept between inference passes (`frozen`)."""
    return frozen(
        layer, ("weight", dtype), lambda: layer.effective_weight().to(dtype), layer.weight
    )


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally upsampling), noise, bias and leaky ReLU.

    Args:
        in_channels: input feature maps.
        out_channels: output feature maps.
        w_dim: latent size read by the style affine.
        resolution: output resolution.
        up: 2 to upsample the input by 2, else 1.
        use_noise: add per-pixel noise with learned strength.
        conv_clamp: clamp outputs to +-conv_clamp; None means no clamp.
        kernel_size: conv kernel width.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: int = 1,
        use_noise: bool = True,
        conv_clamp: float | None = None,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.up = up
        self.conv_clamp = conv_clamp
        # Styles start at 1 so that the layer begins as an unmodulated conv.
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.noise = NoiseInjection(resolution) if use_noise else None
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("resample_filter", make_fir_filter(), persistent=False)

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.weight_gain

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: NoiseMode = "random",
        fused_modconv: bool = False,
        overwrite: bool = False,
    ) -> torch.Tensor:
        """x [N, in_channels, R / up, R / up], w [N, w_dim] -> [N, out_channels, R, R].

        `overwrite`: x is a temporary that only this layer reads (the previous conv's output);
        outside autograd it is then modulated in place.
        """
        in_res = self.resolution // self.up
        assert_shape(x, [None, self.in_channels, in_res, in_res], f"SynthesisLayer@{in_res} x")
        styles = self.affine(w)
        if fused_modconv:
            x = modulated_conv2d(
                x, self.effective_weight(), styles, self.up, True, self.resample_filter, True
            )
            noise = None if self.noise is None else self.noise.sample(x, noise_mode)
            return scale_bias_act(x, None, self.bias, noise, "lrelu", clamp=self.conv_clamp)

        # The plain path leaves demodulation to the epilogue, which applies it with the noise,
        # bias and activation in two passes. Tensors that depend on parameters only (the
        # gain-scaled kernel, its squared norms, bias plus constant noise) are kept between
        # inference passes by `frozen`.
        weight = kept_kernel(self, x.dtype)
        x = modulated_conv2d(
            x, weight, styles, self.up, False, self.resample_filter, overwrite=overwrite
        )
        weight_sq = frozen(
            self, "weight_sq", lambda: kernel_square_norms(self.effective_weight()), self.weight
        )
        dcoefs = demodulation_coefficients(weight_sq, styles, gain=ACTIVATION_GAIN["lrelu"])
        shift, noise = self._epilogue_shift(x, noise_mode)
        return scale_shift_act(x, dcoefs, shift, "lrelu", self.conv_clamp, noise, overwrite=True)

    def _epilogue_shift(
        self, x: torch.Tensor, noise_mode: NoiseMode
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(bias + shared noise) * gain, kept between passes, and per-sample noise * gain."""
        gain = ACTIVATION_GAIN["lrelu"]
        shared = self.noise is not None and noise_mode == "const"
        sources = [self.bias]
        if shared:
            sources += [self.noise.noise_strength, self.noise.noise_const]
        shift = frozen(
            self,
            ("shift", shared, x.dtype, is_channels_last(x)),
            lambda: epilogue_shift(
                self.bias, self.noise.sample(x, "const") if shared else None, "lrelu", x
            ),
            *sources,
        )
        noise = None
        if self.noise is not None and not shared:
            noise = self.noise.sample(x, noise_mode)
            noise = None if noise is None else noise * gain
        return shift, noise

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"w_dim={self.w_dim}, resolution={self.resolution}, up={self.up}, "
            f"weight_gain={self.weight_gain:.6g}"
        )


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation, from features to image channels (in fp32)."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.weight_gain = 1 / math.sqrt(in_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.weight_gain

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = False
    ) -> torch.Tensor:
        assert_shape(x, [None, self.in_channels, None, None], "ToRGBLayer x")
        styles = self.affine(w)
        x = modulated_conv2d(
            x, kept_kernel(self, x.dtype), styles, demodulate=False, fused=fused_modconv
        )
        # Adding the fp32 bias promotes the output to fp32, which the running image is summed in,
        # in the same pass: 3-channel bf16 arithmetic is several times slower on CPUs.
        return bias_act(x, self.bias, clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"weight_gain={self.weight_gain:.6g}"
        )


class SynthesisBlock(nn.Module):
    """One resolution: [const | upsampling conv0] -> conv1 -> ToRGB added to the upsampled image.

    Args:
        in_channels: input feature maps; 0 for the first block, which starts from a constant.
        out_channels: feature maps of conv1 (and of conv0 unless `mid_channels` is given).
        w_dim: latent size.
        resolution: resolution of this block.
        img_channels: image channels.
        mid_channels: feature maps between conv0 and conv1 (defaults to out_channels).
        use_noise: add per-pixel noise.
        conv_clamp: activation clamp; None means none.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        mid_channels: int | None = None,
        use_noise: bool = True,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        mid_channels = out_channels if mid_channels is None else mid_channels
        self.register_buffer("resample_filter", make_fir_filter(), persistent=False)

        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(mid_channels, resolution, resolution))
            self.conv0 = None
        else:
            self.const = None
            self.conv0 = SynthesisLayer(
                in_channels,
                mid_channels,
                w_dim,
                resolution,
                up=2,
                use_noise=use_noise,
                conv_clamp=conv_clamp,
            )
        self.conv1 = SynthesisLayer(
            mid_channels,
            out_channels,
            w_dim,
            resolution,
            use_noise=use_noise,
            conv_clamp=conv_clamp,
        )
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: NoiseMode = "random",
        fused_modconv: bool = False,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        num_block_ws = self.num_conv + self.num_torgb
        assert_shape(ws, [None, num_block_ws, self.w_dim], f"b{self.resolution} ws")
        w_iter = iter(ws.unbind(dim=1))

        # Features.
        if self.const is not None:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = x.contiguous(memory_format=memory_format)
            x = self.conv1(x, next(w_iter), noise_mode, fused_modconv)
        else:
            x = self.conv0(x, next(w_iter), noise_mode, fused_modconv)
            # conv0's output has no other reader. (The constant input above must never be
            # overwritten: at batch 1 it is the parameter itself.)
            x = self.conv1(x, next(w_iter), noise_mode, fused_modconv, overwrite=True)

        # Skip architecture: upsample the running image and add this resolution's ToRGB.
        y = self.torgb(x, next(w_iter), fused_modconv).float()
        if img is not None:
            # The running image stays fp32 under autocast: a 3-channel filter gains nothing from
            # bf16, and rounding would accumulate over the resolutions.
            with torch.autocast(img.device.type, enabled=False):
                y = upsample2d(img, self.resample_filter).add_(y)
        return x, y

    def extra_repr(self) -> str:
        return (
            f"resolution={self.resolution}, in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}"
        )


class SynthesisNetwork(nn.Module):
    """StyleGAN2 synthesis: ws [N, num_ws, w_dim] -> img [N, img_channels, R, R].

    Args:
        w_dim: latent size.
        img_resolution: output resolution, a power of two >= 4.
        img_channels: output channels.
        channel_base: feature maps at resolution r are min(channel_base / r, channel_max).
        channel_max: largest number of feature maps.
        conv_clamp: activation clamp in every layer; None means none.
        use_noise: add per-pixel noise in every conv.
        channel_overrides: output channels per layer name ('b8.conv0', 'b16.conv1', 'b4.const')
            that replace the defaults; pruned generators are built from these.
    """

    architecture = "stylegan2"

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        conv_clamp: float | None = None,
        use_noise: bool = True,
        channel_overrides: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        # NHWC activations: faster convolutions on CPUs (oneDNN) and on GPU tensor cores.
        self.channels_last = True
        log2 = resolution_log2(img_resolution)
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        overrides = dict(channel_overrides or {})

        def width(name: str, res: int) -> int:
            return int(overrides.pop(name, channels_at(res, channel_base, channel_max)))

        in_channels = 0
        self.num_ws = 0
        for res in self.block_resolutions:
            mid = width(f"b{res}.const" if res == 4 else f"b{res}.conv0", res)
            out = width(f"b{res}.conv1", res)
            block = SynthesisBlock(
                in_channels,
                out,
                w_dim,
                res,
                img_channels,
                mid_channels=mid,
                use_noise=use_noise,
                conv_clamp=conv_clamp,
            )
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
            in_channels = out
        self.num_ws += 1  # The last ToRGB latent.
        if overrides:
            raise KeyError(f"channel_overrides name unknown layers: {sorted(overrides)}")

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: NoiseMode = "random",
        fused_modconv: bool | None = None,
    ) -> torch.Tensor:
        assert_shape(ws, [None, self.num_ws, self.w_dim], "ws")
        if fused_modconv is None:
            # Grouped convolutions pay off on GPUs at inference; on CPU the plain path is faster.
            fused_modconv = ws.device.type == "cuda" and not self.training
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format

        x = img = None
        w_idx = 0
        for block in self.blocks():
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            x, img = block(x, img, block_ws, noise_mode, fused_modconv, memory_format)
            w_idx += block.num_conv
        return img

    def style_layers(self) -> list[StyleLayerInfo]:
        """Every style-reading layer in forward order, with its `ws` index and channel counts."""
        infos = []
        w_idx = 0
        for block in self.blocks():
            res = block.resolution
            layers = [("conv0", block.conv0), ("conv1", block.conv1)]
            layers = [(n, m) for n, m in layers if m is not None]
            for i, (name, layer) in enumerate(layers):
                infos.append(
                    StyleLayerInfo(
                        f"b{res}.{name}",
                        "modconv",
                        layer,
                        layer.affine,
                        w_idx + i,
                        res,
                        layer.in_channels,
                        layer.out_channels,
                    )
                )
            infos.append(
                StyleLayerInfo(
                    f"b{res}.torgb",
                    "torgb",
                    block.torgb,
                    block.torgb.affine,
                    w_idx + block.num_conv,
                    res,
                    block.torgb.in_channels,
                    block.torgb.out_channels,
                )
            )
            w_idx += block.num_conv
        return infos
