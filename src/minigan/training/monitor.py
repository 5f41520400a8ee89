"""Watching a run: budgets and the clock (steps, epochs, seconds, across resumes; evaluation not
counted), the learning-rate decay over the budget, per-step statistics summed on the device and read
once per log interval, and health warnings (non-finite values, a saturated D, collapsed samples).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

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


def grad_norm(module: nn.Module) -> float | None:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return None
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


class StepStats:
    """Sums of loss_d, loss_g, D's belief on real and on fake samples, D's gradient penalty (on the
    steps that had one), then the config's other loss terms (`terms`, on the steps that had each);
    paused steps per side."""

    def __init__(self, device: torch.device, terms: tuple[str, ...] = ()) -> None:
        self.terms = terms
        self.sums = torch.zeros(5 + len(terms), device=device)
        self._zero = torch.zeros((), device=device)  # reused: no allocation on the hot path
        self.reset()

    def add(self, loss_d: torch.Tensor, loss_g: torch.Tensor, real_belief: torch.Tensor,
            fake_belief: torch.Tensor, paused: str, penalty: torch.Tensor | None = None,
            terms: dict[str, torch.Tensor] | None = None) -> None:
        terms = terms or {}
        if penalty is not None:
            self.penalised += 1
        for name in terms:
            self.term_steps[name] += 1
        extra = [terms.get(name, self._zero) for name in self.terms]
        self.sums += torch.stack([loss_d, loss_g, real_belief, fake_belief,
                                  self._zero if penalty is None else penalty.detach(), *extra])
        self.count += 1
        if paused in self.paused:
            self.paused[paused] += 1

    def reset(self) -> None:
        self.sums.zero_()
        self.count = self.penalised = 0
        self.term_steps = dict.fromkeys(self.terms, 0)
        self.paused = {"d": 0, "g": 0}

    def record(self, *, step: int, epoch: float, seconds: float, steps: int, images_per_step: int,
               elapsed: float, lr_scale: float, G: nn.Module, D: nn.Module,
               balance_error: float | None) -> dict | None:
        """One stats.jsonl record (and a reset), or None when a sum is NaN/inf."""
        sums = self.sums.tolist()
        means = [v / max(self.count, 1) for v in sums[:4]]
        penalty = sums[4] / self.penalised if self.penalised else None
        terms = {name: sums[5 + k] / self.term_steps[name]
                 for k, name in enumerate(self.terms) if self.term_steps[name]}
        paused = dict(self.paused)
        self.reset()
        if not all(math.isfinite(v) for v in sums):
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
        record.update(terms)  # each a mean over the steps that had it
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


SATURATED_REAL = 0.99  # mean D(x) above this ...
SATURATED_FAKE = 0.01  # ... with mean D(G(z)) below this: D wins outright, G's gradient vanishes
COLLAPSE_STD = 4.0  # per-pixel std across fixed-noise samples (0..255 scale) below this: collapse
PENALTY_DOMINATES = 10.0  # a gradient penalty this many times D's own loss: D learns little else
AUGMENT_GAP = 0.2  # D's belief on augmented vs plain reals further apart than this: it tells them apart


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """One device reduction over many tensors: True when none holds NaN or inf."""
    tensors = [t.detach() for t in tensors]
    if not tensors:
        return True
    norms = torch._foreach_norm(tensors)
    return bool(torch.isfinite(torch.stack(norms)).all())


class HealthMonitor:
    """Turns stats records and sample grids into plain-words warnings, once per episode: a warning
    is given when its condition starts, and again only after it has ended and come back."""

    def __init__(self, loss_saturates: bool = True) -> None:
        self.loss_saturates = loss_saturates  # only then do D(x) -> 1, D(G(z)) -> 0 starve G
        self.active: set[str] = set()  # the conditions that hold now

    def _episode(self, name: str, now: bool, message: Callable[[], str]) -> str | None:
        started = now and name not in self.active
        (self.active.add if now else self.active.discard)(name)
        return message() if started else None

    def check_record(self, record: dict) -> list[str]:
        """Warnings for one stats record (each only when its condition starts)."""
        step, loss = record["step"], record.get("loss_d")
        real, fake = record.get("d_real"), record.get("d_fake")
        penalty, plain = record.get("loss_penalty"), record.get("d_real_plain")
        found = (
            self._episode("saturated", self.loss_saturates and real is not None and fake is not None
                          and real > SATURATED_REAL and fake < SATURATED_FAKE, lambda: (
                f"D has saturated at step {step} (D(x)={real:.3f}, D(G(z))={fake:.3f}): G gets almost "
                "no gradient. Try --r1-gamma 1 (a gradient penalty), --augment translation,cutout, "
                "--g-loss nonsaturating, a lower --lr-d, or --balance")),
            self._episode("dominated", penalty is not None
                          and penalty > PENALTY_DOMINATES * max(abs(loss), 1e-3), lambda: (
                f"the gradient penalty dominates D's loss at step {step} (penalty {penalty:.3g} vs loss "
                f"{loss:.3g}): D learns little but smoothness. Try a lower --gp-lambda or --r1-gamma")),
            self._episode("leaking", plain is not None and abs(real - plain) > AUGMENT_GAP, lambda: (
                f"D judges augmented and plain real images differently at step {step} (D(T(x))={real:.3f}, "
                f"D(x)={plain:.3f}): the augmentation may leak into samples. Try a lower --augment-p, "
                "or --ada-target 0.6 to adapt it")),
        )
        return [message for message in found if message]

    def check_samples(self, images: np.ndarray, step: int) -> str | None:
        """images: uint8 (N, 28, 28) from the fixed noise."""
        spread = float(images.astype(np.float32).std(axis=0).mean())
        return self._episode("collapsed", spread < COLLAPSE_STD, lambda: (
            f"the fixed-noise samples stopped varying at step {step} (pixel std across samples "
            f"{spread:.1f}/255): mode collapse. Resume from an earlier checkpoint with a lower "
            "learning rate, or try --balance"))
