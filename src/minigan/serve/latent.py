"""Latent-space tools for the sliders and morphs: principal directions of G's output, decoding.

The principal directions are the top eigenvectors of the pull-back metric M = E_z[J(z)^T J(z)],
J = d G(z) / d z on pixels scaled to [0, 1]: moving z a unit along eigenvector k changes the
picture by sqrt(eigenvalue k) RMS per pixel on average, the most of any direction orthogonal to
the ones before it. Unlike PCA of the images, these are directions *in z*, so a slider moves one
sample. Computed once per loaded generator (forward-mode Jacobians of a fixed batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch.func import jacfwd, vmap

from minigan import explore

from .params import MAX_DIRECTIONS

DIRECTION_SAMPLES = 16  # latents the metric averages over (z_dim forward passes each)
DIRECTION_SEED = 0


def label_vectors(gen, digits: torch.Tensor | None, batch: int) -> torch.Tensor | None:
    """(B,) class ids -> (B, C) one-hot on G's device; None for unconditional generators."""
    if not gen.conditional:
        return None
    if digits is None:
        digits = torch.arange(batch) % gen.num_classes
    return torch.nn.functional.one_hot(digits.long(), gen.num_classes).float().to(gen.device)


def pixels_01(gen, raw: torch.Tensor) -> torch.Tensor:
    """G's raw output (B, 1, S, S) in config.pixel_range -> (B, 28, 28) floats in [0, 1] (centre crop)."""
    low, high = gen.config.pixel_range
    offset = (raw.shape[-1] - 28) // 2
    raw = raw[..., offset:offset + 28, offset:offset + 28] if offset else raw
    return (raw[:, 0] - low) / (high - low)


def principal_directions(gen, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(count, z_dim) unit directions, strongest first, and (count,) RMS pixel change per unit."""
    z = gen.latents(DIRECTION_SAMPLES, DIRECTION_SEED).to(gen.device)
    y = label_vectors(gen, None, DIRECTION_SAMPLES)

    def one(z1: torch.Tensor, y1: torch.Tensor | None) -> torch.Tensor:
        return pixels_01(gen, gen.module(z1[None], None if y1 is None else y1[None])).reshape(-1)

    with torch.no_grad():
        if y is None:
            jac = vmap(jacfwd(lambda z1: one(z1, None)))(z)  # (B, P, z_dim)
        else:
            jac = vmap(jacfwd(one))(z, y)
    metric = torch.einsum("bpi,bpj->ij", jac.double(), jac.double()) / (DIRECTION_SAMPLES * jac.shape[1])
    values, vectors = torch.linalg.eigh(metric)  # ascending
    order = torch.argsort(values, descending=True)[:count]
    return vectors[:, order].T.float().cpu(), values[order].clamp_min(0).sqrt().float().cpu()


def direction_count(gen) -> int:
    return min(MAX_DIRECTIONS, gen.z_dim)


def cached_directions(entry, gen) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's directions for its current generator (the entry drops them on reload)."""
    if "directions" not in entry.derived:
        entry.derived["directions"] = principal_directions(gen, direction_count(gen))
    return entry.derived["directions"]


def decode(gen, z: torch.Tensor, digit: int | None) -> np.ndarray:
    """z (B, z_dim) [+ one class for all] -> uint8 (B, 28, 28)."""
    labels = None if digit is None else torch.full((z.shape[0],), digit, dtype=torch.long)
    return gen.generate(z, labels).numpy()


def moved(gen, entry, seed: int, move: Sequence[float]) -> torch.Tensor:
    """latents(1, seed) + sum_k move[k] * direction_k -> (1, z_dim)."""
    z = gen.latents(1, seed)
    if move:
        directions, _ = cached_directions(entry, gen)
        z = z + torch.as_tensor(move, dtype=z.dtype) @ directions[: len(move)]
    return z


def atlas(gen, entry, seed: int, digit: int | None, span: float, columns: int) -> np.ndarray:
    """uint8 (count * columns, 28, 28): row k walks latents(1, seed) along direction k over [-span, span]."""
    directions, _ = cached_directions(entry, gen)
    offsets = torch.linspace(-span, span, columns)
    z = gen.latents(1, seed) + (offsets[None, :, None] * directions[:, None, :]).reshape(-1, gen.z_dim)
    return decode(gen, z, digit)


def morph(gen, start: torch.Tensor, end: torch.Tensor, steps: int, method: Literal["linear", "slerp"],
          start_digit: int | None, end_digit: int | None) -> np.ndarray:
    """uint8 (steps, 28, 28) from latent `start` to `end` (z_dim,); conditional runs blend the labels too."""
    mix = explore.lerp if method == "linear" else explore.slerp
    t = torch.linspace(0, 1, steps)
    z = mix(start, end, t)  # (steps, z_dim)
    labels = None
    if gen.conditional:
        eye = torch.eye(gen.num_classes)
        labels = explore.lerp(eye[start_digit], eye[end_digit], t)  # (steps, C): soft labels on the way
    return gen.generate(z, labels).numpy()
