"""The conditional recipe: 2-d noise plus a label vector into a transposed-conv G; conv D."""

from __future__ import annotations

from torch import nn

from ..config import TrainConfig
from .base import Discriminator, Generator, output_activation
from .layers import Dropout


class CGANGenerator(Generator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.num_classes if config.conditional else 0
        super().__init__(config.z_dim, classes)
        norm = config.g_batchnorm
        self.net = nn.Sequential(
            nn.Linear(self.input_dim, 7 * 7 * 64),
            nn.BatchNorm1d(7 * 7 * 64) if norm else nn.Identity(),
            nn.ReLU(),
            nn.Unflatten(1, (64, 7, 7)),  # (B, 64, 7, 7)
            nn.ConvTranspose2d(64, 32, 5, stride=2, padding=2, output_padding=1),  # (B, 32, 14, 14)
            nn.BatchNorm2d(32) if norm else nn.Identity(),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 5, stride=2, padding=2, output_padding=1),  # (B, 1, 28, 28)
            output_activation(config.g_output),
        )


class CGANDiscriminator(Discriminator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.num_classes if config.conditional else 0
        super().__init__(classes)
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 7, 7)
            *self.stddev_layer(config.mbstd_group),  # (B, 64 [+1], 7, 7)
            nn.Flatten(),  # (B, 3136 [+49])
        )
        features = 7 * 7 * (64 + bool(config.mbstd_group))
        self.head = nn.Sequential(
            nn.Linear(features + classes, 1024),
            nn.ReLU(),
            Dropout(config.d_dropout),
            nn.Linear(1024, 1),
        )
        self.add_label_projection(features, config.label_projection)
