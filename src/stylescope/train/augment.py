"""Differentiable augmentation of D's inputs, and the adaptive probability controller.

A compact form of the ideas of Karras et al., "Training Generative Adversarial Networks with
Limited Data" (NeurIPS 2020, arXiv:2006.06676) and Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training" (NeurIPS 2020, arXiv:2006.10738): every transform is differentiable,
is applied to reals and fakes alike, and is applied to each image independently with probability
p. The transforms are a horizontal flip, an integer translation of up to 1/8 of the image with
reflected borders, brightness, saturation and contrast changes, and a cutout of a quarter of the
image. With adaptive augmentation (ADA) p follows the overfitting heuristic r_t = E[sign(D(real))]
towards a target.
"""

from __future__ import annotations

import torch


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


def augment(img: torch.Tensor, p: float) -> torch.Tensor:
    """Apply each transform to each image with probability `p`. img: [N, C, H, W]."""
    if p <= 0:
        return img
    n, c, height, width = img.shape
    device = img.device

    def chosen() -> torch.Tensor:
        return (torch.rand(n, device=device) < p).to(img.dtype).reshape(n, 1, 1, 1)

    # Horizontal flip.
    img = torch.lerp(img, img.flip(3), chosen())

    # Integer translation with reflected borders.
    shift = torch.rand(2, n, device=device) * 2 - 1
    on = (torch.rand(n, device=device) < p).float()
    dx = (shift[0] * width / 8 * on).round().long()
    dy = (shift[1] * height / 8 * on).round().long()
    ix = _reflect(torch.arange(width, device=device)[None] - dx[:, None], width)
    iy = _reflect(torch.arange(height, device=device)[None] - dy[:, None], height)
    img = img.gather(3, ix[:, None, None, :].expand(n, c, height, width))
    img = img.gather(2, iy[:, None, :, None].expand(n, c, height, width))

    # Colour: brightness, saturation, contrast.
    img = img + (torch.rand(n, 1, 1, 1, device=device) - 0.5) * 0.4 * chosen()
    mean_rgb = img.mean(dim=1, keepdim=True)
    scale = 1 + (torch.rand(n, 1, 1, 1, device=device) - 0.5) * chosen()
    img = mean_rgb + (img - mean_rgb) * scale
    mean_all = img.mean(dim=[1, 2, 3], keepdim=True)
    scale = 1 + (torch.rand(n, 1, 1, 1, device=device) - 0.5) * 0.6 * chosen()
    img = mean_all + (img - mean_all) * scale

    # Cutout of a square half the side, at a random centre.
    centre = torch.rand(2, n, 1, 1, device=device)
    ys = torch.arange(height, device=device).reshape(1, height, 1) / height
    xs = torch.arange(width, device=device).reshape(1, 1, width) / width
    inside = ((ys - centre[0]).abs() < 0.25) & ((xs - centre[1]).abs() < 0.25)
    keep = 1 - inside.unsqueeze(1).to(img.dtype) * chosen()
    return img * keep


class AdaptiveAugment:
    """Tunes p so that E[sign(D(real))] approaches `target` (ADA, section 3).

    Args:
        p: initial probability.
        target: target value of E[sign(D(real))]; None keeps p fixed.
        speed_kimg: kimg it takes p to change by one.
        interval: adjust after this many minibatches.
    """

    def __init__(
        self, p: float, target: float | None, speed_kimg: float, interval: int = 4
    ) -> None:
        self.p = float(p)
        self.target = target
        self.speed_kimg = speed_kimg
        self.interval = interval
        self._sign_sum = 0.0
        self._count = 0
        self._batches = 0

    def observe(self, real_logits: torch.Tensor) -> None:
        if self.target is None:
            return
        self._sign_sum += float(real_logits.detach().float().sign().sum())
        self._count += real_logits.numel()

    def step(self, batch_size: int, reduce_fn=None) -> None:
        """Call once per minibatch; `reduce_fn` sums (sign_sum, count) over processes."""
        if self.target is None:
            return
        self._batches += 1
        if self._batches % self.interval != 0 or self._count == 0:
            return
        sign_sum, count = self._sign_sum, self._count
        if reduce_fn is not None:
            sign_sum, count = reduce_fn(sign_sum, count)
        rt = sign_sum / count
        adjust = (1 if rt > self.target else -1) * batch_size * self.interval
        self.p = max(0.0, min(1.0, self.p + adjust / (self.speed_kimg * 1000)))
        self._sign_sum, self._count = 0.0, 0

    def state(self) -> dict[str, float]:
        return {"p": self.p, "sign_sum": self._sign_sum, "count": self._count,
                "batches": self._batches}  # fmt: skip

    def load_state(self, state: dict[str, float]) -> None:
        self.p = float(state["p"])
        self._sign_sum = float(state["sign_sum"])
        self._count = int(state["count"])
        self._batches = int(state["batches"])
