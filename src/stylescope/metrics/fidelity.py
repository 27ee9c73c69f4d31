"""Same-latent fidelity between two generators, and perceptual path length.

`compare_generators` renders the same z (and the same constant noise) through two generators,
e.g. a dense teacher and its pruned student, and measures how far apart the images are: PSNR,
SSIM (Wang et al., "Image Quality Assessment: From Error Visibility to Structural Similarity",
IEEE TIP 2004, with the usual 11x11 Gaussian window, sigma 1.5) and the probe-feature distance of
`stylescope.metrics.probes`.

`path_length` is the perceptual path length of StyleGAN (arXiv:1812.04948, section 4.2): the
distance between images at t and t + eps along random interpolation paths, divided by eps^2,
with the 1% tails dropped. It is measured with the probe-feature distance, so its values are
named `ppl_w_probe` / `ppl_z_probe` and are not comparable with LPIPS-based PPL.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from stylescope.metrics.probes import FaceProbe, probe_feature_distance
from stylescope.networks import Generator


def psnr(img_a: torch.Tensor, img_b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio [N] in dB of images in [-1, 1] (peak-to-peak range 2)."""
    mse = (img_a.float() - img_b.float()).square().mean(dim=[1, 2, 3])
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(img_a: torch.Tensor, img_b: torch.Tensor, window_size: int = 11) -> torch.Tensor:
    """Mean structural similarity [N] of images in [-1, 1], averaged over channels and the
    valid (unpadded) window positions; the window shrinks for images smaller than it."""
    if img_a.shape != img_b.shape:
        raise ValueError(f"image shapes differ: {list(img_a.shape)} vs {list(img_b.shape)}")
    a = (img_a.float() + 1) / 2
    b = (img_b.float() + 1) / 2
    channels = a.shape[1]
    size = min(window_size, a.shape[-1], a.shape[-2])
    window = _gaussian_window(size, 1.5 * size / 11).to(a.device)
    window = window.expand(channels, 1, size, size)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=channels)

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a.square()
    var_b = blur(b * b) - mu_b.square()
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a.square() + mu_b.square() + c1) * (var_a + var_b + c2)
    )
    return ssim_map.mean(dim=[1, 2, 3])


@torch.no_grad()
def compare_generators(
    G_a: Generator,
    G_b: Generator,
    probe: FaceProbe | None = None,
    num_samples: int = 500,
    seed: int = 0,
    batch_size: int = 64,
    truncation_psi: float = 1.0,
) -> dict[str, float]:
    """Mean PSNR, SSIM and probe-feature distance between G_a(z) and G_b(z) for shared z.

    Both generators get the same z and constant noise; their mapping networks run separately,
    so a student whose mapping was fine-tuned is measured as it is.
    """
    if (G_a.z_dim, G_a.img_resolution) != (G_b.z_dim, G_b.img_resolution):
        raise ValueError(
            f"generators differ in z_dim or resolution: {G_a.z_dim}/{G_a.img_resolution} vs "
            f"{G_b.z_dim}/{G_b.img_resolution}"
        )
    device = next(G_a.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    sums = {"psnr": 0.0, "ssim": 0.0, "probe_distance": 0.0}
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        z = torch.randn(n, G_a.z_dim, generator=gen).to(device)
        img_a = G_a(z, truncation_psi=truncation_psi, noise_mode="const").float().clamp(-1, 1)
        img_b = G_b(z, truncation_psi=truncation_psi, noise_mode="const").float().clamp(-1, 1)
        sums["psnr"] += float(psnr(img_a, img_b).sum())
        sums["ssim"] += float(ssim(img_a, img_b).sum())
        if probe is not None:
            sums["probe_distance"] += float(probe_feature_distance(probe, img_a, img_b).sum())
    result = {k: v / num_samples for k, v in sums.items()}
    if probe is None:
        del result["probe_distance"]
    return result


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    d = (a * b).sum(dim=-1, keepdim=True).clamp(-1, 1)
    p = t * torch.acos(d)
    c = b - d * a
    c = c / c.norm(dim=-1, keepdim=True)
    return a * torch.cos(p) + c * torch.sin(p)


@torch.no_grad()
def path_length(
    G: Generator,
    probe: FaceProbe,
    space: str = "w",
    num_samples: int = 1000,
    epsilon: float = 1e-4,
    seed: int = 0,
    batch_size: int = 64,
) -> float:
    """Perceptual path length in 'w' (lerp, full paths) or 'z' (slerp) with the probe distance."""
    if space not in ("w", "z"):
        raise ValueError(f"space must be 'w' or 'z', got {space!r}")
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    distances = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        z = torch.randn(2 * n, G.z_dim, generator=gen).to(device)
        t = torch.rand(n, 1, generator=gen).to(device)
        if space == "z":
            z0, z1 = z[:n], z[n:]
            pair = torch.cat([_slerp(z0, z1, t), _slerp(z0, z1, t + epsilon)])
            ws = G.mapping(pair)
        else:
            ws_all = G.mapping(z)
            w0, w1 = ws_all[:n], ws_all[n:]
            t3 = t[:, :, None]
            ws = torch.cat([torch.lerp(w0, w1, t3), torch.lerp(w0, w1, t3 + epsilon)])
        img = G.synthesis(ws, noise_mode="const").float()
        d = probe_feature_distance(probe, img[:n], img[n:]) / epsilon**2
        distances.append(d.cpu().double().numpy())
    values = np.concatenate(distances)
    lo, hi = np.percentile(values, [1, 99], method="lower")
    kept = values[(values >= lo) & (values <= hi)]
    return float(kept.mean()) if len(kept) else math.nan
