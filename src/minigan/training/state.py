"""The run's state on disk: what a checkpoint holds, resume, NaN rollback, best.pt, and each rank's
own random streams.

Nothing here takes the loop: `TrainingState` names the parts a checkpoint saves (networks,
optimisers, random streams, balance, augmentation) and `Progress` the counters. A rollback reloads
the parts and the data position from the newest good checkpoint, but the counters that make it
terminate (rollbacks so far, the learning-rate scale, seconds trained) come from the live run: a
NaN that comes back after MAX_ROLLBACKS rollbacks stops the run.

Checkpoints are read onto the CPU: the RNG states must stay CPU byte tensors, and
`load_state_dict` moves weights and optimiser moments to where the parts live. A checkpoint keeps
the device type it was saved on: resumed on another type (CPU to CUDA or back), G's noise stream
restarts from (seed, images seen), because a CPU generator's state does not fit a CUDA one; such a
resume trains on, but bit-exactness holds on one device type.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..config import TrainConfig
from ..data.batches import NOISE_SALT
from ..errors import CheckpointError, MiniganError
from ..run import checkpoint
from ..run.folder import ReadOnlyRunFolder, RunFolder
from ..run.lock import RunLock
from . import parallel
from .augment import Augmenter
from .balance import BalanceRule
from .ema import GeneratorEMA
from .losses import lazy_ratio
from .monitor import all_finite

MAX_ROLLBACKS = 3


class TrainingDiverged(MiniganError):
    """A loss or weight became NaN/inf and the run could not (or was told not to) recover."""


@dataclass
class Progress:
    """The counters a checkpoint carries besides the parts' own state."""

    step: int = 0
    batches_seen: int = 0
    elapsed: float = 0.0  # seconds of training (evaluation not counted)
    lr_scale: float = 1.0  # halved by each NaN rollback
    rollbacks: int = 0


@dataclass
class TrainingState:
    """Everything a checkpoint restores besides the counters."""

    config: TrainConfig
    device: torch.device
    G: nn.Module
    D: nn.Module
    G_ema: GeneratorEMA | None
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    noise_rng: torch.Generator  # G's noise, one stream for any number of ranks
    balance: BalanceRule
    augmenter: Augmenter
    fixed_z: torch.Tensor
    fixed_y: torch.Tensor | None

    def state_dict(self, progress: Progress) -> dict:
        """A checkpoint's contents; every rank calls it (it gathers the ranks' random streams)."""
        cuda = self.device.type == "cuda"
        return {
            "config": self.config.to_dict(), **dataclasses.asdict(progress),
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": None if self.G_ema is None else self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_device": torch.cuda.get_rng_state(self.device) if cuda else None,
            "rng_ranks": gather_rng_states(self.device),  # ranks 1..: their own streams
            "rng_noise": self.noise_rng.get_state(), "device_type": self.device.type,
            "balance": self.balance.state_dict(), "stabilisers": self.augmenter.state_dict(),
            "fixed_z": self.fixed_z, "fixed_y": self.fixed_y,
        }

    def load_state_dict(self, state: dict, progress: Progress) -> bool:
        """Restore the parts and set `progress` (in place) to the checkpoint's counters; True when the
        checkpoint comes from another device type (its device streams skipped, the noise reseeded)."""
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        for field in dataclasses.fields(Progress):
            setattr(progress, field.name, state[field.name])
        moved = state.get("device_type", self.device.type) != self.device.type
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_device"] is not None and self.device.type == "cuda" and not moved:
            torch.cuda.set_rng_state(state["rng_device"], self.device)
        restore_rng_state(state.get("rng_ranks", []), self.device, self.config.seed, progress.step)
        if moved:
            images_seen = progress.batches_seen * self.config.batch_size
            self.noise_rng.manual_seed(rank_seed(self.config.seed ^ NOISE_SALT, 0, images_seen))
        elif "rng_noise" in state:  # older checkpoints: the noise stream restarts
            self.noise_rng.set_state(state["rng_noise"])
        self.balance.load_state_dict(state["balance"])
        self.augmenter.load_state_dict(state.get("stabilisers"))
        self.fixed_z, self.fixed_y = state["fixed_z"], state["fixed_y"]
        return moved

    def set_learning_rates(self, scale: float) -> None:
        """The optimisers' rates: configured x `scale` (rollbacks, decay); D's lazily regularised
        optimiser also x mb_ratio (its betas took the ratio when it was built)."""
        config = self.config
        for opt, lr in ((self.opt_G, config.lr_g), (self.opt_D, d_learning_rate(config))):
            for group in opt.param_groups:
                group["lr"] = lr * scale

    def weights_finite(self, sums: torch.Tensor) -> bool:
        return parallel.all_ranks(all_finite([*self.G.parameters(), *self.D.parameters(), sums]))


def lazily_regularised(config: TrainConfig) -> bool:
    """Does D's optimiser take StyleGAN2's mb_ratio (a lazy R1/R2 phase, `reg_mb_ratio` on)?"""
    return config.reg_mb_ratio and (config.r1_gamma > 0 or config.r2_gamma > 0)


def d_learning_rate(config: TrainConfig) -> float:
    return config.lr_d * lazy_ratio(config.reg_interval) if lazily_regularised(config) else config.lr_d


def d_betas(config: TrainConfig) -> tuple[float, float]:
    if not lazily_regularised(config):
        return config.beta1, config.beta2
    ratio = lazy_ratio(config.reg_interval)
    return config.beta1**ratio, config.beta2**ratio


def resume_latest(run: RunFolder, state: TrainingState, progress: Progress,
                  say: Callable[[str], None]) -> Path | None:
    """Load the newest intact checkpoint into `state` and `progress`; None when there is none yet."""
    found = checkpoint.load_latest(run.checkpoint_dir, "cpu", say)
    if found is None:  # killed before its first checkpoint, so start afresh
        return None
    _say_if_moved(state.load_state_dict(found[0], progress), found[0], state.device, say)
    return found[1]


def _say_if_moved(moved: bool, saved: dict, device: torch.device, say: Callable[[str], None]) -> None:
    if moved:
        say(f"the checkpoint was saved on {saved['device_type']} and this run trains on {device.type}: G's "
            "noise restarts from (seed, images seen); bit-exact resumes hold on one device type only")


def roll_back(run: RunFolder, state: TrainingState, progress: Progress, live_elapsed: float,
              say: Callable[[str], None]) -> Path:
    """After a NaN/inf: reload the newest good checkpoint, keep the live counters that make this
    terminate, halve the learning rates. Raises TrainingDiverged when it may not or cannot."""
    where = f"step {progress.step}"
    advice = "resume from the last checkpoint with lower --lr-g/--lr-d, or use --on-nan rollback"
    if state.config.on_nan == "abort":
        raise TrainingDiverged(f"training diverged at {where}: a loss or weight became NaN/inf "
                               f"(--on-nan abort); {advice}")
    if progress.rollbacks >= MAX_ROLLBACKS:
        raise TrainingDiverged(f"training diverged at {where}: a loss or weight became NaN/inf again after "
                               f"{progress.rollbacks} rollbacks (learning rates x{progress.lr_scale:g}); "
                               "resume from the last checkpoint with lower --lr-g/--lr-d")
    latest = checkpoint.load_latest(run.checkpoint_dir, "cpu", say)
    if latest is None:
        raise TrainingDiverged(f"training diverged at {where}: a loss or weight became NaN/inf before "
                               f"the first checkpoint (no good checkpoint to roll back to); {advice}")
    live_rollbacks, live_scale = progress.rollbacks, progress.lr_scale
    _say_if_moved(state.load_state_dict(latest[0], progress), latest[0], state.device, say)
    progress.rollbacks, progress.lr_scale = live_rollbacks + 1, live_scale * 0.5
    progress.elapsed = live_elapsed
    return latest[1]


def reconcile_best(run: RunFolder, step: int, say: Callable[[str], None]) -> float:
    """Keep best.pt only if it comes from a step the run still has; its FID (inf when none)."""
    path = run.best_path
    if not parallel.is_main() or not path.is_file():  # rank 0 alone keeps best.pt and its FID
        return math.inf
    try:
        saved = checkpoint.load_checkpoint(path)
    except CheckpointError as exc:
        say(f"warning: {exc}; removing it (a new best.pt comes with the next evaluation)")
        checkpoint.remove(path)
        return math.inf
    if saved["step"] > step:
        checkpoint.remove(path)
        say(f"removed best.pt from step {saved['step']}, which the run went back past")
        return math.inf
    return json.loads(saved["metrics"])["fid"]


def run_folder(path: str | os.PathLike) -> RunFolder:
    """Rank 0's folder on every rank (a default runs/NNNNN-name could differ between ranks)."""
    path = Path(parallel.broadcast(str(path)))
    return RunFolder(path) if parallel.is_main() else ReadOnlyRunFolder(path)


def lock(path: Path) -> contextlib.AbstractContextManager:
    """The run folder's lock, held by rank 0: the one writer."""
    return RunLock(path) if parallel.is_main() else contextlib.nullcontext()


# ------------------------------------------------------------------------------ random streams
def _rng_state(device: torch.device) -> dict:
    return {"cpu": torch.get_rng_state(),
            "device": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def gather_rng_states(device: torch.device) -> list[dict]:
    """The random-stream states of ranks 1.. (rank 0's are the checkpoint's rng_cpu/rng_device)."""
    return parallel.all_gather(_rng_state(device))[1:]


def restore_rng_state(others: list[dict], device: torch.device, seed: int, step: int) -> None:
    """Rank r > 0 takes its saved streams when the saving job had a rank r, else fresh ones seeded
    from (seed, r, step). Rank 0 restores rng_cpu/rng_device as a one-process run does."""
    r = parallel.rank()
    if r == 0:
        return
    if r - 1 < len(others):
        torch.set_rng_state(others[r - 1]["cpu"])
        if others[r - 1]["device"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state(others[r - 1]["device"], device)
    else:
        torch.manual_seed(rank_seed(seed, r, step))


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of rank `rank`'s own random streams (dropout, augmentation): the run seed on rank 0.

    32 bits, because PyTorch's CPU generator keeps only the low 32 bits of a seed.
    """
    if rank == 0 and step == 0:
        return seed
    x = 0
    for value in (seed, rank, step):  # splitmix64 over the three
        x = (x + value + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x & 0xFFFFFFFF


def seed_rank_streams(seed: int) -> None:
    """After the networks are built (the same weights on every rank): rank r > 0 reseeds its own streams."""
    if parallel.rank():
        torch.manual_seed(rank_seed(seed, parallel.rank()))


