"""minigan: classic MNIST GAN recipes as presets of one training loop, with measured quality.

The Python API mirrors the CLI, with the same names:

    import minigan
    result = minigan.train("mlp4", out="runs/mlp4", time_budget=300, data_dir="../shared/data/mnist")
    gen = minigan.load_generator(result.run_dir)
    images, labels = gen.sample(10000, seed=0)
    minigan.save_grid(images[:100], "grid.png")
"""

from .config import PRESETS, TrainConfig, get_config, preset_names
from .errors import CheckpointError, ConfigError, DataError, MiniganError
from .sampling import TrainedGenerator, load_generator, save_samples
from .train import Trainer, TrainResult, resume, train
from .visual import make_grid, save_gif, save_grid

__version__ = "0.1.0"

__all__ = [
    "PRESETS", "TrainConfig", "get_config", "preset_names",
    "MiniganError", "ConfigError", "DataError", "CheckpointError",
    "TrainedGenerator", "load_generator", "save_samples",
    "Trainer", "TrainResult", "train", "resume",
    "make_grid", "save_grid", "save_gif",
]
