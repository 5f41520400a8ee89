"""The loop's state and output in a job of several processes: rank 0 writes, every rank computes.

Other ranks get a run folder whose writes do nothing and a reporter that says nothing, so the run
folder holds exactly what a one-process run writes. Checkpoints carry every rank's own random
streams (dropout, augmentation); evaluation draws its samples on every rank and scores them on rank 0.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import TrainConfig
from ..run.folder import RunFolder
from ..run.lock import RunLock
from ..sampling import TrainedGenerator
from . import distributed
from .reporting import RunReporter


class ReadOnlyRunFolder(RunFolder):
    """The run folder as ranks > 0 see it: they read checkpoints and config, rank 0 writes."""

    def write_config(self, config: TrainConfig) -> None:
        pass

    def append(self, path: Path, record: dict[str, Any]) -> None:
        pass

    def truncate_records(self, path: Path, after_step: int) -> None:
        pass


class SilentReporter:
    """Ranks > 0 report nothing: every reporter call (present or future) does nothing."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


def run_folder(path: str | os.PathLike) -> RunFolder:
    """Rank 0's folder on every rank (a default runs/NNNNN-name could differ between ranks)."""
    path = Path(distributed.broadcast(str(path)))
    return RunFolder(path) if distributed.is_main() else ReadOnlyRunFolder(path)


def reporter(run: RunFolder, config: TrainConfig, show_progress: bool) -> RunReporter | SilentReporter:
    return RunReporter(run, config, show_progress) if distributed.is_main() else SilentReporter()


def lock(path: Path) -> contextlib.AbstractContextManager:
    """The run folder's lock, held by rank 0: the one writer."""
    return RunLock(path) if distributed.is_main() else contextlib.nullcontext()


def fail_together(trainer: Any) -> contextlib.AbstractContextManager:
    """A lost peer during `trainer.fit()`: one line naming the step and how to continue."""
    return distributed.fail_together(lambda: f" at step {trainer.step}",
                                     f"resume with `minigan resume {trainer.run.path}` on any number of "
                                     "processes (the last checkpoint is intact)")


def _rng_state(device: torch.device) -> dict:
    return {"cpu": torch.get_rng_state(),
            "device": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def gather_rng_states(device: torch.device) -> list[dict]:
    """The random-stream states of ranks 1.. (rank 0's are the checkpoint's rng_cpu/rng_device)."""
    return distributed.all_gather(_rng_state(device))[1:]


def restore_rng_state(others: list[dict], device: torch.device, seed: int, step: int) -> None:
    """Rank r > 0 takes its saved streams when the saving job had a rank r, else fresh ones seeded
    from (seed, r, step). Rank 0 restores rng_cpu/rng_device as a one-process run does."""
    r = distributed.rank()
    if r == 0:
        return
    if r - 1 < len(others):
        torch.set_rng_state(others[r - 1]["cpu"])
        if others[r - 1]["device"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state(others[r - 1]["device"], device)
    else:
        torch.manual_seed(distributed.rank_seed(seed, r, step))


def share(num: int, rank: int, world_size: int) -> slice:
    """Rank `rank`'s contiguous part of `num` items (the first num % world_size ranks take one more)."""
    base, extra = divmod(num, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def sample_share(generator: TrainedGenerator, num: int, seed: int, rank: int, world_size: int,
                 batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray | None]:
    """Rank `rank`'s part of generator.sample(num, seed): the same noise and labels, rendered here."""
    part = share(num, rank, world_size)
    z = generator.latents(num, seed)[part]
    labels = np.arange(num)[part] % generator.num_classes if generator.conditional else None
    chunks = [generator.generate(z[i:i + batch_size],
                                 None if labels is None else torch.as_tensor(labels[i:i + batch_size]))
              for i in range(0, len(z), batch_size)]
    side = generator.config.data_size
    images = torch.cat(chunks).numpy() if chunks else np.zeros((0, side, side), np.uint8)
    return images, (None if labels is None else labels.astype(np.int64))


def sample_spread(generator: TrainedGenerator, num: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """generator.sample(num, seed), every rank rendering its share; the whole set on every rank."""
    if distributed.world_size() == 1:
        return generator.sample(num, seed)
    parts = distributed.all_gather(sample_share(generator, num, seed, distributed.rank(),
                                                distributed.world_size()))
    images = np.concatenate([images for images, _ in parts])
    labels = None if parts[0][1] is None else np.concatenate([labels for _, labels in parts])
    return images, labels
