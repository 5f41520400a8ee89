"""Adaptive balance: pause whichever side is winning until the other catches up.

The running D error is an EMA of the mean of D's real and fake cross-entropies (0.69 when D
guesses). Below `low` D is winning and its updates pause; above `high` G is winning and its
updates pause; in between both train. This is the rule of the original conditional recipe.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..config import TrainConfig
from ..sampling import sample_latents
from . import parallel
from .losses import DLossSpec, cgan_balance_error, d_bce

Tensor = torch.Tensor


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

    def __init__(self, config: TrainConfig, d_loss: DLossSpec) -> None:
        self.config, self.d_error = config, d_loss.error
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

    def after_step(self, step: int, real_logits: Tensor, fake_logits: Tensor,
                   measure: Callable[[], float]) -> dict | None:
        """Fold in step `step` (1-based); a balance event record when the paused side changes.
        `measure()` gives D's error on the batch just trained on (the scheduled rule's reading)."""
        before = self.pause
        if self.config.balance_schedule == "running":
            error = float(parallel.mean(self.d_error(real_logits, fake_logits)))  # per-step sync
            self.running.update(error)
        elif self.scheduled.due(step):
            self.scheduled.update(measure())
        return None if self.pause == before else {"paused": self.pause, "d_error": self.error}

    def state_dict(self) -> dict:
        return {**self.running.state_dict(), "scheduled": self.scheduled.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.running.load_state_dict(state)
        if "scheduled" in state:
            self.scheduled.load_state_dict(state["scheduled"])


@torch.no_grad()
def measure_error(D: torch.nn.Module, G: torch.nn.Module, real: Tensor, y: Tensor | None,
                  config: TrainConfig) -> float:
    """D's error on the batch just trained on, D in eval mode (no dropout), two fresh noise draws."""
    B, metric = len(real), config.balance_metric
    z1, z2 = (sample_latents(B, config.z_dim, config.z_prior, real.device) for _ in "12")
    was_training = D.training
    D.eval()
    try:
        real_logits, fake1, fake2 = D(real, y), D(G(z1, y), y), D(G(z2, y), y)
    finally:
        D.train(was_training)
    if metric == "cgan":
        return float(parallel.mean(torch.tensor(cgan_balance_error(real_logits, fake1, fake2))))
    return float(parallel.mean(0.5 * d_bce(real_logits, fake1)))


@dataclass
class ScheduledBalance:
    """The cgan write-up's rule, measured on a schedule, not as a running average.

    Every `every` steps (after the step, on the batch just trained on, dropout off, fresh noise), the
    write-up computes overall_error (losses.cgan_balance_error) and sets, until the next
    measurement:

        optimise_generator = overall_error < high     # strict: at exactly `high` G pauses
        optimise_detector  = low < overall_error      # strict: at exactly `low` D pauses

    Both start True. Since low < high, at least one side always trains. balance.AdaptiveBalance
    (per-step EMA of 0.5 * (CE_real + CE_fake), non-strict bounds) is minigan's own variant.
    """

    every: int = 100
    low: float = 0.3
    high: float = 0.8
    train_d: bool = True
    train_g: bool = True
    error: float | None = None  # the last measured overall_error

    def due(self, step: int) -> bool:
        """True after step `step` (1-based count of finished steps) when a measurement is due."""
        return step % self.every == 0

    def update(self, overall_error: float) -> tuple[bool, bool]:
        """Fold one measurement in; returns (train_d, train_g) for the steps until the next one.

        A NaN error is the write-up's "Aborting on NAN Detected": raise, let the loop decide."""
        if math.isnan(overall_error):
            raise FloatingPointError("balance error is NaN (the write-up aborts here)")
        self.error = overall_error
        self.train_g = overall_error < self.high
        self.train_d = self.low < overall_error
        return self.train_d, self.train_g

    def state_dict(self) -> dict:
        return {"train_d": self.train_d, "train_g": self.train_g, "error": self.error}

    def load_state_dict(self, state: dict) -> None:
        self.train_d, self.train_g, self.error = state["train_d"], state["train_g"], state["error"]
