"""The DCGAN recipe: upsampling conv G with batchnorm, strided conv D, on 32x32 padded digits."""

from __future__ import annotations

from torch import nn

from ..config import TrainConfig
from .base import Discriminator, Generator, output_activation
from .layers import Dropout, Flatten, UpsampleConv2d


class DCGANGenerator(Generator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.label_classes
        super().__init__(config.z_dim, classes)
        slope, drop, s4 = config.leaky_slope, config.g_dropout, config.image_size // 4
        norm = config.g_batchnorm
        self.net = nn.Sequential(
            nn.Linear(self.input_dim, 128 * s4 * s4),
            nn.LeakyReLU(slope),
            nn.BatchNorm1d(128 * s4 * s4) if norm else nn.Identity(),
            nn.Unflatten(1, (128, s4, s4)),  # (B, 128, S/4, S/4): 8x8 for 32x32 images
            UpsampleConv2d(128, 64, 5),  # 2x nearest upsampling + 5x5 conv: (B, 64, S/2, S/2)
            nn.LeakyReLU(slope),
            nn.BatchNorm2d(64) if norm else nn.Identity(),
            Dropout(drop),
            UpsampleConv2d(64, 1, 5),  # (B, 1, S, S)
            output_activation(config.g_output),
        )


class DCGANDiscriminator(Discriminator):
    """No batchnorm, so real and fake batches can share one forward call."""

    def __init__(self, config: TrainConfig) -> None:
        classes = config.label_classes
        super().__init__(classes)
        slope, drop, s4 = config.leaky_slope, config.d_dropout, config.image_size // 4
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 5, stride=2, padding=2),  # (B, 8, S/2, S/2)
            nn.LeakyReLU(slope),
            Dropout(drop),
            nn.Conv2d(8, 64, 5, stride=2, padding=2),  # (B, 64, S/4, S/4)
            nn.LeakyReLU(slope),
            Dropout(drop),
            *self.stddev_layer(config.mbstd_group),  # (B, 64 [+1], S/4, S/4)
            Flatten(),  # (B, 64 [+1] * S/4 * S/4)
        )
        features = (64 + bool(config.mbstd_group)) * s4 * s4
        self.head = nn.Linear(features + classes, 1)
        self.add_label_heads(features, config)
