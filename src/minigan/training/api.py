"""The Python entry points, twins of `minigan train` and `minigan resume`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..presets import get_config
from ..run.folder import RunFolder, next_run_dir
from ..run.outputs import check_run_folder
from ..run.resume import budget_spent, check_restart, check_resumable
from ..runtime import configure_process
from . import parallel
from .loop import Trainer, TrainResult


def train(preset: str = "mlp4", out: str | Path | None = None, *, literal: bool = False,
          progress: bool = True, **overrides: Any) -> TrainResult:
    """Train a preset (plus overrides) into the run folder `out` (default runs/NNNNN-<preset>)."""
    config = get_config(preset, literal=literal, **overrides)
    configure_process(config.threads)
    return Trainer(config, check_run_folder(out) if out is not None else next_run_dir("runs", preset),
                   progress=progress).fit()


def resume(run_dir: str | Path, *, force: bool = False, restart: bool = False, progress: bool = True,
           **overrides: Any) -> TrainResult:
    """Continue a run where it stopped; budgets (steps, epochs, time_budget) may be raised.

    A run with no checkpoint but a trained generator or logs is refused unless `restart` (it would
    start over from step 0); one whose budget is spent is left as it is, saying so.
    """
    run = RunFolder(run_dir)
    saved, given = run.read_config(), {k: v for k, v in overrides.items() if v is not None}
    config = TrainConfig.from_dict({**saved.to_dict(), **given})
    check_resumable(saved, config, force)  # the Trainer checks again: it may be called directly
    check_restart(run, restart)
    if (spent := budget_spent(run, config)) is not None:
        if parallel.is_main():
            print(f"minigan: {spent[1]}")
        return TrainResult(run.path, spent[0], "finished")
    configure_process(config.threads)
    return Trainer(config, run_dir, resume=True, force=force, progress=progress).fit()
