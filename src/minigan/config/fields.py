"""The one typed config of a run: its fields (each comment is the field's help text), reading
from JSON or CLI strings, and configs written by older minigan versions."""

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

from ..errors import ConfigError
from .checks import check_values
from .choices import (
    Activation,
    Arch,
    BalanceMetric,
    BalanceSchedule,
    BatchOrder,
    ClusterWithin,
    Dataset,
    DLoss,
    EpsStyle,
    GLoss,
    GNoise,
    InitScheme,
    KStepBatches,
    LossReduction,
    LrDecay,
    OnNan,
    OutputActivation,
    PadValue,
    PixelScale,
    Precision,
    ProgressMode,
    ProgressNoise,
    UpdateOrder,
    UpdateScheme,
    ZPrior,
)


@dataclass
class TrainConfig:
    preset: str = "custom"  # the preset this config started from
    literal: bool = False  # trained with --literal: the write-up as written (its pictures follow it too)

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
    g_hidden: tuple[int, ...] = (256,)  # G's widths, input to output (conv: S/4, S/2; resnet: stages to S)
    d_hidden: tuple[int, ...] = (256,)  # D's widths, input to output (conv: S/2, S/4; resnet: stages from S)
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
    # Self-conditioning without labels (data/clusters.py): G and D see k-means clusters of the images.
    clusters: int = 0  # condition G and D on this many k-means clusters of the images (per class); 0 = off
    cluster_within: ClusterWithin = "images"  # unconditional: all images, or each class (auto: if labelled)

    # Losses and optimisers.
    d_loss: DLoss = "bce"  # D's loss on its logits (cgan_clipped, prob: the write-ups' probability forms)
    g_loss: GLoss = "nonsaturating"  # G's loss on D's logits of its samples
    loss_reduction: LossReduction = "mean"  # sum: per-sample losses summed, as TF's minimize on a vector
    lr_g: float = 2e-4  # G's Adam learning rate
    lr_d: float = 2e-4  # D's Adam learning rate
    lr_decay: LrDecay = "none"  # decay both learning rates over the budget (linear, cosine) to --lr-decay-to
    lr_decay_to: float = 0.0  # the learning rates at the budget's end, as a fraction of --lr-g and --lr-d
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
    reg_mb_ratio: bool = True  # with R1/R2, D's Adam takes lr x r, betas ** r, r = interval/(interval+1)
    gp_lambda: float = 0.0  # WGAN-GP weight at real/fake interpolates (Gulrajani et al.: 10); 0 = off
    spectral_norm_d: bool = False  # spectral normalisation of every D layer (Miyato et al. 2018)
    spectral_norm_g: bool = False  # spectral normalisation of every G layer
    augment: str = ""  # differentiable augmentation before D, e.g. translation,cutout; "" = off
    augment_p: float = 1.0  # probability per image and transform (with --ada-target: where p starts)
    ada_target: float = 0.0  # adapt the probability to keep E[sign D(real)] at this (ADA: 0.6); 0 = fixed
    ada_kimg: float = 100.0  # thousands of images over which ADA can move the probability from 0 to 1
    mbstd_group: int = 0  # minibatch standard deviation layer in D over groups of this many; 0 = off
    aux_class_weight: float = 0.0  # D learns to classify reals, G to pass as its label (AC-GAN); 0 = off
    cr_weight: float = 0.0  # bCR: D judges translated copies of reals and fakes as it judges them; 0 = off

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
    # --compile is refused on CPU, where it does not pay, and bf16 on a CPU that emulates it
    # (benchmarks/README.md); TF32 is on for CUDA anyway.
    precision: Precision = "fp32"  # fp32, bf16 (autocast forwards: CUDA, AMX CPUs), auto (bf16 where native)
    compile: bool = False  # torch.compile G and D (CUDA; the first steps compile, for tens of seconds)
    deterministic: bool = False  # cuDNN's deterministic kernels (CUDA): bit-exact resumes, slower steps
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
    def label_classes(self) -> int:
        """Width of the label vector G and D take: the classes, the clusters (per class), or 0."""
        if not self.clusters:
            return self.num_classes if self.conditional else 0
        if self.conditional:  # --clusters per class
            return self.num_classes * self.clusters
        if self.cluster_within == "classes":  # --clusters in all, split evenly over the classes
            return self.clusters // self.num_classes * self.num_classes
        return self.clusters

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


# The write-ups' peculiarities (training/fidelity.py, `--literal`): flat fields like every other, so
# every config.json, checkpoint and sweep grid still reads, but grouped apart in --help and docs.
WRITE_UP_FIELDS = ("update_scheme", "update_order", "g_noise", "k_step_batches", "loss_reduction",
                   "adam_eps_style", "batch_order", "train_holdout", "pad_value", "pixel_scale",
                   "balance_schedule", "balance_metric", "balance_every", "weight_report", "progress_noise",
                   "progress_mode", "progress_batch")


@functools.cache
def field_sections() -> dict[str, str]:
    """Each field's section of --help: its heading comment in TrainConfig (`# Data.` ...), or
    "write-up fidelity" for WRITE_UP_FIELDS."""
    heading = re.compile(r"^    # ([A-Z][A-Za-z ]*?)(?:[.:]| \()")
    field = re.compile(r"^    (\w+): ")
    sections, current = {}, "run"
    for line in inspect.getsource(TrainConfig).splitlines():
        if m := heading.match(line):
            current = m.group(1).strip().lower()
        elif m := field.match(line):
            sections[m.group(1)] = "write-up fidelity" if m.group(1) in WRITE_UP_FIELDS else current
    return sections


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


def validate(config: TrainConfig) -> TrainConfig:
    """Reject impossible settings with one line that names the field and the fix."""
    check_values(config.to_dict(), field_choices)
    return config


def config_fields() -> list[dataclasses.Field]:
    """The overridable fields, in declaration order (the CLI builds its flags from these); the preset
    and --literal are chosen by their own flags, not overridden."""
    return [f for f in dataclasses.fields(TrainConfig) if f.name not in ("preset", "literal")]
