"""The mapping network z -> w shared by StyleGAN2 and the original StyleGAN.

Karras et al., "A Style-Based Generator Architecture for Generative Adversarial Networks"
(CVPR 2019, arXiv:1812.04948), section 2: an MLP with lr multiplier 0.01 after pixel norm of z;
its output w is broadcast to `num_ws` per-layer latents. The tracked `w_avg` is the centre of the
truncation trick (appendix B of the same paper).
"""

from __future__ import annotations

import torch
from torch import nn

from stylescope.networks.layers import FullyConnectedLayer, normalize_2nd_moment
from stylescope.utils import assert_shape


class MappingNetwork(nn.Module):
    """Maps z (and an optional label c) to `num_ws` copies of w.

    Args:
        z_dim: input latent size.
        c_dim: conditioning label size; 0 means unconditional.
        w_dim: intermediate latent size.
        num_ws: per-layer latents to broadcast to.
        num_layers: MLP depth (8 in the papers, 2 for small configs).
        lr_multiplier: equalized-LR multiplier of every MLP layer.
        w_avg_beta: decay of the running mean `w_avg`; None disables tracking.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 8,
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.995,
    ) -> None:
        super().__init__()
        if z_dim <= 0:
            raise ValueError(f"z_dim must be positive, got {z_dim}")
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta

        embed_features = w_dim if c_dim > 0 else 0
        self.embed = FullyConnectedLayer(c_dim, embed_features) if c_dim > 0 else None
        features = [z_dim + embed_features] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            FullyConnectedLayer(
                features[i], features[i + 1], activation="lrelu", lr_multiplier=lr_multiplier
            )
            for i in range(num_layers)
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        """Return ws [N, num_ws, w_dim]; truncation lerps the first `truncation_cutoff` ws
        (all when None) towards `w_avg` by `truncation_psi` (1 = no truncation)."""
        assert_shape(z, [None, self.z_dim], "z")
        x = normalize_2nd_moment(z.float())
        if self.embed is not None:
            if c is None:
                raise ValueError(
                    f"this mapping network is conditional: pass c of size {self.c_dim}"
                )
            assert_shape(c, [z.shape[0], self.c_dim], "c")
            y = normalize_2nd_moment(self.embed(c.float()))
            x = torch.cat([x, y], dim=1)

        # Main MLP.
        for layer in self.layers:
            x = layer(x)

        # Track the mean of W for truncation.
        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        # Broadcast to every synthesis layer, then truncate.
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            ws = truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)
        return ws

    def extra_repr(self) -> str:
        return (
            f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}, "
            f"num_layers={self.num_layers}, w_avg_beta={self.w_avg_beta}"
        )


def truncate(
    ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None = None
) -> torch.Tensor:
    """Truncation trick: w' = w_avg + psi * (w - w_avg) on the first `cutoff` layers (all if None).

    psi = 1 returns ws unchanged; psi = 0 returns w_avg on the truncated layers.
    """
    ws = ws.clone()
    end = ws.shape[1] if cutoff is None else cutoff
    ws[:, :end] = w_avg.to(ws.dtype).lerp(ws[:, :end], psi)
    return ws
