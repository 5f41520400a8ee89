"""The picture commands' defaults: minigan's, and the write-ups' for a run trained with --literal.

`minigan train --literal` reproduces a write-up, so its pictures follow that write-up too; every
other run keeps minigan's defaults, the same for all conditional presets, so their pictures compare.
Only cgan's write-up (seed 004) draws conditional pictures, and those are what it fixes:

    digit clock    noise_data = np.zeros((batch_size, 2)); mplayer ... -fps 60
    interpolation  noise_data = np.random.randn(batch_size, 2) / 2
    amplitudes     target[4] = n / 4. for n in xrange(10): 0 to 2.25 in 10 steps
    class grid     noise: np.random.randn(batch_size, 2) per column: every image its own noise

A default cgan run keeps minigan's choices: its network is not the write-up's, and a default run of
any preset is meant to be compared with the others. Every choice is an argument, so any run can
draw the write-up's pictures (`--noise zero`, `--noise-scale 0.5`, ...).
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import ConfigError

ClockNoise = Literal["zero", "random"]  # zero: every frame from z = 0; random: one draw from --seed
GridNoise = Literal["per-row", "per-image"]  # per-row: a row's digits share a noise vector
CLOCK_NOISE: tuple[str, ...] = typing.get_args(ClockNoise)
GRID_NOISE: tuple[str, ...] = typing.get_args(GridNoise)


@dataclass(frozen=True)
class PictureChoices:
    clock_noise: ClockNoise = "random"
    fps: float = 30  # the clock's frame rate (a GIF plays at most visual.MAX_GIF_FPS)
    noise_scale: float = 1.0  # interpolation noise is latents(rows, seed) * noise_scale
    low: float = 0.0  # the amplitude sweep's first label strength
    high: float = 1.5  # its last
    count: int = 11  # its number of strengths
    grid_noise: GridNoise = "per-row"


MINIGAN = PictureChoices()
WRITE_UPS: dict[str, PictureChoices] = {
    "cgan": PictureChoices(clock_noise="zero", fps=60, noise_scale=0.5, low=0.0, high=2.25, count=10,
                           grid_noise="per-image"),
}


def picture_choices(gen: Any) -> PictureChoices:
    """The write-up's choices for a --literal run of a preset whose write-up draws pictures, else
    minigan's. `gen` is a generator with a `config` (generators without one get minigan's)."""
    config = getattr(gen, "config", None)
    if config is not None and getattr(config, "literal", False):
        return WRITE_UPS.get(config.preset, MINIGAN)
    return MINIGAN


def sweep_amplitudes(gen: Any, low: float | None = None, high: float | None = None,
                     count: int | None = None) -> np.ndarray:
    """(count,) label strengths evenly spaced from low to high; what is not given is the run's."""
    choice = picture_choices(gen)
    low = choice.low if low is None else low
    high = choice.high if high is None else high
    count = choice.count if count is None else count
    for value, name in ((low, "low"), (high, "high")):
        if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ConfigError(f"count must be an integer >= 1, got {count!r}")
    return np.linspace(low, high, count)


__all__ = ["CLOCK_NOISE", "GRID_NOISE", "MINIGAN", "WRITE_UPS", "ClockNoise", "GridNoise",
           "PictureChoices", "picture_choices",
           "sweep_amplitudes"]
