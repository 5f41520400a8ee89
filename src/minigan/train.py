"""The one training loop. Networks differ between presets; this loop does not.

Per step: k discriminator updates on (real, fake) batches in one D call, then one generator
update through the last fake batch. Losses accumulate on the device and are read every
`log_every` steps, the loop's only host syncs (plus one per step when adaptive balance is on).
"""

from __future__ import annotations

import copy
import ctypes
import math
import platform
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import checkpoint, losses
from .balance import AdaptiveBalance
from .batches import DeviceBatches
from .config import TrainConfig
from .data import load_dataset
from .errors import CheckpointError, ConfigError, MiniganError
from .health import HealthMonitor, all_finite
from .models import build_discriminator, build_generator
from .report import RunReporter
from .runfolder import RunFolder, check_resumable
from .sampling import one_hot, resolve_device, sample_latents, save_generator

MAX_ROLLBACKS = 3


def keep_freed_memory_mapped() -> None:
    """Stop glibc returning big freed blocks to the OS after every step.

    Conv steps allocate and free tens of MB per layer; by default glibc unmaps them each time
    and the next step page-faults them back in (~100k faults per dcgan step, ~17% of its time).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


class TrainingDiverged(MiniganError):
    """A loss or weight became NaN/inf and the run could not (or was told not to) recover."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    status: str  # "finished" | "interrupted"


def _adam(params, lr: float, config: TrainConfig) -> torch.optim.Adam:
    # fused Adam: one kernel for all parameters (CPU and CUDA in torch >= 2.4)
    return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2), fused=True)


class Trainer:
    def __init__(self, config: TrainConfig, out: str | Path, *, resume: bool = False,
                 force: bool = False, progress: bool = True) -> None:
        self.run = RunFolder(out)
        if resume:
            saved = self.run.read_config()
            check_resumable(saved, config, force)
        elif checkpoint.list_checkpoints(self.run.checkpoint_dir):
            raise MiniganError(
                f"{self.run.path} already holds a run; resume it with `minigan resume {self.run.path}` "
                "or choose another --out"
            )
        self.config, self.resume, self.show_progress = config, resume, progress
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)

        data = load_dataset(config.data_dir, "train", dataset=config.dataset, progress=progress)
        if config.conditional and data.labels is None:
            raise ConfigError(f"conditional training needs labels, and {data.source} has none")
        if config.conditional and data.num_classes > config.num_classes:
            raise ConfigError(f"{data.source} has {data.num_classes} classes but num_classes is "
                              f"{config.num_classes}; raise --num-classes")
        self.batches = DeviceBatches(data.images, data.labels, config, self.device)

        keep_freed_memory_mapped()
        self.G = build_generator(config).to(self.device)
        self.D = build_discriminator(config).to(self.device)
        if config.arch != "mlp":  # oneDNN's convolutions and upsampling are faster in NHWC
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        # Optional EMA of G's weights (Karras et al. 2018; Yazici et al. 2019): smoother samples.
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if config.g_ema else None
        self.opt_G = _adam(self.G.parameters(), config.lr_g, config)
        self.opt_D = _adam(self.D.parameters(), config.lr_d, config)
        self.d_loss = losses.D_LOSSES[config.d_loss]
        self.g_loss = losses.G_LOSSES[config.g_loss]
        self.balance = AdaptiveBalance(config.balance_low, config.balance_high, config.balance_momentum)
        self.health = HealthMonitor()

        fixed_rng = torch.Generator().manual_seed(config.seed)
        num_fixed = config.grid_size**2
        self.fixed_z = sample_latents(num_fixed, config.z_dim, config.z_prior, generator=fixed_rng)
        self.fixed_y = (one_hot(torch.arange(num_fixed) % config.grid_size % config.num_classes,
                                config.num_classes) if config.conditional else None)

        self.step = self.batches_seen = self.rollbacks = 0
        self.elapsed, self.lr_scale = 0.0, 1.0
        self.stop_requested: str | None = None
        self._acc = torch.zeros(4, device=self.device)  # loss_d, loss_g, D(x), D(G(z)) sums
        self._acc_steps = 0
        self._paused = {"d": 0, "g": 0}

    # ----------------------------------------------------------------------------- budgets
    @property
    def steps_per_epoch(self) -> float:
        return self.batches.per_epoch / self.config.d_steps

    def target_steps(self) -> int | None:
        config, targets = self.config, []
        if config.steps is not None:
            targets.append(config.steps)
        if config.epochs is not None:
            targets.append(math.ceil(config.epochs * self.steps_per_epoch))
        if not targets and config.time_budget is None:
            targets.append(math.ceil(self.steps_per_epoch))  # no budget at all: one epoch
        return min(targets) if targets else None

    def _budget_reached(self, started: float) -> str | None:
        target = self.target_steps()
        if target is not None and self.step >= target:
            return "finished"
        budget = self.config.time_budget
        if budget is not None and self.elapsed + time.monotonic() - started >= budget:
            return "finished"
        return self.stop_requested

    # ----------------------------------------------------------------------------- one step
    def train_step(self) -> None:
        config, B = self.config, self.config.batch_size
        pause = self.balance.paused if config.balance else "none"
        for i in range(config.d_steps):
            real, y = self.batches.get(self.batches_seen)
            self.batches_seen += 1
            z = sample_latents(B, config.z_dim, config.z_prior, self.device)
            # Only the last fake batch feeds G's update, so only it keeps G's graph.
            keep_graph = i == config.d_steps - 1 and pause != "g"
            with torch.set_grad_enabled(keep_graph):
                fake = self.G(z, y)
            # (1) D: maximize log D(x) + log(1 - D(G(z))); real and fake in one call (no batchnorm in D)
            with torch.set_grad_enabled(pause != "d"):
                logits = self.D(torch.cat([real, fake.detach()]),
                                None if y is None else torch.cat([y, y]))
                real_logits, fake_logits = logits[:B], logits[B:]
                loss_d = self.d_loss(real_logits, fake_logits)
            if pause != "d":
                self.opt_D.zero_grad(set_to_none=True)
                loss_d.backward()
                self.opt_D.step()
            else:
                self._paused["d"] += 1
        # (2) G: maximize log D(G(z)) (or the configured G loss), D frozen
        if pause != "g":
            self.D.requires_grad_(False)
            loss_g = self.g_loss(self.D(fake, y))
            self.opt_G.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_G.step()
            self.D.requires_grad_(True)
            if self.G_ema is not None:
                self.update_ema()
        else:
            loss_g = self.g_loss(fake_logits)
            self._paused["g"] += 1
        real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
        self._acc += torch.stack([loss_d.detach(), loss_g.detach(),
                                  torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()])
        self._acc_steps += 1
        if config.balance:
            before = self.balance.paused
            d_error = 0.5 * float(losses.d_bce(real_logits, fake_logits))  # the per-step sync
            if self.balance.update(d_error) != before:
                self.run.append(self.run.events_path, {
                    "step": self.step + 1, "event": "balance", "paused": self.balance.paused,
                    "d_error": self.balance.error})

    def ema_decay(self) -> float:
        """g_ema, ramped up over the first steps ((1+t)/(10+t), as TensorFlow's num_updates) so
        that short runs do not average in their untrained start."""
        return min(self.config.g_ema, (1 + self.step) / (10 + self.step))

    @torch.no_grad()
    def update_ema(self) -> None:
        ema_params, params = list(self.G_ema.parameters()), list(self.G.parameters())
        torch._foreach_lerp_(ema_params, params, 1.0 - self.ema_decay())
        for ema_buffer, buffer in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            ema_buffer.copy_(buffer)

    @property
    def sampling_G(self) -> torch.nn.Module:
        """The generator pictures and samples come from: the EMA copy when there is one."""
        return self.G if self.G_ema is None else self.G_ema

    # ----------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        cuda = self.device.type == "cuda"
        return {
            "config": self.config.to_dict(), "step": self.step, "batches_seen": self.batches_seen,
            "elapsed": self.elapsed, "lr_scale": self.lr_scale, "rollbacks": self.rollbacks,
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": None if self.G_ema is None else self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_device": torch.cuda.get_rng_state(self.device) if cuda else None,
            "balance": self.balance.state_dict(),
            "fixed_z": self.fixed_z, "fixed_y": self.fixed_y,
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.step, self.batches_seen = state["step"], state["batches_seen"]
        self.elapsed, self.rollbacks = state["elapsed"], state["rollbacks"]
        self.set_lr_scale(state["lr_scale"])
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_device"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_device"], self.device)
        self.balance.load_state_dict(state["balance"])
        self.fixed_z, self.fixed_y = state["fixed_z"], state["fixed_y"]

    def set_lr_scale(self, scale: float) -> None:
        self.lr_scale = scale
        for opt, lr in ((self.opt_G, self.config.lr_g), (self.opt_D, self.config.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * scale

    def save_checkpoint(self) -> Path | None:
        """Save unless a weight went non-finite: a NaN never reaches a checkpoint."""
        if not all_finite([*self.G.parameters(), *self.D.parameters(), self._acc]):
            self.recover_from_nonfinite()
            return None
        path = checkpoint.save_checkpoint(
            self.state_dict(), self.run.checkpoint_dir / checkpoint.checkpoint_name(self.step))
        save_generator(self.sampling_G, self.config, self.step, self.run.generator_path)
        checkpoint.rotate(self.run.checkpoint_dir, self.config.keep_checkpoints)
        return path

    def recover_from_nonfinite(self) -> None:
        where = f"step {self.step}"
        latest = checkpoint.load_latest(self.run.checkpoint_dir, self.device, self.reporter.say)
        if self.config.on_nan == "abort" or latest is None or self.rollbacks >= MAX_ROLLBACKS:
            reason = ("no good checkpoint to roll back to" if latest is None and self.config.on_nan != "abort"
                      else f"after {self.rollbacks} rollbacks" if self.rollbacks >= MAX_ROLLBACKS
                      else "--on-nan abort")
            raise TrainingDiverged(
                f"training diverged at {where}: a loss or weight became NaN/inf ({reason}); "
                f"resume from the last checkpoint with lower --lr-g/--lr-d, or use --on-nan rollback"
            )
        state, path = latest
        self.load_state_dict(state)
        self.rollbacks = state["rollbacks"] + 1
        self.set_lr_scale(self.lr_scale * 0.5)
        self._acc.zero_()
        self._acc_steps = 0
        message = (f"NaN/inf at {where}: rolled back to {path.name} (step {self.step}), "
                   f"learning rates halved to x{self.lr_scale:g}")
        self.reporter.say(message)
        self.run.append(self.run.events_path, {"step": self.step, "event": "rollback", "message": message})

    # ----------------------------------------------------------------------------- the loop
    def _on_signal(self, signum, frame) -> None:
        self.stop_requested = "interrupted"

    def fit(self) -> TrainResult:
        self.run.lock()
        try:
            return self._fit()
        except OSError as exc:  # a full disk or a broken folder while writing the run's files
            raise CheckpointError(
                f"could not write {exc.filename or self.run.path}: {exc.strerror or exc}; the last "
                "checkpoint is intact: free space (or fix the folder) and "
                f"`minigan resume {self.run.path}`"
            ) from None
        finally:
            self.run.unlock()

    def _fit(self) -> TrainResult:
        config, run = self.config, self.run
        self.reporter = RunReporter(run, config, self.show_progress)
        if self.resume:
            found = checkpoint.load_latest(run.checkpoint_dir, self.device, self.reporter.say)
            if found is not None:  # None: killed before its first checkpoint, so start afresh
                self.load_state_dict(found[0])
            for path in (run.stats_path, run.events_path, run.path / "metrics.jsonl"):
                run.truncate_records(path, self.step)
            self.reporter.say(f"resumed {run.path} at step {self.step} from "
                              f"{found[1].name if found else 'the start (no checkpoint yet)'}")
        elif checkpoint.list_checkpoints(run.checkpoint_dir):  # another run got here first
            raise MiniganError(f"{run.path} already holds a run; resume it with "
                               f"`minigan resume {run.path}` or choose another --out")
        run.write_config(config)

        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, self._on_signal)
        sample_every = config.sample_every or max(1, round(self.steps_per_epoch))
        started = time.monotonic()
        window_start, window_step = time.perf_counter(), self.step
        bar = tqdm(total=self.target_steps(), initial=self.step, disable=not self.show_progress,
                   unit="step", dynamic_ncols=True)
        status = None
        try:
            while (status := self._budget_reached(started)) is None:
                self.train_step()
                self.step += 1
                bar.update(1)
                if self.step % config.log_every == 0:
                    self.elapsed += time.monotonic() - started
                    started = time.monotonic()
                    seconds = time.perf_counter() - window_start
                    self.log_stats(seconds, self.step - window_step, bar)
                    window_start, window_step = time.perf_counter(), self.step
                if self.step % sample_every == 0:
                    self.progress_grid()
                if self.step % config.checkpoint_every == 0:
                    self.save_checkpoint()
                if config.eval_every and self.step % config.eval_every == 0:
                    eval_started = time.monotonic()
                    self.reporter.evaluate(self)
                    started += time.monotonic() - eval_started  # budgets count training time only
        finally:
            bar.close()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        self.elapsed += time.monotonic() - started
        if self._acc_steps:
            self.log_stats(time.perf_counter() - window_start, self.step - window_step, None)
        self.save_checkpoint()
        self.reporter.finish(self)
        if status == "interrupted":
            self.reporter.say(f"stopped at step {self.step}; resume with: minigan resume {run.path}")
        return TrainResult(run.path, self.step, status)

    def log_stats(self, seconds: float, steps: int, bar) -> None:
        sums = (self._acc / max(self._acc_steps, 1)).tolist()
        record = {
            "step": self.step, "epoch": round(self.step / self.steps_per_epoch, 4),
            "loss_d": sums[0], "loss_g": sums[1], "d_real": sums[2], "d_fake": sums[3],
            "img_per_s": steps * self.config.d_steps * self.config.batch_size / max(seconds, 1e-9),
            "ms_per_step": 1000 * seconds / max(steps, 1), "elapsed": round(self.elapsed, 2),
            "lr_scale": self.lr_scale,
            "grad_norm_d": _grad_norm(self.D), "grad_norm_g": _grad_norm(self.G),
        }
        if self.config.balance:
            record.update(paused_d=self._paused["d"], paused_g=self._paused["g"],
                          balance_error=self.balance.error)
            self._paused = {"d": 0, "g": 0}
        self._acc.zero_()
        self._acc_steps = 0
        if not all(math.isfinite(v) for v in sums):
            self.recover_from_nonfinite()
            return
        self.reporter.record(record, self.health.check_record(record), bar)

    @torch.no_grad()
    def generate_fixed(self) -> np.ndarray:
        """uint8 (N, 28, 28) from the fixed noise, G in eval mode (no dropout, BN running stats)."""
        from .data import to_uint8
        from .sampling import crop_to_28

        generator = self.sampling_G
        was_training = generator.training
        generator.eval()
        try:
            y = None if self.fixed_y is None else self.fixed_y.to(self.device)
            images = generator(self.fixed_z.to(self.device), y)
        finally:
            generator.train(was_training)
        return to_uint8(crop_to_28(images), self.config.pixel_range)[:, 0].cpu().numpy()

    def progress_grid(self) -> None:
        images = self.generate_fixed()
        warning = self.health.check_samples(images, self.step)
        self.reporter.progress_grid(images, self.step, warning)


def _grad_norm(module: torch.nn.Module) -> float | None:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return None
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


def train(preset: str = "mlp4", out: str | Path | None = None, *, literal: bool = False,
          progress: bool = True, **overrides) -> TrainResult:
    """Train a preset (plus overrides) into the run folder `out` (default runs/NNNNN-<preset>)."""
    from .config import get_config
    from .runfolder import next_run_dir

    config = get_config(preset, literal=literal, **overrides)
    return Trainer(config, out or next_run_dir("runs", preset), progress=progress).fit()


def resume(run_dir: str | Path, *, force: bool = False, progress: bool = True,
           **overrides) -> TrainResult:
    """Continue a run where it stopped; budgets (steps, epochs, time_budget) may be raised."""
    saved = RunFolder(run_dir).read_config()
    config = TrainConfig.from_dict({**saved.to_dict(), **{k: v for k, v in overrides.items()
                                                            if v is not None}})
    return Trainer(config, run_dir, resume=True, force=force, progress=progress).fit()
