"""Colour-versus-structure decomposition of the change between two images.

The change between a reference image and an altered one is split into parts that a reader can
tell apart:

* colour: the shift of the mean CIELAB colour (Delta E*ab of the image means, CIE 1976) and the
  energy of the low-frequency CIELAB change (both images box-filtered down to `low_size` pixels
  across);
* structure: the energy of the high-frequency CIELAB change (what the low-pass filter leaves),
  the change of the probe's attribute read-outs (in units of each attribute's range) and the
  share of pixels whose probe region label changes.

`colour_share` = low-frequency energy / (low + high): near 1 for a change of tone or lighting,
near 0 for a change of shape. CIELAB uses sRGB primaries and the D65 white point.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylescope.data.synthfaces import ATTRIBUTE_NAMES
from stylescope.latent.common import read_attribute_matrix
from stylescope.metrics.probes import FaceProbe
from stylescope.utils import assert_shape

# sRGB (linear) -> XYZ, D65; rows are X, Y, Z.
_RGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375],
     [0.2126729, 0.7151522, 0.0721750],
     [0.0193339, 0.1191920, 0.9503041]]
)  # fmt: skip
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883])


def rgb_to_lab(img: torch.Tensor) -> torch.Tensor:
    """Images [N, 3, H, W] in [-1, 1] (sRGB) -> CIELAB [N, 3, H, W] (L* in 0..100)."""
    assert_shape(img, [None, 3, None, None], "img")
    rgb = ((img.float() + 1) / 2).clamp(0, 1)

    # Undo the sRGB transfer curve, then go to XYZ relative to the white point.
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum("ij,njhw->nihw", _RGB_TO_XYZ.to(img.device), linear)
    xyz = xyz / _WHITE_D65.to(img.device)[None, :, None, None]

    # CIE 1976 L*a*b*.
    delta = 6 / 29
    f = torch.where(xyz > delta**3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * delta**2) + 4 / 29)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def low_pass(x: torch.Tensor, low_size: int) -> torch.Tensor:
    """Box filter to `low_size` x `low_size` and back up (nearest), same shape as `x`."""
    size = min(low_size, x.shape[-1])
    small = F.adaptive_avg_pool2d(x, size)
    return F.interpolate(small, size=x.shape[-2:], mode="nearest")


@torch.no_grad()
def change_decomposition(
    img_a: torch.Tensor,
    img_b: torch.Tensor,
    probe: FaceProbe | None = None,
    low_size: int = 4,
) -> dict[str, torch.Tensor]:
    """Per-pair measures [N] of the change from img_a to img_b ([N, 3, H, W] in [-1, 1]).

    Returns:
        pixel_rms: RMS of the RGB change (images in [-1, 1]).
        mean_colour_de: Delta E*ab between the two images' mean CIELAB colours.
        low_energy / high_energy: mean squared low- / high-frequency CIELAB change.
        colour_share: low_energy / (low_energy + high_energy).
        attribute_change: mean |change| of the probe attributes in units of their range (with a
            probe only), and region_change: share of pixels whose region label changes.
    """
    if img_a.shape != img_b.shape:
        raise ValueError(f"image shapes differ: {list(img_a.shape)} vs {list(img_b.shape)}")
    lab_a, lab_b = rgb_to_lab(img_a), rgb_to_lab(img_b)
    diff = lab_b - lab_a

    # Colour: the mean shift and the low-frequency change; structure: what the filter leaves.
    low = low_pass(diff, low_size)
    high = diff - low
    result = {
        "pixel_rms": (img_b.float() - img_a.float()).square().mean(dim=[1, 2, 3]).sqrt(),
        "mean_colour_de": diff.mean(dim=[2, 3]).norm(dim=1),
        "low_energy": low.square().mean(dim=[1, 2, 3]),
        "high_energy": high.square().mean(dim=[1, 2, 3]),
    }
    total = (result["low_energy"] + result["high_energy"]).clamp_min(1e-12)
    result["colour_share"] = result["low_energy"] / total

    # Structure as the probe sees it.
    if probe is not None:
        device = next(probe.parameters()).device
        attrs_a = read_attribute_matrix(probe, img_a)
        attrs_b = read_attribute_matrix(probe, img_b)
        result["attribute_change"] = (attrs_b - attrs_a).abs().mean(dim=1)
        regions_a = probe.parse_regions(img_a.to(device)).cpu()
        regions_b = probe.parse_regions(img_b.to(device)).cpu()
        result["region_change"] = (regions_a != regions_b).float().mean(dim=[1, 2])
        for i, name in enumerate(ATTRIBUTE_NAMES):
            result[f"attr.{name}"] = attrs_b[:, i] - attrs_a[:, i]
    return result


def summarise(measures: dict[str, torch.Tensor]) -> dict[str, float]:
    """Means over pairs of every measure (signed attribute changes become mean |change|)."""
    return {
        name: float(value.abs().mean() if name.startswith("attr.") else value.mean())
        for name, value in measures.items()
    }
