"""An exponential moving average of G's weights (Karras et al. 2018; Yazici et al. 2019).

The averaging is a half-life in images, as StyleGAN2-ADA's `ema_kimg`, so it means the same at
every batch size: after each G step the average moves toward G by 1 - beta with
beta = 0.5 ** (batch_size / half_life_images). With `rampup`, the half-life is at most rampup x the
images seen so far, so a short run does not average in its untrained start. A per-step decay d at
batch B is the half-life B * ln(0.5) / ln(d) images (`config.ema_kimg_from_decay`).

Batchnorm statistics are not averaged weights: the running mean and variance G collected belong
to G's weights, not to the average. `refresh_statistics` recomputes them for the averaged weights
from fresh noise (as SWA's `update_bn` does) whenever the EMA generator is about to be used.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from ..config import TrainConfig
from ..models import one_hot
from ..sampling import sample_latents


def ema_beta(batch_size: int, images_seen: int, half_life_kimg: float, rampup: float) -> float:
    half_life = half_life_kimg * 1000
    if rampup:
        half_life = min(half_life, images_seen * rampup)
    return 0.5 ** (batch_size / max(half_life, 1e-8))


class GeneratorEMA:
    def __init__(self, generator: nn.Module, half_life_kimg: float, rampup: float) -> None:
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)
        self.half_life_kimg, self.rampup = half_life_kimg, rampup

    @torch.no_grad()
    def update(self, generator: nn.Module, batch_size: int, images_seen: int) -> None:
        beta = ema_beta(batch_size, images_seen, self.half_life_kimg, self.rampup)
        torch._foreach_lerp_(list(self.module.parameters()), list(generator.parameters()), 1.0 - beta)

    @torch.no_grad()
    def refresh_statistics(self, make_batch: Callable[[torch.Generator], tuple], source: nn.Module,
                           batches: int = 8, seed: int = 0) -> None:
        """Re-estimate what is not an averaged weight for the averaged weights.

        Batchnorm: every running mean and variance, from `batches` batches of fresh noise.
        Spectral norm: its power-iteration vectors start from `source`'s (G's, whose weights are
        near the average) and take one more iteration per refresh batch.
        `make_batch(rng)` returns G's inputs (z, labels) for one batch. The noise comes from a private
        generator seeded with `seed` and the global RNG is restored afterwards (G's dropout draws from
        it), so refreshing changes nothing about the training run's random streams.
        """
        own = dict(self.module.named_buffers())
        spectral = [name for name in own if ".parametrizations." in name and name.endswith(("_u", "_v"))]
        sources = dict(source.named_buffers())
        for name in spectral:
            own[name].copy_(sources[name])
        norms = [m for m in self.module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms and not spectral:
            return
        device = next(self.module.parameters()).device
        momenta = [m.momentum for m in norms]
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the refresh batches
            self.module.train()
            rng = torch.Generator(device=device).manual_seed(seed)
            for _ in range(batches):
                self.module(*make_batch(rng))
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        self.module.eval()

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)


def noise_batches(config: TrainConfig, device: torch.device) -> Callable[[torch.Generator], tuple]:
    """G's inputs for one refresh batch, (z, labels or None), drawn from `rng`."""
    def batch(rng: torch.Generator) -> tuple:
        z = sample_latents(config.batch_size, config.z_dim, config.z_prior, device, generator=rng)
        if not config.conditional:
            return z, None
        ids = torch.randint(config.num_classes, (config.batch_size,), generator=rng, device=device)
        return z, one_hot(ids, config.num_classes)

    return batch
