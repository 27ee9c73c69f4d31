"""The generator: mapping network plus a StyleGAN2 or original-StyleGAN synthesis network.

Both architectures share one vocabulary (z, c, w, ws, num_ws, w_avg, img) and expose the same
named accessors, so inspection, pruning and latent tools work on either without knowing which.
"""

from __future__ import annotations

import torch
from torch import nn

from stylescope.networks.base import StyleLayerInfo
from stylescope.networks.config import NetworkConfig
from stylescope.networks.layers import FullyConnectedLayer, NoiseMode
from stylescope.networks.mapping import MappingNetwork
from stylescope.networks.stylegan1 import AdaINSynthesisNetwork
from stylescope.networks.stylegan2 import SynthesisNetwork

SYNTHESIS_CLASSES = {"stylegan2": SynthesisNetwork, "stylegan": AdaINSynthesisNetwork}


class Generator(nn.Module):
    """z [N, z_dim] (+ c [N, c_dim]) -> img [N, img_channels, R, R] in about [-1, 1].

    Args:
        config: the architecture; it is kept as `self.config` and saved with checkpoints.
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        synthesis_cls = SYNTHESIS_CLASSES[config.architecture]
        self.synthesis = synthesis_cls(
            w_dim=config.w_dim,
            img_resolution=config.img_resolution,
            img_channels=config.img_channels,
            channel_base=config.channel_base,
            channel_max=config.channel_max,
            conv_clamp=config.conv_clamp,
            use_noise=config.use_noise,
            channel_overrides=config.channel_overrides,
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=config.z_dim,
            c_dim=config.c_dim,
            w_dim=config.w_dim,
            num_ws=self.num_ws,
            num_layers=config.mapping_layers,
            lr_multiplier=config.mapping_lr_multiplier,
        )

    # Sizes, named as in the rest of the package.
    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def c_dim(self) -> int:
        return self.config.c_dim

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def img_resolution(self) -> int:
        return self.config.img_resolution

    @property
    def img_channels(self) -> int:
        return self.config.img_channels

    @property
    def w_avg(self) -> torch.Tensor:
        """Tracked mean of W, the truncation centre: [w_dim]."""
        return self.mapping.w_avg

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: NoiseMode = "random",
        update_emas: bool = False,
        **synthesis_kwargs,
    ) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff, update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, **synthesis_kwargs)

    # Accessors for analysis tools.
    def style_layers(self) -> list[StyleLayerInfo]:
        """Every synthesis layer that reads a latent, in forward order."""
        return self.synthesis.style_layers()

    def style_affines(self) -> dict[str, FullyConnectedLayer]:
        """Style affine of each synthesis layer, by layer name."""
        return {info.name: info.affine for info in self.style_layers()}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def mix_styles(ws_a: torch.Tensor, ws_b: torch.Tensor, crossover: int) -> torch.Tensor:
    """Style mixing: layers [0, crossover) from ws_a and [crossover, num_ws) from ws_b."""
    if ws_a.shape != ws_b.shape:
        raise ValueError(
            f"style mixing needs equal shapes, got {list(ws_a.shape)} and {list(ws_b.shape)}"
        )
    if not 0 <= crossover <= ws_a.shape[1]:
        raise ValueError(f"crossover {crossover} is outside [0, {ws_a.shape[1]}]")
    return torch.cat([ws_a[:, :crossover], ws_b[:, crossover:]], dim=1)
