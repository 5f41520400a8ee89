"""The training data as the loop sees it: one uint8 tensor on the device, batches by index."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .data import to_float
from .errors import ConfigError
from .models import one_hot


class DeviceBatches:
    """The whole dataset as one uint8 tensor on the device; batches by index, epochs by permutation.

    The permutation of epoch e comes from a generator seeded with (seed, e), so a resumed run
    draws exactly the batches the uninterrupted run would have drawn.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, config: TrainConfig,
                 device: torch.device) -> None:
        side, pad = config.data_size, config.pad
        if tuple(images.shape[1:]) != (side, side):
            height, width = images.shape[1:]
            raise ConfigError(
                f"the data's images are {height}x{width} but the config makes {side}x{side} ones "
                f"(image_size {config.image_size} - 2 * pad {pad}); set --image-size {height + 2 * pad} "
                "for this data (arch=mlp takes any size, conv and dcgan multiples of 4)")
        images = images.unsqueeze(1)  # (N, 1, H, W)
        if pad:
            images = F.pad(images, (pad, pad, pad, pad))  # zero (black) border: (N, 1, S, S)
        self.images = images.to(device)
        self.labels = None if labels is None else one_hot(labels, config.num_classes).to(device)
        self.batch_size = config.batch_size
        self.per_epoch = len(images) // config.batch_size
        if self.per_epoch == 0:
            raise ConfigError(f"batch_size {config.batch_size} exceeds the dataset ({len(images)} images)")
        self.seed, self.pixel_range, self.device = config.seed, config.pixel_range, device
        self._epoch, self._perm = -1, None

    def get(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Batch number `index` of the run: ((B, 1, S, S) float in pixel_range, (B, C) or None)."""
        epoch, position = divmod(index, self.per_epoch)
        if epoch != self._epoch:
            rng = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.images), generator=rng, device=self.device)
            self._epoch = epoch
        idx = self._perm[position * self.batch_size:(position + 1) * self.batch_size]
        real = to_float(self.images[idx], self.pixel_range)
        return real, None if self.labels is None else self.labels[idx]
