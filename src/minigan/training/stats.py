"""Per-step training statistics, summed on the device and read once per log interval."""

from __future__ import annotations

import math

import torch
from torch import nn


def grad_norm(module: nn.Module) -> float | None:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return None
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


class StepStats:
    """Sums of loss_d, loss_g, D's belief on real and on fake samples, D's gradient penalty (on the
    steps that had one); paused steps per side."""

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(5, device=device)
        self._no_penalty = torch.zeros((), device=device)  # reused: no allocation on the hot path
        self.count = self.penalised = 0
        self.paused = {"d": 0, "g": 0}

    def add(self, loss_d: torch.Tensor, loss_g: torch.Tensor, real_belief: torch.Tensor,
            fake_belief: torch.Tensor, paused: str, penalty: torch.Tensor | None = None) -> None:
        if penalty is None:
            penalty = self._no_penalty
        else:
            self.penalised += 1
        self.sums += torch.stack([loss_d, loss_g, real_belief, fake_belief, penalty])
        self.count += 1
        if paused in self.paused:
            self.paused[paused] += 1

    def reset(self) -> None:
        self.sums.zero_()
        self.count = self.penalised = 0
        self.paused = {"d": 0, "g": 0}

    def record(self, *, step: int, epoch: float, seconds: float, steps: int, images_per_step: int,
               elapsed: float, lr_scale: float, G: nn.Module, D: nn.Module,
               balance_error: float | None) -> dict | None:
        """One stats.jsonl record (and a reset), or None when a sum is NaN/inf."""
        means = (self.sums / max(self.count, 1)).tolist()
        penalty = self.sums[4].item() / self.penalised if self.penalised else None
        paused = dict(self.paused)
        self.reset()
        if not all(math.isfinite(v) for v in means):
            return None
        record = {
            "step": step, "epoch": round(epoch, 4),
            "loss_d": means[0], "loss_g": means[1], "d_real": means[2], "d_fake": means[3],
            "img_per_s": steps * images_per_step / max(seconds, 1e-9),
            "ms_per_step": 1000 * seconds / max(steps, 1), "elapsed": round(elapsed, 2),
            "lr_scale": lr_scale, "grad_norm_d": grad_norm(D), "grad_norm_g": grad_norm(G),
        }
        if penalty is not None:
            record["loss_penalty"] = penalty  # mean over the steps with a penalty phase
        if balance_error is not None:
            record.update(paused_d=paused["d"], paused_g=paused["g"], balance_error=balance_error)
        return record


def large_weights(nets: dict[str, nn.Module], threshold: float) -> list[str]:
    """One line per parameter tensor holding a value whose magnitude exceeds `threshold`."""
    found = []
    for net, module in nets.items():
        for name, param in module.named_parameters():
            peak = float(param.detach().abs().max())
            if peak > threshold:
                found.append(f"weight {net}.{name} reached magnitude {peak:.4g} (above {threshold:g})")
    return found
