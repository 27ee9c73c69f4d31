"""Editing: move latents along a `Direction` and render the result.

A W direction of strength t adds t * scale * vector to the ws at its layers (all when it names
none, or the `layers` passed here, which take precedence). An S direction adds t * scale * vector
to the styles, split per style layer, through `stylespace.style_offsets`; the ws are unchanged.
Strength 0 is the identity in both spaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import torch

from stylescope.latent.common import check_layers, device_of, render
from stylescope.latent.directions import Direction
from stylescope.latent.stylespace import style_dims, style_offsets
from stylescope.networks import Generator
from stylescope.utils import assert_shape


def parse_strengths(text: str) -> list[float]:
    """'-3:3:7' -> 7 evenly spaced values from -3 to 3; '-2,0,2' -> those values."""
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            lo, hi, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 1 or (count == 1 and lo != hi):
                raise ValueError
            return torch.linspace(lo, hi, count).tolist()
        values = [float(v) for v in text.split(",") if v.strip()]
        if not values:
            raise ValueError
        return values
    except ValueError:
        raise ValueError(
            f"cannot read strengths {text!r}; use START:STOP:COUNT (e.g. -3:3:7) or a list"
        ) from None


def edited_ws(
    G: Generator,
    ws: torch.Tensor,
    direction: Direction,
    strength: float | torch.Tensor,
    layers: Sequence[int] | None = None,
) -> torch.Tensor:
    """ws [N, num_ws, w_dim] moved along a W direction; `strength` is a scalar or [N]."""
    assert_shape(ws, [None, G.num_ws, G.w_dim], "ws")
    if direction.space != "w":
        raise ValueError(f"direction {direction.name!r} is in {direction.space}, not W")
    direction.check_fits(G)
    layers = check_layers(G, layers if layers is not None else direction.layers)
    amount = torch.as_tensor(strength, dtype=ws.dtype, device=ws.device).reshape(-1, 1)
    offset = amount * direction.scale * direction.vector.to(ws.device)  # [N or 1, w_dim]
    out = ws.clone()
    out[:, layers] += offset[:, None, :]
    return out


def style_offset_dict(
    G: Generator, direction: Direction, strength: float | torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-layer style offsets ([C] or [N, C]) for an S direction at `strength` (scalar or [N])."""
    if direction.space != "s":
        raise ValueError(f"direction {direction.name!r} is in {direction.space}, not S")
    direction.check_fits(G)
    amount = torch.as_tensor(strength, dtype=torch.float32)
    flat = direction.vector * direction.scale
    flat = amount.reshape(-1, 1) * flat if amount.ndim else amount * flat
    offsets, start = {}, 0
    for layer, count in style_dims(G).items():
        part = flat[..., start : start + count]
        if part.abs().max() > 0:
            offsets[layer] = part
        start += count
    return offsets


@torch.no_grad()
def edit(
    G: Generator,
    ws: torch.Tensor,
    direction: Direction,
    strengths: Sequence[float],
    layers: Sequence[int] | None = None,
    noise_mode: str = "const",
) -> torch.Tensor:
    """Edited images [N, K, C, R, R] for ws [N, num_ws, w_dim] at K strengths.

    `layers` applies only to W directions; S directions act on the channels they name.
    """
    assert_shape(ws, [None, G.num_ws, G.w_dim], "ws")
    n, k = ws.shape[0], len(strengths)
    if direction.space == "s" and layers is not None:
        raise ValueError("layer ranges apply to W directions; an S direction names its channels")
    rows = ws.repeat_interleave(k, dim=0)  # [N*K, num_ws, w_dim], strengths vary fastest.
    amounts = torch.tensor(list(strengths), dtype=torch.float32).repeat(n)
    if direction.space == "w":
        img = render(
            G, edited_ws(G, rows, direction, amounts.to(rows.device), layers), noise_mode=noise_mode
        )
    else:
        flat_offsets = style_offset_dict(G, direction, amounts)

        def offsets_for(start: int, stop: int):
            if not flat_offsets:
                return nullcontext()
            device = device_of(G)
            return style_offsets(G, {k: v[start:stop].to(device) for k, v in flat_offsets.items()})

        img = render(G, rows, noise_mode=noise_mode, style_offsets_fn=offsets_for)
    return img.reshape(n, k, *img.shape[1:])
