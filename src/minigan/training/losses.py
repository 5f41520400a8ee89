"""GAN losses as pure functions of D's logits (no sigmoid + BCELoss anywhere), the write-ups'
probability forms, and what each loss lets the loop read from D's outputs.

With l = logit and D = sigmoid(l): log D = -softplus(-l) and log(1 - D) = -softplus(l).

The write-ups' forms (`--literal`) compute on probabilities in float32, clipped or not, and
reproduce where their formulas saturate, return inf or lose the gradient. The cgan write-up's D
outputs the probability that an image is *fake*, p = sigmoid(-l), clipped to [1e-9, 1 - 1e-9]. In
float32, 1 - 1e-9 rounds to exactly 1.0, so only the lower clip acts: -log(1 - p) is inf once
sigmoid(-l) rounds to 1 (about l < -16.6), and the clip zeroes the gradient of a fake that D is
sure is real (p < 1e-9, l > 20.7).

Below the losses, D's regularisers: gradient penalties on its input (R1, R2, WGAN-GP), lazy as
StyleGAN2 runs them. `D` is anything called as D(x, labels_or_None) -> logits (B,): the
discriminator itself, or a lambda that augments x first (then the penalty is on the gradient
w.r.t. the un-augmented images, as in StyleGAN2-ADA, which needs the augmentation to be
differentiable). x is (B, C, S, S) in either memory format, or (B, F). The penalties return
scalars that keep their graph (create_graph=True), so `penalty.backward()` reaches D's weights
through the input gradient.

A D with a minibatch-stddev layer couples the samples of a group: the gradient of sum(logits) w.r.t.
x_i then includes other samples' logits. That is what StyleGAN2 penalises too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import DLoss, GLoss

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


def d_wasserstein(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """WGAN critic loss E[D(G(z))] - E[D(x)] (Arjovsky et al. 2017); needs a Lipschitz D (GP or SN)."""
    return fake_logits.mean() - real_logits.mean()


def g_wasserstein(fake_logits: Tensor) -> Tensor:
    """WGAN generator loss -E[D(G(z))]."""
    return -fake_logits.mean()


def d_relativistic(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """RpGAN's D loss (Jolicoeur-Martineau 2019; Huang et al. 2024, R3GAN): each real is judged
    against the fake in its row, softplus(D(G(z_i)) - D(x_i)), so only the gap has meaning."""
    return F.softplus(fake_logits - real_logits).mean()


def g_relativistic(fake_minus_real: Tensor) -> Tensor:
    """RpGAN's G loss: the non-saturating loss of the paired gaps D(G(z_i)) - D(x_i), softplus(-gap).
    G's phase judges a real batch too (G_LOSSES_ON_GAPS)."""
    return g_nonsaturating(fake_minus_real)


# ---------------------------------------------------------------------------- the write-ups' forms
CGAN_CLIP = 1e-9


def cgan_p_fake(logits: Tensor) -> Tensor:
    """`tf.clip_by_value(sigmoid(t), 1e-9, 1 - 1e-9)` with TF's logit t = -l. The bounds round to
    the logits' dtype, as TF's constants did: the upper one is 1.0 exactly in float32."""
    return torch.clamp(torch.sigmoid(-logits), CGAN_CLIP, 1.0 - CGAN_CLIP)


def cgan_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """detect_surprise: mean of -log(1 - p_fake(x)) - log(p_fake(G(z))) per sample.

    The write-up hands the (B,) vector to `minimize`, whose gradient is that of the sum: the loop
    scales by the batch under `loss_reduction="sum"` (fidelity.py).
    """
    return (-torch.log(1.0 - cgan_p_fake(real_logits)) - torch.log(cgan_p_fake(fake_logits))).mean()


def cgan_fake_surprise(fake_logits: Tensor) -> Tensor:
    """detect_fake_surprise: mean -log(p_fake(G(z))), D's surprise that a fake is fake."""
    return -torch.log(cgan_p_fake(fake_logits)).mean()


def cgan_g_loss(fake_logits: Tensor) -> Tensor:
    """G minimises -detect_fake_surprise = log(p_fake(G(z))): the saturating minimax loss
    log(1 - D(G(z))), whose gradient vanishes when D spots the fakes, floored by the clip."""
    return -cgan_fake_surprise(fake_logits)


def cgan_balance_error(real_logits: Tensor, fake_logits: Tensor, other_fake_logits: Tensor) -> float:
    """overall_error = (mean detect_surprise + mean detect_fake_surprise) / 2, the write-up's
    balance signal. The two terms come from separate runs with fresh noise each (two fake
    batches); equals 1.04 when D guesses (all p = 0.5), so only D trains at that point."""
    error1 = float(cgan_d_loss(real_logits, fake_logits))
    error2 = float(cgan_fake_surprise(other_fake_logits))
    return (error1 + error2) / 2


def prob_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """vanilla: -mean(log D(x) + log(1 - D(G(z)))) on probabilities, no clipping: -inf/NaN once
    D saturates in float32, as the write-up's tf.log(sigmoid) would."""
    return -(torch.log(torch.sigmoid(real_logits)) + torch.log(1.0 - torch.sigmoid(fake_logits))).mean()


def prob_g_loss(fake_logits: Tensor) -> Tensor:
    """vanilla: -mean(log D(G(z))), the non-saturating G loss on probabilities, no clipping."""
    return -torch.log(torch.sigmoid(fake_logits)).mean()



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


def _by_sign(logits: Tensor) -> Tensor:
    """A verdict without a probability: 1 where the logit is positive."""
    return (logits > 0).float()


def _half_bce(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D's error as the balance rule reads it: the mean of its real and fake cross-entropies."""
    return 0.5 * d_bce(real_logits, fake_logits)


D_LOSSES: dict[DLoss, DLossSpec] = {
    # bce: D's sigmoid output is its probability of "real"; its error is the mean cross-entropy.
    "bce": DLossSpec(d_bce, torch.sigmoid, _half_bce, True),
    # hinge: the logit's sign is D's verdict; no probability, so no balance and no saturation rule.
    "hinge": DLossSpec(d_hinge, _by_sign, None, False),
    # lsgan: the raw output regresses onto 1 (real) / 0 (fake); clamped, it reads as a belief.
    "lsgan": DLossSpec(d_lsgan, lambda x: x.clamp(0.0, 1.0), None, False),
    # wgan: a critic's score has no scale at all; its sign is the nearest thing to a verdict.
    "wgan": DLossSpec(d_wasserstein, _by_sign, None, False),
    # relativistic: only a real's logit minus its fake's counts; the sign is read as for wgan.
    "relativistic": DLossSpec(d_relativistic, _by_sign, None, False),
    # the write-ups' probability forms (--literal): the same readings as bce
    "cgan_clipped": DLossSpec(cgan_d_loss, torch.sigmoid, _half_bce, True),
    "prob": DLossSpec(prob_d_loss, torch.sigmoid, _half_bce, True),
}
G_LOSSES: dict[GLoss, Callable[[Tensor], Tensor]] = {
    "nonsaturating": g_nonsaturating, "minimax": g_minimax, "hinge": g_hinge, "lsgan": g_lsgan,
    "wgan": g_wasserstein, "relativistic": g_relativistic, "cgan_clipped": cgan_g_loss, "prob": prob_g_loss,
}
# G losses that read each fake's logit minus the logit of the real in its row, not the fake's alone.
G_LOSSES_ON_GAPS: frozenset[GLoss] = frozenset({"relativistic"})


# ----------------------------------------------------------------------------- D's regularisers
Critic = Callable[[Tensor, Tensor | None], Tensor]


def input_gradients(D: Critic, x: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(logits (B,), d sum(logits) / dx shaped like x), the gradient with its graph kept.

    x is detached first, so a fake that still carries G's graph costs nothing in G and is not
    changed; labels pass through untouched (they are not differentiated).
    """
    x = x.detach().requires_grad_(True)
    logits = D(x, labels)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return logits, grad


def grad_sq_norms(D: Critic, x: Tensor, labels: Tensor | None = None) -> Tensor:
    """||grad_x D(x)_i||^2 per sample: (B,)."""
    _, grad = input_gradients(D, x, labels)
    return grad.square().flatten(1).sum(dim=1)


def r1_penalty(D: Critic, real: Tensor, labels: Tensor | None = None, *, gamma: float) -> Tensor:
    """R1 (Mescheder et al. 2018): gamma/2 * E_real ||grad_x D(x)||^2. Pushes D flat on the data."""
    return 0.5 * gamma * grad_sq_norms(D, real, labels).mean()


def r2_penalty(D: Critic, fake: Tensor, labels: Tensor | None = None, *, gamma: float) -> Tensor:
    """R2: the same penalty on generated images, gamma/2 * E_fake ||grad_x D(x)||^2."""
    return 0.5 * gamma * grad_sq_norms(D, fake, labels).mean()


def lazy_ratio(interval: int) -> float:
    """mb_ratio = interval / (interval + 1): the share of D's optimiser steps that are main steps."""
    return interval / (interval + 1)


def lazy_adam_hparams(lr: float, betas: tuple[float, float],
                      interval: int) -> tuple[float, tuple[float, float]]:
    """D's Adam settings when the regulariser takes its own optimiser step every `interval` steps.

    StyleGAN2 (Karras et al. 2020, appendix B; stylegan2-ada's training_loop "mb_ratio"): with one
    extra step per `interval` main steps, lr * r and betas ** r with r = interval / (interval + 1)
    keep Adam's per-image schedule. D's optimiser takes them whenever lazy regularisation is on.
    """
    ratio = lazy_ratio(interval)
    return lr * ratio, (betas[0] ** ratio, betas[1] ** ratio)


@dataclass(frozen=True)
class LazyRegulariser:
    """The D reg phase: R1 on reals and/or R2 on fakes every `interval` D steps, scaled by `interval`.

    Lazy regularisation (Karras et al. 2020): penalising every 16th step with 16x the weight gives
    the same expected penalty at a sixteenth of its cost. The loop asks `due(d_step)` with its count
    of D steps so far (0, 1, 2, ...: the first step is regularised) and, when due, backpropagates
    `loss(...)` (alone, in its own optimiser step, or added to that step's main loss).
    """

    r1_gamma: float = 0.0
    r2_gamma: float = 0.0
    interval: int = 16

    @property
    def active(self) -> bool:
        return self.r1_gamma > 0.0 or self.r2_gamma > 0.0

    def due(self, d_step: int) -> bool:
        return self.active and d_step % self.interval == 0

    def loss(self, D: Critic, real: Tensor, fake: Tensor, labels: Tensor | None = None,
             fake_labels: Tensor | None = None) -> Tensor:
        """interval * (R1 + R2). With both on, real and fake go through one D call on [real; fake]
        (B each, so a minibatch-stddev group never mixes them when it divides B)."""
        fake_labels = labels if fake_labels is None else fake_labels
        if self.r1_gamma > 0.0 and self.r2_gamma > 0.0:
            B = real.shape[0]
            both = torch.cat([real, fake.detach()])
            both_labels = None if labels is None else torch.cat([labels, fake_labels])
            sq = grad_sq_norms(D, both, both_labels)
            penalty = 0.5 * (self.r1_gamma * sq[:B].mean() + self.r2_gamma * sq[B:].mean())
        elif self.r1_gamma > 0.0:
            penalty = r1_penalty(D, real, labels, gamma=self.r1_gamma)
        else:
            penalty = r2_penalty(D, fake, fake_labels, gamma=self.r2_gamma)
        return self.interval * penalty


# ---------------------------------------------------------------------------------- WGAN-GP
def draw_alpha(batch_size: int, *, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """One U[0, 1) mixing weight per sample: (B,). Drawn on the generator's device when given."""
    where = generator.device if generator is not None else device
    return torch.rand(batch_size, generator=generator, device=where, dtype=dtype).to(device)


def interpolate(real: Tensor, fake: Tensor, alpha: Tensor) -> Tensor:
    """real * alpha + fake * (1 - alpha), alpha (B,) per sample; the memory format of `real`."""
    a = alpha.to(real.dtype).view(-1, *([1] * (real.dim() - 1)))
    mixed = torch.lerp(fake, real, a)  # fake + a * (real - fake)
    if real.dim() == 4 and real.is_contiguous(memory_format=torch.channels_last):
        mixed = mixed.contiguous(memory_format=torch.channels_last)
    return mixed


def wgan_gp_penalty(D: Critic, real: Tensor, fake: Tensor, labels: Tensor | None = None, *,
                    lam: float = 10.0, generator: torch.Generator | None = None,
                    alpha: Tensor | None = None) -> Tensor:
    """Gulrajani et al. 2017: lam * E (||grad D(x_hat)|| - 1)^2 at x_hat = real*a + fake*(1-a).

    One a ~ U[0, 1) per sample (from `generator`, else torch's global RNG, which the loop's
    checkpoints save), unless `alpha` is given. The fakes must be drawn with the reals' labels.
    """
    if alpha is None:
        alpha = draw_alpha(real.shape[0], generator=generator, device=real.device, dtype=real.dtype)
    x_hat = interpolate(real.detach(), fake.detach(), alpha)
    _, grad = input_gradients(D, x_hat, labels)
    norms = torch.linalg.vector_norm(grad.flatten(1), dim=1)  # its gradient is 0 at a zero norm, no NaN
    return lam * (norms - 1.0).square().mean()
