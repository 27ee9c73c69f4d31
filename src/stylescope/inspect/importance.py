"""Channel importance for structured pruning: one score per feature map between two layers.

Structured pruning removes whole feature maps. The feature maps of one activation tensor form a
*channel group*, named like the `channel_overrides` key that sets its width:

    StyleGAN2  b4.const    the learned constant, read by b4.conv1
               bR.conv0    written by bR.conv0, read by bR.conv1
               bR.conv1    written by bR.conv1, read by bR.torgb and b2R.conv0
    StyleGAN   b4.const    written by b4.layer0 (AdaIN on the constant, no conv), read by b4.layer1
               bR.layer0   written by bR.layer0, read by bR.layer1
               bR.layer1   written by bR.layer1, read by b2R.layer0 (and the final ToRGB)

So the channels scored under a name are the *output* channels of the layer of that name (for
'b4.const', of the constant), which are the *input* channels of its readers and, in StyleGAN2, the
outputs of the readers' style affines. Removing channel c of a group removes the producer's
output filter c (and bias c; in StyleGAN also AdaIN scale and shift c of its affine), input slice
c of every reader, and in StyleGAN2 output c of every reader's style affine.

Why the scores look at the readers, not at the producing filter: StyleGAN2 demodulation divides
each output channel by the norm of its own modulated filter, and StyleGAN's instance norm divides
each output channel by its own standard deviation, so scaling a producing filter changes nothing
downstream. The L1 norm of a producing filter (the classic criterion of Li et al., "Pruning
Filters for Efficient ConvNets", arXiv:1608.08710) therefore says nothing about a channel here;
how strongly the readers weight it does.

Criteria, for channel c of a group:

    'l1'     sum over readers of sum_{o,k} |W_eff[o, c, k]|, the L1 norm of the reader's
             effective (gain-applied) weight slice that reads c.
    'style'  StyleGAN2: sum over readers of that L1 times mean_w |s_c(w)|, the reader's style for
             input channel c (the affine output; W_eff already carries the equalized-LR gain that
             the code folds into the styles), i.e. the mean L1 of the modulated weights before
             demodulation. StyleGAN: the 'l1' score times mean_w sqrt(scale_c^2 + shift_c^2), the
             RMS over pixels of channel c after the producer's AdaIN (instance norm leaves it at
             zero mean and unit variance before the scale and shift).

The means over w use `num_samples` latents z ~ N(0, I) mapped without truncation (with random
one-hot labels for a conditional generator).

NOTE: in the original StyleGAN the ToRGB of every block below the output resolution also reads
that block's last feature maps, but only while training grows progressively; those ToRGBs are
listed in `ChannelGroup.also_sliced` for a pruner and are not scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from stylescope.networks import Generator
from stylescope.networks.base import StyleLayerInfo
from stylescope.networks.layers import FullyConnectedLayer

Criterion = Literal["l1", "style"]
CRITERIA = ("l1", "style")


@dataclass(frozen=True)
class ChannelReader:
    """A layer that reads a channel group as its input channels.

    Attributes:
        name: the layer's name ('b8.conv1', 'b8.torgb', 'b16.layer0', ...).
        module: holds `weight` [O, I, K, K] whose slice [:, c] reads channel c, and
            `effective_weight()`.
        affine: StyleGAN2 only: the style affine whose output c modulates input channel c.
        w_index: the `ws` entry that affine reads; None without an affine.
    """

    name: str
    module: nn.Module
    affine: FullyConnectedLayer | None
    w_index: int | None


@dataclass(frozen=True)
class ChannelGroup:
    """The feature maps of one activation tensor between synthesis layers.

    Attributes:
        name: the `channel_overrides` key of this width (see the module docstring).
        channels: number of feature maps.
        producer: name of the style layer that writes them; None for the StyleGAN2 constant.
        readers: layers whose input channels these are, at the output resolution.
        adain: StyleGAN only: the producing layer, whose AdaIN scale and shift set each
            channel's magnitude.
        also_sliced: other layers reading these channels that a pruner must also slice but that
            do not run at the output resolution (StyleGAN's growing-time ToRGBs).
    """

    name: str
    channels: int
    producer: str | None
    readers: tuple[ChannelReader, ...]
    adain: StyleLayerInfo | None = None
    also_sliced: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary without the modules."""
        return {
            "name": self.name,
            "channels": self.channels,
            "producer": self.producer,
            "readers": [reader.name for reader in self.readers],
            "also_sliced": list(self.also_sliced),
        }


def channel_groups(G: Generator) -> list[ChannelGroup]:
    """Every prunable channel group of G's synthesis network, in forward order."""
    infos = G.style_layers()
    if G.config.architecture == "stylegan2":
        return _stylegan2_groups(infos)
    return _stylegan_groups(G, infos)


def _stylegan2_groups(infos: list[StyleLayerInfo]) -> list[ChannelGroup]:
    # Walk the layers: a modconv reads the open group and opens its own; a ToRGB only reads.
    groups = []
    name, channels, producer = f"b{infos[0].resolution}.const", infos[0].in_channels, None
    readers: list[ChannelReader] = []
    for info in infos:
        readers.append(ChannelReader(info.name, info.module, info.affine, info.w_index))
        if info.kind == "modconv":
            groups.append(ChannelGroup(name, channels, producer, tuple(readers)))
            name, channels, producer, readers = info.name, info.out_channels, info.name, []
    groups.append(ChannelGroup(name, channels, producer, tuple(readers)))
    return groups


def _stylegan_groups(G: Generator, infos: list[StyleLayerInfo]) -> list[ChannelGroup]:
    blocks = {block.resolution: block for block in G.synthesis.blocks()}
    groups = []
    for i, info in enumerate(infos):
        name = f"b{info.resolution}.const" if info.module.conv is None else info.name
        if i + 1 < len(infos):
            reader = infos[i + 1]
            readers = (ChannelReader(reader.name, reader.module.conv, None, None),)
        else:
            rgb = blocks[info.resolution].torgb
            readers = (ChannelReader(f"b{info.resolution}.torgb", rgb, None, None),)
        # The last layer of a lower block also feeds that block's growing-time ToRGB.
        last_of_block = i + 1 == len(infos) or infos[i + 1].resolution != info.resolution
        also = (f"b{info.resolution}.torgb",) if last_of_block and i + 1 < len(infos) else ()
        groups.append(ChannelGroup(name, info.out_channels, info.name, readers, info, also))
    return groups


@torch.no_grad()
def style_magnitudes(
    G: Generator, num_samples: int = 256, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Mean style magnitude per style channel of every style layer, over sampled w.

    Returns, by style-layer name: for 'modconv'/'torgb' layers mean_w |s(w)| over their input
    channels [in_channels]; for 'adain' layers mean_w sqrt(scale^2 + shift^2) over their output
    channels [out_channels].
    """
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    device = next(G.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    infos = G.style_layers()
    sums = {
        info.name: torch.zeros(
            info.affine.out_features // (2 if info.kind == "adain" else 1), dtype=torch.float64
        )
        for info in infos
    }
    done = 0
    while done < num_samples:
        batch = min(256, num_samples - done)
        z = torch.randn(batch, G.z_dim, generator=generator).to(device)
        c = None
        if G.c_dim > 0:
            labels = torch.randint(G.c_dim, (batch,), generator=generator)
            c = torch.nn.functional.one_hot(labels, G.c_dim).float().to(device)
        ws = G.mapping(z, c)  # [N, num_ws, w_dim]

        # Per-layer style magnitudes, summed over the batch.
        for info in infos:
            styles = info.affine(ws[:, info.w_index]).double().cpu()  # [N, styles]
            if info.kind == "adain":
                scale, shift = styles.chunk(2, dim=1)
                magnitude = (scale.square() + shift.square()).sqrt()  # [N, out_channels]
            else:
                magnitude = styles.abs()  # [N, in_channels]
            sums[info.name] += magnitude.sum(dim=0)
        done += batch
    return {name: (total / num_samples).float() for name, total in sums.items()}


@torch.no_grad()
def channel_importance(
    G: Generator, criterion: Criterion = "l1", num_samples: int = 256, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Importance of every feature map, by channel group name: Tensor [channels] on the CPU.

    See the module docstring for which channels each name scores and how. Higher is more
    important; a channel whose reader weights (or, for 'style', styles) are all zero scores 0.

    Args:
        G: the generator (dense or pruned, either architecture).
        criterion: 'l1' (reader weight L1) or 'style' (reader weight L1 times style magnitude).
        num_samples: latents averaged over for 'style'; unused by 'l1'.
        seed: seed of those latents.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; choose one of {list(CRITERIA)}")
    styles = style_magnitudes(G, num_samples, seed) if criterion == "style" else {}

    scores = {}
    for group in channel_groups(G):
        total = torch.zeros(group.channels, dtype=torch.float64)
        for reader in group.readers:
            w = reader.module.effective_weight().detach().double().cpu()
            if w.shape[1] != group.channels:
                raise ValueError(
                    f"{reader.name} reads {w.shape[1]} channels but group {group.name} has "
                    f"{group.channels}"
                )
            l1 = w.abs().transpose(0, 1).flatten(1).sum(dim=1)  # [channels]
            if criterion == "style" and reader.affine is not None:
                l1 = l1 * styles[reader.name].double()
            total += l1
        if criterion == "style" and group.adain is not None:
            total *= styles[group.adain.name].double()
        scores[group.name] = total.float()
    return scores
