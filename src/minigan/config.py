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
Arch = Literal["mlp", "dcgan", "cgan", "conv", "dcgan_literal", "cgan_literal"]
ZPrior = Literal["normal", "uniform"]
Activation = Literal["relu", "leaky_relu"]
OutputActivation = Literal["sigmoid", "tanh", "sigmoid_clip"]
InitScheme = Literal["default", "lecun_normal", "std_inv_fan_in", "glorot_uniform", "truncated_normal_cgan"]
DLoss = Literal["bce", "hinge", "lsgan", "wgan", "cgan_clipped", "prob"]
GLoss = Literal["nonsaturating", "minimax", "hinge", "lsgan", "wgan", "cgan_clipped", "prob"]
LossReduction = Literal["mean", "sum"]
UpdateScheme = Literal["alternating", "simultaneous"]
UpdateOrder = Literal["d_first", "g_first"]
GNoise = Literal["shared", "fresh"]
KStepBatches = Literal["fresh", "reuse"]
BatchOrder = Literal["shuffle", "shuffle_keep_last", "file", "fixed", "replacement", "tf_next_batch",
                     "tf_next_batch_legacy"]
PixelScale = Literal["auto", "div128"]
PadValue = Literal["black", "zero"]
EpsStyle = Literal["torch", "tf"]
BalanceSchedule = Literal["running", "every"]
BalanceMetric = Literal["mean_ce", "cgan"]
ProgressNoise = Literal["fixed", "fresh"]
ProgressMode = Literal["eval", "train"]
AugmentOp = Literal["translation", "cutout", "brightness", "contrast"]
OnNan = Literal["abort", "rollback"]


@dataclass
class TrainConfig:
    preset: str = "custom"  # the preset this config started from

    # Data.
    dataset: Dataset = "mnist"  # mnist: verified, downloaded if missing; idx: any folder of IDX files
    data_dir: str | None = None  # data folder (default: $MINIGAN_DATA_DIR, else the user cache)
    image_size: int = 28  # side of the images G makes and D sees (data side + 2 * pad)
    pad: int = 0  # zero border around every data image (dcgan: 2, 28 -> 32); samples are cropped back
    pad_value: PadValue = "black"  # the border: black, or 0.0 after scaling (tf.pad: grey in [-1,1])
    pixel_scale: PixelScale = "auto"  # auto: [0,1] or [-1,1] from g_output; div128: x/128 - 1 (dcgan)
    batch_order: BatchOrder = "shuffle"  # which images make each batch (the write-ups' orders)
    train_holdout: int = 0  # leave out the first N training images (TF's read_data_sets kept 5000)

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
    g_output: OutputActivation = "sigmoid"  # sigmoid: [0,1]; tanh: [-1,1]; sigmoid_clip: clip(1.2 s - 0.1)
    g_batchnorm: bool = False  # batchnorm in G's hidden layers
    bn_momentum: float = 0.1  # batchnorm running-stats momentum, PyTorch's convention (Keras 0.99 = 0.01)
    bn_eps: float = 1e-5  # batchnorm epsilon (Keras: 1e-3)
    g_init: InitScheme = "default"  # G's initial weights (models/init.py); lecun_normal: N(0, 1/fan_in)
    d_init: InitScheme = "default"  # D's initial weights
    conditional: bool = False  # class-conditional G and D (labels enter as one-hot vectors)
    label_projection: bool = True  # conditional D adds <embed(label), features> (Miyato & Koyama 2018)
    num_classes: int = 10  # classes of a conditional model

    # Losses and optimisers.
    d_loss: DLoss = "bce"  # D's loss on its logits (cgan_clipped, prob: the write-ups' probability forms)
    g_loss: GLoss = "nonsaturating"  # G's loss on D's logits of its samples
    loss_reduction: LossReduction = "mean"  # sum: per-sample losses summed, as TF's minimize on a vector
    lr_g: float = 2e-4  # G's Adam learning rate
    lr_d: float = 2e-4  # D's Adam learning rate
    beta1: float = 0.5  # Adam beta1 of both optimisers
    beta2: float = 0.999  # Adam beta2 of both optimisers
    adam_eps: float = 1e-8  # Adam epsilon of both optimisers (Keras: 1e-7)
    adam_eps_style: EpsStyle = "torch"  # tf: epsilon added before the bias correction, as TF and Keras do
    batch_size: int = 64  # images per D step (real and fake each)
    d_steps: int = 1  # k: discriminator steps per iteration
    g_steps: int = 1  # generator steps per iteration
    update_scheme: UpdateScheme = "alternating"  # simultaneous: both gradients from one forward (Keras)
    update_order: UpdateOrder = "d_first"  # which side steps first in each iteration
    g_noise: GNoise = "shared"  # shared: G trains on the fakes D just saw; fresh: on a new noise batch
    k_step_batches: KStepBatches = "fresh"  # reuse: a side's k steps share one batch and noise draw
    g_ema_kimg: float = 0.0  # half-life of G's weight EMA in thousands of images (0 = no EMA)
    g_ema_rampup: float = 0.05  # the EMA half-life is at most this times the images seen (0 = no ramp-up)

    # Stabilisers: each works with every architecture and loss, and they compose.
    r1_gamma: float = 0.0  # R1 penalty on reals, gamma/2 E|grad D(x)|^2 (Mescheder et al. 2018); 0 = off
    r2_gamma: float = 0.0  # the same penalty on generated images; 0 = off
    reg_interval: int = 16  # D steps between R1/R2 phases, each scaled by it (lazy, StyleGAN2); 1 = always
    gp_lambda: float = 0.0  # WGAN-GP weight at real/fake interpolates (Gulrajani et al.: 10); 0 = off
    spectral_norm_d: bool = False  # spectral normalisation of every D layer (Miyato et al. 2018)
    spectral_norm_g: bool = False  # spectral normalisation of every G layer
    augment: str = ""  # differentiable augmentation before D, e.g. translation,cutout; "" = off
    augment_p: float = 1.0  # probability per image and transform (with --ada-target: where p starts)
    ada_target: float = 0.0  # adapt the probability to keep E[sign D(real)] at this (ADA: 0.6); 0 = fixed
    ada_kimg: float = 100.0  # thousands of images over which ADA can move the probability from 0 to 1
    mbstd_group: int = 0  # minibatch standard deviation layer in D over groups of this many; 0 = off

    # Adaptive balance: pause whichever side is winning (running D error outside [low, high]).
    balance: bool = False  # pause D when it is winning, G when it is losing (the cgan recipe's rule)
    balance_low: float = 0.3  # running D error below this: D is winning, pause D
    balance_high: float = 0.8  # running D error above this: G is winning, pause G
    balance_momentum: float = 0.9  # EMA factor of the running D error
    balance_schedule: BalanceSchedule = "running"  # running: every step, an EMA; every: measured, then held
    balance_every: int = 100  # steps between measurements (--balance-schedule every)
    balance_metric: BalanceMetric = "mean_ce"  # mean_ce: 0.5 (CE real + CE fake); cgan: the write-up's

    # Health.
    on_nan: OnNan = "abort"  # on a NaN/inf: abort, or roll back to the last good checkpoint with halved lr
    weight_report: float | None = None  # name each weight whose magnitude exceeds this, at each log step

    # Budgets (totals for the run, across resumes). None = no limit; with no limit at all, 1 epoch.
    steps: int | None = None  # generator steps in total
    epochs: float | None = None  # passes over the training set in total
    time_budget: float | None = None  # seconds of training in total (evaluation not counted)

    # Run.
    seed: int = 0  # seed of weights, noise, data order and the fixed progress noise
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    threads: int = 0  # torch intra-op threads (0 = PyTorch's default); use 1 when runs share a machine
    log_every: int = 100  # steps between stats records (the only host syncs of the loop)
    sample_every: int = 0  # steps between fixed-noise progress grids (0 = once per epoch)
    checkpoint_every: int = 1000  # steps between checkpoints
    keep_checkpoints: int = 3  # newest periodic checkpoints kept
    grid_size: int = 10  # progress and final grids are grid_size x grid_size
    fixed_noise: int = 0  # fixed progress noise vectors (0 = grid_size**2)
    progress_noise: ProgressNoise = "fixed"  # progress grids from the fixed noise, or a fresh draw each time
    progress_mode: ProgressMode = "eval"  # G in eval mode for progress grids, or train mode (as dcgan)
    progress_batch: int = 0  # progress samples drawn at once (train-mode batch statistics); 0 = the grid
    eval_every: int = 0  # steps between quality evaluations into metrics.jsonl (0 = off)
    eval_num: int = 2000  # samples per evaluation during training
    tensorboard: bool = False  # also write TensorBoard scalars and images (needs minigan[tensorboard])

    @property
    def pixel_range(self) -> tuple[float, float]:
        """The data range the generator's output activation implies."""
        if self.g_output == "tanh":
            # x/128 - 1 (dcgan's Keras code) tops out at 127/128
            return (-1.0, 127 / 128) if self.pixel_scale == "div128" else (-1.0, 1.0)
        return (0.0, 1.0)

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
    batch_size * ln(0.5) / ln(decay). `init` became `g_init` and `d_init`; its "xavier" always meant
    N(0, 1/fan_in): LeCun's init.
    32x32 runs padded 28x28 digits by 2 without saying so.
    """
    values = dict(values)
    if "g_ema" in values:
        decay = float(values.pop("g_ema"))
        batch = int(values.get("batch_size", TrainConfig.batch_size))
        values.setdefault("g_ema_kimg", ema_kimg_from_decay(decay, batch) if decay else 0.0)
    if "init" in values:  # one scheme for both networks; "xavier" always meant N(0, 1/fan_in)
        scheme = values.pop("init")
        scheme = "lecun_normal" if scheme == "xavier" else scheme
        values.setdefault("g_init", scheme)
        values.setdefault("d_init", scheme)
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
             "keep_checkpoints", "grid_size", "num_classes", "eval_num", "image_size", "reg_interval",
             "ada_kimg", "g_steps", "adam_eps", "bn_eps", "balance_every")
_NON_NEGATIVE = ("leaky_slope", "sample_every", "eval_every", "threads", "seed", "pad", "g_ema_kimg",
                 "g_ema_rampup", "r1_gamma", "r2_gamma", "gp_lambda", "mbstd_group", "train_holdout",
                 "fixed_noise", "progress_batch")
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
    validate_stabilisers(config)
    if not 0.0 <= config.bn_momentum <= 1.0:
        raise ConfigError(f"bn_momentum must be in [0, 1], got {config.bn_momentum}")
    if config.pixel_scale == "div128" and config.g_output != "tanh":
        raise ConfigError("--pixel-scale div128 maps pixels to [-1, 0.99]: it needs --g-output tanh")
    if config.update_scheme == "simultaneous" and (config.d_steps, config.g_steps) != (1, 1):
        raise ConfigError("--update-scheme simultaneous takes both gradients from one forward pass: "
                          "use --d-steps 1 --g-steps 1")
    if config.update_scheme == "simultaneous" and config.balance:
        raise ConfigError("--balance pauses one side at a time: use it with --update-scheme alternating")
    if config.batch_order == "shuffle_keep_last" and (config.conditional or config.mbstd_group):
        raise ConfigError("--batch-order shuffle_keep_last makes short batches, which --conditional and "
                          "--mbstd-group cannot take; use --batch-order shuffle")
    if config.progress_batch and config.progress_batch < config.grid_size**2:
        raise ConfigError(f"progress_batch {config.progress_batch} is smaller than the grid "
                          f"({config.grid_size}x{config.grid_size}); raise it or --grid-size lower")
    if not 0.0 <= config.balance_low < config.balance_high:
        raise ConfigError("balance_low must be >= 0 and below balance_high")
    if not 0.0 <= config.balance_momentum < 1.0:
        raise ConfigError("balance_momentum must be in [0, 1)")
    if not (config.device in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", config.device)):
        raise ConfigError(f"device={config.device!r}: use auto, cpu, cuda or cuda:N")
    return config


def augment_ops(policy: str) -> tuple[AugmentOp, ...]:
    """'translation,cutout' -> ('translation', 'cutout'), in the order given; '' or 'none' -> ()."""
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    if names == ("none",):
        return ()
    allowed = typing.get_args(AugmentOp)
    if unknown := [name for name in names if name not in allowed]:
        raise ConfigError(f"unknown augmentation {', '.join(unknown)}; use a comma-separated list of: "
                          f"{', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"augmentation policy {policy!r} names a transform twice")
    return names


def validate_stabilisers(config: TrainConfig) -> None:
    augment_ops(config.augment)
    if not 0.0 <= config.augment_p <= 1.0:
        raise ConfigError(f"augment_p must be in [0, 1], got {config.augment_p}")
    if config.ada_target and not config.augment:
        raise ConfigError("--ada-target adapts the augmentation probability: add --augment, e.g. "
                          "--augment translation,cutout")
    if not 0.0 <= config.ada_target < 1.0:
        raise ConfigError(f"ada_target must be in (0, 1) (0 = off), got {config.ada_target}")
    if config.ada_target and config.d_loss == "wgan":
        raise ConfigError("--ada-target reads D's outputs as real/fake verdicts, which a Wasserstein critic "
                          "does not give: use a fixed --augment-p with --d-loss wgan")
    if config.d_loss == "wgan" and not (config.gp_lambda or config.spectral_norm_d):
        raise ConfigError("--d-loss wgan needs a Lipschitz critic: add --gp-lambda 10 or --spectral-norm-d")
    if (config.d_loss == "wgan") != (config.g_loss == "wgan"):
        raise ConfigError("--d-loss wgan and --g-loss wgan go together: set both or neither")
    if config.mbstd_group == 1 or (config.mbstd_group and config.batch_size % config.mbstd_group):
        raise ConfigError(f"mbstd_group must be >= 2 and divide batch_size {config.batch_size} (groups never "
                          f"mix real and fake), got {config.mbstd_group}")


def config_fields() -> list[dataclasses.Field]:
    """The overridable fields, in declaration order (the CLI builds its flags from these)."""
    return [f for f in dataclasses.fields(TrainConfig) if f.name != "preset"]


__all__ = [
    "TrainConfig", "validate", "coerce_field", "config_fields", "field_help", "field_choices",
    "ema_kimg_from_decay", "flag",
]
