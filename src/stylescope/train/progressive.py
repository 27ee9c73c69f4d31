"""Progressive growing schedule of the original StyleGAN (PGGAN, arXiv:1710.10196, section 3).

Training starts at a low resolution; each new resolution is first faded in over `fade_kimg`
(alpha from 0 to 1) and then trained stable for `stab_kimg`.
"""

from __future__ import annotations


def progressive_phase(
    cur_nimg: int, start_resolution: int, final_resolution: int, fade_kimg: float, stab_kimg: float
) -> tuple[int, float]:
    """(resolution, alpha) after `cur_nimg` images."""
    resolution = start_resolution
    kimg = cur_nimg / 1000 - stab_kimg
    while resolution < final_resolution and kimg >= 0:
        if kimg < fade_kimg:
            return resolution * 2, kimg / fade_kimg
        kimg -= fade_kimg + stab_kimg
        resolution *= 2
    return resolution, 1.0


def growing_kimg(
    start_resolution: int, final_resolution: int, fade_kimg: float, stab_kimg: float
) -> float:
    """kimg until the final resolution is fully faded in: the first resolution's stable phase,
    then a fade and a stable phase per doubling, less the last stable phase."""
    doublings = (final_resolution // start_resolution).bit_length() - 1
    return doublings * (fade_kimg + stab_kimg)
