"""Distribution distances on features: FID, KID and precision/recall.

FID: Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium" (arXiv:1706.08500). KID: Binkowski et al., "Demystifying MMD GANs"
(arXiv:1801.01401), unbiased MMD^2 with the cubic polynomial kernel, averaged over subsets.
Precision and recall: Kynkaanniemi et al., "Improved Precision and Recall Metric for Assessing
Generative Models" (arXiv:1904.06991), k-nearest-neighbour manifolds with k = 3.
"""

from __future__ import annotations

import numpy as np
import torch


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and covariance [D, D] (unbiased) of features [N, D]."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need features [N >= 2, D], got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    tr((S1 S2)^(1/2)) equals tr((S1^(1/2) S2 S1^(1/2))^(1/2)), whose argument is symmetric
    positive semi-definite, so both square roots come from symmetric eigendecompositions: no
    complex parts to discard, stable for the rank-deficient covariances of small samples.
    """
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"shapes differ: {mu1.shape} vs {mu2.shape}, {sigma1.shape} vs {sigma2.shape}"
        )
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def kernel_inception_distance(
    real: np.ndarray,
    fake: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> float:
    """Mean unbiased MMD^2 over random subsets, with k(x, y) = (x.y / D + 1)^3."""
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    n = min(len(real), len(fake), subset_size)
    if n < 2:
        raise ValueError("KID needs at least two samples in each set")
    dim = real.shape[1]
    rng = np.random.RandomState(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = fake[rng.choice(len(fake), n, replace=False)]
        y = real[rng.choice(len(real), n, replace=False)]
        a = (x @ x.T / dim + 1) ** 3 + (y @ y.T / dim + 1) ** 3
        b = (x @ y.T / dim + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (n - 1) - b.sum() * 2 / n
    return float(total / num_subsets / n)


def _knn_radii(features: torch.Tensor, k: int, batch: int = 1024) -> torch.Tensor:
    radii = []
    for i in range(0, len(features), batch):
        d = torch.cdist(features[i : i + batch], features)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # k + 1: the point itself is at 0.
    return torch.cat(radii)


def _coverage(query: torch.Tensor, manifold: torch.Tensor, radii: torch.Tensor,
              batch: int = 1024) -> float:  # fmt: skip
    inside = []
    for i in range(0, len(query), batch):
        d = torch.cdist(query[i : i + batch], manifold)
        inside.append((d <= radii[None]).any(dim=1))
    return float(torch.cat(inside).float().mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Precision: share of fakes inside the real manifold; recall: reals inside the fake one."""
    real_t = torch.from_numpy(np.asarray(real, dtype=np.float32))
    fake_t = torch.from_numpy(np.asarray(fake, dtype=np.float32))
    if len(real_t) <= k or len(fake_t) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    precision = _coverage(fake_t, real_t, _knn_radii(real_t, k))
    recall = _coverage(real_t, fake_t, _knn_radii(fake_t, k))
    return precision, recall
