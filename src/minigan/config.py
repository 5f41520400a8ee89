"""The one typed config of a run: fields, their choices, coercion from strings, validation.

Every field can be set from Python (`get_config("mlp4", lr_g=1e-3)`) or from the CLI (`--lr-g 1e-3`):
the CLI builds its flags, their choices and their help text from the declarations below (the
comment after each field is its help). Presets, which are values of this class, live in presets.py;
what each architecture honours lives in models/registry.py.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ConfigError

Dataset = Literal["mnist", "idx"]
Arch = Literal["mlp", "dcgan", "cgan", "conv"]
ZPrior = Literal["normal", "uniform"]
Activation = Literal["relu", "leaky_relu"]
OutputActivation = Literal["sigmoid", "tanh"]
Init = Literal["default", "lecun_normal"]
DLoss = Literal["bce", "hinge", "lsgan"]
GLoss = Literal["nonsaturating", "minimax", "hinge", "lsgan"]
OnNan = Literal["abort", "rollback"]
Precision = Literal["fp32", "bf16"]


@dataclass
class TrainConfig:
    preset: str = "custom"  # the preset this config started from

    # Data.
    dataset: Dataset = "mnist"  # mnist: verified, downloaded if missing; idx: any folder of IDX files
    data_dir: str | None = None  # data folder (default: $MINIGAN_DATA_DIR, else the user cache)
    image_size: int = 28  # side of the images G makes and D sees (data side + 2 * pad)
    pad: int = 0  # zero border around every data image (dcgan: 2, 28 -> 32); samples are cropped back

    # Networks.
    arch: Arch = "mlp"  # network family; `minigan presets` shows which fields each one honours
    z_dim: int = 100  # size of G's noise vector
    z_prior: ZPrior = "normal"  # noise distribution: N(0,1) or U(-1,1)
    g_hidden: tuple[int, ...] = (256,)  # G's hidden widths, input to output (conv: channels at S/4, S/2)
    d_hidden: tuple[int, ...] = (256,)  # D's hidden widths, input to output (conv: channels at S/2, S/4)
    g_activation: Activation = "relu"  # G's hidden activation
    d_activation: Activation = "relu"  # D's hidden activation
    leaky_slope: float = 0.2  # negative slope of every LeakyReLU
    g_dropout: float = 0.0  # dropout rate after G's hidden layers (0 = none)
    d_dropout: float = 0.0  # dropout rate after D's hidden layers (0 = none)
    g_output: OutputActivation = "sigmoid"  # sigmoid: pixels in [0,1]; tanh: pixels in [-1,1]
    g_batchnorm: bool = False  # batchnorm in G's hidden layers
    init: Init = "default"  # default: PyTorch's; lecun_normal: N(0, 1/fan_in) weights, zero biases
    conditional: bool = False  # class-conditional G and D (labels enter as one-hot vectors)
    label_projection: bool = True  # conditional D adds <embed(label), features> (Miyato & Koyama 2018)
    num_classes: int = 10  # classes of a conditional model

    # Losses and optimisers.
    d_loss: DLoss = "bce"  # D's loss on its logits: bce (minimax), hinge, lsgan
    g_loss: GLoss = "nonsaturating"  # G's loss on D's logits of its samples
    lr_g: float = 2e-4  # G's Adam learning rate
    lr_d: float = 2e-4  # D's Adam learning rate
    beta1: float = 0.5  # Adam beta1 of both optimisers
    beta2: float = 0.999  # Adam beta2 of both optimisers
    batch_size: int = 64  # images per D step (real and fake each)
    d_steps: int = 1  # k: discriminator steps per generator step
    g_ema_kimg: float = 0.0  # half-life of G's weight EMA in thousands of images (0 = no EMA)
    g_ema_rampup: float = 0.05  # the EMA half-life is at most this times the images seen (0 = no ramp-up)

    # Adaptive balance: pause whichever side is winning (running D error outside [low, high]).
    balance: bool = False  # pause D when it is winning, G when it is losing (the cgan recipe's rule)
    balance_low: float = 0.3  # running D error below this: D is winning, pause D
    balance_high: float = 0.8  # running D error above this: G is winning, pause G
    balance_momentum: float = 0.9  # EMA factor of the running D error

    # Health.
    on_nan: OnNan = "abort"  # on a NaN/inf: abort, or roll back to the last good checkpoint with halved lr

    # Budgets (totals for the run, across resumes). None = no limit; with no limit at all, 1 epoch.
    steps: int | None = None  # generator steps in total
    epochs: float | None = None  # passes over the training set in total
    time_budget: float | None = None  # seconds of training in total (evaluation not counted)

    # Run.
    seed: int = 0  # seed of weights, noise, data order and the fixed progress noise
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    threads: int = 0  # torch intra-op threads (0 = PyTorch's default); use 1 when runs share a machine
    # GPU path: both refused on CPU, where neither pays (benchmarks/README.md); TF32 is on for CUDA anyway.
    precision: Precision = "fp32"  # fp32, or bf16: G's and D's forward passes under bfloat16 autocast (CUDA)
    compile: bool = False  # torch.compile G and D (CUDA; the first steps compile, for tens of seconds)
    log_every: int = 100  # steps between stats records (the only host syncs of the loop)
    sample_every: int = 0  # steps between fixed-noise progress grids (0 = once per epoch)
    checkpoint_every: int = 1000  # steps between checkpoints
    keep_checkpoints: int = 3  # newest periodic checkpoints kept
    grid_size: int = 10  # progress and final grids are grid_size x grid_size
    eval_every: int = 0  # steps between quality evaluations into metrics.jsonl (0 = off)
    eval_num: int = 2000  # samples per evaluation during training
    tensorboard: bool = False  # also write TensorBoard scalars and images (needs minigan[tensorboard])

    @property
    def pixel_range(self) -> tuple[float, float]:
        """The data range the generator's output activation implies."""
        return (-1.0, 1.0) if self.g_output == "tanh" else (0.0, 1.0)

    @property
    def data_size(self) -> int:
        """Side of the data's images (and of every sample handed to a user)."""
        return self.image_size - 2 * self.pad

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = upgrade_legacy_fields(values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s) {', '.join(unknown)}; see `minigan presets`")
        coerced = {name: coerce_field(name, value) for name, value in values.items()}
        return validate(cls(**coerced))


def upgrade_legacy_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Read configs written by minigan 0.1 (config.json, checkpoints, generator files).

    `g_ema` was a per-step decay; the same averaging as a half-life in images is
    batch_size * ln(0.5) / ln(decay). `init="xavier"` always meant N(0, 1/fan_in): LeCun's init.
    32x32 runs padded 28x28 digits by 2 without saying so.
    """
    values = dict(values)
    if "g_ema" in values:
        decay = float(values.pop("g_ema"))
        batch = int(values.get("batch_size", TrainConfig.batch_size))
        values.setdefault("g_ema_kimg", ema_kimg_from_decay(decay, batch) if decay else 0.0)
    if values.get("init") == "xavier":
        values["init"] = "lecun_normal"
    if "pad" not in values and int(values.get("image_size", 28)) == 32:
        values["pad"] = 2
    return values


def ema_kimg_from_decay(decay: float, batch_size: int) -> float:
    """The half-life (thousands of images) of a per-step EMA decay at this batch size."""
    return batch_size * math.log(0.5) / math.log(decay) / 1000


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


@functools.cache
def field_help() -> dict[str, str]:
    """Each field's help text: the comment after its declaration in TrainConfig."""
    pattern = re.compile(r"^\s+(\w+): [^=]+=.*?#\s*(.+)$")
    return {m.group(1): m.group(2).strip() for line in inspect.getsource(TrainConfig).splitlines()
            if (m := pattern.match(line))}


def field_choices(name: str) -> tuple[str, ...] | None:
    """The allowed values of a `Literal` field (None for free-form fields)."""
    hint = _field_types()[name]
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else None


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


_POSITIVE = ("z_dim", "batch_size", "d_steps", "lr_g", "lr_d", "log_every", "checkpoint_every",
             "keep_checkpoints", "grid_size", "num_classes", "eval_num", "image_size")
_NON_NEGATIVE = ("leaky_slope", "sample_every", "eval_every", "threads", "seed", "pad", "g_ema_kimg",
                 "g_ema_rampup")
_BUDGETS = ("steps", "epochs", "time_budget")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def validate(config: TrainConfig) -> TrainConfig:
    """Reject impossible settings with one line that names the field and the fix.

    Which fields an architecture honours is checked by `models.registry.check_honoured`.
    """
    for name, value in dataclasses.asdict(config).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value}")
        if (allowed := field_choices(name)) is not None and value not in allowed:
            raise ConfigError(f"{name}={value!r} is not one of: {', '.join(allowed)}")
    if config.seed >= 2**32:
        raise ConfigError(f"seed must be below 2**32, got {config.seed}")
    for name in _POSITIVE:
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(config, name)}")
    for name in _NON_NEGATIVE:
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be zero or positive, got {getattr(config, name)}")
    for name in _BUDGETS:
        value = getattr(config, name)
        if value is not None and value <= 0:
            raise ConfigError(f"{flag(name)} must be positive, got {value}")
    for name in ("g_hidden", "d_hidden"):
        if not getattr(config, name) or any(width <= 0 for width in getattr(config, name)):
            raise ConfigError(f"{name} widths must be positive, got {getattr(config, name)}")
    for name in ("g_dropout", "d_dropout"):
        if not 0.0 <= getattr(config, name) < 1.0:
            raise ConfigError(f"{name} must be in [0, 1), got {getattr(config, name)}")
    if not 0.0 <= config.beta1 < 1.0 or not 0.0 <= config.beta2 < 1.0:
        raise ConfigError("beta1 and beta2 must be in [0, 1)")
    if config.data_size <= 0:
        raise ConfigError(f"pad={config.pad} leaves no image inside image_size={config.image_size}")
    if not 0.0 <= config.balance_low < config.balance_high:
        raise ConfigError("balance_low must be >= 0 and below balance_high")
    if not 0.0 <= config.balance_momentum < 1.0:
        raise ConfigError("balance_momentum must be in [0, 1)")
    if not (config.device in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", config.device)):
        raise ConfigError(f"device={config.device!r}: use auto, cpu, cuda or cuda:N")
    return config


def config_fields() -> list[dataclasses.Field]:
    """The overridable fields, in declaration order (the CLI builds its flags from these)."""
    return [f for f in dataclasses.fields(TrainConfig) if f.name != "preset"]


__all__ = [
    "TrainConfig", "validate", "coerce_field", "config_fields", "field_help", "field_choices",
    "ema_kimg_from_decay", "flag",
]
