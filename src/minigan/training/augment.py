"""Differentiable augmentation of D's inputs (DiffAugment, Zhao et al. 2020) and ADA's adaptive p.

D sees T(x) for reals and T(G(z)) for fakes, in its main phase and in G's phase alike, with T
differentiable so G's gradient flows through it; pictures, samples and evaluations never pass
through T. Each transform in the policy hits each image independently with probability p
(Karras et al. 2020), with fresh per-image parameters. Parameters are drawn from a torch.Generator
the loop owns and checkpoints (`generator.get_state()`), so a resumed run draws the same ones; the
number of draws does not depend on p, so ADA moving p does not shift the stream.

Transforms (x in `pixel_range`, not clamped afterwards: clamping would cut gradients):
- translation: shift by an integer in [-s, s] rows and columns, s = int(size * 1/8 + 0.5)
  (4 px at 28 and 32), the uncovered border filled with `fill` (default black, pixel_range[0]);
- cutout: a square of side int(size / 2 + 0.5) centred anywhere in the image (clipped at the
  border) set to `fill`;
- brightness: add U[-0.5, 0.5) * (hi - lo) / 2 (DiffAugment's +-0.5 in [-1, 1]);
- contrast: scale around the image's mean by U[0.5, 1.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import get_args

import torch
import torch.nn.functional as F

from ..config import AugmentOp, TrainConfig, augment_ops
from ..errors import ConfigError
from .losses import Critic

Tensor = torch.Tensor

AUGMENT_OPS: tuple[AugmentOp, ...] = get_args(AugmentOp)


@dataclass(frozen=True)
class AugmentParams:
    """One batch's per-image draws (CPU tensors); an op missing from `applied` is not in the policy.

    applied[op]: (B,) bool, the images that op transforms. shift: (B, 2) int64 (rows, cols) the
    content moves by. corner: (B, 2) int64 top-left of the cutout square, possibly negative.
    brightness: (B,) offsets; contrast: (B,) factors (both only meaningful where applied).
    """

    applied: dict[str, Tensor] = field(default_factory=dict)
    shift: Tensor | None = None
    corner: Tensor | None = None
    brightness: Tensor | None = None
    contrast: Tensor | None = None


@dataclass(frozen=True)
class DiffAugment:
    """T(x) for a batch (B, C, H, W): `policy` applied in its order, each op with probability p."""

    policy: tuple[AugmentOp, ...]
    pixel_range: tuple[float, float] = (-1.0, 1.0)
    fill: float | None = None  # None: black, i.e. pixel_range[0] (0 in [0, 1], -1 in [-1, 1])
    translation_ratio: float = 0.125
    cutout_ratio: float = 0.5

    @classmethod
    def from_policy(cls, policy: str, pixel_range: tuple[float, float] = (-1.0, 1.0),
                    fill: float | None = None) -> DiffAugment:
        return cls(augment_ops(policy), pixel_range, fill)

    def __post_init__(self) -> None:
        lo, hi = self.pixel_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"augment: pixel_range must be (low, high), low < high, got {self.pixel_range}")
        if self.fill is not None and not math.isfinite(self.fill):
            raise ConfigError(f"augment: fill must be a finite pixel value, got {self.fill}")
        for name in ("translation_ratio", "cutout_ratio"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"augment: {name} must be in (0, 1], got {getattr(self, name)}")

    @property
    def fill_value(self) -> float:
        return self.pixel_range[0] if self.fill is None else self.fill

    def draw(self, batch_size: int, height: int, width: int, p: float,
             generator: torch.Generator) -> AugmentParams:
        """Per-image parameters for one batch; always the same number of draws, whatever p is."""
        B, where = batch_size, generator.device
        applied: dict[str, Tensor] = {}
        shift = corner = brightness = contrast = None
        for op in self.policy:
            applied[op] = torch.rand(B, generator=generator, device=where) < p
            if op == "translation":
                sh, sw = (int(n * self.translation_ratio + 0.5) for n in (height, width))
                shift = torch.stack([torch.randint(-sh, sh + 1, (B,), generator=generator, device=where),
                                     torch.randint(-sw, sw + 1, (B,), generator=generator, device=where)], 1)
            elif op == "cutout":
                ch, cw = self.cutout_size(height, width)
                # centre anywhere on the image (DiffAugment's range), then the top-left corner
                rows = torch.randint(0, height + 1 - ch % 2, (B,), generator=generator, device=where)
                cols = torch.randint(0, width + 1 - cw % 2, (B,), generator=generator, device=where)
                corner = torch.stack([rows - ch // 2, cols - cw // 2], 1)
            elif op == "brightness":
                lo, hi = self.pixel_range
                brightness = (torch.rand(B, generator=generator, device=where) - 0.5) * (0.5 * (hi - lo))
            else:
                contrast = torch.rand(B, generator=generator, device=where) + 0.5
        return AugmentParams(applied, shift, corner, brightness, contrast)

    def cutout_size(self, height: int, width: int) -> tuple[int, int]:
        return int(height * self.cutout_ratio + 0.5), int(width * self.cutout_ratio + 0.5)

    def apply(self, x: Tensor, params: AugmentParams) -> Tensor:
        """T(x) with the given draws; differentiable w.r.t. x (twice, for R1 through T)."""
        if x.dim() != 4:
            raise ConfigError(f"augment works on image batches (B, C, H, W), got shape {tuple(x.shape)}")
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else None
        for op in self.policy:
            applied = params.applied[op]
            if applied.device.type == "cpu" and not bool(applied.any()):
                continue  # no image takes this op (p = 0 is exactly the identity)
            applied = applied.to(x.device, non_blocking=True)
            if op == "translation":
                x = translate(x, params.shift.to(x.device) * applied[:, None], self.fill_value)
            elif op == "cutout":
                x = cutout(x, params.corner.to(x.device), self.cutout_size(*x.shape[2:]), applied,
                           self.fill_value)
            elif op == "brightness":
                offset = torch.where(applied, params.brightness.to(x.device), 0.0).to(x.dtype)
                x = x + offset.view(-1, 1, 1, 1)
            else:
                factor = torch.where(applied, params.contrast.to(x.device), 1.0).to(x.dtype)
                mean = x.mean(dim=(1, 2, 3), keepdim=True)
                x = (x - mean) * factor.view(-1, 1, 1, 1) + mean
        return x.contiguous(memory_format=layout or torch.contiguous_format)  # a no-op unless changed

    def __call__(self, x: Tensor, p: float, generator: torch.Generator) -> Tensor:
        if not self.policy:
            return x
        return self.apply(x, self.draw(x.shape[0], x.shape[2], x.shape[3], p, generator))


def translate(x: Tensor, shift: Tensor, fill: float) -> Tensor:
    """out[b, :, i, j] = x[b, :, i - shift[b, 0], j - shift[b, 1]], `fill` where that is outside."""
    B, C, H, W = x.shape
    padded = F.pad(x, (1, 1, 1, 1), value=fill)  # (B, C, H+2, W+2): rows/cols 0 and H+1/W+1 are fill
    rows = (torch.arange(H, device=x.device) - shift[:, :1] + 1).clamp_(0, H + 1)  # (B, H) in padded
    cols = (torch.arange(W, device=x.device) - shift[:, 1:] + 1).clamp_(0, W + 1)  # (B, W)
    # one gather over the flattened padded image: half the time of advanced indexing on CPU
    source = (rows[:, :, None] * (W + 2) + cols[:, None, :]).view(B, 1, H * W).expand(B, C, H * W)
    return padded.reshape(B, C, (H + 2) * (W + 2)).gather(2, source).view(B, C, H, W)


def cutout(x: Tensor, corner: Tensor, size: tuple[int, int], applied: Tensor, fill: float) -> Tensor:
    """`fill` on rows [top, top+h) x cols [left, left+w) of each applied image (clipped)."""
    H, W = x.shape[2:]
    rows, cols = torch.arange(H, device=x.device), torch.arange(W, device=x.device)
    top, left = corner[:, :1], corner[:, 1:]
    in_rows = ((rows >= top) & (rows < top + size[0]) & applied[:, None]).to(x.dtype)  # (B, H)
    in_cols = ((cols >= left) & (cols < left + size[1])).to(x.dtype)  # (B, W)
    inside = in_rows[:, None, :, None] * in_cols[:, None, None, :]  # (B, 1, H, W): 1 in the square
    # lerp is exact at weights 0 and 1, and ~2x cheaper than masked_fill with a broadcast bool mask
    return torch.lerp(x, torch.full((), fill, dtype=x.dtype, device=x.device), inside)


class AdaptiveAugmentP:
    """ADA's overfitting heuristic (Karras et al. 2020): r_t = E[sign(D(x_real) - center)].

    r_t near 1 means D is sure of every real image, i.e. it overfits, so p rises; below the target
    p falls. Every `interval` observed batches: p += sign(r_t - target) * step, clamped to [0, 1].
    ADA's step is batch * interval / 500k images (p can go 0 -> 1 in 500k images): `step_for`.
    `center` is D's undecided output: 0 for logits (bce, hinge), 0.5 for lsgan's raw output; the
    heuristic has no meaning for a Wasserstein critic. Signs accumulate on D's device; the only host
    sync is one per `interval` batches.
    """

    def __init__(self, target: float = 0.6, *, step: float, interval: int = 4, p: float = 0.0,
                 center: float = 0.0) -> None:
        if not 0.0 < step <= 1.0:
            raise ConfigError(f"ADA's p step must be in (0, 1], got {step}")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ConfigError(f"ADA's interval must be a whole number >= 1, got {interval!r}")
        self.target, self.step, self.interval, self.center = target, step, interval, center
        self.p = p
        self.r_t: float | None = None  # the last measured value (for logs and health checks)
        self._sign_sum: Tensor = torch.zeros(())
        self._count = 0  # real logits seen since the last update
        self._batches = 0

    @staticmethod
    def step_for(batch_size: int, interval: int = 4, ramp_images: int = 500_000) -> float:
        """ADA's step: p can move from 0 to 1 in `ramp_images` real images."""
        if batch_size < 1 or ramp_images < 1:
            raise ConfigError("ADA needs a positive batch size and ramp length")
        return min(1.0, batch_size * interval / ramp_images)

    def observe(self, real_logits: Tensor) -> float:
        """Add one batch of D's outputs on (augmented) reals; return the p to use next."""
        signs = torch.sign(real_logits.detach() - self.center).sum()
        self._sign_sum = self._sign_sum.to(signs.device) + signs
        self._count += real_logits.numel()
        self._batches += 1
        if self._batches >= self.interval:
            self.r_t = float(self._sign_sum) / self._count
            direction = (self.r_t > self.target) - (self.r_t < self.target)
            self.p = min(1.0, max(0.0, self.p + direction * self.step))
            self._sign_sum, self._count, self._batches = torch.zeros((), device=signs.device), 0, 0
        return self.p

    def state_dict(self) -> dict[str, float | int | None]:
        return {"p": self.p, "r_t": self.r_t, "sign_sum": float(self._sign_sum), "count": self._count,
                "batches": self._batches}

    def load_state_dict(self, state: dict[str, float | int | None]) -> None:
        self.p, self.r_t = float(state["p"]), None if state["r_t"] is None else float(state["r_t"])
        self._sign_sum = torch.tensor(float(state["sign_sum"]))
        self._count, self._batches = int(state["count"]), int(state["batches"])


class Augmenter:
    """What D is shown in training: T(x) with the config's policy and p (ADA's when it adapts), from
    a stream of its own that checkpoints carry. Reals and fakes in D's phases and in G's, and the
    penalties' inputs, pass through it; pictures, samples and evaluations never do."""

    def __init__(self, config: TrainConfig) -> None:
        self.augment = (DiffAugment.from_policy(config.augment, config.pixel_range)
                        if config.augment else None)
        self.fixed_p = config.augment_p
        self.rng = torch.Generator().manual_seed(config.seed + 0x5EED)  # augmentation draws (CPU)
        self.ada = None
        if config.ada_target:
            step = AdaptiveAugmentP.step_for(config.batch_size, ramp_images=round(config.ada_kimg * 1000))
            self.ada = AdaptiveAugmentP(config.ada_target, step=step, p=config.augment_p,
                                        center=0.5 if config.d_loss == "lsgan" else 0.0)
        self.consistency = (DiffAugment.from_policy("translation", config.pixel_range)
                            if config.cr_weight else None)

    @property
    def p(self) -> float:
        return self.ada.p if self.ada is not None else self.fixed_p

    def shown(self, x: Tensor) -> Tensor:
        """What D sees of a batch of images: T(x) with augmentation on, else x."""
        return x if self.augment is None else self.augment(x, self.p, self.rng)

    def moved(self, x: Tensor) -> Tensor:
        """bCR's T(x): every image translated by up to 1/8 of its side (the consistency
        regulariser's own transform, on top of what `shown` did), from the same checkpointed stream."""
        return self.consistency(x, 1.0, self.rng)

    def judged_by(self, D: Critic) -> Critic:
        """D composed with the augmentation: what the penalties differentiate."""
        return lambda x, y: D(self.shown(x), y)

    def observe(self, real_logits: Tensor) -> None:
        if self.ada is not None:
            self.ada.observe(real_logits)

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
