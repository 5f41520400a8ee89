"""What the loop hands to reporting and evaluation: a frozen copy of the generator, never the loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import TrainConfig
from ..models import one_hot
from ..sampling import TrainedGenerator, sample_latents


@dataclass(frozen=True)
class Snapshot:
    config: TrainConfig
    step: int
    elapsed: float  # seconds of training so far (evaluation not counted)
    generator: TrainedGenerator  # a copy of the sampling generator (the EMA one when there is one)
    fixed_images: np.ndarray  # uint8 (grid_size**2, S, S): the fixed progress noise rendered


def progress_images(generator: TrainedGenerator, fixed_z: torch.Tensor, fixed_y: torch.Tensor | None,
                    step: int) -> torch.Tensor:
    """uint8 (N, S, S): the progress grid's pictures, as the config asks.

    Default: the fixed noise through the generator in eval mode. `progress_noise="fresh"` draws new
    noise each time (seeded by the step, so it is reproducible), `progress_mode="train"` runs the
    generator in train mode (batch statistics, dropout on, as the dcgan write-up's `training=True`)
    on `progress_batch` samples at once and shows the first N. The generator is the snapshot's own
    copy and the training run's random streams are restored afterwards.
    """
    config = generator.config
    shown = len(fixed_z)
    if config.progress_noise == "fixed" and config.progress_mode == "eval" and not config.progress_batch:
        return generator.generate(fixed_z, fixed_y)
    total = max(config.progress_batch, shown)
    with torch.random.fork_rng(devices=[generator.device] if generator.device.type == "cuda" else []):
        rng = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        extra = sample_latents(total, config.z_dim, config.z_prior, generator=rng)
        z = extra if config.progress_noise == "fresh" else torch.cat([fixed_z, extra[shown:]])
        y = None
        if config.conditional:
            y = one_hot(torch.arange(total) % config.grid_size % config.num_classes, config.num_classes)
        generator.module.train(config.progress_mode == "train")
        try:
            images = generator.generate(z, y)
        finally:
            generator.module.eval()
    return images[:shown]
