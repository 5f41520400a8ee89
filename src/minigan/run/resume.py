"""What may change when a run is resumed: budgets and logging freely, training only with --force,
the networks' parameter shapes never (derived from the architecture registry, not a hand-kept list).
"""

from __future__ import annotations

import json

from ..config import TrainConfig
from ..errors import CheckpointError
from ..models.registry import signature_changes
from . import checkpoint
from .folder import RunFolder

# Fields that may differ between a run and its resumption: budgets, logging and runtime settings.
RESUMABLE_FIELDS = frozenset({
    "steps", "epochs", "time_budget", "device", "threads", "log_every", "sample_every",
    "checkpoint_every", "keep_checkpoints", "eval_every", "eval_num", "tensorboard", "on_nan",
    "data_dir", "precision", "compile", "deterministic",
})


def check_resumable(saved: TrainConfig, requested: TrainConfig, force: bool = False) -> list[str]:
    """Names of fields that differ in ways that change the model or its training.

    Raises unless `force`; a change of the networks' parameters (their state-dict keys or shapes)
    raises even then, since the saved weights cannot load into them.
    """
    old, new = saved.to_dict(), requested.to_dict()
    differing = [n for n, value in new.items() if n not in RESUMABLE_FIELDS and old.get(n) != value]
    detail = ", ".join(f"{n}: {old.get(n)!r} -> {new[n]!r}" for n in differing)
    if differing and (changed := signature_changes(saved, requested)):
        shown = ", ".join(changed[:3]) + (", ..." if len(changed) > 3 else "")
        raise CheckpointError(
            f"cannot resume with different networks ({detail}: the saved weights do not fit "
            f"{shown}), even with --force; start a new run with another --out"
        )
    if differing and not force:
        raise CheckpointError(
            f"cannot resume with a different model or training setup ({detail}); "
            "drop those overrides, or pass --force to resume anyway"
        )
    return differing


def check_restart(run: RunFolder, restart: bool = False) -> None:
    """Refuse to resume a run from step 0 when that would destroy what it trained.

    With no checkpoint to continue from, a resume starts the run over: it replaces
    generator.safetensors and drops every log record. That is right for a run killed before its first
    checkpoint (its records reach at most the first checkpoint's step, and no generator was written),
    and wrong for a run whose checkpoints/ was pruned or lost: it has a generator, best.pt, or records
    past the step its first checkpoint was due. Those are refused unless `restart`.
    """
    if restart or checkpoint.list_checkpoints(run.checkpoint_dir):
        return
    saved = run.read_config()
    last = max((r.get("step", 0) for r in _records(run.stats_path) + _records(run.metrics_path)), default=0)
    trained = [p.name for p in (run.generator_path, run.best_path) if p.is_file()]
    if last > saved.checkpoint_every:
        trained.append(f"{run.stats_path.name} up to step {last}")
    if trained:
        raise CheckpointError(
            f"{run.path} has no checkpoint to continue from: resuming would start it over from step 0 "
            f"and destroy its {', '.join(trained)}; pass --restart to do that, or train a new run "
            "with another --out")


def budget_spent(run: RunFolder, config: TrainConfig) -> tuple[int, str] | None:
    """(step, why) when resuming with `config` would train nothing: its step or time budget is used up.

    Reads the newest intact checkpoint; an --epochs budget needs the data's size and is left to the loop.
    """
    if config.steps is None and config.time_budget is None:
        return None
    found = checkpoint.load_latest(run.checkpoint_dir, warn=lambda _: None)
    if found is None:
        return None
    step, elapsed = int(found[0].get("step", 0)), float(found[0].get("elapsed", 0.0))
    if config.steps is not None and step >= config.steps:
        return step, (f"{run.path} is at step {step}, and --steps {config.steps} is its total: nothing "
                      "left to do; raise --steps to train on")
    if config.time_budget is not None and elapsed >= config.time_budget:
        return step, (f"{run.path} has trained {elapsed:.0f} s, and --time-budget {config.time_budget:g} is "
                      "its total: nothing left to do; raise --time-budget to train on")
    return None


def _records(path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return records
