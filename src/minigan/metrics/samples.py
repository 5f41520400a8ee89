"""Validate what gets scored: uint8 images (N, 28, 28) and optional class labels, in memory or .npz."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from minigan.errors import DataError

MIN_IMAGES = 10


def check_images(images: np.ndarray | torch.Tensor) -> np.ndarray:
    x = images.cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.dtype != np.uint8:
        raise DataError(
            f"images must be uint8 in 0..255, got {x.dtype}; convert with "
            "(x * 255).round().clip(0, 255).astype(np.uint8)"
        )
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise DataError(f"images must have shape (N, 28, 28), got {x.shape}")
    if len(x) < MIN_IMAGES:
        raise DataError(f"need at least {MIN_IMAGES} images to score, got {len(x)}")
    return x


def check_labels(
    labels: np.ndarray | torch.Tensor | None, n: int, num_classes: int = 10
) -> np.ndarray | None:
    if labels is None:
        return None
    y = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"labels must have shape ({n},) to match the images, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= num_classes:
        raise DataError(f"labels must be integers in 0..{num_classes - 1} (got dtype {y.dtype})")
    return y.astype(np.int64)


def load_samples_npz(
    path: str | Path, num: int | None = None, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read and validate a samples file: ``images`` uint8 (N, 28, 28), optional ``labels`` (N,)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"samples file {path} does not exist; write one with `minigan sample`")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} is not a readable .npz samples file ({e})") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataError(f"{path} is a single .npy array, not an .npz with an 'images' key")
    with data:
        if "images" not in data.files:
            raise DataError(
                f"{path} has no 'images' array (keys: {', '.join(data.files) or 'none'})"
            )
        try:
            images = data["images"]
            labels = data["labels"] if "labels" in data.files else None
        except ValueError as e:  # object arrays need pickle
            raise DataError(f"{path} holds arrays that need pickle to load ({e})") from e
    try:
        images = check_images(images)
        labels = check_labels(labels, len(images), 10 if num_classes is None else num_classes)
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    if num is not None:
        if not MIN_IMAGES <= num <= len(images):
            raise DataError(
                f"{path} holds {len(images)} images; ask for {MIN_IMAGES}..{len(images)}"
            )
        images = images[:num]
        labels = None if labels is None else labels[:num]
    return images, labels


def labels_at_frequencies(num: int, frequencies: np.ndarray) -> np.ndarray:
    """(num,) int64 class ids in the given proportions (largest remainder), evenly interleaved:
    the k-th of class c's n_c ids sits at (k + 0.5) / n_c of the way, so any contiguous share (one
    rank's part of the samples) keeps about the same proportions. No randomness."""
    share = np.asarray(frequencies, np.float64) / np.sum(frequencies) * num
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(counts - share, kind="stable")[: num - counts.sum()]] += 1
    classes = np.repeat(np.arange(len(counts)), counts)
    positions = np.concatenate([(np.arange(n) + 0.5) / n for n in counts if n])
    return classes[np.argsort(positions, kind="stable")]
