"""Presets as records: a config, the overrides that make it its write-up line by line, and notes.

The five classic MNIST GAN write-ups (../shared/seeds/) and the tuned recipes are values of the
one `TrainConfig`; `get_config` resolves a preset plus overrides (the Python twin of the CLI flags)
and refuses fields the chosen architecture would ignore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import TrainConfig, config_fields, ema_kimg_from_decay
from .errors import ConfigError
from .models.registry import check_honoured


@dataclass(frozen=True)
class Preset:
    config: TrainConfig
    notes: str  # what the recipe is, and where the default deviates from its write-up and why
    literal: dict[str, Any] = field(default_factory=dict)  # --literal: the write-up's own values
    seed: str | None = None  # the write-up in ../shared/seeds/ this preset comes from


# The fast presets' EMA: a per-step decay of 0.999 at batch 64, i.e. a half-life of 44.3k images.
_FAST_EMA_KIMG = round(ema_kimg_from_decay(0.999, 64), 1)

PRESETS: dict[str, Preset] = {
    "minimal": Preset(
        TrainConfig(preset="minimal", arch="mlp", z_dim=10, z_prior="uniform", g_hidden=(64,),
                    d_hidden=(512,), g_activation="relu", d_activation="relu", g_output="sigmoid",
                    lr_g=1e-3, lr_d=1e-3, beta1=0.9, batch_size=16, grid_size=20, checkpoint_every=5000,
                    log_every=200, sample_every=2000),
        "MLP GAN: z=10 ~ U(-1,1), G 64 ReLU -> sigmoid, D 512 ReLU -> logit, Adam 1e-3, batch 16.",
        literal=dict(steps=50_000, train_holdout=5000, batch_order="tf_next_batch", g_noise="fresh",
                     k_step_batches="reuse", g_init="glorot_uniform", d_init="glorot_uniform",
                     adam_eps_style="tf"),
        seed="000",
    ),
    "vanilla": Preset(
        # The write-up as written, but for its 50k-iteration budget (--literal adds it). Measured,
        # 50k iterations on one core: FID-MNIST 376, 10 modes; the earlier default (LeCun init, Adam
        # 2e-4 / beta1 0.5, logit losses, D first) 631, 7 modes; Adam's defaults with LeCun init 3471.
        TrainConfig(preset="vanilla", arch="mlp", z_dim=100, z_prior="normal", g_hidden=(400,),
                    d_hidden=(400,), g_init="std_inv_fan_in", d_init="std_inv_fan_in", g_output="sigmoid",
                    d_loss="prob", g_loss="prob", lr_g=1e-3, lr_d=1e-3, beta1=0.9, batch_size=128,
                    update_order="g_first", batch_order="replacement", train_holdout=5000, g_noise="fresh",
                    adam_eps_style="tf"),
        "MLP GAN as the write-up's code ran it: 400-unit layers, weights N(0, std 1/fan_in), z=100 ~ "
        "N(0,1), D(x) on probabilities, non-saturating G loss, G updated first, real batches drawn with "
        "replacement from TF's 55,000 images, Adam's defaults (TF's epsilon), batch 128. No deviation: "
        "the narrow init is what lets Adam 1e-3 train (with LeCun's init it collapsed, FID-MNIST 3471).",
        literal=dict(steps=50_000),
        seed="003",
    ),
    "mlp4": Preset(
        TrainConfig(preset="mlp4", arch="mlp", z_dim=100, g_hidden=(256, 512, 1024),
                    d_hidden=(1024, 512, 256), g_activation="leaky_relu", d_activation="leaky_relu",
                    leaky_slope=0.2, d_dropout=0.3, g_output="tanh", lr_g=2e-4, lr_d=2e-4, beta1=0.5,
                    batch_size=64),
        "4-layer MLPs, LeakyReLU(0.2), dropout 0.3, tanh, batch 64. Default Adam 2e-4/beta1 0.5: the "
        "seed's Adam 2e-3 diverges here (D wins at once); --literal restores it.",
        literal=dict(lr_g=2e-3, lr_d=2e-3, beta1=0.9, g_hidden=(32, 64, 128), d_hidden=(128, 64, 32),
                     g_dropout=0.3, z_prior="uniform", fixed_noise=16, grid_size=8,
                     batch_order="shuffle_keep_last", g_noise="fresh", epochs=100),
        seed="002",
    ),
    "dcgan": Preset(
        TrainConfig(preset="dcgan", arch="dcgan", z_dim=100, image_size=32, pad=2, leaky_slope=0.001,
                    g_dropout=0.3, d_dropout=0.3, g_batchnorm=True, g_output="tanh", lr_g=2e-4,
                    lr_d=2e-4, beta1=0.05, batch_size=200, log_every=20, checkpoint_every=300),
        "Conv G (dense 128x8x8, BN, upsampling, 5x5 convs, tanh), strided conv D on 32x32 zero-padded "
        "digits, Adam 2e-4 beta1 0.05, batch 200.",
        literal=dict(arch="dcgan_literal", g_batchnorm=False, g_init="glorot_uniform",
                     d_init="glorot_uniform", bn_momentum=0.01, bn_eps=1e-3, pixel_scale="div128",
                     pad_value="zero", batch_order="fixed", update_scheme="simultaneous", adam_eps=1e-7,
                     adam_eps_style="tf", epochs=60,
                     progress_noise="fresh", progress_mode="train", progress_batch=200, grid_size=8),
        seed="001",
    ),
    "cgan": Preset(
        TrainConfig(preset="cgan", arch="cgan", conditional=True, z_dim=2, g_output="sigmoid",
                    g_batchnorm=True, d_dropout=0.5, lr_g=1e-4, lr_d=1e-4, beta1=0.9, batch_size=10,
                    balance=True, log_every=200, sample_every=2000, checkpoint_every=5000),
        "Conditional conv GAN, 2-d noise, Adam 1e-4, batch 10, adaptive balance on (without it the "
        "recipe collapses to black images). Two additions, both removed by --literal: batchnorm in G "
        "(without it G collapsed to one fixed pattern by step 2000 even with balancing) and D's label "
        "projection term (without it label accuracy was 0.16 after 300 s; with it 0.95 after 240 s).",
        literal=dict(arch="cgan_literal", g_batchnorm=False, label_projection=False,
                     g_output="sigmoid_clip", g_init="truncated_normal_cgan", d_init="truncated_normal_cgan",
                     d_loss="cgan_clipped",
                     g_loss="cgan_clipped", loss_reduction="sum", update_order="g_first", g_noise="fresh",
                     balance_schedule="every", balance_every=100, balance_metric="cgan", train_holdout=5000,
                     batch_order="tf_next_batch_legacy", checkpoint_every=1000, keep_checkpoints=5,
                     weight_report=1e9, adam_eps_style="tf", log_every=100),
        seed="004",
    ),
    # Tuned for time to quality on a laptop CPU (not a seed recipe): compact DCGAN + G EMA. Adam 1e-3:
    # after 300 s on one core, FID-MNIST 256 / 189 / 142 / 144 at 2e-4 / 5e-4 / 1e-3 / 2e-3 (fast)
    # and 77 / 25 / 18 / 18 (fast-cond, label accuracy 0.93 / 0.98 / 0.98 / 0.98).
    "fast": Preset(
        TrainConfig(preset="fast", arch="conv", z_dim=64, g_hidden=(64, 32), d_hidden=(32, 64),
                    d_activation="leaky_relu", g_batchnorm=True, g_output="tanh", lr_g=1e-3, lr_d=1e-3,
                    beta1=0.5, batch_size=64, g_ema_kimg=_FAST_EMA_KIMG),
        "Tuned, not a seed recipe: compact 28x28 DCGAN (4x4 convs, BN in G), NS loss, Adam 1e-3/0.5, "
        "batch 64, EMA of G: the best digits per CPU minute.",
    ),
    "fast-cond": Preset(
        TrainConfig(preset="fast-cond", arch="conv", conditional=True, z_dim=64, g_hidden=(64, 32),
                    d_hidden=(32, 64), d_activation="leaky_relu", g_batchnorm=True, g_output="tanh",
                    lr_g=1e-3, lr_d=1e-3, beta1=0.5, batch_size=64, g_ema_kimg=_FAST_EMA_KIMG),
        "The class-conditional twin of `fast` (labels into G's input and D's head, projection term).",
    ),
}


def preset_names() -> list[str]:
    return sorted(PRESETS)


def get_config(preset: str = "mlp4", *, literal: bool = False, **overrides: Any) -> TrainConfig:
    """Resolve a preset plus overrides into a validated config (the Python twin of the CLI flags)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(preset_names())}")
    known = {f.name for f in config_fields()}
    if unknown := sorted(set(overrides) - known):
        raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; see `minigan presets`")
    record = PRESETS[preset]
    values = record.config.to_dict()
    if literal:
        values.update(record.literal)
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    return check_honoured(TrainConfig.from_dict(values), explicit=given)


__all__ = ["Preset", "PRESETS", "get_config", "preset_names"]
