"""Training health: non-finite values, a saturated discriminator, samples that stopped varying."""

from __future__ import annotations

from collections.abc import Iterable

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
    """Turns stats records and sample grids into plain-words warnings, once per episode."""

    def __init__(self, loss_saturates: bool = True) -> None:
        self.loss_saturates = loss_saturates  # only then do D(x) -> 1, D(G(z)) -> 0 starve G
        self.saturated = False
        self.collapsed = False
        self.dominated = False
        self.leaking = False

    def check_record(self, record: dict) -> list[str]:
        """Warnings for one stats record (each only when its condition starts)."""
        found = (self._saturation(record), self._penalty_dominates(record), self._augment_leaks(record))
        return [message for message in found if message]

    def _penalty_dominates(self, record: dict) -> str | None:
        penalty = record.get("loss_penalty")
        now = penalty is not None and penalty > PENALTY_DOMINATES * max(abs(record["loss_d"]), 1e-3)
        message = None
        if now and not self.dominated:
            message = (f"the gradient penalty dominates D's loss at step {record['step']} (penalty "
                       f"{penalty:.3g} vs loss {record['loss_d']:.3g}): D learns little but smoothness. "
                       "Try a lower --gp-lambda or --r1-gamma")
        self.dominated = now
        return message

    def _augment_leaks(self, record: dict) -> str | None:
        plain, shown = record.get("d_real_plain"), record.get("d_real")
        now = plain is not None and abs(shown - plain) > AUGMENT_GAP
        message = None
        if now and not self.leaking:
            message = (f"D judges augmented and plain real images differently at step {record['step']} "
                       f"(D(T(x))={shown:.3f}, D(x)={plain:.3f}): the augmentation may leak into samples. "
                       "Try a lower --augment-p, or --ada-target 0.6 to adapt it")
        self.leaking = now
        return message

    def _saturation(self, record: dict) -> str | None:
        real, fake = record.get("d_real"), record.get("d_fake")
        if not self.loss_saturates or real is None or fake is None:
            return None
        now = real > SATURATED_REAL and fake < SATURATED_FAKE
        message = None
        if now and not self.saturated:
            message = (
                f"D has saturated at step {record['step']} (D(x)={real:.3f}, D(G(z))={fake:.3f}): "
                "G gets almost no gradient. Try --r1-gamma 1 (a gradient penalty), --augment "
                "translation,cutout, --g-loss nonsaturating, a lower --lr-d, or --balance"
            )
        self.saturated = now
        return message

    def check_samples(self, images: np.ndarray, step: int) -> str | None:
        """images: uint8 (N, 28, 28) from the fixed noise."""
        spread = float(images.astype(np.float32).std(axis=0).mean())
        now = spread < COLLAPSE_STD
        message = None
        if now and not self.collapsed:
            message = (
                f"the fixed-noise samples stopped varying at step {step} (pixel std across samples "
                f"{spread:.1f}/255): mode collapse. Resume from an earlier checkpoint with a lower "
                "learning rate, or try --balance"
            )
        self.collapsed = now
        return message
