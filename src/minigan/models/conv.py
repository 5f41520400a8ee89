"""A compact DCGAN (the tuned `fast` presets): S/4 -> S/2 -> S (7 -> 14 -> 28 for digits), 4x4 kernels.

Widths come from the config: g_hidden = (channels at S/4, channels at S/2) and
d_hidden = (channels at S/2, channels at S/4, [more 3x3 stride-1 layers at S/4]), so a sweep needs
no new code. A third D layer costs about as much as the second and gives D a nonlinear view of the
whole digit (the 7x7 map otherwise meets a single linear head): on `fast` it raised precision.
"""

from __future__ import annotations

from torch import nn

from ..config import TrainConfig
from .base import Discriminator, Generator, activation, output_activation
from .layers import Dropout, Flatten


class ConvGenerator(Generator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.label_classes
        super().__init__(config.z_dim, classes)
        c7, c14 = config.g_hidden
        act, norm, s4 = config.g_activation, config.g_batchnorm, config.image_size // 4
        self.net = nn.Sequential(  # a layer followed by batchnorm needs no bias
            nn.Linear(self.input_dim, c7 * s4 * s4, bias=not norm),
            nn.BatchNorm1d(c7 * s4 * s4) if norm else nn.Identity(),
            activation(act, config.leaky_slope),
            nn.Unflatten(1, (c7, s4, s4)),  # (B, c7, S/4, S/4)
            nn.ConvTranspose2d(c7, c14, 4, stride=2, padding=1, bias=not norm),  # (B, c14, S/2, S/2)
            nn.BatchNorm2d(c14) if norm else nn.Identity(),
            activation(act, config.leaky_slope),
            nn.ConvTranspose2d(c14, 1, 4, stride=2, padding=1),  # (B, 1, S, S)
            output_activation(config.g_output),
        )


class ConvDiscriminator(Discriminator):
    """No batchnorm: real and fake go through one call."""

    def __init__(self, config: TrainConfig) -> None:
        classes = config.label_classes
        super().__init__(classes)
        c14, c7, *more = config.d_hidden
        s4 = config.image_size // 4
        act, slope, drop = config.d_activation, config.leaky_slope, config.d_dropout
        extra: list[nn.Module] = []
        for c_in, c_out in zip(config.d_hidden[1:], more, strict=False):  # (B, c, S/4, S/4) -> same size
            extra += [nn.Conv2d(c_in, c_out, 3, padding=1), activation(act, slope), Dropout(drop)]
        self.body = nn.Sequential(
            nn.Conv2d(1, c14, 4, stride=2, padding=1),  # (B, c14, S/2, S/2)
            activation(act, slope),
            Dropout(drop),
            nn.Conv2d(c14, c7, 4, stride=2, padding=1),  # (B, c7, S/4, S/4)
            activation(act, slope),
            Dropout(drop),
            *extra,
            *self.stddev_layer(config.mbstd_group),  # (B, c_last [+1], S/4, S/4)
            Flatten(),
        )
        features = (config.d_hidden[-1] + bool(config.mbstd_group)) * s4 * s4
        self.head = nn.Linear(features + classes, 1)
        self.add_label_heads(features, config)
