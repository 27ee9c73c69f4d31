"""Structured channel pruning that physically removes feature maps from a synthesis network.

A *channel group* is a set of feature maps that one layer produces and later layers read: the
output channels of a producer (a conv, or the learned 4x4 constant) together with the matching
input channels of every consumer (the next conv, this resolution's ToRGB) and, in StyleGAN2, the
consumers' style-affine outputs, since a modulated conv's styles scale its input channels. Groups
are named like `NetworkConfig.channel_overrides` keys ('b4.const', 'b8.conv0', 'b8.conv1' in
StyleGAN2; 'b4.const', 'b8.layer0', 'b8.layer1' in the original StyleGAN), so a pruned generator
is an ordinary generator whose config lists the surviving widths.

Removing input channels changes a layer's fan-in and therefore its equalized-LR gain
(1 / sqrt(fan_in)). `prune_channels` rescales the kept raw weights by old_gain / new_gain, so every
kept weight keeps its effective (gain-applied) value and activations are not silently rescaled.
What does change is what pruning removes: the dropped channels' contributions, and in StyleGAN2
the demodulation norm, which is recomputed over the remaining input channels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

import torch
from torch import nn

from stylescope.inspect.importance import ChannelGroup, channel_groups, channel_importance
from stylescope.networks import Generator
from stylescope.networks.stylegan1 import AdaINLayer

log = logging.getLogger(__name__)


def consumer_paths(group: ChannelGroup) -> list[str]:
    """Every layer that reads the group's channels: its readers at the output resolution first,
    then the layers only used while growing progressively (original StyleGAN's lower ToRGBs)."""
    return [reader.name for reader in group.readers] + list(group.also_sliced)


def layer_at(G: Generator, path: str) -> nn.Module:
    """The synthesis layer at a path like 'b8.conv0' or 'b8.torgb'."""
    block_name, layer_name = path.split(".")
    module = getattr(getattr(G.synthesis, block_name), layer_name)
    if module is None:
        raise KeyError(f"{path} does not exist in this generator")
    return module


def input_weight_owner(layer: nn.Module) -> nn.Module | None:
    """The module whose `weight` reads the layer's input channels on dim 1: the layer itself, or
    the conv inside an AdaIN layer (None for the AdaIN layer that reads the constant)."""
    return layer.conv if isinstance(layer, AdaINLayer) else layer


# ------------------------------------------------------------------------------------------------
# Content-aware importance; the weight criteria live in `stylescope.inspect.importance`.


def face_region_weights(probe, img: torch.Tensor, background_weight: float = 0.0) -> torch.Tensor:
    """Per-pixel weights [N, 1, H, W]: 1 on face regions parsed by the probe, else
    `background_weight`. Face regions are skin, eyes, eyebrows, nose, mouth and glasses."""
    from stylescope.data.synthfaces import REGION_IDS

    face = ["skin", "eyes", "eyebrows", "nose", "mouth", "glasses"]
    labels = probe.parse_regions(img.float().clamp(-1, 1))
    is_face = torch.zeros_like(labels, dtype=torch.bool)
    for name in face:
        is_face |= labels == REGION_IDS[name]
    weights = torch.where(is_face, 1.0, background_weight).to(img.dtype)
    return weights[:, None]


def importance_content(
    G: Generator,
    probe,
    num_samples: int = 256,
    batch_size: int = 32,
    seed: int = 0,
    background_weight: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Content-aware importance: how much removing a channel would change the face region.

    Following the idea of CAGAN (Liu et al., CVPR 2021), which scores channels by gradients under
    a face-parsing mask, each channel's score is a first-order (Taylor) estimate of the masked
    image change its removal causes: with a the channel's activation, M the probe's face mask and
    v a Gaussian random image, score_c = sqrt(E_{z,v}[(sum_hw a_c dL/da_c)^2]) with
    L = sum(M v G(z)). Since E_v[(v . d)^2] = |d|^2, the mean estimates
    E|M (G(z) - G(z | a_c = 0))|^2 to first order; the score is its square root.
    """
    if num_samples < 1 or batch_size < 1:
        raise ValueError("content importance needs num_samples and batch_size >= 1")
    device = next(G.parameters()).device
    groups = channel_groups(G)
    captured: dict[str, torch.Tensor] = {}
    handles = []

    # Step 1: capture each group's activation at the input of its first consumer.
    for group in groups:

        def pre_hook(module, inputs, name=group.name):
            x = inputs[0]
            if not x.requires_grad:
                # E.g. the learned constant of a frozen generator: make it a leaf we can score.
                x = x.detach().requires_grad_(True)
                captured[name] = x
                return (x, *inputs[1:])
            captured[name] = x
            return None

        handles.append(layer_at(G, group.readers[0].name).register_forward_pre_hook(pre_hook))

    scores = {group.name: torch.zeros(group.channels) for group in groups}
    gen = torch.Generator().manual_seed(seed)
    try:
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            z = torch.randn(n, G.z_dim, generator=gen).to(device)
            v = torch.randn(n, G.img_channels, G.img_resolution, G.img_resolution, generator=gen)
            c = torch.zeros(n, G.c_dim, device=device) if G.c_dim else None
            with torch.no_grad():
                ws = G.mapping(z, c)
            # Step 2: one forward pass with gradients through the synthesis only.
            ws = ws.detach().requires_grad_(True)
            captured.clear()
            with torch.enable_grad():
                img = G.synthesis(ws, noise_mode="const")
            with torch.no_grad():
                mask = face_region_weights(probe, img, background_weight)
            with torch.enable_grad():
                loss = (img * mask * v.to(device)).sum()
                grads = torch.autograd.grad(loss, [captured[g.name] for g in groups])
            # Step 3: Taylor estimate per channel and sample, squared and summed.
            for group, grad in zip(groups, grads, strict=True):
                a = captured[group.name].detach()
                taylor = (a.float() * grad.float()).sum(dim=[2, 3])  # [N, C]
                scores[group.name] += taylor.square().sum(dim=0).cpu()
    finally:
        for handle in handles:
            handle.remove()
    return {name: (s / num_samples).sqrt() for name, s in scores.items()}


CRITERIA = ("l1", "style", "content")


def score_channels(
    G: Generator, criterion: str = "style", probe=None, num_samples: int = 256, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Importance scores [channels] per channel group: 'l1' and 'style' weigh the readers'
    weights (see `stylescope.inspect.importance`), 'content' is `importance_content`."""
    if criterion in ("l1", "style"):
        return channel_importance(G, criterion, num_samples=num_samples, seed=seed)
    if criterion == "content":
        if probe is None:
            raise ValueError("the 'content' criterion needs a probe to parse face regions")
        return importance_content(G, probe, num_samples=num_samples, seed=seed)
    raise ValueError(f"unknown importance criterion {criterion!r}; choose one of {CRITERIA}")


def keep_ratios(
    group_names: list[str], keep: float, overrides: Mapping[str, float] | None = None
) -> dict[str, float]:
    """The kept fraction of every group: `keep`, except where an override names the group.

    An override key is either a group name ('b16.conv0') or a block ('b16'), which covers every
    group of that block; an exact name wins over its block. Unknown keys raise KeyError.
    """
    overrides = dict(overrides or {})
    blocks = {name.split(".")[0] for name in group_names}
    unknown = sorted(set(overrides) - set(group_names) - blocks)
    if unknown:
        raise KeyError(
            f"keep overrides name unknown blocks or groups {unknown}; known groups: {group_names}"
        )
    ratios = {}
    for name in group_names:
        ratio = overrides.get(name, overrides.get(name.split(".")[0], keep))
        ratios[name] = float(ratio)
    return ratios


def select_channels(
    scores: Mapping[str, torch.Tensor],
    keep: float | Mapping[str, float],
    min_channels: int = 4,
    multiple_of: int = 1,
) -> dict[str, list[int]]:
    """Indices of the channels to keep per group, the highest-scoring ones, in ascending order.

    Args:
        scores: importance per group, from `score_channels`.
        keep: fraction of channels kept, one for all groups or one per group name (groups not
            named keep everything).
        min_channels: never keep fewer channels than this (or all, if a group has fewer).
        multiple_of: round each kept count to the nearest multiple of this, at least one
            multiple, in groups of at least two multiples (narrower groups are not rounded).
            CPU kernels work on vectors of 16 fp32 values: 32 channels run about twice as fast
            as 38 (benchmarks/prune_speed.py), so a cut that ignores the vector width saves MACs
            but not time.
    """
    if min_channels < 1 or multiple_of < 1:
        raise ValueError("min_channels and multiple_of must be >= 1")
    ratios = keep if isinstance(keep, Mapping) else {name: keep for name in scores}
    unknown = sorted(set(ratios) - set(scores))
    if unknown:
        raise KeyError(f"keep ratios name unknown channel groups {unknown}; known: {list(scores)}")
    kept = {}
    for name, score in scores.items():
        ratio = float(ratios.get(name, 1.0))
        if not 0 < ratio <= 1:
            raise ValueError(f"keep ratio of {name} must lie in (0, 1], got {ratio}")
        total = len(score)
        count = ratio * total
        if multiple_of > 1 and total >= 2 * multiple_of:
            count = max(1, round(count / multiple_of)) * multiple_of
        count = min(total, max(min(min_channels, total), round(count)))
        top = torch.topk(score.float(), count).indices
        kept[name] = sorted(int(i) for i in top)
    return kept


# ------------------------------------------------------------------------------------------------
# Rebuilding a smaller generator.


def _slice_parameter(param: torch.Tensor, dim: int, index: torch.Tensor | None) -> torch.Tensor:
    return param.detach() if index is None else param.detach().index_select(dim, index)


def _copy_layer(
    dense: nn.Module,
    student: nn.Module,
    in_keep: torch.Tensor | None,
    out_keep: torch.Tensor | None,
) -> None:
    """Copy one layer's tensors into its smaller twin, keeping effective weights unchanged."""
    with torch.no_grad():
        conv, small_conv = input_weight_owner(dense), input_weight_owner(student)
        if conv is not None:
            weight = _slice_parameter(conv.weight, 0, out_keep)
            weight = _slice_parameter(weight, 1, in_keep)
            # Equalized LR: a smaller fan-in has a larger gain; keep raw * gain unchanged.
            small_conv.weight.copy_(weight * (conv.weight_gain / small_conv.weight_gain))
        student.bias.copy_(_slice_parameter(dense.bias, 0, out_keep))
        if getattr(dense, "noise", None) is not None:
            student.noise.load_state_dict(dense.noise.state_dict())
        affine = getattr(dense, "affine", None)
        if affine is None:
            return
        if isinstance(dense, AdaINLayer):
            # AdaIN styles are [scale, shift] of the output channels.
            index = out_keep
            if out_keep is not None:
                index = torch.cat([out_keep, out_keep + dense.out_channels])
        else:
            # Modulated convs: styles scale the input channels.
            index = in_keep
        student.affine.weight.copy_(_slice_parameter(affine.weight, 0, index))
        student.affine.bias.copy_(_slice_parameter(affine.bias, 0, index))


def prune_channels(G: Generator, keep: Mapping[str, list[int]]) -> Generator:
    """A new, smaller generator holding only the kept channels of each named group.

    Args:
        G: the dense (or already pruned) generator; it is not modified.
        keep: channel indices to keep per group name; groups not named keep every channel.
            Unknown names, out-of-range, repeated or empty index lists raise ValueError.
    """
    groups = {group.name: group for group in channel_groups(G)}
    unknown = sorted(set(keep) - set(groups))
    if unknown:
        raise ValueError(f"unknown channel groups {unknown}; this generator has {list(groups)}")
    index: dict[str, torch.Tensor] = {}
    for name, indices in keep.items():
        count = groups[name].channels
        values = [int(i) for i in indices]
        if not values:
            raise ValueError(f"{name}: keeps no channels; keep at least one")
        if len(set(values)) != len(values):
            raise ValueError(f"{name}: repeated channel indices")
        if min(values) < 0 or max(values) >= count:
            raise ValueError(f"{name}: channel indices must lie in [0, {count}), got {values}")
        index[name] = torch.tensor(sorted(values), dtype=torch.long)

    # Step 1: the smaller architecture.
    overrides = dict(G.config.channel_overrides)
    for name, group in groups.items():
        overrides[name] = len(index[name]) if name in index else group.channels
    student = Generator(G.config.replace(channel_overrides=overrides))
    device = next(G.parameters()).device
    student = student.to(device)

    # Step 2: mapping network and everything outside the pruned layers, unchanged.
    student.mapping.load_state_dict(G.mapping.state_dict())

    # Step 3: each layer, sliced on its input and output channel groups.
    in_group: dict[str, str] = {}
    out_group: dict[str, str] = {}
    for group in groups.values():
        if group.producer is not None:
            out_group[group.producer] = group.name
        for path in consumer_paths(group):
            in_group[path] = group.name
    for path in synthesis_layer_paths(G):
        in_keep = index.get(in_group.get(path, ""))
        out_keep = index.get(out_group.get(path, ""))
        _copy_layer(layer_at(G, path), layer_at(student, path), in_keep, out_keep)
    first, small_first = G.synthesis.blocks()[0], student.synthesis.blocks()[0]
    with torch.no_grad():
        const_keep = index.get(f"b{first.resolution}.const")
        small_first.const.copy_(_slice_parameter(first.const, 0, const_keep))
    return student.train(G.training)


def synthesis_layer_paths(G: Generator) -> Iterator[str]:
    for block in G.synthesis.blocks():
        r = block.resolution
        if G.config.architecture == "stylegan2":
            names = ("conv0", "conv1", "torgb")
        else:
            names = ("layer0", "layer1", "torgb")
        for name in names:
            if getattr(block, name, None) is not None:
                yield f"b{r}.{name}"
