"""The dcgan write-up's Keras models (seed 001), layer by layer, on 32x32 inputs.

    generator: Dense(8192) LeakyReLU(a) Reshape(8, 8, 128) BatchNormalization UpSampling2D(2)
               Dropout(0.3) Conv2D(64, 5, same) LeakyReLU(a) BatchNormalization UpSampling2D(2)
               Conv2D(1, 5, same, tanh)
    discriminator: Conv2D(8, 5, s2, same) LeakyReLU(a) Dropout(0.3) Conv2D(64, 5, s2, same)
               LeakyReLU(a) Flatten Dense(1)

Where dcgan.py differs: its first batchnorm is BatchNorm1d over 8192 features (Keras normalises
the 128 channels of the 8x8 map), its G dropout sits before the second upsampling conv (Keras:
after the first upsampling, on 16x16x128), its D has a second dropout, and its strided convs pad
2 on both sides (TF 'same' pads 1 before, 2 after). Batchnorm here starts with Keras' defaults
(momentum 0.99 = PyTorch 0.01, epsilon 1e-3); weights start as PyTorch's defaults like every
architecture: the write-up's are `apply_init(net, "glorot_uniform")` (Keras default, zero biases).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import TrainConfig
from .base import Discriminator, Generator, output_activation
from .init import KERAS_BN_EPS, KERAS_BN_MOMENTUM
from .layers import Dropout, UpsampleConv2d
from .layers_extra import ChannelsLastUnflatten, TFSameConv2d


class FlattenChannelsLast(nn.Module):
    """(B, C, H, W) -> (B, H*W*C) in Keras' NHWC order, so Dense weights map over one to one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).flatten(1)


def _keras_bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)


class DCGANLiteralGenerator(Generator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.label_classes
        super().__init__(config.z_dim, classes)
        slope = config.leaky_slope
        self.net = nn.Sequential(
            nn.Linear(self.input_dim, 128 * 8 * 8),
            nn.LeakyReLU(slope),
            ChannelsLastUnflatten(8, 8, 128),  # (B, 128, 8, 8), Keras Reshape((8, 8, 128))
            _keras_bn(128),
            nn.Upsample(scale_factor=2, mode="nearest"),  # (B, 128, 16, 16)
            Dropout(config.g_dropout),  # on the upsampled map: each copy of a pixel drops alone
            nn.Conv2d(128, 64, 5, padding=2),  # stride 1: 'same' is symmetric, (B, 64, 16, 16)
            nn.LeakyReLU(slope),
            _keras_bn(64),
            UpsampleConv2d(64, 1, 5),  # UpSampling2D + Conv2D(1, 5, same), fused: (B, 1, 32, 32)
            output_activation(config.g_output),
        )


class DCGANLiteralDiscriminator(Discriminator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.label_classes
        super().__init__(classes)
        slope = config.leaky_slope
        self.body = nn.Sequential(
            TFSameConv2d(1, 8, 5, stride=2),  # (B, 8, 16, 16), pads 1 before and 2 after
            nn.LeakyReLU(slope),
            Dropout(config.d_dropout),
            TFSameConv2d(8, 64, 5, stride=2),  # (B, 64, 8, 8)
            nn.LeakyReLU(slope),
            FlattenChannelsLast(),  # (B, 4096)
        )
        self.head = nn.Linear(64 * 8 * 8 + classes, 1)
        self.add_label_heads(64 * 8 * 8, config)
