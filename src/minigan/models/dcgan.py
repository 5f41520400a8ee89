"""The DCGAN recipe: upsampling conv G with batchnorm, strided conv D, on 32x32 padded digits."""

from __future__ import annotations

from torch import nn

from ..config import TrainConfig
from .base import Discriminator, Generator, output_activation
from .layers import Dropout, UpsampleConv2d


class DCGANGenerator(Generator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.num_classes if config.conditional else 0
        super().__init__(config.z_dim, classes)
        slope, drop = config.leaky_slope, config.g_dropout
        self.net = nn.Sequential(
            nn.Linear(self.input_dim, 128 * 8 * 8),
            nn.LeakyReLU(slope),
            nn.BatchNorm1d(128 * 8 * 8),
            nn.Unflatten(1, (128, 8, 8)),  # (B, 128, 8, 8)
            UpsampleConv2d(128, 64, 5),  # 2x nearest upsampling + 5x5 conv: (B, 64, 16, 16)
            nn.LeakyReLU(slope),
            nn.BatchNorm2d(64),
            Dropout(drop),
            UpsampleConv2d(64, 1, 5),  # (B, 1, 32, 32)
            output_activation(config.g_output),
        )


class DCGANDiscriminator(Discriminator):
    """No batchnorm, so real and fake batches can share one forward call."""

    def __init__(self, config: TrainConfig) -> None:
        classes = config.num_classes if config.conditional else 0
        super().__init__(classes)
        slope, drop = config.leaky_slope, config.d_dropout
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 5, stride=2, padding=2),  # (B, 8, 16, 16)
            nn.LeakyReLU(slope),
            Dropout(drop),
            nn.Conv2d(8, 64, 5, stride=2, padding=2),  # (B, 64, 8, 8)
            nn.LeakyReLU(slope),
            Dropout(drop),
            nn.Flatten(),  # (B, 4096)
        )
        self.head = nn.Linear(64 * 8 * 8 + classes, 1)
        self.add_label_projection(64 * 8 * 8, config.label_projection)
