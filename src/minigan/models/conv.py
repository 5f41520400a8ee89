"""A compact DCGAN for 28x28 digits (the tuned `fast` presets): 7 -> 14 -> 28, 4x4 kernels.

Widths come from the config: g_hidden = (channels at 7x7, channels at 14x14) and
d_hidden = (channels at 14x14, channels at 7x7), so a sweep needs no new code.
"""

from __future__ import annotations

from torch import nn

from ..config import TrainConfig
from .base import Discriminator, Generator, activation, output_activation
from .layers import Dropout


class ConvGenerator(Generator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.num_classes if config.conditional else 0
        super().__init__(config.z_dim, classes)
        c7, c14 = config.g_hidden[0], config.g_hidden[-1]
        act = config.g_activation
        self.net = nn.Sequential(
            nn.Linear(self.input_dim, c7 * 7 * 7, bias=False),
            nn.BatchNorm1d(c7 * 7 * 7),
            activation(act, config.leaky_slope),
            nn.Unflatten(1, (c7, 7, 7)),  # (B, c7, 7, 7)
            nn.ConvTranspose2d(c7, c14, 4, stride=2, padding=1, bias=False),  # (B, c14, 14, 14)
            nn.BatchNorm2d(c14),
            activation(act, config.leaky_slope),
            nn.ConvTranspose2d(c14, 1, 4, stride=2, padding=1),  # (B, 1, 28, 28)
            output_activation(config.g_output),
        )


class ConvDiscriminator(Discriminator):
    """No batchnorm: real and fake go through one call."""

    def __init__(self, config: TrainConfig) -> None:
        classes = config.num_classes if config.conditional else 0
        super().__init__(classes)
        c14, c7 = config.d_hidden[0], config.d_hidden[-1]
        act, slope, drop = config.d_activation, config.leaky_slope, config.d_dropout
        self.body = nn.Sequential(
            nn.Conv2d(1, c14, 4, stride=2, padding=1),  # (B, c14, 14, 14)
            activation(act, slope),
            Dropout(drop),
            nn.Conv2d(c14, c7, 4, stride=2, padding=1),  # (B, c7, 7, 7)
            activation(act, slope),
            Dropout(drop),
            nn.Flatten(),
        )
        self.head = nn.Linear(c7 * 7 * 7 + classes, 1)
        self.add_label_projection(c7 * 7 * 7, config.label_projection)
