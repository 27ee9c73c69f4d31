"""What every synthesis network exposes, so that analysis tools never parse state-dict keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from stylescope.networks.layers import FullyConnectedLayer

LayerKind = Literal["modconv", "torgb", "adain"]


@dataclass(frozen=True)
class StyleLayerInfo:
    """One synthesis layer that consumes a per-layer latent from `ws`.

    Attributes:
        name: stable dotted name inside the synthesis network, e.g. 'b8.conv0'.
        kind: 'modconv' (StyleGAN2 modulated 3x3 conv), 'torgb' (StyleGAN2 modulated 1x1 ToRGB) or
            'adain' (original StyleGAN conv + AdaIN).
        module: the layer itself.
        affine: the style affine A mapping w to this layer's styles; its output has `in_channels`
            features for 'modconv'/'torgb' and 2 * `out_channels` (scale, then shift) for 'adain'.
        w_index: which entry of `ws` the layer reads.
        resolution: output resolution in pixels.
        in_channels: input feature maps (those of the learned constant for the first layer).
        out_channels: output feature maps.
    """

    name: str
    kind: LayerKind
    module: nn.Module
    affine: FullyConnectedLayer
    w_index: int
    resolution: int
    in_channels: int
    out_channels: int
