"""A run folder: what a training run writes and where (the lock is lock.py, resume policy resume.py).

    runs/mlp4/
      config.json          resolved TrainConfig
      stats.jsonl          one record per log interval (losses, D(x), D(G(z)), grad norms, img/s)
      events.jsonl         balance switches, NaN rollbacks, warnings: what happened and when
      metrics.jsonl        --eval-every: FID-MNIST and friends over training
      checkpoints/         step-000001000.pt (+ .sha256), newest `keep_checkpoints` kept; best.pt by FID
      generator.safetensors  G only, for sampling and sharing
      progress/            fixed-noise grids over training; progress.gif at the end
      samples.png, losses.png, latent.png (z_dim 2), class_grid.png (conditional)
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import CheckpointError
from ..fileio import atomic_write_json, atomic_write_text


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read one JSON object per line.

    A killed run can leave a truncated last line: it is dropped silently. A damaged line in the
    middle (e.g. a truncated line that a resumed run appended to) is dropped with a warning.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError as err:
        raise CheckpointError(f"{path} not found: pass a run folder that has logged stats") from err
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif i != last:
            bad.append(i + 1)
    if bad:
        warnings.warn(f"{path}: skipped damaged lines {bad}", stacklevel=2)
    return records


def next_run_dir(root: str | os.PathLike, description: str) -> Path:
    """runs/00000-mlp4, runs/00001-mlp4, ...: a fresh numbered folder under `root`."""
    root = Path(root)
    numbers = [int(p.name[:5]) for p in root.glob("[0-9][0-9][0-9][0-9][0-9]-*") if p.name[:5].isdigit()]
    return root / f"{max(numbers, default=-1) + 1:05d}-{description}"


class RunFolder:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    stats_path = property(lambda self: self.path / "stats.jsonl")
    events_path = property(lambda self: self.path / "events.jsonl")
    checkpoint_dir = property(lambda self: self.path / "checkpoints")
    progress_dir = property(lambda self: self.path / "progress")
    generator_path = property(lambda self: self.path / "generator.safetensors")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    best_path = property(lambda self: self.path / "checkpoints" / "best.pt")

    def exists(self) -> bool:
        return self.config_path.is_file()

    def read_config(self) -> TrainConfig:
        if not self.config_path.is_file():
            raise CheckpointError(f"{self.path} is not a minigan run folder (no config.json)")
        try:
            values = json.loads(self.config_path.read_text())
        except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8
            raise CheckpointError(f"{self.config_path} is unreadable: {exc}") from None
        if not isinstance(values, dict):
            raise CheckpointError(f"{self.config_path} is damaged: it holds no JSON object of settings")
        return TrainConfig.from_dict(values)

    def read_records(self, path: Path) -> list[dict[str, Any]]:
        """One of the run's JSONL logs (stats, events, metrics); [] before its first record."""
        return read_jsonl(path) if path.is_file() else []

    def write_config(self, config: TrainConfig) -> None:
        atomic_write_json(self.config_path, config.to_dict())

    def append(self, path: Path, record: dict[str, Any]) -> None:
        """Append one JSON line; a run killed mid-line leaves at most one unreadable last line."""
        with open(path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def truncate_logs(self, after_step: int) -> None:
        """Drop every log record newer than `after_step` (a resume or a rollback went back there)."""
        for path in (self.stats_path, self.events_path, self.metrics_path):
            self.truncate_records(path, after_step)

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


class ReadOnlyRunFolder(RunFolder):
    """The run folder as ranks > 0 see it: they read checkpoints and config, rank 0 writes."""

    def read_records(self, path: Path) -> list[dict[str, Any]]:
        """One of the run's JSONL logs (stats, events, metrics); [] before its first record."""
        return read_jsonl(path) if path.is_file() else []

    def write_config(self, config: TrainConfig) -> None:
        pass

    def append(self, path: Path, record: dict[str, Any]) -> None:
        pass

    def truncate_records(self, path: Path, after_step: int) -> None:
        pass
