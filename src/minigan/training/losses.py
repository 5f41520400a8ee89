"""GAN losses as pure functions of D's logits (no sigmoid + BCELoss anywhere), and what each one
lets the loop read from D's outputs.

With l = logit and D = sigmoid(l): log D = -softplus(-l) and log(1 - D) = -softplus(l).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import DLoss, GLoss
from .losses_literal import cgan_d_loss, cgan_g_loss, prob_d_loss, prob_g_loss
from .penalties import d_wasserstein, g_wasserstein

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


@dataclass(frozen=True)
class DLossSpec:
    """A D loss and how to read D's outputs under it.

    `belief` maps logits to "D thinks it is real" in [0, 1] per sample (logged as d_real / d_fake).
    `error` is D's error as the balance rule reads it (chance level 0.69 for bce), or None when the
    loss has no such scale, and `saturates` says whether D(x) -> 1, D(G(z)) -> 0 starves G.
    """

    loss: Callable[[Tensor, Tensor], Tensor]
    belief: Callable[[Tensor], Tensor]
    error: Callable[[Tensor, Tensor], Tensor] | None
    saturates: bool
    belief_name: str


def _half_bce(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D's error as the balance rule reads it: the mean of its real and fake cross-entropies."""
    return 0.5 * d_bce(real_logits, fake_logits)


D_LOSSES: dict[DLoss, DLossSpec] = {
    # bce: D's sigmoid output is its probability of "real"; its error is the mean cross-entropy.
    "bce": DLossSpec(d_bce, torch.sigmoid, _half_bce, True, "sigmoid(logit)"),
    # hinge: the logit's sign is D's verdict; no probability, so no balance and no saturation rule.
    "hinge": DLossSpec(d_hinge, lambda x: (x > 0).float(), None, False, "share of logits > 0"),
    # lsgan: the raw output regresses onto 1 (real) / 0 (fake); clamped, it reads as a belief.
    "lsgan": DLossSpec(d_lsgan, lambda x: x.clamp(0.0, 1.0), None, False, "output clamped to [0, 1]"),
    # wgan: a critic's score has no scale at all; its sign is the nearest thing to a verdict.
    "wgan": DLossSpec(d_wasserstein, lambda x: (x > 0).float(), None, False, "share of scores > 0"),
    # the write-ups' probability forms (--literal): the same readings as bce
    "cgan_clipped": DLossSpec(cgan_d_loss, torch.sigmoid, _half_bce, True, "sigmoid(logit)"),
    "prob": DLossSpec(prob_d_loss, torch.sigmoid, _half_bce, True, "sigmoid(logit)"),
}
G_LOSSES: dict[GLoss, Callable[[Tensor], Tensor]] = {
    "nonsaturating": g_nonsaturating, "minimax": g_minimax, "hinge": g_hinge, "lsgan": g_lsgan,
    "wgan": g_wasserstein, "cgan_clipped": cgan_g_loss, "prob": prob_g_loss,
}
