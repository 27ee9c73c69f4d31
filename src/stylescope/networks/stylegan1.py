"""Original StyleGAN synthesis network: adaptive instance normalisation (AdaIN) and noise.

Karras et al., "A Style-Based Generator Architecture for Generative Adversarial Networks"
(CVPR 2019, arXiv:1812.04948), section 2 and figure 1(b). Each resolution has two layers; each
layer is [conv] -> noise -> bias + leaky ReLU -> instance norm -> per-channel scale and shift from
a style affine of w. The 4x4 block starts from a learned constant (its first layer has no conv).
Each block keeps its own 1x1 ToRGB so that the network can be trained with progressive growing
(PGGAN, arXiv:1710.10196): `forward(..., resolution=r, alpha=a)` renders at resolution r, fading
the new block in by a. num_ws = 2 * log2(img_resolution) - 2, two latents per block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stylescope.networks.base import StyleLayerInfo
from stylescope.networks.layers import (
    Conv2dLayer,
    FullyConnectedLayer,
    NoiseInjection,
    NoiseMode,
    bias_act,
    channels_at,
    resolution_log2,
)
from stylescope.utils import assert_shape


def instance_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each feature map of each sample to zero mean and unit variance."""
    x = x - x.mean(dim=[2, 3], keepdim=True)
    return x * (x.square().mean(dim=[2, 3], keepdim=True) + eps).rsqrt()


class AdaINLayer(nn.Module):
    """[3x3 conv, optionally upsampling] -> noise -> bias + lrelu -> instance norm -> AdaIN.

    Args:
        in_channels: input feature maps; 0 means no conv (the layer reads the learned constant,
            which has `out_channels` maps).
        out_channels: output feature maps.
        w_dim: latent size.
        resolution: output resolution.
        up: 2 to upsample the input by 2 (FIR filtered), else 1.
        use_noise: add per-pixel noise with learned strength.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: int = 1,
        use_noise: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels if in_channels > 0 else out_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.up = up
        self.conv = (
            Conv2dLayer(in_channels, out_channels, 3, bias=False, up=up)
            if in_channels > 0
            else None
        )
        self.noise = NoiseInjection(resolution) if use_noise else None
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # Style affine: [scale (starts at 1), shift (starts at 0)] per output channel.
        self.affine = FullyConnectedLayer(
            w_dim, 2 * out_channels, bias_init=[1.0] * out_channels + [0.0] * out_channels
        )

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: NoiseMode = "random"):
        in_res = self.resolution // self.up
        assert_shape(x, [None, self.in_channels, in_res, in_res], f"AdaINLayer@{in_res} x")
        if self.conv is not None:
            x = self.conv(x)
        if self.noise is not None:
            x = self.noise(x, noise_mode)
        x = bias_act(x, self.bias.to(x.dtype), "lrelu")
        x = instance_norm(x)

        # AdaIN: y = scale * norm(x) + shift, both from the style affine of w.
        scale, shift = self.affine(w).to(x.dtype).chunk(2, dim=1)
        return x * scale[:, :, None, None] + shift[:, :, None, None]

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"resolution={self.resolution}, up={self.up}"
        )


class AdaINBlock(nn.Module):
    """Two AdaIN layers at one resolution, plus this resolution's ToRGB."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        mid_channels: int | None = None,
        use_noise: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        mid_channels = out_channels if mid_channels is None else mid_channels
        if in_channels == 0:
            self.const = nn.Parameter(torch.ones(mid_channels, resolution, resolution))
        else:
            self.const = None
        self.layer0 = AdaINLayer(
            in_channels,
            mid_channels,
            w_dim,
            resolution,
            up=1 if in_channels == 0 else 2,
            use_noise=use_noise,
        )
        self.layer1 = AdaINLayer(mid_channels, out_channels, w_dim, resolution, use_noise=use_noise)
        self.torgb = Conv2dLayer(out_channels, img_channels, 1)
        self.num_conv = 2

    def forward(
        self, x: torch.Tensor | None, ws: torch.Tensor, noise_mode: NoiseMode = "random"
    ) -> torch.Tensor:
        assert_shape(ws, [None, self.num_conv, self.w_dim], f"b{self.resolution} ws")
        if self.const is not None:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        x = self.layer0(x, ws[:, 0], noise_mode)
        return self.layer1(x, ws[:, 1], noise_mode)


class AdaINSynthesisNetwork(nn.Module):
    """Original StyleGAN synthesis: ws [N, num_ws, w_dim] -> img [N, img_channels, r, r].

    Args:
        w_dim: latent size.
        img_resolution: final output resolution.
        img_channels: output channels.
        channel_base: feature maps at resolution r are min(channel_base / r, channel_max).
        channel_max: largest number of feature maps.
        conv_clamp: unused by AdaIN layers (instance norm bounds activations); kept so that every
            synthesis network takes the same arguments.
        use_noise: add per-pixel noise in every layer.
        channel_overrides: output channels per layer name ('b4.const', 'b4.layer1', 'b8.layer0',
            ...), replacing the defaults.
    """

    architecture = "stylegan"

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
        del conv_clamp
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
        for res in self.block_resolutions:
            mid = width(f"b{res}.const" if res == 4 else f"b{res}.layer0", res)
            out = width(f"b{res}.layer1", res)
            block = AdaINBlock(in_channels, out, w_dim, res, img_channels, mid, use_noise)
            setattr(self, f"b{res}", block)
            in_channels = out
        self.num_ws = 2 * len(self.block_resolutions)
        if overrides:
            raise KeyError(f"channel_overrides name unknown layers: {sorted(overrides)}")

    def blocks(self) -> list[AdaINBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: NoiseMode = "random",
        fused_modconv: bool | None = None,
        resolution: int | None = None,
        alpha: float = 1.0,
    ) -> torch.Tensor:
        """Render at `resolution` (default: full); `alpha` < 1 blends the last block's ToRGB
        with the nearest-upsampled ToRGB of the block before it (progressive growing fade-in)."""
        del fused_modconv  # AdaIN has no modulated convolutions.
        assert_shape(ws, [None, self.num_ws, self.w_dim], "ws")
        resolution = self.img_resolution if resolution is None else resolution
        if resolution not in self.block_resolutions:
            raise ValueError(f"resolution {resolution} is not one of {self.block_resolutions}")
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format

        x = None
        prev_img = None
        for i, block in enumerate(self.blocks()):
            if block.resolution > resolution:
                break
            if x is not None:
                x = x.contiguous(memory_format=memory_format)
            x = block(x, ws[:, 2 * i : 2 * i + 2], noise_mode)
            if block.resolution == resolution // 2 and alpha < 1:
                prev_img = block.torgb(x).float()
        img = getattr(self, f"b{resolution}").torgb(x).float()

        # Progressive-growing fade-in of the newest resolution.
        if prev_img is not None:
            img = torch.lerp(F.interpolate(prev_img, scale_factor=2, mode="nearest"), img, alpha)
        return img

    def style_layers(self) -> list[StyleLayerInfo]:
        """Every AdaIN layer in forward order, with its `ws` index and channel counts."""
        infos = []
        for i, block in enumerate(self.blocks()):
            for j, name in enumerate(("layer0", "layer1")):
                layer = getattr(block, name)
                infos.append(
                    StyleLayerInfo(
                        f"b{block.resolution}.{name}",
                        "adain",
                        layer,
                        layer.affine,
                        2 * i + j,
                        block.resolution,
                        layer.in_channels,
                        layer.out_channels,
                    )
                )
        return infos
