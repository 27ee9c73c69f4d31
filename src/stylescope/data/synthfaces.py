"""`synthfaces`: procedural cartoon portraits with ground-truth attributes and region maps.

The renderer draws a whole batch at once with NumPy. Every shape is a signed-distance field (SDF)
in a normalised frame where the image spans [-1, 1] on both axes (x to the right, y downwards),
and its coverage of a pixel is the analytic box-filter approximation
`clip(0.5 - distance / pixel_size, 0, 1)`, which anti-aliases edges at any resolution. Layers are
composited back to front; a pixel takes a layer's region label when the layer covers at least
half of it.

Image `index` of a dataset with seed `seed` depends on nothing else: its parameters come from its
own generator `numpy.random.default_rng([seed, index])`, and per-pixel work only uses operations
that are exactly rounded in IEEE arithmetic (+, -, *, /, sqrt, min, max, floor), so the pixels are
identical whether the image is rendered alone or inside any batch. Trigonometry is done per image
with Python's `math`. Each layer is drawn only inside the union of the batch's bounding boxes for
that layer, which keeps the cost of small features (eyes, mouth) small.

See docs/synthfaces.md for the attribute table, the region labels and the archive format.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)

# Attributes returned with every image, in the order of the label vector. Ranges are inclusive;
# 'index' attributes hold small integers stored as floats, 'binary' ones hold 0 or 1.
ATTRIBUTE_RANGES: dict[str, tuple[float, float, str]] = {
    "yaw": (-0.5, 0.5, "continuous"),
    "pitch": (-0.25, 0.25, "continuous"),
    "roll": (-0.25, 0.25, "continuous"),
    "smile": (-0.5, 1.0, "continuous"),
    "mouth_open": (0.0, 1.0, "continuous"),
    "eye_open": (0.0, 1.0, "continuous"),
    "age": (0.0, 1.0, "continuous"),
    "skin_tone": (0.0, 1.0, "continuous"),
    "hair_color": (0.0, 5.0, "index"),
    "hair_grey": (0.0, 1.0, "continuous"),
    "hair_length": (0.0, 1.0, "continuous"),
    "hair_style": (0.0, 3.0, "index"),
    "glasses": (0.0, 1.0, "binary"),
    "eye_color": (0.0, 3.0, "index"),
    "light_azimuth": (-1.0, 1.0, "continuous"),
    "light_elevation": (0.15, 0.75, "continuous"),
    "light_intensity": (0.55, 1.0, "continuous"),
    "background_hue": (0.0, 1.0, "continuous"),
    "face_width": (0.88, 1.1, "continuous"),
    "jaw": (0.0, 1.0, "continuous"),
}
ATTRIBUTE_NAMES: list[str] = list(ATTRIBUTE_RANGES)

REGION_NAMES: list[str] = [
    "background", "hair", "skin", "eyes", "eyebrows", "nose", "mouth", "glasses", "neck_clothes",
]  # fmt: skip
REGION_IDS: dict[str, int] = {name: i for i, name in enumerate(REGION_NAMES)}

HAIR_COLOR_NAMES = ["black", "dark_brown", "brown", "auburn", "blonde", "ash_blonde"]
HAIR_STYLE_NAMES = ["side_part", "fringe", "curly", "crop"]
EYE_COLOR_NAMES = ["brown", "hazel", "green", "blue"]

_HAIR_RGB = np.array(
    [[0.09, 0.07, 0.07], [0.24, 0.15, 0.10], [0.45, 0.29, 0.16],
     [0.58, 0.24, 0.11], [0.86, 0.70, 0.42], [0.72, 0.66, 0.56]]
)  # fmt: skip
_EYE_RGB = np.array(
    [[0.36, 0.22, 0.11], [0.52, 0.40, 0.18], [0.26, 0.52, 0.30], [0.26, 0.46, 0.78]]
)
_SKIN_STOPS = np.array(
    [[0.99, 0.88, 0.79], [0.94, 0.76, 0.62], [0.80, 0.57, 0.42],
     [0.58, 0.38, 0.26], [0.38, 0.24, 0.16]]
)  # fmt: skip
_FRAME_RGB = np.array(
    [[0.08, 0.08, 0.09], [0.38, 0.22, 0.12], [0.55, 0.12, 0.14], [0.15, 0.2, 0.4]]
)

# Uniform draws per image. New draws must be appended at the end, so that existing (seed, index)
# pairs keep their faces.
_NUM_DRAWS = 48
_MIN_RESOLUTION, _MAX_RESOLUTION = 16, 256


@dataclass
class SynthFacesBatch:
    """A rendered batch.

    Attributes:
        images: uint8 [N, H, W, 3] RGB images.
        regions: uint8 [N, H, W] region label maps, values index `REGION_NAMES`.
        attributes: float32 [N] array per name of `ATTRIBUTE_NAMES`.
        indices: int64 [N] dataset indices of the images.
        seed: dataset seed the images were drawn from.
    """

    images: np.ndarray
    regions: np.ndarray
    attributes: dict[str, np.ndarray]
    indices: np.ndarray
    seed: int

    @property
    def attribute_matrix(self) -> np.ndarray:
        """float32 [N, A] attributes, columns in `ATTRIBUTE_NAMES` order."""
        return attributes_to_matrix(self.attributes)

    def __len__(self) -> int:
        return len(self.indices)


def attributes_to_matrix(attributes: Mapping[str, np.ndarray]) -> np.ndarray:
    """Stack an attribute dict into float32 [N, A], columns in `ATTRIBUTE_NAMES` order."""
    return np.stack([np.asarray(attributes[name], np.float32) for name in ATTRIBUTE_NAMES], axis=1)


# ----------------------------------------------------------------------------------------------
# Parameters


def _as_indices(indices: int | Sequence[int] | np.ndarray) -> np.ndarray:
    if isinstance(indices, int | np.integer):
        if indices < 0:
            raise ValueError(f"count must be >= 0, got {indices}")
        return np.arange(int(indices), dtype=np.int64)
    array = np.asarray(indices)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"indices must be a 1-D sequence of integers, got shape {array.shape}")
    if array.size and array.min() < 0:
        raise ValueError(f"indices must be >= 0, got {int(array.min())}")
    return array.astype(np.int64)


def _check_seed(seed: int) -> int:
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _sample_params(indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """All parameters of each image (attributes and nuisance), float64 [N] each."""
    # Step 1: one row of uniforms per image from its own (seed, index) generator.
    draws = np.empty((len(indices), _NUM_DRAWS))
    for row, index in enumerate(indices):
        draws[row] = np.random.default_rng([seed, int(index)]).random(_NUM_DRAWS)
    u = iter(draws.T)

    def sym(half: float) -> np.ndarray:
        return (2.0 * next(u) - 1.0) * half

    def span(lo: float, hi: float) -> np.ndarray:
        return lo + (hi - lo) * next(u)

    # Step 2: attributes, in a fixed draw order.
    p: dict[str, np.ndarray] = {}
    p["yaw"] = sym(0.5)
    p["pitch"] = sym(0.25)
    p["roll"] = sym(0.25)
    p["smile"] = span(-0.5, 1.0)
    p["mouth_open"] = np.clip(span(-0.4, 1.0), 0.0, 1.0)
    p["eye_open"] = 1.0 - next(u) ** 3
    p["age"] = next(u)
    p["skin_tone"] = next(u)
    p["hair_color"] = np.floor(next(u) * 6.0)
    grey_draw = next(u)
    p["hair_grey"] = np.clip((p["age"] - 0.5) * 2.5, 0.0, 1.0) * (0.3 + 0.7 * grey_draw)
    p["hair_length"] = next(u)
    p["hair_style"] = np.floor(next(u) * 4.0)
    p["glasses"] = (next(u) < 0.3).astype(np.float64)
    p["eye_color"] = np.floor(next(u) * 4.0)
    p["light_azimuth"] = sym(1.0)
    p["light_elevation"] = span(0.15, 0.75)
    p["light_intensity"] = span(0.55, 1.0)
    p["background_hue"] = next(u)
    p["face_width"] = span(0.88, 1.1)
    p["jaw"] = next(u)

    # Step 3: nuisance parameters (varied, but not returned as attributes).
    p["head_x"] = sym(0.04)
    p["head_y"] = sym(0.03)
    p["scale"] = span(0.94, 1.04)
    p["bg_saturation"] = span(0.18, 0.5)
    p["bg_value"] = span(0.72, 0.96)
    p["bg_hue_shift"] = sym(0.08)
    p["bg_grad_x"] = sym(0.35)
    p["bg_grad_y"] = span(0.1, 0.6)
    p["clothes_hue"] = next(u)
    p["clothes_saturation"] = span(0.25, 0.75)
    p["clothes_value"] = span(0.3, 0.85)
    p["collar"] = np.floor(next(u) * 3.0)
    p["gaze"] = sym(0.35)
    p["brow_raise"] = sym(0.018)
    p["brow_tilt"] = sym(0.02)
    p["brow_thickness"] = span(0.75, 1.3)
    p["blush"] = next(u)
    p["lip_red"] = span(0.25, 0.65)
    p["frame_color"] = np.floor(next(u) * 4.0)
    p["lens_round"] = next(u)
    p["hair_part"] = sym(1.0)
    p["hair_volume"] = next(u)
    p["hair_lightness"] = span(0.85, 1.15)
    p["nose_size"] = span(0.8, 1.25)
    p["mouth_width"] = span(0.85, 1.15)
    p["eye_size"] = span(0.9, 1.1)
    p["hair_wave"] = next(u)
    return p


def sample_attributes(
    indices: int | Sequence[int] | np.ndarray, seed: int = 0
) -> dict[str, np.ndarray]:
    """Ground-truth attributes of images `indices` (or of the first `indices` images), no pixels.

    Args:
        indices: a count N (images 0..N-1) or a 1-D sequence of non-negative dataset indices.
        seed: non-negative dataset seed.

    Returns:
        float32 [N] array per name of `ATTRIBUTE_NAMES`.
    """
    params = _sample_params(_as_indices(indices), _check_seed(seed))
    return {name: params[name].astype(np.float32) for name in ATTRIBUTE_NAMES}


def _apply_overrides(params: dict[str, np.ndarray], overrides: Mapping[str, object]) -> None:
    count = len(params["yaw"])
    for name, value in overrides.items():
        if name not in ATTRIBUTE_RANGES:
            raise KeyError(f"unknown attribute {name!r}; expected one of {ATTRIBUTE_NAMES}")
        lo, hi, kind = ATTRIBUTE_RANGES[name]
        array = np.broadcast_to(np.asarray(value, np.float64), (count,)).copy()
        if array.min() < lo or array.max() > hi:
            raise ValueError(f"attribute {name!r} must lie in [{lo}, {hi}], got {value!r}")
        if kind != "continuous" and not np.all(array == np.round(array)):
            raise ValueError(f"attribute {name!r} takes whole numbers, got {value!r}")
        params[name] = array


# ----------------------------------------------------------------------------------------------
# Per-image helpers (float64 [N] in, exact or per-image `math`)


def _per_image(fn, values: np.ndarray) -> np.ndarray:
    return np.array([fn(float(v)) for v in values], dtype=np.float64)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """[N] hue, saturation, value in [0, 1] to [N, 3] RGB, piecewise linear (no trigonometry)."""
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = np.mod(n + h * 6.0, 6.0)
        channels.append(v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0))
    return np.stack(channels, axis=1)


def _skin_rgb(tone: np.ndarray) -> np.ndarray:
    position = np.clip(tone, 0.0, 1.0) * (len(_SKIN_STOPS) - 1)
    lower = np.minimum(np.floor(position).astype(int), len(_SKIN_STOPS) - 2)
    frac = (position - lower)[:, None]
    return _SKIN_STOPS[lower] * (1.0 - frac) + _SKIN_STOPS[lower + 1] * frac


def _col(rgb: np.ndarray) -> np.ndarray:
    """[N, 3] float64 colour to a float32 [3, N, 1, 1] array that broadcasts over a crop."""
    return np.ascontiguousarray(rgb.T, dtype=np.float32)[:, :, None, None]


def _f32(values: np.ndarray) -> np.ndarray:
    """[N] float64 to float32 [N, 1, 1]; a scalar becomes a float32 scalar."""
    array = np.asarray(values, np.float32)
    return array if array.ndim == 0 else array[:, None, None]


# ----------------------------------------------------------------------------------------------
# Signed-distance fields (float32, exact operations only)


def _ellipse(u: np.ndarray, v: np.ndarray, rx, ry) -> np.ndarray:
    """Approximate distance to an ellipse: (k - 1) scaled by the local radius k / |grad k|."""
    a = u / rx
    b = v / ry
    k = np.sqrt(a * a + b * b)
    ga = a / rx
    gb = b / ry
    g = np.sqrt(ga * ga + gb * gb)
    radius = np.clip(k / np.maximum(g, 1e-12), np.minimum(rx, ry), np.maximum(rx, ry))
    return (k - 1.0) * radius


def _rounded_box(u: np.ndarray, v: np.ndarray, half_u, half_v, corner) -> np.ndarray:
    qu = np.abs(u) - half_u + corner
    qv = np.abs(v) - half_v + corner
    outside = np.sqrt(np.maximum(qu, 0.0) ** 2 + np.maximum(qv, 0.0) ** 2)
    return outside + np.minimum(np.maximum(qu, qv), 0.0) - corner


def _arc(u: np.ndarray, v: np.ndarray, cu, cv, half_width, bend, thickness) -> np.ndarray:
    """Stroke along the parabola v = cv - bend * (1 - t^2), t = (u - cu) / half_width, |t| <= 1."""
    t = (u - cu) / half_width
    centre = cv - bend * (1.0 - t * t)
    return np.maximum(np.abs(v - centre) - thickness, (np.abs(t) - 1.0) * half_width)


def _segment(u: np.ndarray, v: np.ndarray, au, av, bu, bv, thickness) -> np.ndarray:
    du = bu - au
    dv = bv - av
    pu = u - au
    pv = v - av
    h = np.clip((pu * du + pv * dv) / (du * du + dv * dv), 0.0, 1.0)
    eu = pu - du * h
    ev = pv - dv * h
    return np.sqrt(eu * eu + ev * ev) - thickness


def _tri(x: np.ndarray) -> np.ndarray:
    """Smoothed triangle wave of period 1 in [0, 1], built from floor (no trigonometry)."""
    f = x - np.floor(x)
    t = np.abs(2.0 * f - 1.0)
    return t * t * (3.0 - 2.0 * t)


# ----------------------------------------------------------------------------------------------
# Canvas


class _Canvas:
    """Planar float32 image [3, N, H, W] and uint8 labels [N, H, W], painted inside crops."""

    def __init__(self, count: int, resolution: int, head_x, head_y, cos_roll, sin_roll) -> None:
        self.resolution = resolution
        self.px = 2.0 / resolution
        self.inv_px = np.float32(resolution / 2.0)
        self.coords = ((np.arange(resolution) + 0.5) * self.px - 1.0).astype(np.float32)
        self.img = np.empty((3, count, resolution, resolution), np.float32)
        self.label = np.zeros((count, resolution, resolution), np.uint8)
        self.head_x, self.head_y = head_x, head_y  # float64 [N]
        self.cos_roll, self.sin_roll = cos_roll, sin_roll  # float64 [N]

    def box(self, cx: np.ndarray, cy: np.ndarray, radius) -> tuple[slice, slice] | None:
        """Pixel slices covering every pixel within `radius` (+1 pixel) of any centre."""
        pad = np.asarray(radius, np.float64) + 2.0 * self.px
        x0 = int(np.floor(np.min((cx - pad + 1.0) / self.px - 0.5)))
        x1 = int(np.ceil(np.max((cx + pad + 1.0) / self.px - 0.5))) + 1
        y0 = int(np.floor(np.min((cy - pad + 1.0) / self.px - 0.5)))
        y1 = int(np.ceil(np.max((cy + pad + 1.0) / self.px - 0.5))) + 1
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.resolution), min(y1, self.resolution)
        if x0 >= x1 or y0 >= y1:
            return None
        return slice(y0, y1), slice(x0, x1)

    def head_box(self, fu: np.ndarray, fv: np.ndarray, radius) -> tuple[slice, slice] | None:
        """`box` around a point given in head coordinates (rotated by roll about the head)."""
        cx = self.head_x + fu * self.cos_roll - fv * self.sin_roll
        cy = self.head_y + fu * self.sin_roll + fv * self.cos_roll
        return self.box(cx, cy, radius)

    def xy(self, box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        """Image coordinates of a crop, as [1, 1, w] and [1, h, 1]."""
        ys, xs = box
        return self.coords[xs][None, None, :], self.coords[ys][None, :, None]

    def uv(self, box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        """Head coordinates [N, h, w] of a crop: image coordinates about the head, unrolled."""
        x, y = self.xy(box)
        x = x - _f32(self.head_x)
        y = y - _f32(self.head_y)
        c = _f32(self.cos_roll)
        s = _f32(self.sin_roll)
        return x * c + y * s, y * c - x * s

    def coverage(self, distance: np.ndarray) -> np.ndarray:
        return np.clip(0.5 - distance * self.inv_px, 0.0, 1.0)

    def paint(self, box, alpha: np.ndarray, color: np.ndarray, region: int | None = None) -> None:
        """Composite `color` ([3, N, 1|h, 1|w]) with coverage `alpha` ([N, h, w]) into a crop."""
        ys, xs = box
        img = self.img[:, :, ys, xs]
        img += (color - img) * alpha
        if region is not None:
            label = self.label[:, ys, xs]
            label[alpha >= 0.5] = region


# ----------------------------------------------------------------------------------------------
# Renderer


def _render(p: Mapping[str, np.ndarray], resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Render parameter dict `p` (float64 [N] each) to uint8 images and region maps."""
    count = len(p["yaw"])
    cos, sin = math.cos, math.sin

    # Step 1: per-image geometry. Features sit on an ellipsoid head: a feature at angle theta
    # from the front appears at rx * sin(theta + yaw), foreshortened by cos(theta + yaw).
    scale = p["scale"]
    rx = 0.4 * scale * p["face_width"]
    ry = 0.52 * scale
    head_x = p["head_x"]
    head_y = -0.1 + p["head_y"]
    cos_roll, sin_roll = _per_image(cos, p["roll"]), _per_image(sin, p["roll"])
    cos_yaw, sin_yaw = _per_image(cos, p["yaw"]), _per_image(sin, p["yaw"])
    pitch_shift = -p["pitch"] * ry * 0.7
    youth = 1.0 - p["age"]
    canvas = _Canvas(count, resolution, head_x, head_y, cos_roll, sin_roll)
    px = canvas.px

    # Step 2: light direction (x right, y down, z towards the viewer) and colours.
    az, el = p["light_azimuth"], p["light_elevation"]
    light = np.stack(
        [_per_image(sin, az) * _per_image(cos, el), -_per_image(sin, el),
         _per_image(cos, az) * _per_image(cos, el)], axis=1,
    )  # fmt: skip
    intensity = p["light_intensity"]
    skin = _skin_rgb(p["skin_tone"])
    skin = skin * (1.0 - 0.1 * p["age"][:, None]) + 0.1 * p["age"][:, None] * skin.mean(
        1, keepdims=True
    )
    hair = _HAIR_RGB[p["hair_color"].astype(int)] * p["hair_lightness"][:, None]
    grey = p["hair_grey"][:, None]
    hair = np.clip(hair * (1.0 - grey) + np.array([0.8, 0.79, 0.78]) * grey, 0.0, 1.0)

    # Step 3: background, a two-colour gradient with a soft light-side glow.
    hue = p["background_hue"]
    bg1 = _hsv_to_rgb(hue, p["bg_saturation"], p["bg_value"])
    bg2 = _hsv_to_rgb(
        np.mod(hue + p["bg_hue_shift"], 1.0), p["bg_saturation"] * 1.2, p["bg_value"] * 0.72
    )
    full = (slice(0, resolution), slice(0, resolution))
    x, y = canvas.xy(full)
    t = np.clip(0.5 + _f32(p["bg_grad_x"]) * x + _f32(p["bg_grad_y"]) * y, 0.0, 1.0)
    c1, c2 = _col(bg1), _col(bg2)
    canvas.img[:] = c1 + (c2 - c1) * t

    # Step 4: shoulders and clothes, lit like a wide ellipsoid.
    shoulder_x = head_x * 0.5
    srx, sry = 0.92 * scale, 0.42 * scale
    shoulder_y = head_y + ry + 0.17 * scale + sry
    box = canvas.box(shoulder_x, shoulder_y, np.maximum(srx, sry))
    x, y = canvas.xy(box)
    su = x - _f32(shoulder_x)
    sv = y - _f32(shoulder_y)
    d = _ellipse(su, sv, _f32(srx), _f32(sry))
    alpha = canvas.coverage(d)
    clothes = _hsv_to_rgb(p["clothes_hue"], p["clothes_saturation"], p["clothes_value"])
    shade = _lambert(su / _f32(srx), sv / _f32(sry), light, intensity)
    canvas.paint(box, alpha, _col(clothes) * shade, REGION_IDS["neck_clothes"])

    # Neckline: a round or V opening that shows the skin below the neck.
    neck_half = 0.12 * scale * p["face_width"]
    neck_x = head_x + sin_roll * ry * 0.6
    neckline_y = shoulder_y - sry
    vee = _f32((p["collar"] == 1).astype(np.float64))
    nu = su - _f32(neck_x - shoulder_x)
    nv = y - _f32(neckline_y)
    d_round = _ellipse(nu, nv, _f32(neck_half * 1.25), _f32(0.09 * scale))
    d_vee = np.maximum(np.abs(nu) * 0.8 + nv * 0.6 - _f32(neck_half * 0.9), -nv - 0.1)
    d_neckline = d_round + (d_vee - d_round) * vee
    collar_band = _f32((p["collar"] == 2).astype(np.float64))
    trim = _hsv_to_rgb(p["clothes_hue"], p["clothes_saturation"] * 0.6, p["clothes_value"] * 0.6)
    canvas.paint(box, canvas.coverage(np.abs(d_neckline) - 0.03) * collar_band, _col(trim))
    canvas.paint(box, canvas.coverage(d_neckline), _col(skin * 0.72), REGION_IDS["neck_clothes"])

    # Step 5: hair behind the head (bob to long), with a wavy lower edge.
    length = p["hair_length"]
    long_hair = length > 0.3
    if np.any(long_hair):
        volume = 1.0 + 0.08 * p["hair_volume"]
        half_u = rx * (1.06 + 0.1 * length) * volume
        top, bottom = -ry * 1.05, ry * (-0.05 + 2.0 * length)
        centre_v = (top + bottom) / 2.0
        half_v = (bottom - top) / 2.0
        box = canvas.head_box(np.zeros(count), centre_v, np.maximum(half_u, half_v) * 1.45)
        if box is not None:
            u, v = canvas.uv(box)
            d = _rounded_box(u, v - _f32(centre_v), _f32(half_u), _f32(half_v), _f32(half_u * 0.8))
            d = d - _f32(0.03 * p["hair_wave"]) * _tri(u * 7.0) * np.clip(v * 3.0, 0.0, 1.0)
            alpha = canvas.coverage(d) * _f32(long_hair.astype(np.float64))
            shade = _lambert(
                u / _f32(half_u * 1.2),
                (v - _f32(centre_v * 0.5)) / _f32(half_v + ry),
                light,
                intensity,
            )
            color = _col(hair * 0.8) * shade * (0.9 + 0.1 * _tri(u * 11.0))
            canvas.paint(box, alpha, color, REGION_IDS["hair"])

    # Step 6: neck, darker under the chin.
    neck_top = ry * 0.35
    neck_bottom = neckline_y + 0.06 - head_y
    box = canvas.head_box(np.zeros(count), (neck_top + neck_bottom) / 2.0, 0.5)
    x, y = canvas.xy(box)
    nu = x - _f32(neck_x)
    d = np.maximum(
        np.abs(nu) - _f32(neck_half),
        np.abs(y - _f32(head_y + (neck_top + neck_bottom) / 2.0))
        - _f32((neck_bottom - neck_top) / 2.0),
    )
    gradient = np.clip((y - _f32(head_y + ry * 0.75)) * 6.0, 0.0, 1.0)
    color = _col(skin) * (0.62 + 0.22 * gradient)
    canvas.paint(box, canvas.coverage(d), color, REGION_IDS["neck_clothes"])

    # Step 7: ears, behind the face outline; the far ear slides behind the head with yaw.
    for side in (-1.0, 1.0):
        theta_c, theta_s = cos(1.45), sin(1.45) * side
        eu = rx * (theta_s * cos_yaw + theta_c * sin_yaw * 0.6)
        ev = ry * 0.08 + pitch_shift
        box = canvas.head_box(eu, ev, 0.15 * scale)
        u, v = canvas.uv(box)
        d = _ellipse(u - _f32(eu), v - _f32(ev), _f32(0.065 * scale), _f32(0.11 * scale))
        canvas.paint(box, canvas.coverage(d), _col(skin * 0.86), REGION_IDS["skin"])
        d_inner = _ellipse(
            u - _f32(eu - side * 0.012), v - _f32(ev), _f32(0.03 * scale), _f32(0.065 * scale)
        )
        canvas.paint(box, canvas.coverage(d_inner) * 0.5, _col(skin * 0.6))

    # Step 8: the head, an ellipse whose lower half narrows into the jaw.
    head_box = canvas.head_box(np.zeros(count), np.zeros(count), np.maximum(rx, ry) * 1.02)
    hu, hv = canvas.uv(head_box)
    lower = np.clip(hv / _f32(ry), 0.0, 1.0)
    jaw_rx = _f32(rx) * (1.0 - _f32(0.1 + 0.32 * p["jaw"]) * lower * lower)
    d_head = _ellipse(hu, hv, jaw_rx, _f32(ry))
    head_alpha = canvas.coverage(d_head)
    canvas.paint(head_box, head_alpha, _col(skin), REGION_IDS["skin"])

    # Step 9: feature layout in head coordinates.
    eye_scale = p["eye_size"] * scale * (1.0 + 0.18 * youth)
    eye_v = ry * (0.02 + 0.1 * youth) + pitch_shift
    nose_v = eye_v + 0.17 * scale
    mouth_v = nose_v + 0.12 * scale
    mid_u = rx * sin_yaw * 0.92
    eyes = []
    for side in (-1.0, 1.0):
        theta_c, theta_s = cos(0.42), sin(0.42) * side
        centre = rx * (theta_s * cos_yaw + theta_c * sin_yaw)
        foreshorten = np.clip(theta_c * cos_yaw - theta_s * sin_yaw, 0.2, 1.0)
        eyes.append((side, centre, foreshorten))

    # Step 10: blush and age lines, drawn faintly without labels.
    blush = 0.25 * p["blush"] * (0.4 + 0.6 * youth)
    for side, eu, fore in eyes:
        bu, bv = eu - side * 0.01, nose_v + 0.02
        box = canvas.head_box(bu, bv, 0.1 * scale)
        u, v = canvas.uv(box)
        d = _ellipse(u - _f32(bu), v - _f32(bv), _f32(0.07 * scale * fore), _f32(0.045 * scale))
        soft = np.clip(0.5 - d * (1.0 / 0.04), 0.0, 1.0)
        canvas.paint(box, soft * _f32(blush), _col(np.tile([0.95, 0.45, 0.45], (count, 1))))
    wrinkle = np.clip((p["age"] - 0.45) / 0.55, 0.0, 1.0) * 0.45
    line = max(0.006, 0.35 * px)
    if np.any(wrinkle > 0):
        dark = _col(skin * 0.55)
        box = canvas.head_box(mid_u, eye_v - 0.2 * scale, 0.2 * scale)
        u, v = canvas.uv(box)
        d = np.minimum(
            _arc(u, v, _f32(mid_u), _f32(eye_v - 0.2 * scale), _f32(0.14 * scale), 0.012, line),
            _arc(u, v, _f32(mid_u), _f32(eye_v - 0.245 * scale), _f32(0.11 * scale), 0.01, line),
        )
        canvas.paint(box, canvas.coverage(d) * _f32(wrinkle), dark)
        for side in (-1.0, 1.0):
            au, av = mid_u + side * 0.05 * scale, nose_v + 0.01
            bu, bv = mid_u + side * 0.1 * scale, mouth_v + 0.02
            box = canvas.head_box((au + bu) / 2, (av + bv) / 2, 0.1 * scale)
            u, v = canvas.uv(box)
            d = _segment(u, v, _f32(au), _f32(av), _f32(bu), _f32(bv), line)
            canvas.paint(box, canvas.coverage(d) * _f32(wrinkle * 0.9), dark)

    # Step 11: eyes: white, iris, pupil, highlight, upper lid line.
    eye_open = 0.1 + 0.9 * p["eye_open"]
    iris_rgb = _col(_EYE_RGB[p["eye_color"].astype(int)])
    lash = max(0.011, 0.55 * px)
    for _side, eu, fore in eyes:
        ew = 0.075 * eye_scale * fore
        eh = 0.05 * eye_scale * eye_open
        box = canvas.head_box(eu, eye_v, 0.1 * eye_scale)
        u, v = canvas.uv(box)
        lu, lv = u - _f32(eu), v - _f32(eye_v)
        d_eye = _ellipse(lu, lv, _f32(ew), _f32(eh))
        canvas.paint(
            box,
            canvas.coverage(d_eye),
            _col(np.tile([0.97, 0.96, 0.94], (count, 1))),
            REGION_IDS["eyes"],
        )
        iris_u = p["gaze"] * ew * 0.5 + sin_yaw * ew * 0.4
        ir = 0.038 * eye_scale
        d_iris = np.maximum(_ellipse(lu - _f32(iris_u), lv, _f32(ir * fore), _f32(ir)), d_eye)
        canvas.paint(box, canvas.coverage(d_iris), iris_rgb, REGION_IDS["eyes"])
        d_pupil = np.maximum(
            _ellipse(lu - _f32(iris_u), lv, _f32(ir * 0.5 * fore), _f32(ir * 0.5)), d_eye
        )
        canvas.paint(box, canvas.coverage(d_pupil), _col(np.tile([0.05, 0.04, 0.04], (count, 1))))
        d_high = _ellipse(
            lu - _f32(iris_u - ir * 0.35), lv + _f32(ir * 0.35), _f32(ir * 0.28), _f32(ir * 0.28)
        )
        canvas.paint(
            box, canvas.coverage(np.maximum(d_high, d_eye)) * 0.9, _col(np.ones((count, 3)))
        )
        d_lash = np.maximum(np.abs(d_eye) - lash, lv + _f32(eh * 0.15))
        canvas.paint(
            box,
            canvas.coverage(d_lash),
            _col(np.tile([0.1, 0.07, 0.07], (count, 1))),
            REGION_IDS["eyes"],
        )

    # Step 12: eyebrows, arcs over the eyes in a darker hair colour.
    brow_rgb = _col(hair * 0.55 + 0.03)
    brow_v = eye_v - 0.1 * eye_scale - p["brow_raise"]
    for side, eu, fore in eyes:
        bu = eu + side * 0.008
        box = canvas.head_box(bu, brow_v, 0.12 * scale)
        u, v = canvas.uv(box)
        t = (u - _f32(bu)) * _f32(side / (0.085 * eye_scale * fore))
        thick = _f32(np.maximum(0.013 * p["brow_thickness"] * scale, 0.55 * px)) * (
            1.0 - 0.35 * t * t
        )
        centre = _f32(brow_v) - _f32(0.025 * scale) * (1.0 - t * t) + _f32(p["brow_tilt"]) * t
        d = np.maximum(
            np.abs(v - centre) - thick, (np.abs(t) - 1.0) * _f32(0.085 * eye_scale * fore)
        )
        canvas.paint(box, canvas.coverage(d), brow_rgb, REGION_IDS["eyebrows"])

    # Step 13: nose, a shaded bulb with a bridge shadow on the unlit side.
    nr = 0.04 * scale * p["nose_size"]
    box = canvas.head_box(mid_u, nose_v - 0.04, 0.1 * scale * p["nose_size"] + 0.04)
    u, v = canvas.uv(box)
    nu, nv = u - _f32(mid_u), v - _f32(nose_v)
    shadow_side = -np.sign(light[:, 0] + 1e-9)
    d_bridge = _segment(
        nu,
        nv,
        _f32(shadow_side * nr * 0.7),
        _f32(-0.11 * scale),
        _f32(shadow_side * nr * 0.9),
        _f32(-nr * 0.2),
        _f32(np.maximum(nr * 0.18, 0.45 * px)),
    )
    canvas.paint(box, canvas.coverage(d_bridge) * 0.35, _col(skin * 0.6), REGION_IDS["nose"])
    d_nose = _ellipse(nu, nv, _f32(nr * 1.1), _f32(nr * 0.85))
    shade = _lambert(nu / _f32(nr * 1.3), nv / _f32(nr * 1.3), light, intensity)
    canvas.paint(box, canvas.coverage(d_nose), _col(skin * 0.93) * shade, REGION_IDS["nose"])
    d_nostrils = _ellipse(
        np.abs(nu) - _f32(nr * 0.5), nv - _f32(nr * 0.45), _f32(nr * 0.28), _f32(nr * 0.17)
    )
    canvas.paint(box, canvas.coverage(d_nostrils) * 0.6, _col(skin * 0.4), REGION_IDS["nose"])

    # Step 14: mouth: lips, opening and teeth between two parabolas bent by the smile.
    mw = 0.085 * scale * p["mouth_width"] * (1.0 + 0.12 * p["smile"]) * (0.75 + 0.25 * cos_yaw)
    box = canvas.head_box(mid_u, mouth_v, mw * 1.1 + 0.08)
    u, v = canvas.uv(box)
    t = (u - _f32(mid_u)) / _f32(mw)
    t2 = np.minimum(t * t, 1.0)
    centre = _f32(mouth_v) + _f32(0.05 * scale * p["smile"]) * (1.0 - t2)
    edge = np.sqrt(1.0 - t2)
    inner = _f32(0.055 * scale * p["mouth_open"]) * edge + _f32(max(0.004, 0.3 * px))
    lip = inner + _f32(np.maximum(0.013 * scale, 0.5 * px)) * edge + _f32(0.004 * scale)
    end = (np.abs(t) - 1.0) * _f32(mw)
    lip_rgb = (
        skin * (1.0 - p["lip_red"][:, None]) + np.array([0.78, 0.3, 0.32]) * p["lip_red"][:, None]
    )
    vv = v - centre
    canvas.paint(
        box,
        canvas.coverage(np.maximum(np.abs(vv) - lip, end)),
        _col(lip_rgb * 0.92),
        REGION_IDS["mouth"],
    )
    d_inner = np.maximum(np.abs(vv) - inner, end + _f32(mw * 0.08))
    canvas.paint(
        box,
        canvas.coverage(d_inner),
        _col(np.tile([0.32, 0.07, 0.09], (count, 1))),
        REGION_IDS["mouth"],
    )
    d_teeth = np.maximum(d_inner, vv + inner * 0.3)
    teeth = _f32(np.clip((p["mouth_open"] - 0.15) * 4.0, 0.0, 1.0))
    canvas.paint(
        box, canvas.coverage(d_teeth) * teeth, _col(np.tile([0.95, 0.93, 0.88], (count, 1)))
    )

    # Step 15: light the face: Lambert shading from the head ellipsoid's normals.
    hy, hx = head_box
    shade = _lambert(hu / _f32(rx * 1.05), hv / _f32(ry * 1.05), light, intensity)
    region = canvas.img[:, :, hy, hx]
    region *= 1.0 + (shade - 1.0) * head_alpha

    # Step 16: hair on top, clipped by a hairline that depends on the style.
    style = p["hair_style"]
    volume = 0.03 + 0.05 * p["hair_volume"] * (style != 3)
    cap_rx, cap_ry = rx * 1.03 + volume, ry * 1.0 + volume
    cap_v = -0.06 * ry
    box = canvas.head_box(np.zeros(count), cap_v, np.maximum(cap_rx, cap_ry) * 1.15)
    u, v = canvas.uv(box)
    un = u / _f32(rx)
    d_cap = _ellipse(u, v - _f32(cap_v), _f32(cap_rx), _f32(cap_ry))
    curly = _f32((style == 2).astype(np.float64))
    spiky = _f32((style == 3).astype(np.float64))
    d_cap = (
        d_cap
        - curly * 0.035 * _tri(u * 9.0 + 0.5) * _tri(v * 9.0)
        - spiky * 0.03 * _tri(u * 12.0) * np.clip(-v * 4.0, 0.0, 1.0)
    )
    hairline_base = (
        np.select([style == 0, style == 1, style == 2, style == 3], [-0.42, -0.22, -0.32, -0.55])
        * ry
        + pitch_shift
    )
    hairline = _f32(hairline_base) + _f32(0.09 * p["hair_part"] * (style == 0) * ry) * un
    hairline = hairline + _f32(0.05 * ry * (style == 1)) * _tri(un * 4.0)
    side_drop = _f32(ry * np.where(style == 3, 0.12, 0.2 + 0.3 * length))
    hairline = hairline + side_drop * np.clip(np.abs(un) - 0.62, 0.0, 1.0) * 4.0
    d_hair = np.maximum(d_cap, v - hairline)
    alpha = canvas.coverage(d_hair)
    shade = _lambert(
        u / _f32(cap_rx * 1.1), (v - _f32(cap_v)) / _f32(cap_ry * 1.1), light, intensity
    )
    strands = 0.9 + 0.1 * _tri(u * 13.0 + v * 3.0 * _f32(p["hair_part"]))
    canvas.paint(box, alpha, _col(hair) * shade * strands, REGION_IDS["hair"])
    sheen = np.maximum(
        np.abs(d_cap + _f32(0.05 * scale)) - _f32(0.012 * scale), v - hairline + 0.02
    )
    sheen_alpha = canvas.coverage(sheen) * np.clip(
        -u * _f32(np.sign(light[:, 0]) / rx) * 1.5, 0.0, 1.0
    )
    canvas.paint(box, sheen_alpha * 0.25, _col(np.minimum(hair + 0.35, 1.0)))

    # Step 17: glasses: tinted lenses, frames, bridge and temple arms.
    has_glasses = p["glasses"] > 0.5
    if np.any(has_glasses):
        on = _f32(has_glasses.astype(np.float64))
        frame = _col(_FRAME_RGB[p["frame_color"].astype(int)])
        rim_size = np.maximum(0.011 * scale, 0.6 * px)
        rim = _f32(rim_size)
        lens_v = eye_v - 0.004
        for _side, eu, fore in eyes:
            lw, lh = 0.11 * scale * fore, 0.08 * scale
            corner = np.minimum(lh * (0.35 + 0.6 * p["lens_round"]), lw)
            box = canvas.head_box(eu, lens_v, 0.16 * scale + rim_size)
            u, v = canvas.uv(box)
            d_lens = _rounded_box(u - _f32(eu), v - _f32(lens_v), _f32(lw), _f32(lh), _f32(corner))
            canvas.paint(
                box,
                canvas.coverage(d_lens) * on * 0.18,
                _col(np.tile([0.85, 0.92, 1.0], (count, 1))),
            )
            canvas.paint(
                box, canvas.coverage(np.abs(d_lens) - rim) * on, frame, REGION_IDS["glasses"]
            )
        # Bridge between the inner lens edges, then arms from the outer edges to the ears.
        (_, left_u, left_f), (_, right_u, right_f) = eyes
        inner_left, inner_right = left_u + 0.11 * scale * left_f, right_u - 0.11 * scale * right_f
        box = canvas.head_box((inner_left + inner_right) / 2, lens_v, 0.1 * scale)
        u, v = canvas.uv(box)
        d = _arc(
            u,
            v,
            _f32((inner_left + inner_right) / 2),
            _f32(lens_v - 0.02 * scale),
            _f32((inner_right - inner_left) / 2 + rim_size),
            0.012,
            rim,
        )
        canvas.paint(box, canvas.coverage(d) * on, frame, REGION_IDS["glasses"])
        for side, eu, fore in eyes:
            start = eu + side * 0.11 * scale * fore
            stop = side * rx * (0.97 * cos_yaw) + rx * sin_yaw * 0.3
            stop = np.where(side * (stop - start) > 0, stop, start)
            box = canvas.head_box((start + stop) / 2, lens_v, np.abs(stop - start) / 2 + 0.05)
            u, v = canvas.uv(box)
            d = _segment(
                u,
                v,
                _f32(start),
                _f32(lens_v - 0.05 * scale),
                _f32(stop),
                _f32(lens_v - 0.045 * scale),
                rim * 0.8,
            )
            canvas.paint(box, canvas.coverage(d) * on, frame, REGION_IDS["glasses"])

    # Step 18: to uint8 [N, H, W, 3].
    images = np.clip(canvas.img * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8).transpose(1, 2, 3, 0)
    return np.ascontiguousarray(images), canvas.label


def _lambert(
    nx: np.ndarray, ny: np.ndarray, light: np.ndarray, intensity: np.ndarray
) -> np.ndarray:
    """Soft (wrapped) Lambert shading of an ellipsoid with normal (nx, ny, sqrt(1 - nx² - ny²))."""
    nz = np.sqrt(np.maximum(1.0 - nx * nx - ny * ny, 0.0))
    ndl = nx * _f32(light[:, 0]) + ny * _f32(light[:, 1]) + nz * _f32(light[:, 2])
    wrapped = np.maximum(ndl + 0.45, 0.0) * (1.0 / 1.45)
    return 0.58 + _f32(0.5 * intensity) * wrapped


# ----------------------------------------------------------------------------------------------
# Public API


def check_resolution(resolution: int) -> int:
    """Return `resolution` if it is a power of two in [16, 256], else raise ValueError."""
    if (
        not isinstance(resolution, int | np.integer)
        or resolution < _MIN_RESOLUTION
        or resolution > _MAX_RESOLUTION
        or resolution & (resolution - 1)
    ):
        raise ValueError(
            f"synthfaces resolution must be a power of two in [{_MIN_RESOLUTION}, "
            f"{_MAX_RESOLUTION}], got {resolution!r}"
        )
    return int(resolution)


def render_synthfaces(
    indices: int | Sequence[int] | np.ndarray,
    resolution: int = 64,
    seed: int = 0,
    *,
    overrides: Mapping[str, object] | None = None,
    batch_size: int = 64,
    num_workers: int = 1,
) -> SynthFacesBatch:
    """Render synthfaces images with their attributes and region maps.

    Args:
        indices: a count N (images 0..N-1) or a 1-D sequence of non-negative dataset indices.
        resolution: image side, a power of two in [16, 256]; images are drawn at this size.
        seed: non-negative dataset seed; image i of seed s is always the same picture.
        overrides: attribute name -> value (scalar or [N]) that replaces the sampled value, e.g.
            {"smile": 1.0} to render the same faces smiling. Values must lie in the ranges of
            `ATTRIBUTE_RANGES`. None keeps every sampled value.
        batch_size: images drawn per NumPy pass; 32-64 is fastest (cache-sized).
        num_workers: processes to render with; 1 renders in this process.

    Returns:
        A `SynthFacesBatch` with images, region maps and attributes of the given indices.
    """
    # Step 1: check arguments and draw every parameter.
    indices = _as_indices(indices)
    resolution = check_resolution(resolution)
    seed = _check_seed(seed)
    if batch_size < 1 or num_workers < 1:
        raise ValueError(
            f"batch_size and num_workers must be >= 1, got {batch_size}, {num_workers}"
        )
    params = _sample_params(indices, seed)
    if overrides:
        _apply_overrides(params, overrides)

    # Step 2: render in chunks, in this process or a pool.
    chunks = [
        ({k: v[i : i + batch_size] for k, v in params.items()}, resolution)
        for i in range(0, len(indices), batch_size)
    ]
    if num_workers > 1 and len(chunks) > 1:
        context = multiprocessing.get_context("fork" if _can_fork() else "spawn")
        with context.Pool(min(num_workers, len(chunks))) as pool:
            results = pool.starmap(_render, chunks)
    else:
        results = [_render(*chunk) for chunk in chunks]
    images = np.empty((len(indices), resolution, resolution, 3), np.uint8)
    regions = np.empty((len(indices), resolution, resolution), np.uint8)
    start = 0
    for chunk_images, chunk_regions in results:
        images[start : start + len(chunk_images)] = chunk_images
        regions[start : start + len(chunk_images)] = chunk_regions
        start += len(chunk_images)
    attributes = {name: params[name].astype(np.float32) for name in ATTRIBUTE_NAMES}
    return SynthFacesBatch(images, regions, attributes, indices, seed)


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def iterate_synthfaces(
    count: int, resolution: int = 64, seed: int = 0, batch_size: int = 64, start: int = 0
) -> Iterator[SynthFacesBatch]:
    """Yield consecutive batches of images start..start+count-1 (for writing archives)."""
    for first in range(start, start + count, batch_size):
        last = min(first + batch_size, start + count)
        yield render_synthfaces(np.arange(first, last), resolution, seed, batch_size=batch_size)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] to float32 [N, 3, H, W] in [-1, 1]."""
    img = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return img.div_(127.5).sub_(1.0)


class SynthFacesDataset(torch.utils.data.Dataset):
    """Synthfaces rendered on the fly: item i is (img [3, R, R] in [-1, 1], c [A] attributes).

    No files are written. Items are rendered one at a time by `__getitem__`, or a whole batch at
    once by `__getitems__` (used by `torch.utils.data.DataLoader`) and by `batch`, which is about
    ten times faster per image.

    Args:
        resolution: image side, a power of two in [16, 256].
        size: number of images; item i is image i of the seed.
        seed: non-negative dataset seed.
        cache: render every image once, on first use, and keep them in memory as uint8
            (R * R * 3 bytes each, 12 KiB at 64x64).
    """

    name = "synthfaces"
    num_channels = 3
    label_names = ATTRIBUTE_NAMES

    def __init__(
        self, resolution: int = 64, size: int = 10_000, seed: int = 0, cache: bool = False
    ):
        self.resolution = check_resolution(resolution)
        if not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        self.size = int(size)
        self.seed = _check_seed(seed)
        self.cache = cache
        self._images: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    @property
    def label_dim(self) -> int:
        return len(ATTRIBUTE_NAMES)

    @property
    def has_labels(self) -> bool:
        return True

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return (
            f"SynthFacesDataset(resolution={self.resolution}, size={self.size}, seed={self.seed})"
        )

    def _fill_cache(self) -> None:
        log.info("rendering %d synthfaces at %d px into memory", self.size, self.resolution)
        rendered = render_synthfaces(self.size, self.resolution, self.seed)
        self._images, self._labels = rendered.images, rendered.attribute_matrix

    def _check(self, indices: np.ndarray) -> np.ndarray:
        if indices.size and (indices.min() < 0 or indices.max() >= self.size):
            raise IndexError(f"index out of range for a dataset of {self.size} images")
        return indices

    def batch(self, indices: Sequence[int] | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [B, 3, R, R] in [-1, 1] and attributes [B, A] of the given items."""
        indices = self._check(_as_indices(indices))
        if self.cache:
            if self._images is None:
                self._fill_cache()
            images, labels = self._images[indices], self._labels[indices]
        else:
            rendered = render_synthfaces(indices, self.resolution, self.seed)
            images, labels = rendered.images, rendered.attribute_matrix
        return images_to_tensor(images), torch.from_numpy(np.ascontiguousarray(labels))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index < 0:
            index += self.size
        img, c = self.batch([index])
        return img[0], c[0]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        img, c = self.batch(list(indices))
        return list(zip(img, c, strict=True))

    def regions(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """uint8 [B, R, R] region maps of the given items (values index `REGION_NAMES`)."""
        indices = self._check(_as_indices(indices))
        return render_synthfaces(indices, self.resolution, self.seed).regions
