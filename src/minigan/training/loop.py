"""The one training loop. Networks differ between presets; this loop does not.

Per step: the phases of one iteration (phases.py), then their statistics and the balance rule's
next decision. Losses accumulate on the device and are read every `log_every` steps, the loop's
only host syncs, besides adaptive balance (one read per step under the running rule, two per
measurement under the cgan schedule; tests/test_host_syncs.py counts them). The loop hands snapshots
(generator copy, step, time) to reporting and evaluation; it alone decides about checkpoints,
best.pt and rollbacks.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ..config import TrainConfig
from ..data.batches import load_training_data
from ..errors import CheckpointError, MiniganError
from ..models import build_discriminator, build_generator, check_honoured, memory_format
from ..run import checkpoint
from ..run.resume import check_resumable
from ..runtime import resolve_device
from ..sampling import TrainedGenerator, save_generator
from . import monitor, parallel, state, wrappers
from .augment import Augmenter
from .balance import BalanceRule, measure_error
from .ema import GeneratorEMA, noise_batches
from .fidelity import Feed
from .losses import D_LOSSES, G_LOSSES
from .phases import GANLoss, Iteration, Networks, logged_terms
from .reporting import Snapshot, evaluate_snapshot, fixed_noise, progress_bar, progress_images, reporter


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    status: Literal["finished", "interrupted"]


class Trainer:
    def __init__(self, config: TrainConfig, out: str | Path, *, resume: bool = False,
                 force: bool = False, progress: bool = True) -> None:
        check_honoured(config)
        self.device = parallel.setup(resolve_device(config.device))  # torchrun: join, cuda:LOCAL_RANK
        config = wrappers.resolve_precision(config, self.device)
        parallel.check_job(config)
        self.run = state.run_folder(out)  # rank 0's folder; ranks > 0 only read it
        if resume:
            check_resumable(self.run.read_config(), config, force)
        elif checkpoint.list_checkpoints(self.run.checkpoint_dir):
            raise MiniganError(f"{self.run.path} already holds a run; resume it with "
                               f"`minigan resume {self.run.path}` or choose another --out")
        self.config, self.resume, self.show_progress = config, resume, progress and parallel.is_main()
        torch.manual_seed(config.seed)

        with parallel.local_main_first():  # one download per machine
            data = load_training_data(config, self.device, parallel.rank(), parallel.world_size(), progress)
        config = self.config = data.config  # the data's class count when none was chosen
        self.batches = data.batches

        layout = memory_format(config)
        self.G = build_generator(config).to(self.device, memory_format=layout)
        self.D = build_discriminator(config).to(self.device, memory_format=layout)
        if data.cluster_cdf is not None:  # G draws its fakes' clusters at the images' frequencies
            self.G.cluster_cdf.copy_(data.cluster_cdf)
        self.G_ema = (GeneratorEMA(self.G, config.g_ema_kimg, config.g_ema_rampup)
                      if config.g_ema_kimg else None)
        # fused Adam: one kernel for all parameters; D's takes lr and betas x mb_ratio under lazy R1/R2
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2),
                                      eps=config.adam_eps, fused=True)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=state.d_learning_rate(config),
                                      betas=state.d_betas(config), eps=config.adam_eps, fused=True)
        state.seed_rank_streams(config.seed)  # same weights everywhere, then each rank's own dropout
        # What the phases call (DDP over the ranks, compiled, autocast); the plain modules for all else.
        self.G_train, self.D_train, self.D_frozen = wrappers.wrap(self.G, self.D, config, self.device)
        d_loss = D_LOSSES[config.d_loss]
        self.augmenter = Augmenter(config)
        self.balance = BalanceRule(config, d_loss)
        self.health = monitor.HealthMonitor(loss_saturates=d_loss.saturates)
        self.loss = GANLoss(config, Networks(self.G, self.D, self.G_train, self.D_train, self.D_frozen),
                            d_loss, G_LOSSES[config.g_loss], self.augmenter)
        self.feed = Feed(config, self.batches, self.G_train, self.G)
        self.iteration = Iteration(config, self.loss, self.feed, self.opt_G, self.opt_D, self.G_ema)

        fixed_z, fixed_y = fixed_noise(config)
        self.state = state.TrainingState(config, self.device, self.G, self.D, self.G_ema, self.opt_G,
                                         self.opt_D, self.batches.noise_rng, self.balance, self.augmenter,
                                         fixed_z, fixed_y)
        self.progress = state.Progress(elapsed=data.setup_seconds)  # a resume reads its own
        self.lr_factor = 1.0  # the decay over the budget (--lr-decay), set before each step
        self.stop_requested = False
        self.stats = monitor.StepStats(self.device, logged_terms(self.config))
        self.clock = monitor.Clock(0.0, 0)
        self.best_fid = float("inf")
        self._bn_fresh_step = -1

    # The counters, as users of a Trainer read them.
    step = property(lambda self: self.progress.step)
    batches_seen = property(lambda self: self.feed.batches_seen)
    rollbacks = property(lambda self: self.progress.rollbacks)
    lr_scale = property(lambda self: self.progress.lr_scale)
    fixed_z = property(lambda self: self.state.fixed_z)

    @property
    def steps_per_epoch(self) -> float:
        return self.batches.per_epoch / self.feed.batches_per_iteration

    @property
    def sampling_G(self) -> torch.nn.Module:
        """The generator pictures and samples come from: the EMA copy when there is one."""
        return self.G if self.G_ema is None else self.G_ema.module

    def train_step(self) -> None:
        """One iteration (phases.py), then its statistics and the balance rule's next decision."""
        pause = self.balance.pause if self.config.balance else "none"
        out = self.iteration.run(self.step, pause)
        real_logits, fake_logits = out.real_logits.detach(), out.fake_logits.detach()
        belief = self.loss.d_loss.belief
        self.stats.add(out.loss_d.detach(), out.loss_g.detach(), belief(real_logits).mean(),
                       belief(fake_logits).mean(), pause, out.penalty, out.terms)
        self.last_real = out.last_real
        if self.config.balance:
            measure = lambda: measure_error(self.D, self.G, *out.last_real, self.config)  # noqa: E731
            event = self.balance.after_step(self.step + 1, real_logits, fake_logits, measure)
            if event is not None:
                self.reporter.event(self.step + 1, "balance", **event)

    def _refresh_ema_statistics(self) -> None:
        if self.G_ema is not None and self._bn_fresh_step != self.step:
            batches = noise_batches(self.config, self.device)
            self.G_ema.refresh_statistics(batches, self.G, seed=self.config.seed)
            self._bn_fresh_step = self.step

    def snapshot(self) -> Snapshot:
        """A frozen copy of the sampling generator, for reporting and evaluation. Building it draws
        initial weights from the global RNG, which is restored: pictures never change training."""
        self._refresh_ema_statistics()
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            generator = TrainedGenerator(self.config, self.sampling_G.state_dict(), self.device, self.step)
        fixed = progress_images(generator, self.state.fixed_z, self.state.fixed_y, self.step).numpy()
        return Snapshot(self.config, self.step, self.clock.elapsed(), generator, fixed)

    # ----------------------------------------------------------------------------- the loop
    def _on_signal(self, signum, frame) -> None:
        self.stop_requested = True

    def fit(self) -> TrainResult:
        try:
            with state.lock(self.run.path), parallel.fail_together(
                    lambda: f" at step {self.step}", f"resume with `minigan resume {self.run.path}` on any "
                    "number of processes (the last checkpoint is intact)"):
                return self._fit()
        except OSError as exc:  # a full disk or a broken folder while writing the run's files
            raise CheckpointError(
                f"could not write {exc.filename or self.run.path}: {exc.strerror or exc}; the last "
                f"checkpoint is intact: free space (or fix the folder) and `minigan resume {self.run.path}`"
            ) from None

    def _fit(self) -> TrainResult:
        config, run = self.config, self.run
        self.reporter = reporter(run, config, self.show_progress)
        if self.resume:
            self._resume_latest()
        elif checkpoint.list_checkpoints(run.checkpoint_dir):  # another run got here first
            raise MiniganError(f"{run.path} already holds a run; resume it with "
                               f"`minigan resume {run.path}` or choose another --out")
        run.write_config(config)
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, self._on_signal)
        sample_every = config.sample_every or max(1, round(self.steps_per_epoch))
        target = monitor.target_steps(config, self.steps_per_epoch)
        self.clock = monitor.Clock(self.progress.elapsed, self.step)
        self.bar_in_seconds = target is None
        self.bar = progress_bar(target, self.step, config.time_budget, self.progress.elapsed,
                                self.show_progress)
        try:
            while True:
                stop = self.stop_requested or monitor.budget_reached(config, self.step, target, self.clock)
                if parallel.any_rank(stop):  # the ranks stop together: a host-side all-reduce
                    if self.save_checkpoint(final=True):  # a rollback instead (NaN) trains on
                        break
                    continue
                if config.lr_decay != "none":
                    spent = monitor.budget_fraction(config, self.step, target, self.clock)
                    self.lr_factor = monitor.lr_decay_factor(config.lr_decay, config.lr_decay_to, spent)
                    self.state.set_learning_rates(self.progress.lr_scale * self.lr_factor)
                self.train_step()
                self.progress.step += 1
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
            leaving_on_error = sys.exc_info()[0] is not None and parallel.launched()
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
        parallel.average_(self.stats.sums)  # every rank logs (and judges NaNs on) the whole batch
        seconds, steps = self.clock.take_window(self.step)
        record = self.stats.record(
            step=self.step, epoch=self.step / self.steps_per_epoch, seconds=seconds, steps=steps,
            images_per_step=self.config.d_steps * self.config.batch_size, elapsed=self.clock.elapsed(),
            lr_scale=self.progress.lr_scale * self.lr_factor, G=self.G, D=self.D,
            balance_error=self.balance.error if self.config.balance else None)
        if record is None:  # a loss became NaN/inf since the last record
            self._roll_back()
            return
        record.update(self.augmenter.record())
        if self.augmenter.augment is not None:
            record["d_real_plain"] = self.augmenter.plain_belief(self.D, self.loss.d_loss.belief,
                                                                 *self.last_real)
        self.reporter.record(record, self.health.check_record(record), self.bar)
        if self.config.weight_report is not None:  # the cgan write-up's report of exploding weights
            for warning in monitor.large_weights({"G": self.G, "D": self.D}, self.config.weight_report):
                self.reporter.warn(warning, self.step)

    # ----------------------------------------------------------------------------- state on disk
    def _state_dict(self) -> dict:
        self.progress.batches_seen = self.feed.batches_seen
        return self.state.state_dict(self.progress)  # every rank: it gathers the ranks' random streams

    def _loaded(self) -> None:
        """After a checkpoint was loaded into the parts: the counters that live beside them."""
        self.feed.batches_seen = self.progress.batches_seen
        self.iteration.step_G.recount()
        self.iteration.step_D.recount()
        self.state.set_learning_rates(self.progress.lr_scale * self.lr_factor)
        self._bn_fresh_step = -1

    def _resume_latest(self) -> None:
        found = state.resume_latest(self.run, self.state, self.progress, self.reporter.say)
        self._loaded()
        self.run.truncate_logs(self.step)
        self.best_fid = state.reconcile_best(self.run, self.step, self.reporter.say)
        parallel.check_agree(self.step, "the step to resume from")
        self.reporter.say(f"resumed {self.run.path} at step {self.step} from "
                          f"{found.name if found else 'the start (no checkpoint yet)'}")

    def _roll_back(self) -> None:
        where = self.step
        path = state.roll_back(self.run, self.state, self.progress, self.clock.elapsed(), self.reporter.say)
        self._loaded()
        self.stats.reset()
        self.run.truncate_logs(self.step)
        self.best_fid = state.reconcile_best(self.run, self.step, self.reporter.say)
        self.clock.restart_window(self.step)
        self.bar.reset(total=self.bar.total)
        self.bar.update(round(self.progress.elapsed) if self.bar_in_seconds else self.step)
        message = (f"NaN/inf at step {where}: rolled back to {path.name} (step {self.step}), learning "
                   f"rates halved to x{self.lr_scale:g} (rollback {self.rollbacks} of {state.MAX_ROLLBACKS})")
        self.reporter.say(message)
        self.reporter.event(self.step, "rollback", message=message)

    def save_checkpoint(self, final: bool = False) -> bool:
        """Save unless a weight or loss went non-finite (a NaN never reaches a checkpoint): then roll
        back and return False. The final save first logs the last, partial stats window."""
        if final:
            self.log_stats()
        if not self.state.weights_finite(self.stats.sums):
            self._roll_back()
            return False
        self.progress.elapsed = self.clock.elapsed()
        self._refresh_ema_statistics()
        saved = self._state_dict()
        if parallel.is_main():
            checkpoint.save_checkpoint(saved, self.run.checkpoint_dir / checkpoint.checkpoint_name(self.step))
            save_generator(self.sampling_G, self.config, self.step, self.run.generator_path)
            checkpoint.rotate(self.run.checkpoint_dir, self.config.keep_checkpoints)
        return True

    def evaluate(self) -> dict:
        """Score the current generator; best.pt keeps the state with the lowest FID so far."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            record = evaluate_snapshot(self.snapshot())  # the classifier's init draws: RNG restored
        history = [r for r in self.run.read_records(self.run.metrics_path) if r.get("step", 0) < self.step]
        if parallel.broadcast(record["fid"] < self.best_fid):  # rank 0 knows best.pt
            self.progress.elapsed = self.clock.elapsed()
            saved = {**self._state_dict(), "metrics": json.dumps(record)}
            if parallel.is_main():
                checkpoint.save_checkpoint(saved, self.run.best_path)
            self.best_fid = record["fid"]
        self.reporter.metrics(history, record, self.best_fid)
        return record

