"""The write-ups' losses as they computed them: on probabilities, in float32, clipped or not.

minigan's own losses (losses.py) take logits and use softplus, the same functions without the
overflow. These exist for `--literal`: they reproduce where the write-ups' formulas saturate,
return inf, or lose the gradient. Inputs are minigan logits (l > 0: "real"); D(x) = sigmoid(l).

The cgan write-up's D outputs the probability that an image is *fake*, p = sigmoid(-l), clipped
to [1e-9, 1 - 1e-9]. In float32, 1 - 1e-9 rounds to exactly 1.0, so only the lower clip acts:
-log(1 - p) is inf once sigmoid(-l) rounds to 1 (about l < -16.6), and the clip zeroes the
gradient of a fake that D is sure is real (p < 1e-9, l > 20.7).
"""

from __future__ import annotations

from typing import Literal

import torch

Tensor = torch.Tensor
Reduction = Literal["mean", "sum"]
CGAN_CLIP = 1e-9


def _reduce(values: Tensor, reduction: Reduction) -> Tensor:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    return values.mean() if reduction == "mean" else values.sum()


def cgan_p_fake(logits: Tensor) -> Tensor:
    """`tf.clip_by_value(sigmoid(t), 1e-9, 1 - 1e-9)` with TF's logit t = -l. The bounds round to
    the logits' dtype, as TF's constants did: the upper one is 1.0 exactly in float32."""
    return torch.clamp(torch.sigmoid(-logits), CGAN_CLIP, 1.0 - CGAN_CLIP)


def cgan_d_loss(real_logits: Tensor, fake_logits: Tensor, reduction: Reduction = "mean") -> Tensor:
    """detect_surprise: -log(1 - p_fake(x)) - log(p_fake(G(z))), per sample, then reduced.

    The write-up reduces per sample (`reduction_indices=[1]` on (B, 1)) and hands the (B,) vector
    to `minimize`, whose gradient is that of the sum: reduction="sum" is its exact gradient.
    """
    per_sample = -torch.log(1.0 - cgan_p_fake(real_logits)) - torch.log(cgan_p_fake(fake_logits))
    return _reduce(per_sample, reduction)


def cgan_fake_surprise(fake_logits: Tensor, reduction: Reduction = "mean") -> Tensor:
    """detect_fake_surprise: -log(p_fake(G(z))), D's surprise that a fake is fake."""
    return _reduce(-torch.log(cgan_p_fake(fake_logits)), reduction)


def cgan_g_loss(fake_logits: Tensor, reduction: Reduction = "mean") -> Tensor:
    """G minimises -detect_fake_surprise = log(p_fake(G(z))): the saturating minimax loss
    log(1 - D(G(z))), whose gradient vanishes when D spots the fakes, floored by the clip."""
    return -cgan_fake_surprise(fake_logits, reduction)


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


__all__ = ["cgan_p_fake", "cgan_d_loss", "cgan_fake_surprise", "cgan_g_loss", "cgan_balance_error",
           "prob_d_loss", "prob_g_loss", "CGAN_CLIP"]
