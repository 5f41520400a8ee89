"""Trained generators: loading, reproducible samples, the .npz format (generator.py), and the tools
that play with them: class grids, interpolation, amplitude sweeps (explore.py), the digit clock
(clock.py)."""

from . import clock, explore
from .generator import (
    TrainedGenerator,
    crop_padding,
    load_generator,
    sample_latents,
    save_generator,
    save_samples,
)

__all__ = ["TrainedGenerator", "crop_padding", "load_generator", "sample_latents", "save_generator",
           "save_samples", "explore", "clock"]
