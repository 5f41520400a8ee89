"""Gradient penalties on D's input and the Wasserstein losses, as functions of a D and its logits.

`D` is anything called as D(x, labels_or_None) -> logits (B,): the discriminator itself, or a
lambda that augments x first (then the penalty is on the gradient w.r.t. the un-augmented images,
as in StyleGAN2-ADA, which needs the augmentation to be differentiable). x is (B, C, S, S) in either
memory format, or (B, F). The penalties return scalars that keep their graph (create_graph=True), so
`penalty.backward()` reaches D's weights through the input gradient.

A D with a minibatch-stddev layer couples the samples of a group: the gradient of sum(logits) w.r.t.
x_i then includes other samples' logits. That is what StyleGAN2 penalises too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import ConfigError

Tensor = torch.Tensor
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


def lazy_adam_hparams(lr: float, betas: tuple[float, float],
                      interval: int) -> tuple[float, tuple[float, float]]:
    """D's Adam settings when the regulariser takes its own optimiser step every `interval` steps.

    StyleGAN2 (Karras et al. 2020, appendix B): with one extra step per `interval` main steps,
    lr * r and betas ** r with r = interval / (interval + 1) keep Adam's per-image schedule. Not
    needed when the lazy penalty is added to a main step's loss instead.
    """
    _check_interval(interval)
    ratio = interval / (interval + 1)
    return lr * ratio, (betas[0] ** ratio, betas[1] ** ratio)


def _check_interval(interval: int) -> None:
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ConfigError(f"reg_interval must be a whole number >= 1 (1 = every D step), got {interval!r}")


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

    def __post_init__(self) -> None:
        _check_interval(self.interval)
        for name in ("r1_gamma", "r2_gamma"):
            value = getattr(self, name)
            if not value >= 0.0 or value == float("inf"):
                raise ConfigError(f"{name} must be a finite number >= 0 (0 = off), got {value}")

    @property
    def active(self) -> bool:
        return self.r1_gamma > 0.0 or self.r2_gamma > 0.0

    def due(self, d_step: int) -> bool:
        return self.active and d_step % self.interval == 0

    def loss(self, D: Critic, real: Tensor, fake: Tensor, labels: Tensor | None = None,
             fake_labels: Tensor | None = None) -> Tensor:
        """interval * (R1 + R2). With both on, real and fake go through one D call on [real; fake]
        (B each, so a minibatch-stddev group never mixes them when it divides B)."""
        if not self.active:
            raise ConfigError("the reg phase needs r1_gamma > 0 or r2_gamma > 0")
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
    if real.shape != fake.shape or alpha.shape != real.shape[:1]:
        raise ConfigError(f"interpolate needs real and fake of one shape and one alpha per sample, got "
                          f"{tuple(real.shape)}, {tuple(fake.shape)} and {tuple(alpha.shape)}")
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


def d_wasserstein(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """WGAN critic loss E[D(G(z))] - E[D(x)] (Arjovsky et al. 2017); needs a Lipschitz D (GP or SN)."""
    return fake_logits.mean() - real_logits.mean()


def g_wasserstein(fake_logits: Tensor) -> Tensor:
    """WGAN generator loss -E[D(G(z))]."""
    return -fake_logits.mean()
