"""Style space S: the outputs of every synthesis layer's style affine A(w).

StyleSpace (Wu et al., "StyleSpace Analysis: Disentangled Controls for StyleGAN Image
Generation", CVPR 2021, arXiv:2011.12799) edits these per-channel style parameters directly. In
StyleGAN2 a layer's styles scale its input channels ('modconv', 'torgb': `in_channels` styles);
in the original StyleGAN they are AdaIN's scale and shift of its output channels ('adain':
2 * `out_channels` styles, scales first). Styles are taken before the equalized-LR gain that
StyleGAN2 folds into them, i.e. exactly what the affine layer outputs.

Everything here goes through `Generator.style_layers()` and forward hooks on the affine layers,
so it works on both architectures and on pruned generators without touching their code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from stylescope.networks import Generator
from stylescope.utils import assert_shape


@dataclass(frozen=True)
class StyleChannel:
    """One coordinate of S: channel `channel` of layer `layer` (flat index `index`)."""

    index: int
    layer: str
    channel: int


def style_dims(G: Generator) -> dict[str, int]:
    """Number of style channels per style layer, in forward order."""
    return {info.name: info.affine.out_features for info in G.style_layers()}


def style_channels(G: Generator) -> list[StyleChannel]:
    """Every coordinate of S in a fixed flat order (layers in forward order, then channels)."""
    channels = []
    for layer, count in style_dims(G).items():
        for c in range(count):
            channels.append(StyleChannel(len(channels), layer, c))
    return channels


def compute_styles(G: Generator, ws: torch.Tensor) -> dict[str, torch.Tensor]:
    """Styles [N, C] of every layer for ws [N, num_ws, w_dim], without running the synthesis."""
    assert_shape(ws, [None, G.num_ws, G.w_dim], "ws")
    return {info.name: info.affine(ws[:, info.w_index]) for info in G.style_layers()}


@contextmanager
def style_offsets(G: Generator, offsets: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Add offsets ([C] or [N, C]) to the named layers' styles while the context is open.

    Unknown layer names and wrong channel counts raise before anything runs.
    """
    infos = {info.name: info for info in G.style_layers()}
    unknown = sorted(set(offsets) - set(infos))
    if unknown:
        raise KeyError(f"unknown style layers {unknown}; known: {list(infos)}")
    handles = []
    try:
        for name, offset in offsets.items():
            count = infos[name].affine.out_features
            if offset.shape[-1] != count or offset.ndim not in (1, 2):
                raise ValueError(
                    f"style offset for {name}: expected [{count}] or [N, {count}], "
                    f"got {list(offset.shape)}"
                )

            def hook(module, inputs, output, offset=offset):
                return output + offset.to(output.device, output.dtype)

            handles.append(infos[name].affine.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def recorded_styles(G: Generator) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Record every style the synthesis computes while the context is open: name -> [N, C] list
    (one entry per forward pass), detached."""
    record: dict[str, list[torch.Tensor]] = {}
    handles = []
    try:
        for info in G.style_layers():

            def hook(module, inputs, output, name=info.name):
                record.setdefault(name, []).append(output.detach())

            handles.append(info.affine.register_forward_hook(hook))
        yield record
    finally:
        for handle in handles:
            handle.remove()


def channel_offset(
    G: Generator, channel: StyleChannel, amount: float | torch.Tensor
) -> dict[str, torch.Tensor]:
    """Offsets that move one style channel by `amount` (a scalar or [N]) and nothing else."""
    count = style_dims(G)[channel.layer]
    amount = torch.as_tensor(amount, dtype=torch.float32)
    offset = torch.zeros(*amount.shape, count)
    offset[..., channel.channel] = amount
    return {channel.layer: offset}
