"""Adaptive balance: pause whichever side is winning until the other catches up.

The running D error is an EMA of the mean of D's real and fake cross-entropies (0.69 when D
guesses). Below `low` D is winning and its updates pause; above `high` G is winning and its
updates pause; in between both train. This is the rule of the original conditional recipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..config import TrainConfig
from ..errors import ConfigError
from ..sampling import sample_latents
from . import distributed
from .balance_schedule import ScheduledBalance
from .losses import d_bce
from .losses_literal import cgan_balance_error

Tensor = torch.Tensor


def check_balance_readable(d_loss: str, has_error: bool) -> None:
    """Balance thresholds are cross-entropies: refuse a loss whose D error has no such scale."""
    if not has_error:
        raise ConfigError(f"--balance reads D's error as a cross-entropy, which --d-loss {d_loss} does "
                          "not give: use --d-loss bce with --balance, or drop --balance")


@dataclass
class AdaptiveBalance:
    low: float = 0.3
    high: float = 0.8
    momentum: float = 0.9
    error: float | None = None  # running D error; None until the first update
    paused: str = "none"  # "none" | "d" | "g": the side whose next update is skipped

    def update(self, d_error: float) -> str:
        """Fold one step's D error into the running error; return the side to pause next step."""
        if self.error is None:
            self.error = d_error
        else:
            self.error = self.momentum * self.error + (1 - self.momentum) * d_error
        if self.error < self.low:
            self.paused = "d"
        elif self.error > self.high:
            self.paused = "g"
        else:
            self.paused = "none"
        return self.paused

    def state_dict(self) -> dict:
        return {"error": self.error, "paused": self.paused}

    def load_state_dict(self, state: dict) -> None:
        self.error, self.paused = state["error"], state["paused"]


class BalanceRule:
    """The balance rule a config asks for: minigan's running EMA, or the cgan write-up's schedule
    (measured every `balance_every` steps on the batch just trained on, dropout off, fresh noise,
    and held until the next measurement)."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.running = AdaptiveBalance(config.balance_low, config.balance_high, config.balance_momentum)
        self.scheduled = ScheduledBalance(config.balance_every, config.balance_low, config.balance_high)

    @property
    def pause(self) -> str:
        if self.config.balance_schedule == "running":
            return self.running.paused
        return "d" if not self.scheduled.train_d else "g" if not self.scheduled.train_g else "none"

    @property
    def error(self) -> float | None:
        return self.running.error if self.config.balance_schedule == "running" else self.scheduled.error

    def after_step(self, step: int, real_logits: Tensor, fake_logits: Tensor, trainer: Any) -> dict | None:
        """Fold in step `step` (1-based); a balance event record when the paused side changes."""
        before = self.pause
        if self.config.balance_schedule == "running":
            error = float(distributed.mean(trainer.d_loss.error(real_logits, fake_logits)))  # per-step sync
            self.running.update(error)
        elif self.scheduled.due(step):
            self.scheduled.update(measure_error(trainer, self.config.balance_metric))
        return None if self.pause == before else {"paused": self.pause, "d_error": self.error}

    def state_dict(self) -> dict:
        return {**self.running.state_dict(), "scheduled": self.scheduled.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.running.load_state_dict(state)
        if "scheduled" in state:
            self.scheduled.load_state_dict(state["scheduled"])


@torch.no_grad()
def measure_error(trainer: Any, metric: str) -> float:
    """D's error on the batch just trained on, D in eval mode (no dropout), two fresh noise draws."""
    real, y = trainer.last_real
    D, G, B = trainer.D, trainer.G, len(real)
    z1, z2 = (sample_latents(B, trainer.config.z_dim, trainer.config.z_prior, trainer.device) for _ in "12")
    was_training = D.training
    D.eval()
    try:
        real_logits, fake1, fake2 = D(real, y), D(G(z1, y), y), D(G(z2, y), y)
    finally:
        D.train(was_training)
    if metric == "cgan":
        return float(distributed.mean(torch.tensor(cgan_balance_error(real_logits, fake1, fake2))))
    return float(distributed.mean(0.5 * d_bce(real_logits, fake1)))
