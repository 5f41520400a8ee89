"""Pictures from a trained generator: class grids, interpolations, a digit clock, label-strength
sweeps and the 2-D latent manifold.

Every function is pure over a generator object (see ``GeneratorLike``) and reproducible from its
seed; each returns uint8 images and has a ``save_*`` twin that writes the file.
Image batches are row-major: ``images[r * ncol + c]`` is row r, column c of the saved grid.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from .. import visual
from ..config.limits import MAX_STRIP
from ..errors import ConfigError
from ..models import one_hot
from .choices import GRID_NOISE, MINIGAN, GridNoise, picture_choices, sweep_amplitudes
from .mixing import ease_cosine as ease_cosine  # re-exported: explore.ease_cosine
from .mixing import lerp, slerp

DEFAULT_AMPLITUDES = tuple(np.linspace(MINIGAN.low, MINIGAN.high, MINIGAN.count).tolist())
_CHUNK = 512  # images per generate() call: bounds memory for 600-frame clocks and big grids


class GeneratorLike(Protocol):
    """What ``minigan.sampling.load_generator`` returns."""

    z_dim: int
    num_classes: int  # 0 when unconditional
    conditional: bool

    def latents(self, num: int, seed: int) -> torch.Tensor: ...  # (num, z_dim)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """-> uint8 (B, H, W) on CPU; labels: None, int64 (B,) or float (B, num_classes)."""
        ...


# ---- helpers -------------------------------------------------------------------------------


def _generate(gen: GeneratorLike, z: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
    """Decode in chunks -> uint8 (B, H, W)."""
    parts = []
    for i in range(0, z.shape[0], _CHUNK):
        chunk = None if labels is None else labels[i : i + _CHUNK]
        parts.append(torch.as_tensor(gen.generate(z[i : i + _CHUNK], chunk)).cpu())
    images = torch.cat(parts).numpy()
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[0] != z.shape[0]:
        raise TypeError(
            f"generate() must return uint8 (B, H, W), got {images.dtype} {images.shape}"
        )
    return images


def _require_conditional(gen: GeneratorLike, what: str) -> None:
    if not gen.conditional:
        raise ConfigError(
            f"{what} needs a class-conditional generator and this one is unconditional; "
            "use interpolate with seeds or latent_grid instead"
        )


def _check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _check_scale(value: Any, name: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_digit(gen: GeneratorLike, digit: Any, name: str = "digit") -> int:
    return _check_int(digit, name, 0, gen.num_classes - 1)


def _one_hot(digits: Sequence[int], num_classes: int, device: torch.device) -> torch.Tensor:
    """(N,) class ids -> float32 (N, num_classes) on `device`."""
    return one_hot(torch.as_tensor(list(digits), dtype=torch.long), num_classes).to(device)


def _grid_batch(z: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """z (R, D), labels (C, ...) -> all (row, column) pairs, row-major: (R*C, D), (R*C, ...)."""
    rows, cols = z.shape[0], labels.shape[0]
    return z.repeat_interleave(cols, dim=0), labels.repeat(rows, *([1] * (labels.dim() - 1)))


# ---- pictures ------------------------------------------------------------------------------


def class_grid(gen: GeneratorLike, rows: int = 10, seed: int = 0, noise: GridNoise | None = None
               ) -> np.ndarray:
    """uint8 (rows * num_classes, H, W): column c shows class c.

    noise "per-row": each row keeps one noise vector (the same style across classes); "per-image":
    every image its own, as cgan's write-up draws it. None: the run's choice (``picture_choices``).
    """
    _require_conditional(gen, "class_grid")
    rows = _check_int(rows, "rows", 1, MAX_STRIP)
    noise = _check_choice(noise or picture_choices(gen).grid_noise, "noise", GRID_NOISE)
    labels = torch.arange(gen.num_classes)
    if noise == "per-image":
        z = gen.latents(rows * gen.num_classes, seed)  # row-major: image (r, c) is z[r * C + c]
        return _generate(gen, z, labels.to(z.device).repeat(rows))
    z = gen.latents(rows, seed)
    return _generate(gen, *_grid_batch(z, labels.to(z.device)))


def sample_digits(gen: GeneratorLike, digits: Sequence[int], seed: int = 0) -> np.ndarray:
    """uint8 (len(digits), H, W): one sample of each requested class, noise from ``seed``."""
    _require_conditional(gen, "sample_digits")
    digits = [_check_digit(gen, d) for d in digits]
    if not digits:
        raise ConfigError("sample_digits needs at least one digit, e.g. digits=[3, 1, 4]")
    z = gen.latents(len(digits), seed)
    return _generate(gen, z, torch.as_tensor(digits, dtype=torch.long, device=z.device))


def interpolate(
    gen: GeneratorLike,
    *,
    start: int,
    end: int,
    steps: int = 10,
    method: Literal["linear", "slerp"] = "linear",
    seed: int = 0,
    rows: int = 1,
    noise_scale: float | None = None,
) -> np.ndarray:
    """uint8 (rows * steps, H, W), each row going from ``start`` to ``end``.

    Conditional: start/end are classes; the one-hot label vectors are interpolated with the noise
    held fixed (one noise per row, from ``seed``). Unconditional: start/end are seeds, and the row
    goes from ``latents(1, start)`` to ``latents(1, end)``; ``seed`` and ``rows`` do not apply.
    The noise is multiplied by ``noise_scale`` (cgan's write-up: 0.5, nearer the prior's centre);
    None: the run's choice (``picture_choices``).
    """
    steps = _check_int(steps, "steps", 2, MAX_STRIP)
    rows = _check_int(rows, "rows", 1, MAX_STRIP)
    if noise_scale is None:
        noise_scale = picture_choices(gen).noise_scale
    noise_scale = _check_scale(noise_scale, "noise_scale")
    if method not in ("linear", "slerp"):
        raise ConfigError(f"method must be 'linear' or 'slerp', got {method!r}")
    mix = lerp if method == "linear" else slerp
    t = torch.linspace(0, 1, steps)
    if gen.conditional:
        start, end = _check_digit(gen, start, "start"), _check_digit(gen, end, "end")
        z = gen.latents(rows, seed) * noise_scale
        ends = _one_hot([start, end], gen.num_classes, z.device)
        return _generate(gen, *_grid_batch(z, mix(ends[0], ends[1], t.to(z.device))))
    if rows != 1:
        raise ConfigError("rows applies to conditional generators; call again with other seeds")
    start, end = _check_int(start, "start seed", 0), _check_int(end, "end seed", 0)
    z0, z1 = gen.latents(1, start)[0] * noise_scale, gen.latents(1, end)[0] * noise_scale
    return _generate(gen, mix(z0, z1, t.to(z0.device)), None)


def _digit_list(gen: GeneratorLike, digits: Iterable[int]) -> list[int]:
    out = [_check_digit(gen, d) for d in digits]
    if not out:
        raise ConfigError("digits must not be empty, e.g. digits=range(10)")
    return out


def amplitude_sweep(
    gen: GeneratorLike,
    digit: int,
    *,
    amplitudes: Sequence[float] | np.ndarray | None = None,
    low: float | None = None,
    high: float | None = None,
    count: int | None = None,
    rows: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """uint8 (rows * len(amplitudes), H, W): label = a * one_hot(digit), a along each row.

    Shows what the generator makes of "no class" (a = 0) and of an over-strong label (a > 1).
    The strengths are ``amplitudes``, or ``count`` evenly spaced from ``low`` to ``high``; what is
    not given is the run's choice (``picture_choices``: 0 to 1.5 in 11, or cgan's write-up's n / 4
    for n in 0..9 for a --literal cgan run).
    """
    _require_conditional(gen, "amplitude_sweep")
    digit = _check_digit(gen, digit)
    rows = _check_int(rows, "rows", 1, MAX_STRIP)
    if amplitudes is not None and (low, high, count) != (None, None, None):
        raise ConfigError("give either amplitudes or low/high/count, not both")
    if amplitudes is None:
        amplitudes = sweep_amplitudes(gen, low, high, count)
    amps = np.asarray(amplitudes, dtype=np.float64)
    if amps.ndim != 1 or amps.size == 0 or not np.isfinite(amps).all():
        raise ConfigError(
            f"amplitudes must be a non-empty list of finite numbers, got {amplitudes!r}"
        )
    z = gen.latents(rows, seed)
    onehot = _one_hot([digit], gen.num_classes, z.device)[0]
    labels = torch.as_tensor(amps, dtype=torch.float32, device=z.device)[:, None] * onehot
    return _generate(gen, *_grid_batch(z, labels))


def latent_grid(
    gen: GeneratorLike, *, size: int = 20, span: float = 3.0, label: int | None = None
) -> np.ndarray:
    """uint8 (size * size, H, W) decoding z over [-span, span]^2 for a 2-D latent space.

    Column j has z[0] = x_j (left = -span), row i has z[1] = y_i (top = +span), like a plot.
    """
    if gen.z_dim != 2:
        raise ConfigError(f"latent_grid needs z_dim == 2, this generator has z_dim={gen.z_dim}")
    size = _check_int(size, "size", 2)
    if not (isinstance(span, int | float) and math.isfinite(span) and span > 0):
        raise ConfigError(f"span must be a positive number, got {span!r}")
    if gen.conditional and label is None:
        raise ConfigError("this generator is conditional: pass label=<class id> to latent_grid")
    if not gen.conditional and label is not None:
        raise ConfigError("this generator is unconditional: leave label unset")
    axis = torch.linspace(-span, span, size)
    ys, xs = torch.meshgrid(axis.flip(0), axis, indexing="ij")
    z = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)  # (size * size, 2)
    labels = None
    if label is not None:
        labels = torch.full((size * size,), _check_digit(gen, label, "label"), dtype=torch.long)
    return _generate(gen, z, labels)


# ---- files ---------------------------------------------------------------------------------

PathLike = str | os.PathLike[str]


def save_class_grid(
    gen: GeneratorLike, path: PathLike, *, rows: int = 10, seed: int = 0,
    noise: GridNoise | None = None, scale: int = 1,
) -> Path:
    images = class_grid(gen, rows, seed, noise)
    return visual.save_grid(images, path, nrow=gen.num_classes, scale=scale)


def save_digits(
    gen: GeneratorLike,
    path: PathLike,
    digits: Sequence[int],
    *,
    seed: int = 0,
    nrow: int | None = None,
    scale: int = 1,
) -> Path:
    images = sample_digits(gen, digits, seed)
    return visual.save_grid(images, path, nrow=len(images) if nrow is None else nrow, scale=scale)


def save_interpolation(
    gen: GeneratorLike,
    path: PathLike,
    *,
    start: int,
    end: int,
    steps: int = 10,
    method: Literal["linear", "slerp"] = "linear",
    seed: int = 0,
    rows: int = 1,
    noise_scale: float | None = None,
    scale: int = 1,
) -> Path:
    images = interpolate(gen, start=start, end=end, steps=steps, method=method, seed=seed, rows=rows,
                         noise_scale=noise_scale)
    return visual.save_grid(images, path, nrow=steps, scale=scale)


def save_amplitude_sweep(
    gen: GeneratorLike,
    path: PathLike,
    digit: int,
    *,
    amplitudes: Sequence[float] | np.ndarray | None = None,
    low: float | None = None,
    high: float | None = None,
    count: int | None = None,
    rows: int = 5,
    seed: int = 0,
    scale: int = 1,
) -> Path:
    images = amplitude_sweep(gen, digit, amplitudes=amplitudes, low=low, high=high, count=count,
                             rows=rows, seed=seed)
    return visual.save_grid(images, path, nrow=len(images) // rows, scale=scale)


def save_latent_grid(
    gen: GeneratorLike,
    path: PathLike,
    *,
    size: int = 20,
    span: float = 3.0,
    label: int | None = None,
    scale: int = 1,
) -> Path:
    """No padding: the manifold reads as one continuous picture."""
    images = latent_grid(gen, size=size, span=span, label=label)
    return visual.save_grid(images, path, nrow=size, padding=0, scale=scale)
