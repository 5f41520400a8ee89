"""Paths between points: lerp and slerp for labels and noise, and the clock's cosine easing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

Weights = float | Sequence[float] | torch.Tensor  # one t, or (T,) of them


def lerp(a: torch.Tensor, b: torch.Tensor, t: Weights) -> torch.Tensor:
    """(1 - t) a + t b; a, b (..., D), t scalar or (T,) -> a.shape or (T, *a.shape).

    Written as a weighted sum (not a + t (b - a)) so both ends are exact.
    """
    tt = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    tt = tt.reshape(tt.shape + (1,) * a.dim())
    return (1 - tt) * a + tt * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: Weights) -> torch.Tensor:
    """Spherical interpolation along the last dim; shapes as in ``lerp``.

    The angle comes from 2 atan2(|â - b̂|, |â + b̂|), accurate for nearly parallel vectors where
    arccos(â·b̂) is not. Below ~1e-7 rad the weights become lerp's (their limit). Anti-parallel
    vectors have no unique great circle: that case also falls back to lerp (through the origin).
    """
    a64, b64 = a.double(), b.double()
    an = a64 / a64.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    bn = b64 / b64.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    omega = 2 * torch.atan2(
        (an - bn).norm(dim=-1, keepdim=True), (an + bn).norm(dim=-1, keepdim=True)
    )
    sin_omega = torch.sin(omega)
    degenerate = sin_omega < 1e-7
    sin_safe = torch.where(degenerate, torch.ones_like(sin_omega), sin_omega)
    tt = torch.as_tensor(t, dtype=torch.float64, device=a.device)
    tt = tt.reshape(tt.shape + (1,) * a.dim())
    wa = torch.where(degenerate, 1 - tt, torch.sin((1 - tt) * omega) / sin_safe)
    wb = torch.where(degenerate, tt, torch.sin(tt * omega) / sin_safe)
    return (wa * a64 + wb * b64).to(a.dtype)


def ease_cosine(t: torch.Tensor) -> torch.Tensor:
    """(1 - cos(pi t)) / 2: starts and ends at rest, so each digit lingers before it morphs."""
    return (1 - torch.cos(math.pi * t)) / 2
