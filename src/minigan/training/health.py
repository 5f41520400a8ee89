"""Training health: non-finite values, a saturated discriminator, samples that stopped varying."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

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
