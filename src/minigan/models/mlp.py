"""Fully connected G and D (the minimal, vanilla and mlp4 recipes)."""

from __future__ import annotations

from torch import nn

from ..config import TrainConfig
from .base import Discriminator, Generator, activation, output_activation
from .layers import Dropout


def _stack(widths: list[int], act: str, slope: float, dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width_in, width_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(width_in, width_out), activation(act, slope)]
        if dropout:
            layers.append(Dropout(dropout))
    return layers


class MLPGenerator(Generator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.label_classes
        super().__init__(config.z_dim, classes)
        size = config.image_size
        widths = [self.input_dim, *config.g_hidden]
        self.net = nn.Sequential(
            *_stack(widths, config.g_activation, config.leaky_slope, config.g_dropout),
            nn.Linear(widths[-1], size * size),
            output_activation(config.g_output),
            nn.Unflatten(1, (1, size, size)),  # (B, 1, S, S)
        )


class MLPDiscriminator(Discriminator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.label_classes
        super().__init__(classes)
        widths = [config.image_size**2 + classes, *config.d_hidden]
        self.head = nn.Sequential(
            *_stack(widths, config.d_activation, config.leaky_slope, config.d_dropout),
            *self.stddev_layer(config.mbstd_group),  # (B, width [+1])
            nn.Linear(widths[-1] + bool(config.mbstd_group), 1),
        )
        self.add_label_heads(config.image_size**2, config)
