"""What may change when a run is resumed: budgets and logging freely, training only with --force,
the networks' parameter shapes never (derived from the architecture registry, not a hand-kept list).
"""

from __future__ import annotations

from ..config import TrainConfig
from ..errors import CheckpointError
from ..models.registry import signature_changes

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
