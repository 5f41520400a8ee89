"""GAN losses as pure functions of D's logits (no sigmoid + BCELoss anywhere).

With l = logit and D = sigmoid(l): log D = -softplus(-l) and log(1 - D) = -softplus(l).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def d_bce(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Minimax D loss: -[log D(x) + log(1 - D(G(z)))] (Goodfellow et al. 2014)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def d_hinge(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge D loss (Lim & Ye 2017; Miyato et al. 2018)."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def d_lsgan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Least-squares D loss with targets 1/0 on the raw output (Mao et al. 2017)."""
    return 0.5 * ((real_logits - 1.0).square().mean() + fake_logits.square().mean())


def g_nonsaturating(fake_logits: Tensor) -> Tensor:
    """-log D(G(z)): strong gradients early, when D rejects the fakes."""
    return F.softplus(-fake_logits).mean()


def g_minimax(fake_logits: Tensor) -> Tensor:
    """log(1 - D(G(z))): the original minimax objective, saturates when D wins."""
    return -F.softplus(fake_logits).mean()


def g_hinge(fake_logits: Tensor) -> Tensor:
    return -fake_logits.mean()


def g_lsgan(fake_logits: Tensor) -> Tensor:
    return 0.5 * (fake_logits - 1.0).square().mean()


D_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "bce": d_bce, "hinge": d_hinge, "lsgan": d_lsgan,
}
G_LOSSES: dict[str, Callable[[Tensor], Tensor]] = {
    "nonsaturating": g_nonsaturating, "minimax": g_minimax, "hinge": g_hinge, "lsgan": g_lsgan,
}
