"""Residual networks without normalisation, after R3GAN (Huang et al. 2024, "The GAN is dead; long
live the GAN!").

Every stage is one residual block, x + branch(x), whose branch is 1x1 conv -> act -> grouped 3x3 conv
-> act -> 1x1 conv at twice the stage's width (16 channels per group, as R3GAN). Fix-up init: the
branch's last conv starts at zero and the two before it at He-normal scaled by L^(-1/4), L the
network's block count, so each block starts as the identity and no batchnorm is needed.

Widths come from the config: g_hidden = channels per G stage, each stage twice the side of the one
before and the last at the image's side (three stages at 28: 7, 14, 28); d_hidden the same for D from
the image's side down. Between stages a 1x1 conv changes the width, at the lower resolution: G then
upsamples bilinearly, D average-pools 2x2 first (R3GAN filters both with [1, 2, 1]). G starts from a
learned (C, s, s) basis scaled per channel by a linear map of z (+ labels); D ends with a depthwise
s x s conv over its last map (BasisReadout), whose C values are the features its head and label
heads read.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import TrainConfig
from .base import Discriminator, Generator, activation, output_activation
from .init import init_layer

EXPANSION = 2  # a branch's width over its stage's
GROUP_WIDTH = 16  # channels per group of the branch's 3x3 conv


def first_side(image_size: int, stages: int) -> int:
    """The side of the lowest-resolution stage: each of the others doubles it."""
    return image_size >> (stages - 1)


@torch.no_grad()
def _lecun_normal(layer: nn.Module, gain: float) -> nn.Module:
    """LeCun-normal times `gain`: W ~ N(0, gain^2 / fan_in), bias 0 (R3GAN's MSR init)."""
    init_layer(layer, "lecun_normal")
    layer.weight.mul_(gain)
    return layer


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, act: str, leaky_slope: float, blocks_in_network: int) -> None:
        super().__init__()
        wide = channels * EXPANSION
        groups = next(g for g in range(max(1, wide // GROUP_WIDTH), 0, -1) if wide % g == 0)
        nonlinearity = "leaky_relu" if act == "leaky_relu" else "relu"
        gain = nn.init.calculate_gain(nonlinearity, leaky_slope) * blocks_in_network ** -0.25
        self.branch = nn.Sequential(
            _lecun_normal(nn.Conv2d(channels, wide, 1), gain),
            activation(act, leaky_slope),
            _lecun_normal(nn.Conv2d(wide, wide, 3, padding=1, groups=groups), gain),
            activation(act, leaky_slope),
            _lecun_normal(nn.Conv2d(wide, channels, 1, bias=False), 0.0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class LearnedBasis(nn.Module):
    """(B, features) -> (B, C, s, s): a learned s x s map per channel, scaled by a linear map of the input."""

    def __init__(self, features: int, channels: int, side: int) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, side, side))
        self.scale = _lecun_normal(nn.Linear(features, channels, bias=False), 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basis.to(x.dtype) * self.scale(x)[:, :, None, None]


class BasisReadout(nn.Module):
    """(B, C, s, s) -> (B, C): a depthwise s x s conv with no padding, as one multiply and sum (the
    same numbers; oneDNN's depthwise backward at this shape costs ~10x more)."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, 1, side, side))
        init_layer(self, "lecun_normal")  # fan-in s * s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.weight[:, 0].to(x.dtype)).sum((2, 3))


class ResNetGenerator(Generator):
    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config.z_dim, config.label_classes)
        widths, act, slope = config.g_hidden, config.g_activation, config.leaky_slope
        layers: list[nn.Module] = [LearnedBasis(self.input_dim, widths[0],
                                                first_side(config.image_size, len(widths)))]
        for before, width in zip((None, *widths), widths, strict=False):
            if before is not None:  # (B, before, s, s) -> (B, width, 2s, 2s)
                layers += [_lecun_normal(nn.Conv2d(before, width, 1, bias=False), 1.0),
                           nn.Upsample(scale_factor=2, mode="bilinear")]
            layers.append(ResidualBlock(width, act, slope, len(widths)))
        layers += [_lecun_normal(nn.Conv2d(widths[-1], 1, 1), 1.0), output_activation(config.g_output)]
        self.net = nn.Sequential(*layers)


class ResNetDiscriminator(Discriminator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.label_classes
        super().__init__(classes)
        widths, act, slope = config.d_hidden, config.d_activation, config.leaky_slope
        layers: list[nn.Module] = [_lecun_normal(nn.Conv2d(1, widths[0], 1), 1.0)]
        for before, width in zip((None, *widths), widths, strict=False):
            if before is not None:  # (B, before, 2s, 2s) -> (B, width, s, s)
                layers += [nn.AvgPool2d(2), _lecun_normal(nn.Conv2d(before, width, 1, bias=False), 1.0)]
            layers.append(ResidualBlock(width, act, slope, len(widths)))
        features = widths[-1] + bool(config.mbstd_group)
        side = first_side(config.image_size, len(widths))
        layers += [*self.stddev_layer(config.mbstd_group), BasisReadout(features, side)]  # (B, features)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(features + classes, 1)
        self.add_label_heads(features, config)
