"""StyleGAN2 losses: non-saturating logistic loss, R1 and path-length regularisers.

Goodfellow et al. (arXiv:1406.2661) for the non-saturating loss; Mescheder et al., "Which Training
Methods for GANs do actually Converge?" (arXiv:1801.04406) for R1; Karras et al. (StyleGAN2,
arXiv:1912.04958, section 3.2) for the path-length regulariser and lazy regularisation. Every
function returns a scalar to minimise, computed in float32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log(sigmoid(D(G(z)))), averaged over the batch."""
    return F.softplus(-fake_logits.float()).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log(sigmoid(D(x))) - log(1 - sigmoid(D(G(z)))), each averaged over its batch."""
    return F.softplus(fake_logits.float()).mean() + F.softplus(-real_logits.float()).mean()


def r1_penalty(real_img: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """Per-sample squared norm of dD(x)/dx on reals, [N]; `real_img` must require grad."""
    (grad,) = torch.autograd.grad(
        real_logits.float().sum(), real_img, create_graph=True, only_inputs=True
    )
    return grad.float().square().sum(dim=[1, 2, 3])


def path_lengths(img: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
    """Per-sample |J_w^T y| for a random image-space direction y, [N] (StyleGAN2 eq. 4).

    The noise is scaled by 1/sqrt(H*W) so that the length does not depend on the resolution.
    """
    noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True, only_inputs=True)
    return grad.float().square().sum(dim=2).mean(dim=1).sqrt()
