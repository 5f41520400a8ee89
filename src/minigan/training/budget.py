"""Budgets (steps, epochs, seconds: totals for the run, across resumes), the clock that measures
training time, evaluation excluded, and throughput, and the learning-rate decay over the budget."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

from ..config import TrainConfig
from ..config.choices import LrDecay


def target_steps(config: TrainConfig, steps_per_epoch: float) -> int | None:
    """The step the run stops at (None: only a time budget); no budget at all means one epoch."""
    targets = []
    if config.steps is not None:
        targets.append(config.steps)
    if config.epochs is not None:
        targets.append(math.ceil(config.epochs * steps_per_epoch))
    if not targets and config.time_budget is None:
        targets.append(math.ceil(steps_per_epoch))
    return min(targets) if targets else None


class Clock:
    """Seconds of training since the run began (across resumes) and the img/s window."""

    def __init__(self, elapsed: float, step: int) -> None:
        self.base, self.started, self.excluded_s = elapsed, time.monotonic(), 0.0
        self.restart_window(step)

    def elapsed(self) -> float:
        return self.base + time.monotonic() - self.started - self.excluded_s

    @contextlib.contextmanager
    def excluded(self) -> Iterator[None]:
        """Time spent inside (evaluation) does not count toward the run's time budget."""
        began = time.monotonic()
        try:
            yield
        finally:
            self.excluded_s += time.monotonic() - began

    def restart_window(self, step: int) -> None:
        self.window_start, self.window_step = time.perf_counter(), step

    def take_window(self, step: int) -> tuple[float, int]:
        """(seconds, steps) since the window began; a new window begins now."""
        seconds, steps = time.perf_counter() - self.window_start, step - self.window_step
        self.restart_window(step)
        return seconds, steps


def budget_reached(config: TrainConfig, step: int, target: int | None, clock: Clock) -> bool:
    if target is not None and step >= target:
        return True
    return config.time_budget is not None and clock.elapsed() >= config.time_budget


def budget_fraction(config: TrainConfig, step: int, target: int | None, clock: Clock) -> float:
    """How much of the budget is spent, 0 to 1: the larger share where both steps and seconds are set."""
    spent = step / target if target else 0.0
    if config.time_budget is not None:
        spent = max(spent, clock.elapsed() / config.time_budget)
    return min(spent, 1.0)


def lr_decay_factor(decay: LrDecay, end: float, fraction: float) -> float:
    """The learning rates' multiplier after `fraction` of the budget: 1 at the start, `end` at the end."""
    if decay == "none":
        return 1.0
    shape = 1.0 - fraction if decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * fraction))
    return end + (1.0 - end) * shape
