"""One training iteration, as the config describes it: k D steps and k G steps, in either order,
alternating or simultaneous, on shared or fresh noise (the write-ups differ in each of these).

Alternating (the default, D first): each D step takes the next real batch and a noise batch, and
real and fake go through D in one call (no batchnorm in any D); then G steps through D with D
frozen. With `g_noise="shared"` G's first step trains on the fakes D's last step judged (one G
forward saved); "fresh" draws new noise, as every alternating write-up does. Simultaneous (Keras'
train_step): one noise batch, one forward pass, both gradients from it (G's through D's
pre-update weights), both applied.
"""

from __future__ import annotations

from typing import Any

import torch

from ..models import one_hot
from . import distributed
from .optim_tf import set_tf_eps_

Tensor = torch.Tensor


class Iteration:
    """The update logic of the Trainer that owns it (it reads and updates that Trainer's parts)."""

    def __init__(self, trainer: Any) -> None:
        self.t = trainer
        self.config = trainer.config

    @property
    def batches_per_iteration(self) -> int:
        config = self.config
        reuse = config.k_step_batches == "reuse" or config.update_scheme == "simultaneous"
        return 1 if reuse else config.d_steps

    # ------------------------------------------------------------------ pieces
    def noise(self) -> Tensor:
        """This rank's rows of the next whole-batch noise draw (G's own stream, batches.py)."""
        return self.t.batches.noise()

    def scaled(self, loss: Tensor, n: int) -> Tensor:
        """Per-sample losses summed (TF's minimize on a vector) instead of averaged."""
        return loss * n if self.config.loss_reduction == "sum" else loss

    def step(self, opt: torch.optim.Optimizer) -> None:
        if self.config.adam_eps_style == "tf":  # TF/Keras add epsilon before the bias correction
            state = opt.state.get(opt.param_groups[0]["params"][0], {})
            set_tf_eps_(opt, self.config.adam_eps, int(state["step"]) + 1 if "step" in state else 1)
        opt.step()

    def next_batch(self) -> tuple[Tensor, Tensor | None]:
        t = self.t
        batch = t.batches.get(t.batches_seen)
        t.batches_seen += 1
        return batch

    # ------------------------------------------------------------------ one iteration
    def run(self, pause: str) -> None:
        """pause: "none", "d" or "g", the side the balance rule holds back this iteration."""
        if self.config.update_scheme == "simultaneous":
            self.simultaneous()
            return
        self.shared = None  # (z, fake, y): the noise and fakes the shared-noise policy passes on
        self.first = self.next_batch()  # D's first batch; its labels condition G's fakes too
        self.penalty = None
        phases = (self.d_phase, self.g_phase) if self.config.update_order == "d_first" else \
            (self.g_phase, self.d_phase)
        for phase in phases:
            phase(pause)
        if pause == "g":  # logged only: what G's loss would be on the fakes D just judged
            self.loss_g = self.t.g_loss(self.fake_logits.detach())

    def d_phase(self, pause: str) -> None:
        t, config, stab = self.t, self.config, self.t.stabilisers
        g_follows = config.update_order == "d_first" and pause != "g" and config.g_noise == "shared"
        reuse = config.k_step_batches == "reuse"
        real, y = self.first
        z = fake = fake_y = None
        if self.shared is not None:  # G went first on shared noise: D judges the fakes it trained on
            z, fake, fake_y = self.shared
        for i in range(config.d_steps):
            if i and not reuse:
                real, y = self.next_batch()
                z = fake = None
            if fake is None:
                z = self.noise()
                fake_y = self.fake_labels(y, z)  # drawn once: G makes and D judges the same labels
                # Only the fakes G trains on next keep G's graph.
                with torch.set_grad_enabled(g_follows and (reuse or i == config.d_steps - 1)):
                    fake = t.G_train(z, fake_y)
            B = real.shape[0]
            # (1) D: maximize log D(x) + log(1 - D(G(z))); real and fake in one call
            with torch.set_grad_enabled(pause != "d"):
                pair = torch.cat([real, fake.detach()])
                logits = t.D_train(stab.shown(pair), None if y is None else torch.cat([y, fake_y]))
                self.real_logits, self.fake_logits = logits[:B], logits[B:]
                self.loss_d = t.d_loss.loss(self.real_logits, self.fake_logits)  # logged without penalties
                if pause != "d":
                    self.penalty = stab.main_penalty(t.D, real, fake.detach(), y)
            if pause != "d":
                t.opt_D.zero_grad(set_to_none=True)
                total = self.scaled(self.loss_d, B)
                (total if self.penalty is None else total + self.penalty).backward()
                self.step(t.opt_D)
                stab.observe(self.real_logits)
                if stab.reg.due(t.step * config.d_steps + i):  # lazy R1/R2, every reg_interval D steps
                    t.opt_D.zero_grad(set_to_none=True)
                    # D itself, not its DDP, compiled or autocast wrappers: DDP wants a gradient for
                    # every weight (R1 leaves D's output bias none), torch.compile has no double
                    # backward; the ranks average the gradients by hand, as DDP would.
                    reg = stab.reg.loss(stab.judged_by(t.D), real, fake, y, fake_y)
                    reg.backward()
                    distributed.average_gradients_(t.D.parameters())
                    self.step(t.opt_D)
                    self.penalty = reg / stab.reg.interval  # logged per step, like the main phase's
        self.last_real = (real, y)
        self.shared = (z, fake, fake_y) if g_follows else None

    def fake_labels(self, y: Tensor | None, z: Tensor) -> Tensor | None:
        """The labels the fakes of noise z are drawn for: the real batch's classes (its first
        len(z), or topped up with random classes when it is short); a clustered G adds the clusters
        it picks from z within them."""
        if self.config.clusters:
            classes = self._sized(self.t.G.class_labels(y), len(z)) if self.config.conditional else None
            return self.t.G.cluster_labels(z, classes)
        return self._sized(y, len(z))

    def _sized(self, y: Tensor | None, n: int) -> Tensor | None:
        if y is None or len(y) == n:
            return y
        if len(y) > n:
            return y[:n]
        ids = torch.randint(self.config.num_classes, (n - len(y),), device=y.device)
        return torch.cat([y, one_hot(ids, self.config.num_classes)])

    def g_phase(self, pause: str) -> None:
        if pause == "g":
            return
        t, config, stab = self.t, self.config, self.t.stabilisers
        z = None
        for j in range(config.g_steps):
            if j == 0 and self.shared is not None:  # the fakes D's last step judged, graph kept
                z, fake, y = self.shared
            else:
                if z is None or config.k_step_batches == "fresh":
                    z = self.noise()
                y = self.fake_labels(self.first[1], z)
                fake = t.G_train(z, y)
            # (2) G: maximize log D(G(z)) (or the configured G loss), D frozen: no weight gradients for D,
            # and not through DDP: nothing waits for D gradients nobody uses
            t.D.requires_grad_(False)
            self.loss_g = t.g_loss(t.D_frozen(stab.shown(fake), y))
            t.opt_G.zero_grad(set_to_none=True)
            self.scaled(self.loss_g, len(fake)).backward()
            self.step(t.opt_G)
            t.D.requires_grad_(True)
            if t.G_ema is not None:
                t.G_ema.update(t.G, config.batch_size, t.batches_seen * config.batch_size)
            if j == 0 and config.update_order == "g_first" and config.g_noise == "shared":
                self.shared = (z, fake.detach(), y)  # D's first step judges these fakes

    def simultaneous(self) -> None:
        """Keras' train_step: one forward, both tapes, both optimisers applied (G, then D)."""
        t, config, stab = self.t, self.config, self.t.stabilisers
        real, y = self.next_batch()
        B = real.shape[0]
        z = self.noise()
        fake_y = self.fake_labels(y, z)
        fake = t.G_train(z, fake_y)
        logits = t.D_train(stab.shown(torch.cat([real, fake])), None if y is None else torch.cat([y, fake_y]))
        self.real_logits, self.fake_logits = logits[:B], logits[B:]
        self.loss_d = t.d_loss.loss(self.real_logits, self.fake_logits)
        self.loss_g = t.g_loss(self.fake_logits)
        self.penalty = stab.main_penalty(t.D, real, fake.detach(), y)
        loss_d = self.scaled(self.loss_d, B) + (0 if self.penalty is None else self.penalty)
        g_params, d_params = list(t.G.parameters()), list(t.D.parameters())
        g_grads = torch.autograd.grad(self.scaled(self.loss_g, B), g_params, retain_graph=True)
        d_grads = torch.autograd.grad(loss_d, d_params)
        for params, grads in ((g_params, g_grads), (d_params, d_grads)):
            for p, g in zip(params, grads, strict=True):
                p.grad = g
        self.step(t.opt_G)
        self.step(t.opt_D)
        stab.observe(self.real_logits)
        if t.G_ema is not None:
            t.G_ema.update(t.G, config.batch_size, t.batches_seen * config.batch_size)
        self.last_real = (real, y)
