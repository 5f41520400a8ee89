"""Presets as data: one typed config for every recipe, and the one place overrides are resolved.

A preset is a `TrainConfig` instance. Every field can be overridden from Python
(`get_config("mlp4", lr_g=1e-3)`) or from the CLI (`--lr-g 1e-3`); the CLI flags are generated from
the fields below, so both front ends use the same names.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError


@dataclass
class TrainConfig:
    preset: str = "custom"

    # Data.
    # "mnist": checksums verified, downloaded if missing; "idx": any folder of MNIST-format IDX files
    dataset: str = "mnist"
    data_dir: str | None = None  # default: $MINIGAN_DATA_DIR, else the user cache
    image_size: int = 28  # 32 zero-pads the 28x28 digits (DCGAN); outputs are always cropped back to 28

    # Networks.
    arch: str = "mlp"  # mlp | dcgan | cgan | conv (compact DCGAN, widths from g_hidden/d_hidden)
    z_dim: int = 100
    z_prior: str = "normal"  # normal: N(0,1); uniform: U(-1,1)
    g_hidden: tuple[int, ...] = (256,)  # MLP hidden widths, input to output
    d_hidden: tuple[int, ...] = (256,)
    g_activation: str = "relu"  # relu | leaky_relu
    d_activation: str = "relu"
    leaky_slope: float = 0.2
    g_dropout: float = 0.0
    d_dropout: float = 0.0
    g_output: str = "sigmoid"  # sigmoid: pixels in [0,1]; tanh: pixels in [-1,1]
    g_batchnorm: bool = False  # cgan arch: batchnorm after G's dense and first transposed conv
    init: str = "default"  # default: PyTorch's; xavier: N(0, 1/fan_in) weights, zero biases
    conditional: bool = False  # class-conditional G and D (labels enter as one-hot vectors)
    label_projection: bool = True  # conditional D adds <embed(label), features> (Miyato & Koyama 2018)
    num_classes: int = 10

    # Losses and optimisers.
    d_loss: str = "bce"  # bce (minimax D loss on logits) | hinge | lsgan
    g_loss: str = "nonsaturating"  # nonsaturating | minimax | hinge | lsgan
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 64
    d_steps: int = 1  # k: discriminator steps per generator step
    g_ema: float = 0.0  # decay of an EMA copy of G used for sampling (e.g. 0.999; 0 = off)

    # Adaptive balance: pause whichever side is winning (running D error outside [low, high]).
    balance: bool = False
    balance_low: float = 0.3  # running D error below this: D is winning, pause D
    balance_high: float = 0.8  # above this: G is winning, pause G
    balance_momentum: float = 0.9  # EMA factor of the running D error

    # Health.
    on_nan: str = "abort"  # abort | rollback (to the last good checkpoint, learning rates halved)

    # Budgets (totals for the run, across resumes). None = no limit; with no limit at all, 1 epoch.
    steps: int | None = None  # generator steps
    epochs: float | None = None
    time_budget: float | None = None  # seconds of training

    # Run.
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch intra-op threads; 0 = leave PyTorch's default
    log_every: int = 100  # steps between stats records (the only host syncs of the loop)
    sample_every: int = 0  # steps between fixed-noise grids; 0 = once per epoch
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    grid_size: int = 10  # final and progress grids are grid_size x grid_size
    eval_every: int = 0  # steps between quality evaluations (0 = off)
    eval_num: int = 2000
    tensorboard: bool = False

    @property
    def pixel_range(self) -> tuple[float, float]:
        """The data range the generator's output activation implies."""
        return (-1.0, 1.0) if self.g_output == "tanh" else (0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; see `minigan presets`")
        coerced = {name: coerce_field(name, value) for name, value in values.items()}
        return validate(cls(**coerced))


PRESETS: dict[str, TrainConfig] = {
    "minimal": TrainConfig(
        preset="minimal", arch="mlp", z_dim=10, z_prior="uniform", g_hidden=(64,), d_hidden=(512,),
        g_activation="relu", d_activation="relu", g_output="sigmoid",
        lr_g=1e-3, lr_d=1e-3, beta1=0.9, batch_size=16, grid_size=20, checkpoint_every=5000,
        log_every=200, sample_every=2000,
    ),
    "vanilla": TrainConfig(
        preset="vanilla", arch="mlp", z_dim=100, z_prior="normal", g_hidden=(400,), d_hidden=(400,),
        init="xavier", g_output="sigmoid", d_loss="bce", g_loss="nonsaturating",
        lr_g=2e-4, lr_d=2e-4, beta1=0.5, batch_size=128,
    ),
    "mlp4": TrainConfig(
        preset="mlp4", arch="mlp", z_dim=100, g_hidden=(256, 512, 1024), d_hidden=(1024, 512, 256),
        g_activation="leaky_relu", d_activation="leaky_relu", leaky_slope=0.2, d_dropout=0.3,
        g_output="tanh", lr_g=2e-4, lr_d=2e-4, beta1=0.5, batch_size=64,
    ),
    "dcgan": TrainConfig(
        preset="dcgan", arch="dcgan", z_dim=100, image_size=32, leaky_slope=0.001,
        g_dropout=0.3, d_dropout=0.3, g_output="tanh", lr_g=2e-4, lr_d=2e-4, beta1=0.05,
        batch_size=200, log_every=20, checkpoint_every=300,
    ),
    "cgan": TrainConfig(
        preset="cgan", arch="cgan", conditional=True, z_dim=2, g_output="sigmoid", g_batchnorm=True,
        d_dropout=0.5, lr_g=1e-4, lr_d=1e-4, beta1=0.9, batch_size=10, balance=True,
        log_every=200, sample_every=2000, checkpoint_every=5000,
    ),
    # Tuned for time to quality on a laptop CPU (not a seed recipe): compact DCGAN + G EMA. Adam 1e-3:
    # after 300 s on one core, FID-MNIST 256 / 189 / 142 / 144 at 2e-4 / 5e-4 / 1e-3 / 2e-3 (fast)
    # and 77 / 25 / 18 / 18 (fast-cond, label accuracy 0.93 / 0.98 / 0.98 / 0.98).
    "fast": TrainConfig(
        preset="fast", arch="conv", z_dim=64, g_hidden=(64, 32), d_hidden=(32, 64),
        d_activation="leaky_relu", g_output="tanh", lr_g=1e-3, lr_d=1e-3, beta1=0.5,
        batch_size=64, g_ema=0.999,
    ),
    "fast-cond": TrainConfig(
        preset="fast-cond", arch="conv", conditional=True, z_dim=64, g_hidden=(64, 32),
        d_hidden=(32, 64), d_activation="leaky_relu", g_output="tanh", lr_g=1e-3, lr_d=1e-3,
        beta1=0.5, batch_size=64, g_ema=0.999,
    ),
}

# Where a recipe as written does not train here, its preset deviates; `literal=True` (CLI: --literal)
# restores the seed's values. Each entry says why in PRESET_NOTES.
LITERAL_OVERRIDES: dict[str, dict[str, Any]] = {
    "mlp4": {"lr_g": 2e-3, "lr_d": 2e-3, "beta1": 0.9},
    "vanilla": {"lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.9},
    "cgan": {"g_batchnorm": False, "label_projection": False},
}
PRESET_NOTES: dict[str, str] = {
    "minimal": "MLP GAN: z=10 ~ U(-1,1), G 64 ReLU -> sigmoid, D 512 ReLU -> logit, Adam 1e-3, batch 16.",
    "vanilla": "MLP GAN: 400-unit layers, N(0,1/fan_in) init, z=100 ~ N(0,1), minimax D / "
    "non-saturating G loss, batch 128. Default Adam 2e-4/beta1 0.5: the seed's Adam defaults (1e-3) "
    "saturate D by step 300 and collapse G to one blob here; --literal restores them.",
    "mlp4": "4-layer MLPs, LeakyReLU(0.2), dropout 0.3, tanh, batch 64. Default Adam 2e-4/beta1 0.5: the "
    "seed's Adam 2e-3 diverges here (D wins at once); --literal restores it.",
    "dcgan": "Conv G (dense 128x8x8, BN, upsampling, 5x5 convs, tanh), strided conv D on 32x32 "
    "zero-padded digits, Adam 2e-4 beta1 0.05, batch 200.",
    "fast": "Tuned, not a seed recipe: compact 28x28 DCGAN (4x4 convs, BN in G), NS loss, Adam 1e-3/0.5, "
    "batch 64, EMA of G: the best digits per CPU minute.",
    "fast-cond": "The class-conditional twin of `fast` (labels into G's input and D's head).",
    "cgan": "Conditional conv GAN, 2-d noise, Adam 1e-4, batch 10, adaptive balance on (without it "
    "the recipe collapses to black images). Two additions, both removed by --literal: batchnorm in G "
    "(without it G collapsed to one fixed pattern by step 2000 even with balancing) and D's label "
    "projection term (without it label accuracy was 0.16 after 300 s; with it 0.95 after 240 s).",
}


def preset_names() -> list[str]:
    return sorted(PRESETS)


def get_config(preset: str = "mlp4", *, literal: bool = False, **overrides: Any) -> TrainConfig:
    """Resolve a preset plus overrides into a validated config (the Python twin of the CLI flags)."""
    if preset not in PRESETS:
        raise ConfigError(
            f"unknown preset {preset!r}; choose one of: {', '.join(preset_names())}"
        )
    values = PRESETS[preset].to_dict()
    if literal:
        values.update(LITERAL_OVERRIDES.get(preset, {}))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(values)


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def coerce_field(name: str, value: Any) -> Any:
    """Turn a CLI string or JSON value into the field's declared type, or raise ConfigError."""
    hint = _field_types()[name]
    args = typing.get_args(hint)
    optional = (typing.get_origin(hint) in (typing.Union, types.UnionType)) and type(None) in args
    if optional:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "")):
            return None
        hint = next(a for a in args if a is not type(None))
    try:
        if typing.get_origin(hint) is tuple:
            if isinstance(value, str):
                value = [v for v in value.replace(" ", "").split(",") if v]
            return tuple(int(v) for v in value)
        if hint is bool:
            if isinstance(value, str):
                lowered = value.lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return lowered in ("true", "1", "yes")
            return bool(value)
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if hint is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        kind = getattr(hint, "__name__", hint)
        raise ConfigError(f"{name}: cannot read {value!r} as {kind}") from None


_CHOICES = {
    "dataset": ("mnist", "fashion", "kmnist", "emnist-letters", "emnist-balanced", "emnist-digits", "qmnist",
                "idx"),
    "arch": ("mlp", "dcgan", "cgan", "conv"),
    "z_prior": ("normal", "uniform"),
    "g_activation": ("relu", "leaky_relu"),
    "d_activation": ("relu", "leaky_relu"),
    "g_output": ("sigmoid", "tanh"),
    "init": ("default", "xavier"),
    "d_loss": ("bce", "hinge", "lsgan"),
    "g_loss": ("nonsaturating", "minimax", "hinge", "lsgan"),
    "on_nan": ("abort", "rollback"),
}
_POSITIVE = ("z_dim", "batch_size", "d_steps", "lr_g", "lr_d", "log_every", "checkpoint_every",
             "keep_checkpoints", "grid_size", "num_classes", "eval_num")
_NON_NEGATIVE = ("leaky_slope", "sample_every", "eval_every", "threads", "seed")
_BUDGETS = ("steps", "epochs", "time_budget")


def validate(config: TrainConfig) -> TrainConfig:
    """Reject impossible settings with one line that names the field and the fix."""
    for name, value in dataclasses.asdict(config).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value}")
    if config.seed >= 2**32:
        raise ConfigError(f"seed must be below 2**32, got {config.seed}")
    for name, allowed in _CHOICES.items():
        value = getattr(config, name)
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} is not one of: {', '.join(allowed)}")
    for name in _POSITIVE:
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(config, name)}")
    for name in _NON_NEGATIVE:
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be zero or positive, got {getattr(config, name)}")
    for name in _BUDGETS:
        value = getattr(config, name)
        if value is not None and value <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
    for name in ("g_hidden", "d_hidden"):
        if any(width <= 0 for width in getattr(config, name)):
            raise ConfigError(f"{name} widths must be positive, got {getattr(config, name)}")
    for name in ("g_dropout", "d_dropout"):
        if not 0.0 <= getattr(config, name) < 1.0:
            raise ConfigError(f"{name} must be in [0, 1), got {getattr(config, name)}")
    if not 0.0 <= config.beta1 < 1.0 or not 0.0 <= config.beta2 < 1.0:
        raise ConfigError("beta1 and beta2 must be in [0, 1)")
    if config.image_size not in (28, 32):
        raise ConfigError(f"image_size must be 28 or 32, got {config.image_size}")
    if config.arch == "dcgan" and config.image_size != 32:
        raise ConfigError("arch=dcgan works on 32x32 zero-padded digits: set image_size=32")
    if config.arch == "cgan" and not config.conditional:
        raise ConfigError("arch=cgan is conditional by design: keep conditional=true or pick another arch")
    if not 0.0 <= config.g_ema < 1.0:
        raise ConfigError(f"g_ema must be in [0, 1), got {config.g_ema}")
    if not 0.0 <= config.balance_low < config.balance_high:
        raise ConfigError("balance_low must be >= 0 and below balance_high")
    if not 0.0 <= config.balance_momentum < 1.0:
        raise ConfigError("balance_momentum must be in [0, 1)")
    if not (config.device in ("auto", "cpu", "cuda") or config.device.startswith("cuda:")):
        raise ConfigError(f"device={config.device!r}: use auto, cpu, cuda or cuda:N")
    return config


def config_fields() -> list[dataclasses.Field]:
    """The overridable fields, in declaration order (the CLI builds its flags from these)."""
    return [f for f in dataclasses.fields(TrainConfig) if f.name != "preset"]


__all__ = [
    "TrainConfig", "PRESETS", "PRESET_NOTES", "LITERAL_OVERRIDES", "get_config", "preset_names",
    "validate", "coerce_field", "config_fields",
]
