"""The cgan write-up's balance rule: measured on a schedule, not as a running average.

Every `every` steps (after the step, on the batch just trained on, dropout off, fresh noise), the
write-up computes overall_error (losses_literal.cgan_balance_error) and sets, until the next
measurement:

    optimise_generator = overall_error < high     # strict: at exactly `high` G pauses
    optimise_detector  = low < overall_error      # strict: at exactly `low` D pauses

Both start True. Since low < high, at least one side always trains. balance.AdaptiveBalance
(per-step EMA of 0.5 * (CE_real + CE_fake), non-strict bounds) is minigan's own variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class ScheduledBalance:
    every: int = 100
    low: float = 0.3
    high: float = 0.8
    train_d: bool = True
    train_g: bool = True
    error: float | None = None  # the last measured overall_error

    def __post_init__(self) -> None:
        if self.every <= 0 or not self.low < self.high:
            raise ValueError(f"ScheduledBalance needs every > 0 and low < high, got {self.every}, "
                             f"{self.low}, {self.high}")

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
