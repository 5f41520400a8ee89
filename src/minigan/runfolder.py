"""A run folder: what a training run writes and where, and the lock that keeps it single-writer.

    runs/mlp4/
      config.json          resolved TrainConfig
      stats.jsonl          one record per log interval (losses, D(x), D(G(z)), grad norms, img/s)
      events.jsonl         balance switches, NaN rollbacks, warnings: what happened and when
      checkpoints/         step-000001000.pt (+ .sha256), newest `keep_checkpoints` kept
      generator.safetensors  G only, for sampling and sharing
      progress/            fixed-noise grids over training; progress.gif at the end
      samples.png, losses.png, latent.png (z_dim 2), class_grid.png (conditional)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .errors import CheckpointError
from .fileio import atomic_write_json, atomic_write_text, remove_stale_temp_files

# Fields that may differ between a run and its resumption: budgets, logging and runtime settings.
RESUMABLE_FIELDS = {
    "steps", "epochs", "time_budget", "device", "threads", "log_every", "sample_every",
    "checkpoint_every", "keep_checkpoints", "eval_every", "eval_num", "tensorboard", "on_nan",
    "data_dir",
}
# Fields that change the networks' parameter shapes: old weights cannot load, even with --force.
SHAPE_FIELDS = ("arch", "z_dim", "g_hidden", "d_hidden", "image_size", "conditional", "num_classes")


def next_run_dir(root: str | os.PathLike, description: str) -> Path:
    """runs/00000-mlp4, runs/00001-mlp4, ...: a fresh numbered folder under `root`."""
    root = Path(root)
    numbers = [int(p.name[:5]) for p in root.glob("[0-9][0-9][0-9][0-9][0-9]-*") if p.name[:5].isdigit()]
    return root / f"{max(numbers, default=-1) + 1:05d}-{description}"


class RunFolder:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock_handle = None

    config_path = property(lambda self: self.path / "config.json")
    stats_path = property(lambda self: self.path / "stats.jsonl")
    events_path = property(lambda self: self.path / "events.jsonl")
    checkpoint_dir = property(lambda self: self.path / "checkpoints")
    progress_dir = property(lambda self: self.path / "progress")
    generator_path = property(lambda self: self.path / "generator.safetensors")

    def exists(self) -> bool:
        return self.config_path.is_file()

    def read_config(self) -> TrainConfig:
        if not self.config_path.is_file():
            raise CheckpointError(f"{self.path} is not a minigan run folder (no config.json)")
        try:
            values = json.loads(self.config_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{self.config_path} is unreadable: {exc}") from None
        return TrainConfig.from_dict(values)

    def write_config(self, config: TrainConfig) -> None:
        atomic_write_json(self.config_path, config.to_dict())

    def lock(self) -> None:
        """Hold an exclusive lock for this process's lifetime (released by the OS on any exit).

        Once held, temporary files that killed writers left behind are deleted.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = open(self.path / ".lock", "a+")
        except OSError as exc:
            raise CheckpointError(
                f"cannot use {self.path} as a run folder ({exc.strerror or exc}); "
                "choose another --out"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise CheckpointError(
                f"run folder {self.path} is in use by process {owner}; wait for it to finish "
                "or choose another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_handle = handle
        for folder in (self.path, self.checkpoint_dir, self.progress_dir):
            remove_stale_temp_files(folder)

    def unlock(self) -> None:
        if self._lock_handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def append(self, path: Path, record: dict[str, Any]) -> None:
        """Append one JSON line; a run killed mid-line leaves at most one unreadable last line."""
        with open(path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def truncate_records(self, path: Path, after_step: int) -> None:
        """Drop records newer than a checkpoint we resume from, so logs match the weights."""
        if not path.is_file():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("step", 0) <= after_step:
                kept.append(line)
        atomic_write_text(path, "".join(line + "\n" for line in kept))


def check_resumable(saved: TrainConfig, requested: TrainConfig, force: bool = False) -> list[str]:
    """Names of fields that differ in ways that change the model or its training.

    Raises unless `force`; a change of the networks' shapes (SHAPE_FIELDS) raises even then.
    """
    old, new = saved.to_dict(), requested.to_dict()
    differing = [n for n, value in new.items() if n not in RESUMABLE_FIELDS and old.get(n) != value]
    detail = ", ".join(f"{n}: {old.get(n)!r} -> {new[n]!r}" for n in differing)
    if any(name in SHAPE_FIELDS for name in differing):
        raise CheckpointError(
            f"cannot resume with different networks ({detail}): the saved weights do not fit them, "
            "even with --force; start a new run with another --out"
        )
    if differing and not force:
        raise CheckpointError(
            f"cannot resume with a different model or training setup ({detail}); "
            "drop those overrides, or pass --force to resume anyway"
        )
    return differing
