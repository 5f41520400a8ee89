"""The stabilisers of D's phases, as the loop sees them: what D is shown (augmentation, with ADA's
adaptive probability), the gradient penalty of its main phase (WGAN-GP) and its lazy reg phase
(R1/R2). Spectral norm and minibatch stddev live in the networks (models/registry.py).

Augmentation is applied to everything D judges in training, reals, fakes in D's phase and in G's,
and the penalties' inputs, never to progress pictures, samples or evaluations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..config import TrainConfig
from .augment import AdaptiveAugmentP, DiffAugment
from .penalties import LazyRegulariser, wgan_gp_penalty

Tensor = torch.Tensor


class DiscriminatorStabilisers:
    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        self.config = config
        self.augment = (DiffAugment.from_policy(config.augment, config.pixel_range)
                        if config.augment else None)
        self.rng = torch.Generator().manual_seed(config.seed + 0x5EED)  # augmentation draws (CPU)
        self.ada = None
        if config.ada_target:
            step = AdaptiveAugmentP.step_for(config.batch_size, ramp_images=round(config.ada_kimg * 1000))
            self.ada = AdaptiveAugmentP(config.ada_target, step=step, p=config.augment_p,
                                        center=0.5 if config.d_loss == "lsgan" else 0.0)
        self.reg = LazyRegulariser(config.r1_gamma, config.r2_gamma, config.reg_interval)

    @property
    def p(self) -> float:
        return self.ada.p if self.ada is not None else self.config.augment_p

    @property
    def penalised(self) -> bool:
        return bool(self.config.gp_lambda) or self.reg.active

    def shown(self, x: Tensor) -> Tensor:
        """What D sees of a batch of images: T(x) with augmentation on, else x."""
        return x if self.augment is None else self.augment(x, self.p, self.rng)

    def judged_by(self, D: torch.nn.Module) -> Callable[[Tensor, Tensor | None], Tensor]:
        """D composed with the augmentation: what the penalties differentiate."""
        return lambda x, y: D(self.shown(x), y)

    def main_penalty(self, D: torch.nn.Module, real: Tensor, fake: Tensor, y: Tensor | None) -> Tensor | None:
        """The gradient penalty added to D's main loss (WGAN-GP), or None."""
        if not self.config.gp_lambda:
            return None
        return wgan_gp_penalty(self.judged_by(D), real, fake, y, lam=self.config.gp_lambda)

    @torch.no_grad()
    def plain_belief(self, D: torch.nn.Module, belief: Callable[[Tensor], Tensor], real: Tensor,
                     y: Tensor | None) -> float:
        """D's mean belief on a batch of reals shown without augmentation (for the leak check).

        In eval mode: no dropout draw and no spectral-norm power iteration, so neither the training
        run's random streams nor D's state change (a resumed run stays bit-exact).
        """
        was_training = D.training
        D.eval()
        try:
            return float(belief(D(real, y)).mean())
        finally:
            D.train(was_training)

    def observe(self, real_logits: Tensor) -> None:
        if self.ada is not None:
            self.ada.observe(real_logits)

    def record(self) -> dict:
        fields = {}
        if self.augment is not None:
            fields["augment_p"] = self.p
        if self.ada is not None and self.ada.r_t is not None:
            fields["ada_r_t"] = self.ada.r_t
        return fields

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state(), "ada": None if self.ada is None else self.ada.state_dict()}

    def load_state_dict(self, state: dict | None) -> None:
        if state is None:  # a checkpoint from before the stabilisers: nothing was drawn yet
            return
        self.rng.set_state(state["rng"])
        if self.ada is not None and state["ada"] is not None:
            self.ada.load_state_dict(state["ada"])
