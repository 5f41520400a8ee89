"""What a run tells its user: stats records, warnings, pictures, TensorBoard, metric curves.

It receives records and snapshots from the loop and writes into the run folder; it never reads
the loop's state.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from PIL import Image
from tqdm import tqdm

from .. import visual
from ..config import TrainConfig
from ..run.folder import RunFolder
from ..sampling import explore
from .snapshot import Snapshot

GRID_SCALE = 2  # 28-pixel digits are too small to read on today's screens
LOG_FILE_REFRESH_S = 30.0  # progress bar refresh when stderr is a file, not a terminal


def progress_bar(total: int | None, initial: int, time_budget: float | None, elapsed: float,
                 enabled: bool) -> tqdm:
    """Steps when the budget is in steps, seconds when it is time; throttled in a log file."""
    interactive = sys.stderr.isatty()
    common = dict(disable=not enabled, dynamic_ncols=True,
                  mininterval=0.1 if interactive else LOG_FILE_REFRESH_S)
    if total is None and time_budget is not None:
        seconds_format = "{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]"
        return tqdm(total=round(time_budget), initial=min(round(elapsed), round(time_budget)),
                    unit="s", bar_format=seconds_format, **common)
    return tqdm(total=total, initial=initial, unit="step", **common)


class RunReporter:
    def __init__(self, run: RunFolder, config: TrainConfig, show_progress: bool) -> None:
        self.run, self.config, self.show_progress = run, config, show_progress
        self.tensorboard = None
        if config.tensorboard:
            try:  # optional integration: only when tensorboard is installed
                from torch.utils.tensorboard import SummaryWriter

                self.tensorboard = SummaryWriter(str(run.path / "tensorboard"))
            except ImportError:
                self.say("warning: --tensorboard needs `pip install minigan[tensorboard]`; not writing it")

    def say(self, message: str) -> None:
        tqdm.write(f"minigan: {message}")

    def event(self, step: int, event: str, **fields) -> None:
        self.run.append(self.run.events_path, {"step": step, "event": event, **fields})

    def record(self, record: dict, warnings: list[str], bar: tqdm | None) -> None:
        self.run.append(self.run.stats_path, record)
        if bar is not None:
            bar.set_postfix(d=f"{record['loss_d']:.3f}", g=f"{record['loss_g']:.3f}",
                            img_s=f"{record['img_per_s']:.0f}", refresh=False)
        for warning in warnings:
            self.warn(warning, record["step"])
        if self.tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(key, value, record["step"])

    def warn(self, message: str, step: int) -> None:
        self.say(f"warning: {message}")
        self.event(step, "warning", message=message)

    def progress_grid(self, snapshot: Snapshot, warning: str | None) -> None:
        path = self.run.progress_dir / f"step-{snapshot.step:09d}.png"
        visual.save_grid(snapshot.fixed_images, path, nrow=self.config.grid_size, scale=GRID_SCALE)
        if warning:
            self.warn(warning, snapshot.step)
        if self.tensorboard is not None:
            grid = visual.make_grid(snapshot.fixed_images, nrow=self.config.grid_size)
            self.tensorboard.add_image("fixed_noise", grid[None], snapshot.step)

    def metrics(self, history: list[dict], record: dict, best_fid: float) -> None:
        """One evaluation: metrics.jsonl gets the record, metrics.png the FID curve."""
        self.run.append(self.run.metrics_path, record)
        visual.plot_curves([*history, record], self.run.path / "metrics.png", keys=("fid",))
        if self.tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(f"metrics/{key}", value, record["step"])
        self.say(f"step {record['step']}: FID-MNIST {record['fid']:.2f} (best {best_fid:.2f})")

    def finish(self, snapshot: Snapshot) -> None:
        """Final pictures: sample grid, progress GIF, loss curves, latent or class grid."""
        run, config, generator = self.run, self.config, snapshot.generator
        started = time.perf_counter()
        visual.save_grid(snapshot.fixed_images, run.path / "samples.png", nrow=config.grid_size,
                         scale=GRID_SCALE)
        frames = [np.asarray(Image.open(p)) for p in sorted(run.progress_dir.glob("step-*.png"))]
        if frames:
            visual.save_gif(frames, run.path / "progress.gif", fps=4)
        stats = visual.read_jsonl(run.stats_path) if run.stats_path.is_file() else []
        if stats:
            visual.plot_curves(stats, run.path / "losses.png")
        if config.z_dim == 2:
            label = 0 if config.conditional else None
            latent = explore.latent_grid(generator, size=20, span=3.0, label=label)
            visual.save_grid(latent, run.path / "latent.png", nrow=20, scale=GRID_SCALE)
        if config.conditional:
            visual.save_grid(explore.class_grid(generator, rows=10, seed=config.seed),
                             run.path / "class_grid.png", nrow=10, scale=GRID_SCALE)
        if self.tensorboard is not None:
            self.tensorboard.close()
        seconds = time.perf_counter() - started
        self.say(f"wrote {run.path} (step {snapshot.step}, pictures in {seconds:.1f} s): "
                 "samples.png, losses.png, generator.safetensors, checkpoints/")
