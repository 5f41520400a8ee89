"""The one training loop. Networks differ between presets; this loop does not.

Per step: k discriminator updates on (real, fake) batches in one D call, then one generator
update through the last fake batch. Losses accumulate on the device and are read every
`log_every` steps, the loop's only host syncs (plus one per step when adaptive balance is on).
The loop hands snapshots (generator copy, step, time) to reporting and evaluation; it alone
decides about checkpoints, best.pt and rollbacks.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ..batches import DeviceBatches
from ..config import TrainConfig
from ..data import load_dataset
from ..data.clusters import cluster_cdf, cluster_ids
from ..errors import CheckpointError, ConfigError, MiniganError
from ..models import build_discriminator, build_generator, check_honoured, memory_format, one_hot
from ..run import checkpoint
from ..run.resume import check_resumable
from ..runtime import resolve_device
from ..sampling import TrainedGenerator, sample_latents, save_generator
from . import accel, distributed, multirank
from .balance import BalanceRule, check_balance_readable
from .budget import Clock, budget_fraction, budget_reached, lr_decay_factor, target_steps
from .ema import GeneratorEMA
from .evaluation import evaluate_snapshot
from .health import HealthMonitor
from .iteration import Iteration
from .losses import D_LOSSES, G_LOSSES
from .recovery import Recovery
from .reporting import progress_bar
from .snapshot import Snapshot, progress_images
from .stabilise import DiscriminatorStabilisers
from .stats import StepStats, large_weights


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    status: Literal["finished", "interrupted"]


def _adam(params, lr: float, config: TrainConfig) -> torch.optim.Adam:
    # fused Adam: one kernel for all parameters (CPU and CUDA in torch >= 2.4)
    return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2), eps=config.adam_eps,
                            fused=True)


class Trainer:
    def __init__(self, config: TrainConfig, out: str | Path, *, resume: bool = False,
                 force: bool = False, progress: bool = True) -> None:
        check_honoured(config)
        self.device = distributed.setup(resolve_device(config.device))  # torchrun: join, cuda:LOCAL_RANK
        if distributed.world_size() > 1 and (config.gp_lambda or config.update_scheme == "simultaneous"):
            raise ConfigError("--gp-lambda and --update-scheme simultaneous take gradients DDP cannot "
                              "average across processes: run them on one process")
        if distributed.world_size() > 1 and config.lr_decay != "none" and config.time_budget is not None:
            raise ConfigError("--lr-decay over a --time-budget follows each process's own clock, and the "
                              "ranks' rates would part: give --steps or --epochs under torchrun")
        self.run = multirank.run_folder(out)  # rank 0's folder; ranks > 0 only read it
        if resume:
            check_resumable(self.run.read_config(), config, force)
        elif checkpoint.list_checkpoints(self.run.checkpoint_dir):
            raise MiniganError(f"{self.run.path} already holds a run; resume it with "
                               f"`minigan resume {self.run.path}` or choose another --out")
        self.config, self.resume, self.show_progress = config, resume, progress and distributed.is_main()
        torch.manual_seed(config.seed)

        with distributed.local_main_first():  # one download per machine
            data = load_dataset(config.data_dir, "train", dataset=config.dataset, progress=progress)
        data.image_size  # noqa: B018 - raises the one-line DataError for non-square images
        if config.conditional and data.labels is None:
            raise ConfigError(f"conditional training needs labels, and {data.source} has none")
        if config.conditional and data.num_classes != config.num_classes:
            if config.num_classes != TrainConfig.num_classes and data.num_classes > config.num_classes:
                raise ConfigError(f"{data.source} has {data.num_classes} classes but num_classes is "
                                  f"{config.num_classes}; raise --num-classes or drop it")
            if config.num_classes == TrainConfig.num_classes:  # not chosen: the data's class count
                config = self.config = dataclasses.replace(config, num_classes=data.num_classes)
        labels, started = data.labels, time.perf_counter()
        if config.clusters:  # pseudo-labels from the images alone; counted in the time budget
            labels = cluster_ids(data.images, config.clusters, config.seed,
                                 data.labels if config.conditional else None, config.num_classes)
        setup_seconds = time.perf_counter() - started
        self.batches = DeviceBatches(data.images, labels, config, self.device, distributed.rank(),
                                     distributed.world_size())

        layout = memory_format(config)
        self.G = build_generator(config).to(self.device, memory_format=layout)
        self.D = build_discriminator(config).to(self.device, memory_format=layout)
        if config.clusters:  # G draws its fakes' clusters at the training images' frequencies
            self.G.cluster_cdf.copy_(cluster_cdf(labels[config.train_holdout:], config.clusters,
                                                 self.G.cluster_cdf.shape[0]))
        self.G_ema = (GeneratorEMA(self.G, config.g_ema_kimg, config.g_ema_rampup)
                      if config.g_ema_kimg else None)
        self.opt_G = _adam(self.G.parameters(), config.lr_g, config)
        self.opt_D = _adam(self.D.parameters(), config.lr_d, config)
        distributed.seed_rank_streams(config.seed)  # same weights everywhere, then each rank's own dropout
        # What the phases call (DDP over the ranks, compiled, autocast); the plain modules for all else.
        self.G_train, self.D_train, self.D_frozen = accel.wrap(self.G, self.D, config, self.device)
        self.d_loss = D_LOSSES[config.d_loss]
        self.g_loss = G_LOSSES[config.g_loss]
        if config.balance and config.balance_metric == "mean_ce":
            check_balance_readable(config.d_loss, self.d_loss.error is not None)
        self.balance = BalanceRule(config)
        self.health = HealthMonitor(loss_saturates=self.d_loss.saturates)
        self.stabilisers = DiscriminatorStabilisers(config, self.device)
        self.iteration = Iteration(self)

        fixed_rng = torch.Generator().manual_seed(config.seed)
        num_fixed = config.fixed_noise or config.grid_size**2
        self.fixed_z = sample_latents(num_fixed, config.z_dim, config.z_prior, generator=fixed_rng)
        self.fixed_y = (one_hot(torch.arange(num_fixed) % config.grid_size % config.num_classes,
                                config.num_classes) if config.conditional else None)

        self.step = self.batches_seen = 0
        self.elapsed, self.lr_scale, self.rollbacks = setup_seconds, 1.0, 0  # a resume reads its own
        self.lr_factor = 1.0  # the decay over the budget (--lr-decay), set before each step
        self.stop_requested = False
        self.stats = StepStats(self.device)
        self.clock = Clock(0.0, 0)
        self.recovery = Recovery(self)
        self._bn_fresh_step = -1

    @property
    def steps_per_epoch(self) -> float:
        return self.batches.per_epoch / self.iteration.batches_per_iteration

    # ----------------------------------------------------------------------------- one step
    def train_step(self) -> None:
        """One iteration (iteration.py), then its statistics and the balance rule's next decision."""
        pause = self.balance.pause if self.config.balance else "none"
        it = self.iteration
        it.run(pause)
        real_logits, fake_logits = it.real_logits.detach(), it.fake_logits.detach()
        self.stats.add(it.loss_d.detach(), it.loss_g.detach(), self.d_loss.belief(real_logits).mean(),
                       self.d_loss.belief(fake_logits).mean(), pause,
                       None if it.penalty is None else it.penalty.detach())
        self.last_real = it.last_real
        if self.config.balance:
            event = self.balance.after_step(self.step + 1, real_logits, fake_logits, self)
            if event is not None:
                self.reporter.event(self.step + 1, "balance", **event)

    @property
    def sampling_G(self) -> torch.nn.Module:
        """The generator pictures and samples come from: the EMA copy when there is one."""
        return self.G if self.G_ema is None else self.G_ema.module

    def _refresh_ema_statistics(self) -> None:
        if self.G_ema is None or self._bn_fresh_step == self.step:
            return
        config = self.config

        def batch(rng: torch.Generator) -> tuple:
            z = sample_latents(config.batch_size, config.z_dim, config.z_prior, self.device, generator=rng)
            if not config.conditional:
                return z, None
            ids = torch.randint(config.num_classes, (config.batch_size,), generator=rng, device=self.device)
            return z, one_hot(ids, config.num_classes)

        self.G_ema.refresh_statistics(batch, self.G, seed=config.seed)
        self._bn_fresh_step = self.step

    def snapshot(self) -> Snapshot:
        """A frozen copy of the sampling generator, for reporting and evaluation. Building it draws
        initial weights from the global RNG, which is restored: pictures never change training."""
        self._refresh_ema_statistics()
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            generator = TrainedGenerator(self.config, self.sampling_G.state_dict(), self.device, self.step)
        fixed = progress_images(generator, self.fixed_z, self.fixed_y, self.step).numpy()
        return Snapshot(self.config, self.step, self.clock.elapsed(), generator, fixed)

    # ----------------------------------------------------------------------------- the loop
    def _on_signal(self, signum, frame) -> None:
        self.stop_requested = True

    def fit(self) -> TrainResult:
        try:
            with multirank.lock(self.run.path), multirank.fail_together(self):
                return self._fit()
        except OSError as exc:  # a full disk or a broken folder while writing the run's files
            raise CheckpointError(
                f"could not write {exc.filename or self.run.path}: {exc.strerror or exc}; the last "
                f"checkpoint is intact: free space (or fix the folder) and `minigan resume {self.run.path}`"
            ) from None

    def _fit(self) -> TrainResult:
        config, run = self.config, self.run
        self.reporter = multirank.reporter(run, config, self.show_progress)
        if self.resume:
            self.recovery.resume_latest()
        elif checkpoint.list_checkpoints(run.checkpoint_dir):  # another run got here first
            raise MiniganError(f"{run.path} already holds a run; resume it with "
                               f"`minigan resume {run.path}` or choose another --out")
        run.write_config(config)
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, self._on_signal)
        sample_every = config.sample_every or max(1, round(self.steps_per_epoch))
        target = target_steps(config, self.steps_per_epoch)
        self.clock = Clock(self.elapsed, self.step)
        self.bar_in_seconds = target is None
        self.bar = progress_bar(target, self.step, config.time_budget, self.elapsed, self.show_progress)
        try:
            while True:
                stop = self.stop_requested or budget_reached(config, self.step, target, self.clock)
                if distributed.any_rank(stop):  # the ranks stop together: a host-side all-reduce
                    if self.save_checkpoint(final=True):  # a rollback instead (NaN) trains on
                        break
                    continue
                if config.lr_decay != "none":
                    spent = budget_fraction(config, self.step, target, self.clock)
                    self.lr_factor = lr_decay_factor(config.lr_decay, config.lr_decay_to, spent)
                    self.recovery.apply_learning_rates()
                self.train_step()
                self.step += 1
                self._advance_bar()
                if self.step % config.log_every == 0:
                    self.log_stats()
                if self.step % sample_every == 0:
                    snapshot = self.snapshot()
                    warning = self.health.check_samples(snapshot.fixed_images, self.step)
                    self.reporter.progress_grid(snapshot, warning)
                if self.step % config.checkpoint_every == 0:
                    self.save_checkpoint()
                if config.eval_every and self.step % config.eval_every == 0:
                    with self.clock.excluded():
                        self.evaluate()
        finally:
            self.bar.close()
            # A rank leaving on an error under torchrun keeps ignoring SIGTERM: torchrun sends it as
            # soon as a peer dies, and the default action would end this rank before it says why.
            leaving_on_error = sys.exc_info()[0] is not None and distributed.launched()
            for sig, handler in handlers.items():
                if not (leaving_on_error and sig == signal.SIGTERM):
                    signal.signal(sig, handler)
        self.reporter.finish(self.snapshot())
        if self.stop_requested:
            self.reporter.say(f"stopped at step {self.step}; resume with: minigan resume {run.path}")
            return TrainResult(run.path, self.step, "interrupted")
        return TrainResult(run.path, self.step, "finished")

    def _advance_bar(self) -> None:
        if not self.bar_in_seconds:
            self.bar.update(1)
        elif (seconds := min(round(self.clock.elapsed()), self.bar.total)) != self.bar.n:
            self.bar.update(seconds - self.bar.n)

    def log_stats(self) -> None:
        if not self.stats.count:
            return
        distributed.average_(self.stats.sums)  # every rank logs (and judges NaNs on) the whole batch
        seconds, steps = self.clock.take_window(self.step)
        record = self.stats.record(
            step=self.step, epoch=self.step / self.steps_per_epoch, seconds=seconds, steps=steps,
            images_per_step=self.config.d_steps * self.config.batch_size, elapsed=self.clock.elapsed(),
            lr_scale=self.lr_scale * self.lr_factor, G=self.G, D=self.D,
            balance_error=self.balance.error if self.config.balance else None)
        if record is not None:
            record.update(self.stabilisers.record())
            if self.stabilisers.augment is not None:
                record["d_real_plain"] = self.stabilisers.plain_belief(self.D, self.d_loss.belief,
                                                                       *self.last_real)
        if record is None:  # a loss became NaN/inf since the last record
            self.recovery.recover_from_nonfinite()
            return
        self.reporter.record(record, self.health.check_record(record), self.bar)
        if self.config.weight_report is not None:  # the cgan write-up's report of exploding weights
            for warning in large_weights({"G": self.G, "D": self.D}, self.config.weight_report):
                self.reporter.warn(warning, self.step)

    def save_checkpoint(self, final: bool = False) -> bool:
        """Save unless a weight or loss went non-finite (a NaN never reaches a checkpoint): then roll
        back and return False. The final save first logs the last, partial stats window."""
        if final:
            self.log_stats()
        if not self.recovery.weights_finite():
            self.recovery.recover_from_nonfinite()
            return False
        self.elapsed = self.clock.elapsed()
        self._refresh_ema_statistics()
        state = self.recovery.state_dict()  # every rank: it gathers the ranks' random streams
        if distributed.is_main():
            checkpoint.save_checkpoint(state, self.run.checkpoint_dir / checkpoint.checkpoint_name(self.step))
            save_generator(self.sampling_G, self.config, self.step, self.run.generator_path)
            checkpoint.rotate(self.run.checkpoint_dir, self.config.keep_checkpoints)
        return True

    def evaluate(self) -> dict:
        """Score the current generator; best.pt keeps the state with the lowest FID so far."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            record = evaluate_snapshot(self.snapshot())  # the classifier's init draws: RNG restored
        history = [r for r in _read_jsonl(self.run.metrics_path) if r.get("step", 0) < self.step]
        if distributed.broadcast(record["fid"] < self.recovery.best_fid):  # rank 0 knows best.pt
            self.recovery.save_best(record)
        self.reporter.metrics(history, record, self.recovery.best_fid)
        return record


def _read_jsonl(path: Path) -> list[dict]:
    from ..visual import read_jsonl

    return read_jsonl(path) if path.is_file() else []
