"""TensorFlow/Keras Adam in PyTorch: the same update once epsilon is rescaled each step.

TF (tf.train.AdamOptimizer, Keras Adam) applies epsilon to sqrt(v) before bias correction:
    var -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps_tf)
PyTorch applies it after:
    var -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps_torch)
The two are equal when eps_torch = eps_tf / sqrt(1 - b2^t): ~31.6x eps_tf at t = 1 for b2 = 0.999,
1.26x at t = 1000, -> eps_tf. Defaults: TF1 AdamOptimizer 1e-8, Keras Adam 1e-7, PyTorch 1e-8.
"""

from __future__ import annotations

import math

import torch


def tf_adam_eps(eps: float, beta2: float, step: int) -> float:
    """The PyTorch eps that makes update number `step` (1-based) equal TF Adam's with `eps`."""
    if step < 1 or not 0.0 <= beta2 < 1.0 or eps < 0.0:
        raise ValueError(f"tf_adam_eps needs step >= 1, beta2 in [0, 1), eps >= 0: {step}, {beta2}, {eps}")
    return eps / math.sqrt(1.0 - beta2**step)


def set_tf_eps_(optimizer: torch.optim.Optimizer, eps: float, step: int) -> None:
    """Before `optimizer.step()` number `step` (count the steps the optimizer really takes, not
    loop steps it sat out): set each group's eps to the TF-equivalent value."""
    for group in optimizer.param_groups:
        group["eps"] = tf_adam_eps(eps, group["betas"][1], step)


__all__ = ["tf_adam_eps", "set_tf_eps_"]
