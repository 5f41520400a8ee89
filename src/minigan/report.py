"""What a run tells its user: stats records, warnings, pictures, TensorBoard, evaluations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm import tqdm

from . import visual
from .config import TrainConfig
from .runfolder import RunFolder

if TYPE_CHECKING:
    from .train import Trainer


GRID_SCALE = 2  # 28-pixel digits are too small to read on today's screens


class RunReporter:
    def __init__(self, run: RunFolder, config: TrainConfig, show_progress: bool) -> None:
        self.run, self.config, self.show_progress = run, config, show_progress
        self.tensorboard = None
        if config.tensorboard:
            try:  # optional integration: only when tensorboard is installed
                from torch.utils.tensorboard import SummaryWriter

                self.tensorboard = SummaryWriter(str(run.path / "tensorboard"))
            except ImportError:
                self.tensorboard = None

    def say(self, message: str) -> None:
        tqdm.write(f"minigan: {message}")

    def record(self, record: dict, warning: str | None, bar) -> None:
        self.run.append(self.run.stats_path, record)
        if bar is not None:
            bar.set_postfix(d=f"{record['loss_d']:.3f}", g=f"{record['loss_g']:.3f}",
                            img_s=f"{record['img_per_s']:.0f}", refresh=False)
        if warning:
            self.warn(warning, record["step"])
        if self.tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(key, value, record["step"])

    def warn(self, message: str, step: int) -> None:
        self.say(f"warning: {message}")
        self.run.append(self.run.events_path, {"step": step, "event": "warning", "message": message})

    def progress_grid(self, images: np.ndarray, step: int, warning: str | None) -> None:
        path = self.run.progress_dir / f"step-{step:09d}.png"
        visual.save_grid(images, path, nrow=self.config.grid_size, scale=GRID_SCALE)
        if warning:
            self.warn(warning, step)
        if self.tensorboard is not None:
            grid = visual.make_grid(images, nrow=self.config.grid_size)
            self.tensorboard.add_image("fixed_noise", grid[None], step)

    def evaluate(self, trainer: Trainer) -> None:
        from .training_eval import evaluate_during_training

        evaluate_during_training(trainer, self)

    def finish(self, trainer: Trainer) -> None:
        """Final pictures: sample grid, progress GIF, loss curves, latent or class grid."""
        from . import explore
        from .sampling import TrainedGenerator

        run, config = self.run, self.config
        images = trainer.generate_fixed()
        visual.save_grid(images, run.path / "samples.png", nrow=config.grid_size, scale=GRID_SCALE)
        frames = [np.asarray(Image.open(p)) for p in sorted(run.progress_dir.glob("step-*.png"))]
        if frames:
            visual.save_gif(frames, run.path / "progress.gif", fps=4)
        stats = visual.read_jsonl(run.stats_path) if run.stats_path.is_file() else []
        if stats:
            visual.plot_curves(stats, run.path / "losses.png")
        generator = TrainedGenerator(config, trainer.sampling_G.state_dict(), trainer.device, trainer.step)
        if config.z_dim == 2:
            label = 0 if config.conditional else None
            latent = explore.latent_grid(generator, size=20, span=3.0, label=label)
            visual.save_grid(latent, run.path / "latent.png", nrow=20, scale=GRID_SCALE)
        if config.conditional:
            visual.save_grid(explore.class_grid(generator, rows=10, seed=config.seed),
                             run.path / "class_grid.png", nrow=10, scale=GRID_SCALE)
        if self.tensorboard is not None:
            self.tensorboard.close()
        self.say(f"wrote {run.path} (step {trainer.step}): samples.png, losses.png, "
                 f"generator.safetensors, checkpoints/")

