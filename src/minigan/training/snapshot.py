"""What the loop hands to reporting and evaluation: a frozen copy of the generator, never the loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import TrainConfig
from ..sampling import TrainedGenerator


@dataclass(frozen=True)
class Snapshot:
    config: TrainConfig
    step: int
    elapsed: float  # seconds of training so far (evaluation not counted)
    generator: TrainedGenerator  # a copy of the sampling generator (the EMA one when there is one)
    fixed_images: np.ndarray  # uint8 (grid_size**2, S, S): the fixed progress noise rendered
