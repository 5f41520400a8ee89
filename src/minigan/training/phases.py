"""One training iteration as phases, the way stylegan2-ada-pytorch's loop runs its loss:

    Dmain  (1) D: maximise log D(x) + log(1 - D(G(z)))  [+ the WGAN-GP penalty at interpolates]
                  [+ the class head's cross-entropy on the reals (--aux-class-weight)]
                  [+ bCR: D's logits on translated copies held to its logits (--cr-weight)]
    Dreg   D's lazy R1/R2 penalty, every `reg_interval` D steps, scaled by the interval
    Gmain  (2) G: maximise log D(G(z)) (or the configured G loss), D frozen
                  [RpGAN: of D(G(z)) - D(x), D judging a real batch too, no gradient]
                  [+ the class head's cross-entropy on the fakes against their labels]
    Dboth  the dcgan write-up's Keras train_step: one forward, G's and D's gradients from it

`schedule(config)` lists one iteration's phases: k x (Dmain, Dreg), then Gmain (G first for the
write-ups that step G first), or (Dboth, Dreg) for simultaneous updates. Every stabiliser belongs to
a phase (augmentation to everything D judges, GP and bCR to Dmain and Dboth, R1/R2 to Dreg), so no scheme
can skip one. Which reals and fakes each phase takes is fidelity.py's `Feed`; the balance rule
pauses a side; the loop never knows which loss it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from ..config import TrainConfig
from ..models.base import class_ids
from . import parallel
from .augment import Augmenter
from .ema import GeneratorEMA
from .fidelity import Fakes, Feed, OptimiserStep, scaled
from .losses import G_LOSSES_ON_GAPS, DLossSpec, LazyRegulariser, wgan_gp_penalty

Tensor = torch.Tensor
PhaseName = Literal["Dmain", "Dreg", "Gmain", "Dboth"]
Pause = Literal["none", "d", "g"]


def schedule(config: TrainConfig) -> list[PhaseName]:
    """The phases of one iteration, in order."""
    reg: list[PhaseName] = ["Dreg"] if config.r1_gamma or config.r2_gamma else []
    if config.update_scheme == "simultaneous":
        return ["Dboth", *reg]
    d_side: list[PhaseName] = ["Dmain", *reg] * config.d_steps
    g_side: list[PhaseName] = ["Gmain"] * config.g_steps
    return d_side + g_side if config.update_order == "d_first" else g_side + d_side


def logged_terms(config: TrainConfig) -> tuple[str, ...]:
    """The loss terms beside D's and G's main losses that stats.jsonl logs for this config, each as
    it enters its side's loss (weighted): the class head's on D's reals and G's fakes, bCR's."""
    names = ("loss_class_d", "loss_class_g") if config.aux_class_weight else ()
    return names + (("loss_cr",) if config.cr_weight else ())


def _logged(**terms: Tensor | float) -> dict[str, Tensor]:
    """The terms that are on (a float 0.0 is a term that is off), detached for the statistics."""
    return {name: value.detach() for name, value in terms.items() if isinstance(value, Tensor)}


@dataclass
class Networks:
    """The modules the phases call: DDP-, compile- or autocast-wrapped (`G_train`, `D_train`; D in
    G's phase is `D_frozen`: not through DDP, nothing waits for D gradients nobody computes) and
    the plain ones (`G`, `D`) for the penalties' double backward, which neither DDP nor
    torch.compile takes."""

    G: torch.nn.Module
    D: torch.nn.Module
    G_train: Callable
    D_train: Callable
    D_frozen: Callable


@dataclass
class Outcome:
    """What one iteration leaves to log: D's last logits and losses, the penalty if any, the other
    terms (`logged_terms`) by name."""

    real_logits: Tensor
    fake_logits: Tensor
    loss_d: Tensor
    loss_g: Tensor | None = None
    penalty: Tensor | None = None
    last_real: tuple[Tensor, Tensor | None] | None = None
    terms: dict[str, Tensor] = field(default_factory=dict)


class GANLoss:
    """D's and G's objectives, phase by phase: each method computes only what its phase needs and
    backpropagates it (the caller zeroes gradients before and steps the optimiser after)."""

    def __init__(self, config: TrainConfig, nets: Networks, d_loss: DLossSpec,
                 g_loss: Callable[[Tensor], Tensor], augmenter: Augmenter) -> None:
        self.config, self.nets, self.augmenter = config, nets, augmenter
        self.d_loss, self.g_loss = d_loss, g_loss
        self.on_gaps = config.g_loss in G_LOSSES_ON_GAPS
        self.reg = LazyRegulariser(config.r1_gamma, config.r2_gamma, config.reg_interval)

    def _judge(self, D: Callable, images: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """D's logits, and with --aux-class-weight its class logits from the same forward."""
        if not self.config.aux_class_weight:
            return D(images, labels), None
        return D(images, labels, classify=True)

    def _class_loss(self, class_logits: Tensor | None, labels: Tensor | None, fakes: bool = False
                    ) -> Tensor | float:
        """AC-GAN's term, weighted: the cross-entropy of D's class logits against the classes of
        `labels`, on the first rows (the reals: D learns to classify only real images) or the last
        (`fakes`: G's term); 0 when it is off."""
        if class_logits is None:
            return 0.0
        n = len(labels)
        rows = class_logits[-n:] if fakes else class_logits[:n]
        classes = class_ids(labels, self.config.num_classes)
        return self.config.aux_class_weight * torch.nn.functional.cross_entropy(rows, classes)

    def _judge_pair(self, pair: Tensor, labels: Tensor | None, consistency: bool = True
                    ) -> tuple[Tensor, Tensor | None, Tensor | float]:
        """D's logits and class logits on [reals; fakes], and bCR's term (Zhao et al. 2021): with
        --cr-weight w, D also judges a translated copy of each image in the same call, and
        w x (mean squared gap on the reals + on the fakes) pulls its logits on the copies to its
        logits on the originals, through both. 0 when it is off (or not `consistency`)."""
        shown = self.augmenter.shown(pair)
        if not (self.config.cr_weight and consistency):
            return (*self._judge(self.nets.D_train, shown, labels), 0.0)
        n = len(shown)
        labels = None if labels is None else torch.cat([labels, labels])
        logits, class_logits = self._judge(self.nets.D_train, torch.cat([shown, self.augmenter.moved(shown)]),
                                           labels)
        gap = (logits[n:] - logits[:n]).float().square()
        term = self.config.cr_weight * (gap[:n // 2].mean() + gap[n // 2:].mean())
        return logits[:n], None if class_logits is None else class_logits[:n], term

    def g_objective(self, fake_logits: Tensor, real_logits: Tensor | None) -> Tensor:
        """G's loss on D's logits: of the fakes' alone, or (RpGAN) of each fake's minus its row's real's."""
        return self.g_loss(fake_logits - real_logits.detach() if self.on_gaps else fake_logits)

    def _gp(self, real: Tensor, fakes: Fakes, y: Tensor | None) -> Tensor | None:
        if not self.config.gp_lambda:
            return None
        critic = self.augmenter.judged_by(self.nets.D)
        return wgan_gp_penalty(critic, real, fakes.images.detach(), y, lam=self.config.gp_lambda)

    def d_main(self, real: Tensor, y: Tensor | None, fakes: Fakes, train: bool) -> Outcome:
        """(1) D on reals and fakes in one call; with `train` False (D paused) only its logits."""
        B = real.shape[0]
        with torch.set_grad_enabled(train):
            pair = torch.cat([real, fakes.images.detach()])
            labels = None if y is None else torch.cat([y, fakes.labels])
            logits, class_logits, consistency = self._judge_pair(pair, labels, consistency=train)
            out = Outcome(logits[:B], logits[B:], None)
            out.loss_d = self.d_loss.loss(out.real_logits, out.fake_logits)  # logged without penalties
            class_term = self._class_loss(class_logits, y)
            out.terms = _logged(loss_class_d=class_term, loss_cr=consistency)
            if train:
                out.penalty = self._gp(real, fakes, y)
        if train:
            total = scaled(self.config, out.loss_d + class_term + consistency, B)
            (total if out.penalty is None else total + out.penalty).backward()
        return out

    def d_reg(self, real: Tensor, y: Tensor | None, fakes: Fakes) -> Tensor:
        """Lazy R1/R2 on D itself, not its wrappers; the ranks average the gradients by hand, as
        DDP would (R1 leaves D's output bias without one, which DDP would wait for)."""
        penalty = self.reg.loss(self.augmenter.judged_by(self.nets.D), real, fakes.images, y, fakes.labels)
        penalty.backward()
        parallel.average_gradients_(self.nets.D.parameters())
        return penalty / self.reg.interval  # logged per step, like the main phase's

    def g_main(self, fakes: Fakes, real: Tensor, y: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        """(2) G through a frozen D: no weight gradients for D. The reals are judged only for a G
        loss on gaps (RpGAN), without a graph. Returns G's loss and its other terms."""
        D = self.nets.D
        D.requires_grad_(False)
        shown = self.augmenter.shown(fakes.images)
        logits, class_logits = self._judge(self.nets.D_frozen, shown, fakes.labels)
        real_logits = None
        if self.on_gaps:
            with torch.no_grad():
                real_logits = self.nets.D_frozen(self.augmenter.shown(real), y)
        loss = self.g_objective(logits, real_logits)
        class_term = self._class_loss(class_logits, fakes.labels, fakes=True)
        scaled(self.config, loss + class_term, len(shown)).backward()
        D.requires_grad_(True)
        return loss, _logged(loss_class_g=class_term)

    def d_both(self, real: Tensor, y: Tensor | None, fakes: Fakes) -> Outcome:
        """Keras' train_step: one forward, both tapes; G's gradient through D's pre-update weights."""
        B, (G, D) = real.shape[0], (self.nets.G, self.nets.D)
        labels = None if y is None else torch.cat([y, fakes.labels])
        logits, class_logits, consistency = self._judge_pair(torch.cat([real, fakes.images]), labels)
        out = Outcome(logits[:B], logits[B:], None)
        out.loss_d = self.d_loss.loss(out.real_logits, out.fake_logits)
        out.loss_g = self.g_objective(out.fake_logits, out.real_logits)
        out.penalty = self._gp(real, fakes, y)
        class_d = self._class_loss(class_logits, y)
        class_g = self._class_loss(class_logits, fakes.labels, fakes=True)
        out.terms = _logged(loss_class_d=class_d, loss_class_g=class_g, loss_cr=consistency)
        loss_d = scaled(self.config, out.loss_d + class_d + consistency, B)
        loss_d = loss_d + (0 if out.penalty is None else out.penalty)
        loss_g = out.loss_g + class_g
        g_params, d_params = list(G.parameters()), list(D.parameters())
        g_grads = torch.autograd.grad(scaled(self.config, loss_g, B), g_params, retain_graph=True)
        d_grads = torch.autograd.grad(loss_d, d_params)
        for params, grads in ((g_params, g_grads), (d_params, d_grads)):
            for p, g in zip(params, grads, strict=True):
                p.grad = g
        return out


class Iteration:
    """Runs one iteration's phases: zero the gradients, the loss's phase, the optimiser step."""

    def __init__(self, config: TrainConfig, loss: GANLoss, feed: Feed, opt_G: torch.optim.Optimizer,
                 opt_D: torch.optim.Optimizer, ema: GeneratorEMA | None) -> None:
        self.config, self.loss, self.feed, self.ema = config, loss, feed, ema
        self.phases = schedule(config)
        self.opt_G, self.opt_D = opt_G, opt_D
        self.step_G, self.step_D = OptimiserStep(opt_G, config), OptimiserStep(opt_D, config)

    def run(self, step: int, pause: Pause) -> Outcome:
        """Iteration number `step` (0-based); pause: the side the balance rule holds back ("none",
        "d" or "g"). Dreg runs on D steps step * d_steps + i that are multiples of its interval."""
        feed, loss = self.feed, self.loss
        feed.begin()
        i = j = 0  # D and G steps taken this iteration
        out: Outcome | None = None  # D's newest logits and losses
        fakes = g_fakes = loss_g = None
        g_terms: dict[str, Tensor] = {}
        real, y = feed.first
        for phase in self.phases:
            if phase == "Dmain":
                real, y = feed.reals(i)
                fakes = feed.fakes_for_d(i, y, g_paused=pause == "g")
                if pause != "d":
                    self.opt_D.zero_grad(set_to_none=True)
                out = loss.d_main(real, y, fakes, train=pause != "d")
                if pause != "d":
                    self.step_D()
                    loss.augmenter.observe(out.real_logits)
                i += 1
                if i == self.config.d_steps:
                    feed.after_d(fakes, g_paused=pause == "g")
            elif phase == "Dreg":
                if pause == "d" or not loss.reg.due(step * self.config.d_steps + i - 1):
                    continue
                self.opt_D.zero_grad(set_to_none=True)
                out.penalty = loss.d_reg(real, y, fakes)
                self.step_D()
            elif phase == "Gmain":
                if pause == "g":
                    continue
                g_fakes = feed.fakes_for_g(j, g_fakes)
                self.opt_G.zero_grad(set_to_none=True)
                loss_g, g_terms = loss.g_main(g_fakes, real, y)
                self.step_G()
                self._update_ema()
                feed.after_g(j, g_fakes)
                j += 1
            else:  # Dboth
                fakes = feed.draw(y)
                out = loss.d_both(real, y, fakes)
                loss_g, i = out.loss_g, i + 1
                self.step_G()
                self.step_D()
                loss.augmenter.observe(out.real_logits)
                self._update_ema()
        # G paused: logged only, what G's loss would be on the fakes D just judged
        out.loss_g = loss.g_objective(out.fake_logits.detach(), out.real_logits) if pause == "g" else loss_g
        out.last_real = (real, y)
        out.terms.update(g_terms)
        return out

    def _update_ema(self) -> None:
        if self.ema is not None:
            batch = self.config.batch_size
            self.ema.update(self.loss.nets.G, batch, self.feed.batches_seen * batch)
