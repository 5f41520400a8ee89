"""The conditional recipe: 2-d noise plus a label vector into a transposed-conv G; conv D."""

from __future__ import annotations

import torch
from torch import nn

from ..config import TrainConfig
from .base import Discriminator, Generator, output_activation
from .layers import Dropout, Flatten
from .layers_extra import ChannelsLastUnflatten, TFSameConvTranspose2d


class CGANGenerator(Generator):
    def __init__(self, config: TrainConfig) -> None:
        classes = config.label_classes
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
        classes = config.label_classes
        super().__init__(classes)
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 7, 7)
            *self.stddev_layer(config.mbstd_group),  # (B, 64 [+1], 7, 7)
            Flatten(),  # (B, 3136 [+49])
        )
        features = 7 * 7 * (64 + bool(config.mbstd_group))
        self.head = nn.Sequential(
            nn.Linear(features + classes, 1024),
            nn.ReLU(),
            Dropout(config.d_dropout),
            nn.Linear(1024, 1),
        )
        self.add_label_heads(features, config)


class CGANLiteralGenerator(Generator):
    """The write-up's `GenerateSmaller`, layer by layer (seed 004):

        h = relu(dense(concat(y, noise)))             # (B, 10 + 2) -> (B, 3136), G_W_fc1 [12, 3136]
        h = reshape(h, [-1, 7, 7, 64])                # NHWC: channel is the fastest index
        h = relu(conv2d_transpose(h, 5x5, stride 4, SAME) + b)  # (B, 28, 28, 32), G_W_conv [5,5,32,64]
        x = conv2d_transpose(h, 3x3, stride 1, SAME) + b        # (B, 28, 28, 1), G_W_conv2 [3,3,1,32]
        x = clip(sigmoid(x) * 1.2 - 0.1, 0, 1)

    No batchnorm, no dropout (keep_prob is passed to G but unused). The label comes first in the
    input vector, as in `tf.concat(1, (y, noise))`. Weights start as PyTorch's defaults like every
    architecture; the write-up's init is `apply_init(G, "truncated_normal_cgan")`.
    """

    def __init__(self, config: TrainConfig) -> None:
        classes = config.label_classes
        super().__init__(config.z_dim, classes)
        self.net = nn.Sequential(
            nn.Linear(self.input_dim, 7 * 7 * 64),
            nn.ReLU(),
            ChannelsLastUnflatten(7, 7, 64),  # (B, 64, 7, 7)
            TFSameConvTranspose2d(64, 32, 5, stride=4),  # (B, 32, 28, 28): 29x29 cropped at the end
            nn.ReLU(),
            TFSameConvTranspose2d(32, 1, 3, stride=1),  # (B, 1, 28, 28)
            output_activation(config.g_output),  # the write-up's: sigmoid_clip
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([labels.to(z.dtype), z], dim=1)  # (B, C + z_dim): label first
        return self.net(z)
