"""The Python entry points, twins of `minigan train` and `minigan resume`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..presets import get_config
from ..run.folder import RunFolder, next_run_dir
from ..runtime import configure_process
from .loop import Trainer, TrainResult


def train(preset: str = "mlp4", out: str | Path | None = None, *, literal: bool = False,
          progress: bool = True, **overrides: Any) -> TrainResult:
    """Train a preset (plus overrides) into the run folder `out` (default runs/NNNNN-<preset>)."""
    config = get_config(preset, literal=literal, **overrides)
    configure_process(config.threads)
    return Trainer(config, out or next_run_dir("runs", preset), progress=progress).fit()


def resume(run_dir: str | Path, *, force: bool = False, progress: bool = True,
           **overrides: Any) -> TrainResult:
    """Continue a run where it stopped; budgets (steps, epochs, time_budget) may be raised."""
    saved = RunFolder(run_dir).read_config()
    given = {k: v for k, v in overrides.items() if v is not None}
    config = TrainConfig.from_dict({**saved.to_dict(), **given})
    configure_process(config.threads)
    return Trainer(config, run_dir, resume=True, force=force, progress=progress).fit()
