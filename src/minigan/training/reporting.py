"""What a run tells its user and what it measures: stats records, warnings, pictures, TensorBoard,
metric curves, and the scores of the snapshots the loop hands out (a frozen copy of the generator,
never the loop). In a job of several processes rank 0 writes; the other ranks get a reporter that
says nothing and render their share of every evaluation's samples.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .. import visual
from ..config import TrainConfig
from ..data.batches import rank_rows
from ..models import one_hot
from ..run.folder import RunFolder
from ..sampling import TrainedGenerator, explore, sample_latents
from . import parallel

GRID_SCALE = 2  # 28-pixel digits are too small to read on today's screens
LOG_FILE_REFRESH_S = 30.0  # progress bar refresh when stderr is a file, not a terminal
TRACKED = ("fid", "mnist_score", "precision", "recall", "density", "coverage", "modes_covered",
           "kl_uniform", "label_accuracy")


@dataclass(frozen=True)
class Snapshot:
    config: TrainConfig
    step: int
    elapsed: float  # seconds of training so far (evaluation not counted)
    generator: TrainedGenerator  # a copy of the sampling generator (the EMA one when there is one)
    fixed_images: np.ndarray  # uint8 (grid_size**2, S, S): the fixed progress noise rendered


def fixed_noise(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The progress grid's noise (and labels: one class per column), from the run's seed."""
    num = config.fixed_noise or config.grid_size**2
    rng = torch.Generator().manual_seed(config.seed)
    z = sample_latents(num, config.z_dim, config.z_prior, generator=rng)
    y = one_hot(torch.arange(num) % config.grid_size % config.num_classes, config.num_classes)
    return z, y if config.conditional else None


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
        stats = run.read_records(run.stats_path)
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


class SilentReporter:
    """Ranks > 0 report nothing: every reporter call (present or future) does nothing."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


def reporter(run: RunFolder, config: TrainConfig, show_progress: bool) -> RunReporter | SilentReporter:
    return RunReporter(run, config, show_progress) if parallel.is_main() else SilentReporter()


def sample_share(generator: TrainedGenerator, num: int, seed: int, rank: int, world_size: int,
                 labels: np.ndarray | None = None, batch_size: int = 1000
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Rank `rank`'s part of generator.sample(num, seed, labels): the same noise and labels,
    rendered here."""
    part = rank_rows(num, rank, world_size)
    z = generator.latents(num, seed)[part]
    if generator.conditional:
        labels = (np.arange(num) % generator.num_classes if labels is None else labels)[part]
    chunks = [generator.generate(z[i:i + batch_size],
                                 None if labels is None else torch.as_tensor(labels[i:i + batch_size]))
              for i in range(0, len(z), batch_size)]
    side = generator.config.data_size
    images = torch.cat(chunks).numpy() if chunks else np.zeros((0, side, side), np.uint8)
    return images, (None if labels is None else labels.astype(np.int64))


def sample_spread(generator: TrainedGenerator, num: int, seed: int, labels: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """generator.sample(num, seed, labels), every rank rendering its share; the whole set on every
    rank."""
    if parallel.world_size() == 1:
        return generator.sample(num, seed, labels)
    parts = parallel.all_gather(sample_share(generator, num, seed, parallel.rank(),
                                                parallel.world_size(), labels))
    images = np.concatenate([images for images, _ in parts])
    labels = None if parts[0][1] is None else np.concatenate([labels for _, labels in parts])
    return images, labels


def evaluate_snapshot(snapshot: Snapshot) -> dict:
    """Score `eval_num` samples of the snapshot's generator; one metrics.jsonl record.

    Uses fewer samples than `minigan eval` (default 2,000 vs 10,000), so its FID runs higher:
    compare runs with `minigan eval`, and use this curve for trends and for picking the best step.
    In a job every rank renders its share of the samples and rank 0 scores them: the same record
    reaches every rank.
    """
    from ..metrics import evaluate_images
    from ..metrics.evaluate import scored_labels

    config, generator = snapshot.config, snapshot.generator
    wanted = (scored_labels(config.eval_num, generator.num_classes, config.dataset, config.data_dir)
              if generator.conditional else None)
    images, labels = sample_spread(generator, config.eval_num, config.seed, wanted)
    if not parallel.is_main():
        return parallel.broadcast(None)
    results = evaluate_images(images, labels, dataset=config.dataset, data_dir=config.data_dir,
                              device=str(generator.device))
    return parallel.broadcast({"step": snapshot.step, "elapsed": round(snapshot.elapsed, 2),
                                  "num": config.eval_num, **{k: results[k] for k in TRACKED}})
