"""Validation of a config's values: one line naming the field and the fix for anything impossible."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from ..errors import ConfigError
from .choices import augment_ops, flag
from .limits import check_sizes

_POSITIVE = ("z_dim", "batch_size", "d_steps", "lr_g", "lr_d", "log_every", "checkpoint_every",
             "keep_checkpoints", "grid_size", "num_classes", "eval_num", "image_size", "reg_interval",
             "ada_kimg", "g_steps", "adam_eps", "bn_eps", "balance_every")
_NON_NEGATIVE = ("leaky_slope", "sample_every", "eval_every", "threads", "seed", "pad", "g_ema_kimg",
                 "g_ema_rampup", "r1_gamma", "r2_gamma", "gp_lambda", "mbstd_group", "train_holdout",
                 "fixed_noise", "progress_batch", "clusters", "aux_class_weight", "cr_weight")
_BUDGETS = ("steps", "epochs", "time_budget")
_CROSS_ENTROPY = ("bce", "cgan_clipped", "prob")  # the D losses whose error the balance rule reads


def check_values(values: dict[str, Any], choices: Callable[[str], tuple[str, ...] | None]) -> None:
    """Reject impossible settings with one line that names the field and the fix.

    `values` is a config as a dict (`TrainConfig.to_dict()`), `choices(name)` a field's allowed
    values. Which fields an architecture honours is checked by `models.registry.check_honoured`.
    """
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value}")
        if (allowed := choices(name)) is not None and value not in allowed:
            raise ConfigError(f"{name}={value!r} is not one of: {', '.join(allowed)}")
    config = SimpleNamespace(**values)
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
    if not 0.0 <= config.lr_decay_to <= 1.0:
        raise ConfigError(f"--lr-decay-to is a fraction of the rates: use 0 to 1, not {config.lr_decay_to}")
    if config.lr_decay_to and config.lr_decay == "none":
        raise ConfigError("--lr-decay-to sets where --lr-decay ends: add --lr-decay linear or cosine")
    if not 0.0 <= config.beta1 < 1.0 or not 0.0 <= config.beta2 < 1.0:
        raise ConfigError("beta1 and beta2 must be in [0, 1)")
    if config.image_size - 2 * config.pad <= 0:
        raise ConfigError(f"pad={config.pad} leaves no image inside image_size={config.image_size}")
    _check_stabilisers(config)
    if config.cluster_within == "classes" and not config.clusters:
        raise ConfigError("--cluster-within classes says where --clusters are found: add --clusters, "
                          "e.g. 100")
    if config.clusters:
        if config.clusters < 2:
            raise ConfigError(f"--clusters {config.clusters} is no clustering: use 2 or more, or 0 for off")
        if config.gp_lambda:
            raise ConfigError("--gp-lambda interpolates reals and fakes of one label, and clustered fakes "
                              "draw their own clusters: use --r1-gamma with --clusters")
    if not 0.0 <= config.bn_momentum <= 1.0:
        raise ConfigError(f"bn_momentum must be in [0, 1], got {config.bn_momentum}")
    if config.pixel_scale == "div128" and config.g_output != "tanh":
        raise ConfigError("--pixel-scale div128 maps pixels to [-1, 0.99]: it needs --g-output tanh")
    if config.update_scheme == "simultaneous" and (config.d_steps, config.g_steps) != (1, 1):
        raise ConfigError("--update-scheme simultaneous takes both gradients from one forward pass: "
                          "use --d-steps 1 --g-steps 1")
    if config.update_scheme == "simultaneous" and config.balance:
        raise ConfigError("--balance pauses one side at a time: use it with --update-scheme alternating")
    if config.update_scheme == "simultaneous" and config.update_order != "d_first":
        raise ConfigError("--update-scheme simultaneous takes both steps from one forward pass, in no order: "
                          "drop --update-order g_first, or use --update-scheme alternating")
    if config.update_scheme == "simultaneous" and config.g_noise != "shared":
        raise ConfigError("--update-scheme simultaneous trains G on the fakes D judges (shared noise): drop "
                          "--g-noise fresh, or use --update-scheme alternating")
    if config.balance and config.balance_metric == "mean_ce" and config.d_loss not in _CROSS_ENTROPY:
        raise ConfigError(f"--balance reads D's error as a cross-entropy, which --d-loss {config.d_loss} "
                          "does not give: use --d-loss bce with --balance, or drop --balance")
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
    check_sizes(values)


def _check_stabilisers(config: SimpleNamespace) -> None:
    augment_ops(config.augment)
    if not 0.0 <= config.augment_p <= 1.0:
        raise ConfigError(f"augment_p must be in [0, 1], got {config.augment_p}")
    if config.ada_target and not config.augment:
        raise ConfigError("--ada-target adapts the augmentation probability: add --augment, e.g. "
                          "--augment translation,cutout")
    if not 0.0 <= config.ada_target < 1.0:
        raise ConfigError(f"ada_target must be in (0, 1) (0 = off), got {config.ada_target}")
    if config.ada_target and config.d_loss in ("wgan", "relativistic"):
        raise ConfigError(f"--ada-target reads D's outputs as real/fake verdicts, which --d-loss "
                          f"{config.d_loss} does not give: use a fixed --augment-p with it")
    if config.d_loss == "wgan" and not (config.gp_lambda or config.spectral_norm_d):
        raise ConfigError("--d-loss wgan needs a Lipschitz critic: add --gp-lambda 10 or --spectral-norm-d")
    for paired in ("wgan", "relativistic"):
        if (config.d_loss == paired) != (config.g_loss == paired):
            raise ConfigError(f"--d-loss {paired} and --g-loss {paired} go together: set both or neither")
    if config.aux_class_weight and not config.conditional:
        raise ConfigError(f"--aux-class-weight {config.aux_class_weight} trains D to classify the labels: "
                          "it needs --conditional; without labels set it to 0 (or use --preset fast)")
    if config.mbstd_group == 1 or (config.mbstd_group and config.batch_size % config.mbstd_group):
        raise ConfigError(f"mbstd_group must be >= 2 and divide batch_size {config.batch_size} (groups never "
                          f"mix real and fake), got {config.mbstd_group}")
