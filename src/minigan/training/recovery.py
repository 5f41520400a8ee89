"""The loop's state on disk: checkpoint contents, resume, NaN rollback, and best.pt.

A rollback reloads weights, optimisers, RNG streams and the data position from the newest good
checkpoint, but the counters that make it terminate (rollbacks so far, the learning-rate scale,
seconds trained) come from the live run: a NaN that comes back after MAX_ROLLBACKS rollbacks stops
the run. Logs newer than the checkpoint go (as on resume), and so does a best.pt from a discarded step.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from ..errors import CheckpointError, MiniganError
from ..run import checkpoint
from . import distributed, multirank
from .health import all_finite

MAX_ROLLBACKS = 3


class TrainingDiverged(MiniganError):
    """A loss or weight became NaN/inf and the run could not (or was told not to) recover."""


class Recovery:
    """The Trainer's persistence: it reads and restores the state of the Trainer that owns it."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.best_fid = math.inf

    def state_dict(self) -> dict:
        t = self.trainer
        cuda = t.device.type == "cuda"
        return {
            "config": t.config.to_dict(), "step": t.step, "batches_seen": t.batches_seen,
            "elapsed": t.elapsed, "lr_scale": t.lr_scale, "rollbacks": t.rollbacks,
            "G": t.G.state_dict(), "D": t.D.state_dict(),
            "G_ema": None if t.G_ema is None else t.G_ema.state_dict(),
            "opt_G": t.opt_G.state_dict(), "opt_D": t.opt_D.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_device": torch.cuda.get_rng_state(t.device) if cuda else None,
            "rng_ranks": multirank.gather_rng_states(t.device),  # ranks 1..: their own streams
            "rng_noise": t.batches.noise_rng.get_state(),  # G's noise, one stream for any number of ranks
            "balance": t.balance.state_dict(), "stabilisers": t.stabilisers.state_dict(),
            "fixed_z": t.fixed_z, "fixed_y": t.fixed_y,
        }

    def load_state_dict(self, state: dict) -> None:
        t = self.trainer
        t.G.load_state_dict(state["G"])
        t.D.load_state_dict(state["D"])
        if t.G_ema is not None:
            t.G_ema.load_state_dict(state["G_ema"])
        t.opt_G.load_state_dict(state["opt_G"])
        t.opt_D.load_state_dict(state["opt_D"])
        t.step, t.batches_seen = state["step"], state["batches_seen"]
        t.elapsed, t.rollbacks = state["elapsed"], state["rollbacks"]
        self.set_lr_scale(state["lr_scale"])
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_device"] is not None and t.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_device"], t.device)
        multirank.restore_rng_state(state.get("rng_ranks", []), t.device, t.config.seed, t.step)
        if "rng_noise" in state:  # older checkpoints: the noise stream restarts
            t.batches.noise_rng.set_state(state["rng_noise"])
        t.balance.load_state_dict(state["balance"])
        t.stabilisers.load_state_dict(state.get("stabilisers"))
        t.fixed_z, t.fixed_y = state["fixed_z"], state["fixed_y"]
        t._bn_fresh_step = -1

    def set_lr_scale(self, scale: float) -> None:
        self.trainer.lr_scale = scale
        self.apply_learning_rates()

    def apply_learning_rates(self) -> None:
        """The optimisers' rates: configured x rollback scale x the decay over the budget."""
        t = self.trainer
        for opt, lr in ((t.opt_G, t.config.lr_g), (t.opt_D, t.config.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * t.lr_scale * t.lr_factor

    def weights_finite(self) -> bool:
        t = self.trainer
        return distributed.all_ranks(all_finite([*t.G.parameters(), *t.D.parameters(), t.stats.sums]))

    def resume_latest(self) -> None:
        t = self.trainer
        found = checkpoint.load_latest(t.run.checkpoint_dir, t.device, t.reporter.say)
        if found is not None:  # None: killed before its first checkpoint, so start afresh
            self.load_state_dict(found[0])
        t.run.truncate_logs(t.step)
        self.reconcile_best()
        distributed.check_agree(t.step, "the step to resume from")
        t.reporter.say(f"resumed {t.run.path} at step {t.step} from "
                       f"{found[1].name if found else 'the start (no checkpoint yet)'}")

    def recover_from_nonfinite(self) -> None:
        t = self.trainer
        where = f"step {t.step}"
        advice = "resume from the last checkpoint with lower --lr-g/--lr-d, or use --on-nan rollback"
        if t.config.on_nan == "abort":
            raise TrainingDiverged(f"training diverged at {where}: a loss or weight became NaN/inf "
                                   f"(--on-nan abort); {advice}")
        if t.rollbacks >= MAX_ROLLBACKS:
            raise TrainingDiverged(f"training diverged at {where}: a loss or weight became NaN/inf again "
                                   f"after {t.rollbacks} rollbacks (learning rates x{t.lr_scale:g}); "
                                   "resume from the last checkpoint with lower --lr-g/--lr-d")
        latest = checkpoint.load_latest(t.run.checkpoint_dir, t.device, t.reporter.say)
        if latest is None:
            raise TrainingDiverged(f"training diverged at {where}: a loss or weight became NaN/inf before "
                                   f"the first checkpoint (no good checkpoint to roll back to); {advice}")
        live_rollbacks, live_scale, live_elapsed = t.rollbacks, t.lr_scale, t.clock.elapsed()
        state, path = latest
        self.load_state_dict(state)
        t.rollbacks, t.elapsed = live_rollbacks + 1, live_elapsed
        self.set_lr_scale(live_scale * 0.5)
        t.stats.reset()
        t.run.truncate_logs(t.step)
        self.reconcile_best()
        t.clock.restart_window(t.step)
        t.bar.reset(total=t.bar.total)
        t.bar.update(round(live_elapsed) if t.bar_in_seconds else t.step)
        message = (f"NaN/inf at {where}: rolled back to {path.name} (step {t.step}), "
                   f"learning rates halved to x{t.lr_scale:g} (rollback {t.rollbacks} of {MAX_ROLLBACKS})")
        t.reporter.say(message)
        t.reporter.event(t.step, "rollback", message=message)

    def reconcile_best(self) -> None:
        """Keep best.pt only if it comes from a step the run still has; remember its FID."""
        t = self.trainer
        self.best_fid = math.inf
        path = t.run.best_path
        if not distributed.is_main() or not path.is_file():  # rank 0 alone keeps best.pt and its FID
            return
        try:
            state = checkpoint.load_checkpoint(path)
        except CheckpointError as exc:
            t.reporter.say(f"warning: {exc}; removing it (a new best.pt comes with the next evaluation)")
            checkpoint.remove(path)
            return
        if state["step"] > t.step:
            checkpoint.remove(path)
            t.reporter.say(f"removed best.pt from step {state['step']}, which the run went back past")
        else:
            self.best_fid = json.loads(state["metrics"])["fid"]

    def save_best(self, record: dict) -> None:
        t = self.trainer
        t.elapsed = t.clock.elapsed()
        state = {**self.state_dict(), "metrics": json.dumps(record)}  # every rank: gathers random streams
        if distributed.is_main():
            checkpoint.save_checkpoint(state, t.run.best_path)
        self.best_fid = record["fid"]
