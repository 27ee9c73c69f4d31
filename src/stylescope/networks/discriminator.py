"""Residual discriminator with minibatch standard deviation, for both generator architectures.

Follows the 'resnet' discriminator of StyleGAN2 (arXiv:1912.04958, figure 7c): per resolution two
3x3 convs (the second downsampling) plus a 1x1 downsampling skip, summed with sqrt(0.5) gains;
then a 4x4 epilogue with minibatch std (PGGAN, arXiv:1710.10196, section 3), a conv and two dense
layers. Labels c use the projection discriminator of Miyato and Koyama (arXiv:1802.05637).
For progressive growing, every block has its own FromRGB, and `forward` accepts images at any
block resolution with a fade-in factor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from stylescope.networks.config import NetworkConfig
from stylescope.networks.layers import (
    Conv2dLayer,
    FullyConnectedLayer,
    MinibatchStdLayer,
    normalize_2nd_moment,
    resolution_log2,
)
from stylescope.utils import assert_shape


class DiscriminatorBlock(nn.Module):
    """Residual block at one resolution, halving it: [N, C, r, r] -> [N, C', r/2, r/2]."""

    def __init__(
        self,
        channels: int,
        out_channels: int,
        resolution: int,
        img_channels: int,
        has_fromrgb: bool,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.fromrgb = (
            Conv2dLayer(img_channels, channels, 1, activation="lrelu", conv_clamp=conv_clamp)
            if has_fromrgb
            else None
        )
        self.conv0 = Conv2dLayer(channels, channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(
            channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp
        )
        self.skip = Conv2dLayer(channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.resolution
        assert_shape(x, [None, self.channels, res, res], f"DiscriminatorBlock@{res} x")
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv0(x)
        x = self.conv1(x, gain=math.sqrt(0.5))
        return y + x


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: minibatch std, 3x3 conv, dense, dense to a score (or a label projection)."""

    def __init__(
        self,
        channels: int,
        cmap_dim: int,
        mbstd_group_size: int,
        mbstd_num_channels: int,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.cmap_dim = cmap_dim
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels)
        self.conv = Conv2dLayer(
            channels + mbstd_num_channels, channels, 3, activation="lrelu", conv_clamp=conv_clamp
        )
        self.fc = FullyConnectedLayer(channels * 16, channels, activation="lrelu")
        self.out = FullyConnectedLayer(channels, max(cmap_dim, 1))

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None) -> torch.Tensor:
        assert_shape(x, [None, self.channels, 4, 4], "DiscriminatorEpilogue x")
        x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if cmap is not None:
            # Projection discriminator: inner product with the label embedding.
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x  # [N, 1]


class Discriminator(nn.Module):
    """img [N, img_channels, r, r] (+ c) -> realness logits [N, 1].

    Args:
        config: the architecture; `architecture == 'stylegan'` adds FromRGB layers at every
            resolution for progressive growing.
        progressive: override whether to build those FromRGB layers (None: by architecture).
    """

    def __init__(self, config: NetworkConfig, progressive: bool | None = None) -> None:
        super().__init__()
        self.config = config
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.c_dim = config.c_dim
        self.progressive = config.architecture == "stylegan" if progressive is None else progressive
        # NHWC activations: faster convolutions on CPUs (oneDNN) and on GPU tensor cores.
        self.channels_last = True
        log2 = resolution_log2(config.img_resolution)
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        clamp = config.conv_clamp

        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                config.channels(res),
                config.channels(res // 2),
                res,
                config.img_channels,
                has_fromrgb=self.progressive or res == config.img_resolution,
                conv_clamp=clamp,
            )
            setattr(self, f"b{res}", block)

        # Label embedding for the projection head.
        self.cmap_dim = config.channels(4) if config.c_dim > 0 else 0
        if config.c_dim > 0:
            self.c_embed = FullyConnectedLayer(config.c_dim, self.cmap_dim)
            self.c_fc = FullyConnectedLayer(self.cmap_dim, self.cmap_dim, activation="lrelu")
        self.fromrgb4 = (
            Conv2dLayer(config.img_channels, config.channels(4), 1, activation="lrelu")
            if self.progressive or config.img_resolution == 4
            else None
        )
        self.b4 = DiscriminatorEpilogue(
            config.channels(4),
            self.cmap_dim,
            config.mbstd_group_size,
            config.mbstd_num_channels,
            conv_clamp=clamp,
        )

    def _fromrgb(self, img: torch.Tensor, res: int) -> torch.Tensor:
        layer = self.fromrgb4 if res == 4 else getattr(self, f"b{res}").fromrgb
        if layer is None:
            raise ValueError(
                f"this discriminator takes {self.img_resolution}x{self.img_resolution} images only "
                f"(it was built without progressive FromRGB layers), got {res}x{res}"
            )
        return layer(img)

    def forward(
        self, img: torch.Tensor, c: torch.Tensor | None = None, alpha: float = 1.0
    ) -> torch.Tensor:
        """`alpha` < 1 fades in the highest resolution block (progressive growing)."""
        res = img.shape[-1]
        assert_shape(img, [None, self.img_channels, res, res], "Discriminator img")
        if res not in self.block_resolutions + [4]:
            raise ValueError(f"image resolution {res} is not one of {self.block_resolutions + [4]}")

        # Entry at the image's own resolution, faded with the next-lower FromRGB while growing.
        if self.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        x = self._fromrgb(img, res)
        if res > 4:
            x = getattr(self, f"b{res}")(x)
            if alpha < 1:
                x_low = self._fromrgb(F.avg_pool2d(img, 2), res // 2)
                x = torch.lerp(x_low, x, alpha)
        for block_res in self.block_resolutions:
            if block_res < res:
                x = getattr(self, f"b{block_res}")(x)

        # Head, projected on the label embedding when conditional.
        cmap = None
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this discriminator is conditional: pass c of size {self.c_dim}")
            assert_shape(c, [img.shape[0], self.c_dim], "c")
            cmap = self.c_fc(normalize_2nd_moment(self.c_embed(c.float())))
        return self.b4(x, cmap)
