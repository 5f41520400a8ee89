"""Every choice a config field offers, declared once as a `Literal` (the CLI's choices and the
validation both read these)."""

from __future__ import annotations

import typing
from typing import Literal

from ..errors import ConfigError

Dataset = Literal["mnist", "fashion", "kmnist", "emnist-letters", "emnist-balanced", "emnist-digits",
                  "qmnist", "idx"]
Arch = Literal["mlp", "dcgan", "cgan", "conv", "resnet", "dcgan_literal", "cgan_literal"]
ZPrior = Literal["normal", "uniform"]
Activation = Literal["relu", "leaky_relu"]
OutputActivation = Literal["sigmoid", "tanh", "sigmoid_clip"]
InitScheme = Literal["default", "lecun_normal", "std_inv_fan_in", "glorot_uniform", "truncated_normal_cgan"]
DLoss = Literal["bce", "hinge", "lsgan", "wgan", "relativistic", "cgan_clipped", "prob"]
GLoss = Literal["nonsaturating", "minimax", "hinge", "lsgan", "wgan", "relativistic", "cgan_clipped", "prob"]
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
Precision = Literal["fp32", "bf16", "auto"]
LrDecay = Literal["none", "linear", "cosine"]
ClusterWithin = Literal["images", "classes", "auto"]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


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


__all__ = [
    "Dataset", "Arch", "ZPrior", "Activation", "OutputActivation", "InitScheme", "DLoss", "GLoss",
    "LossReduction", "UpdateScheme", "UpdateOrder", "GNoise", "KStepBatches", "BatchOrder",
    "PixelScale", "PadValue", "LrDecay", "ClusterWithin", "EpsStyle", "BalanceSchedule", "BalanceMetric",
    "ProgressNoise", "ProgressMode", "AugmentOp", "OnNan", "Precision", "flag", "augment_ops",
]
