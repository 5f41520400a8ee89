"""Pictures of a dataset itself: real images in a grid, one column per class when it has labels.

mlp4's write-up opens with such a figure of real training digits; `minigan data --grid` draws it
for any named dataset or IDX folder, to set beside a run's samples.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .catalog import dataset_info
from .loading import load_dataset


@dataclass(frozen=True)
class RealGrid:
    images: np.ndarray  # uint8 (N, H, W), row-major: images[r * columns + c] is row r, column c
    columns: int
    class_names: tuple[str, ...]  # column c's class by class; () for a set without labels


def real_grid(dataset: str = "mnist", data_dir: str | os.PathLike[str] | None = None, *,
              split: str = "train", num: int = 100, seed: int = 0) -> RealGrid:
    """``num`` images of one split picked at random from ``seed``.

    A labelled set gets one column per class present and ``num // classes`` rows (at least one,
    at most its rarest class's count), each cell a different image of its column's class.
    """
    if not isinstance(num, int) or isinstance(num, bool) or num < 1:
        raise ConfigError(f"num must be a positive integer, got {num!r}")
    data = load_dataset(data_dir, split, dataset=dataset)
    rng = np.random.default_rng(seed)
    if data.labels is None:
        pick = rng.choice(len(data), size=min(num, len(data)), replace=False)
        return RealGrid(data.images.numpy()[pick], math.ceil(math.sqrt(len(pick))), ())
    labels = data.labels.numpy()
    classes, counts = np.unique(labels, return_counts=True)
    rows = min(max(1, num // len(classes)), int(counts.min()))
    columns = [rng.choice(np.flatnonzero(labels == c), size=rows, replace=False) for c in classes]
    pick = np.stack(columns, axis=1).reshape(-1)  # (rows, classes) -> row-major
    names = dataset_info(dataset).class_names if dataset != "idx" else ()
    shown = tuple(names[c] if c < len(names) else str(c) for c in classes)
    return RealGrid(data.images.numpy()[pick], len(classes), shown)


def save_real_grid(path: str | os.PathLike[str], dataset: str = "mnist",
                   data_dir: str | os.PathLike[str] | None = None, *, split: str = "train", num: int = 100,
                   seed: int = 0, scale: int = 1) -> RealGrid:
    """Write ``real_grid(...)`` as a PNG at ``path`` and return what it drew."""
    from .. import visual

    if Path(path).suffix.lower() != ".png":
        raise ConfigError(f"the grid is a PNG: give a path ending in .png, got {str(path)!r}")
    grid = real_grid(dataset, data_dir, split=split, num=num, seed=seed)
    visual.save_grid(grid.images, path, nrow=grid.columns, scale=scale)
    return grid


__all__ = ["RealGrid", "real_grid", "save_real_grid"]
