"""minigan: classic MNIST GAN recipes as presets of one training loop, with measured quality.

The Python API mirrors the CLI, with the same names:

    import minigan
    result = minigan.train("fast", out="runs/fast", time_budget=300)
    gen = minigan.load_generator(result.run_dir)
    images, labels = gen.sample(10000, seed=0)
    minigan.save_grid(images[:100], "grid.png")
    minigan.clock.save_clock(gen, "clock.mp4", noise="zero")      # = minigan clock RUN --noise zero
    print(minigan.format_weights(minigan.weight_table(result.run_dir)))   # = minigan weights RUN
    minigan.save_real_grid("real.png", "mnist")                  # = minigan data --grid real.png
"""

import os as _os

from . import visual
from .config import TrainConfig
from .data.pictures import real_grid, save_real_grid
from .errors import CheckpointError, ConfigError, DataError, MiniganError
from .experiments import compare, sweep
from .presets import PRESETS, Preset, get_config, preset_names
from .run.weights import format_weights, weight_table
from .sampling import TrainedGenerator, clock, explore, load_generator, save_samples
from .training import Trainer, TrainingDiverged, TrainResult, resume, train
from .visual import make_grid, save_gif, save_grid

__version__ = "0.2.0"

if _os.environ.get("MINIGAN_NETWORK_GUARD"):  # the test suite's guard, for the processes it starts
    from .netguard import install as _install_guard

    _install_guard()

__all__ = [
    "PRESETS", "Preset", "TrainConfig", "get_config", "preset_names",
    "MiniganError", "ConfigError", "DataError", "CheckpointError", "TrainingDiverged",
    "TrainedGenerator", "load_generator", "save_samples", "explore", "clock", "visual",
    "weight_table", "format_weights", "real_grid", "save_real_grid",
    "Trainer", "TrainResult", "train", "resume", "sweep", "compare",
    "make_grid", "save_grid", "save_gif",
]
