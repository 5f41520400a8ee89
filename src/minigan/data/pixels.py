"""Pixel scaling between the uint8 images on disk and the float range a generator works in."""

from __future__ import annotations

import torch

from minigan.errors import ConfigError


def _pixel_range(pixel_range: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in pixel_range)
    if not hi > lo:
        raise ConfigError(f"pixel range {pixel_range} must be (low, high) with low < high")
    return lo, hi


def to_float(images_uint8: torch.Tensor, pixel_range: tuple[float, float]) -> torch.Tensor:
    """Map uint8 0..255 linearly onto float32 `pixel_range`, e.g. (0, 1) or (-1, 1)."""
    if images_uint8.dtype != torch.uint8:
        raise TypeError(f"to_float expects a uint8 tensor, got {images_uint8.dtype}")
    lo, hi = _pixel_range(pixel_range)
    # Dividing (not multiplying by a reciprocal) makes (0, 1) exactly x / 255.
    return images_uint8.to(torch.float32).div_(255.0 / (hi - lo)).add_(lo)


def to_uint8(x: torch.Tensor, pixel_range: tuple[float, float]) -> torch.Tensor:
    """Inverse of `to_float`: clamp to `pixel_range`, round to the nearest of 256 levels."""
    lo, hi = _pixel_range(pixel_range)
    scaled = (x.to(torch.float32) - lo) * (255.0 / (hi - lo))
    return scaled.round_().clamp_(0, 255).nan_to_num_(0.0).to(torch.uint8)
