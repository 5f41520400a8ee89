"""Adaptive balance: pause whichever side is winning until the other catches up.

The running D error is an EMA of the mean of D's real and fake cross-entropies (0.69 when D
guesses). Below `low` D is winning and its updates pause; above `high` G is winning and its
updates pause; in between both train. This is the rule of the original conditional recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


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
