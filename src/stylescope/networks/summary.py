"""Parameter and multiply-accumulate (MAC) counts of a network, per block.

MACs are counted by `torch.utils.flop_counter.FlopCounterMode` on a real forward pass at batch 1,
so they include every convolution, transposed convolution, FIR filter and matrix product the
code actually runs (element-wise ops are not counted). FLOPs are reported as 2 x MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stylescope.networks.discriminator import Discriminator
from stylescope.networks.generator import Generator


@dataclass(frozen=True)
class BlockCost:
    """Cost of one named block at batch 1."""

    name: str
    params: int
    macs: int

    @property
    def flops(self) -> int:
        return 2 * self.macs


def count_macs(module: nn.Module, *inputs: torch.Tensor, **kwargs) -> dict[str, int]:
    """MACs of one forward call, by module path ('' is the whole module)."""
    # The module tracker inside FlopCounterMode needs autograd enabled.
    with torch.enable_grad(), FlopCounterMode(display=False, depth=None) as counter:
        module(*inputs, **kwargs)
    root = type(module).__name__
    macs = {}
    for name, per_op in counter.get_flop_counts().items():
        if name == "Global":
            continue
        key = "" if name == root else name.removeprefix(root + ".")
        macs[key] = sum(per_op.values()) // 2
    return macs


def generator_costs(G: Generator) -> list[BlockCost]:
    """Mapping, each synthesis block, and the whole generator, at batch 1."""
    device = next(G.parameters()).device
    z = torch.zeros(1, G.z_dim, device=device)
    c = torch.zeros(1, G.c_dim, device=device) if G.c_dim > 0 else None
    macs = count_macs(G, z, c, noise_mode="const")
    rows = [BlockCost("mapping", _params(G.mapping), macs.get("mapping", 0))]
    for block in G.synthesis.blocks():
        name = f"synthesis.b{block.resolution}"
        rows.append(BlockCost(name, _params(block), macs.get(name, 0)))
    rows.append(BlockCost("total", _params(G), macs.get("", 0)))
    return rows


def discriminator_costs(D: Discriminator) -> list[BlockCost]:
    """Each discriminator block, the epilogue and the total, at batch 1."""
    device = next(D.parameters()).device
    img = torch.zeros(1, D.img_channels, D.img_resolution, D.img_resolution, device=device)
    c = torch.zeros(1, D.c_dim, device=device) if D.c_dim > 0 else None
    was_training = D.training
    D.eval()
    # Minibatch std needs the group to divide the batch; batch 1 gives a group of 1.
    macs = count_macs(D, img, c)
    D.train(was_training)
    rows = [
        BlockCost(f"b{res}", _params(getattr(D, f"b{res}")), macs.get(f"b{res}", 0))
        for res in D.block_resolutions
    ]
    rows.append(BlockCost("b4 (epilogue)", _params(D.b4), macs.get("b4", 0)))
    rows.append(BlockCost("total", _params(D), macs.get("", 0)))
    return rows


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
