"""Unstructured magnitude pruning: zero the smallest weights of the synthesis convolutions.

The weights compared are the effective ones (raw weight x equalized-LR gain). Per-layer pruning
(the default) removes the same fraction from each layer. Global pruning ranks all layers
together; take its layer allocation with care: demodulation (StyleGAN2) and instance norm (the
original StyleGAN) make the overall scale of each output filter irrelevant to the image, so the
magnitudes of different layers are not on one meaningful scale. Only the conv and ToRGB
kernels of the synthesis network are pruned: the style affines and the mapping network hold a
small share of the weights and almost none of the multiply-accumulates.

Zeros do not make dense kernels faster: a convolution multiplies them like any other value. The
sparsity here measures how much of the learned weight mass the generator needs, not speed;
`stylescope prune --method magnitude` times both to show it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from stylescope.networks import Generator
from stylescope.prune.channels import input_weight_owner, layer_at, synthesis_layer_paths

SCOPES = ("global", "layer")


def prunable_weights(G: Generator) -> dict[str, nn.Module]:
    """The modules whose `weight` (and `weight_gain`) magnitude pruning acts on, by path."""
    modules = {}
    for path in synthesis_layer_paths(G):
        owner = input_weight_owner(layer_at(G, path))
        if owner is not None:
            modules[path] = owner
    return modules


@torch.no_grad()
def magnitude_masks(
    G: Generator, sparsity: float, scope: str = "global"
) -> dict[str, torch.Tensor]:
    """Boolean keep-masks (True = kept) per layer path that remove `sparsity` of the weights."""
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must lie in [0, 1), got {sparsity}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    modules = prunable_weights(G)
    magnitudes = {p: (m.weight * m.weight_gain).abs().float() for p, m in modules.items()}
    if scope == "global":
        flat = torch.cat([m.flatten() for m in magnitudes.values()])
        count = int(sparsity * flat.numel())
        threshold = flat.kthvalue(count).values if count > 0 else flat.min() - 1
        return {p: m > threshold for p, m in magnitudes.items()}
    masks = {}
    for path, m in magnitudes.items():
        count = int(sparsity * m.numel())
        threshold = m.flatten().kthvalue(count).values if count > 0 else m.min() - 1
        masks[path] = m > threshold
    return masks


@torch.no_grad()
def magnitude_prune(G: Generator, sparsity: float, scope: str = "layer") -> Generator:
    """A copy of G with the smallest `sparsity` of its synthesis weights set to zero."""
    pruned = copy.deepcopy(G)
    masks = magnitude_masks(pruned, sparsity, scope)
    for path, module in prunable_weights(pruned).items():
        module.weight.mul_(masks[path])
    return pruned


@torch.no_grad()
def weight_sparsity(G: Generator) -> dict[str, float]:
    """Fraction of exactly-zero weights per prunable layer and overall ('total')."""
    zeros = total = 0
    result = {}
    for path, module in prunable_weights(G).items():
        z = int((module.weight == 0).sum())
        result[path] = z / module.weight.numel()
        zeros += z
        total += module.weight.numel()
    result["total"] = zeros / max(total, 1)
    return result
