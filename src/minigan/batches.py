"""The training data as the loop sees it: one uint8 tensor on the device, batches by index, and G's
noise; with several processes, each rank's share of both."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .data import to_float
from .errors import ConfigError
from .models import one_hot
from .sampling import sample_latents

NOISE_SALT = 0x9E3779B9  # G's noise stream is seeded with seed ^ NOISE_SALT: apart from the weights' init


class DeviceBatches:
    """The whole dataset as one uint8 tensor on the device; batches by index, epochs by permutation.

    The permutation of epoch e comes from a generator seeded with (seed, e), so a resumed run
    draws exactly the batches the uninterrupted run would have drawn. With `world_size` processes,
    rank r takes rows [r b, (r + 1) b) of every batch (b = batch_size / world_size) and the same rows
    of a whole-batch noise draw from one stream every rank keeps, so the ranks' shares together are
    the one-process batch and noise, whatever the number of processes.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, config: TrainConfig,
                 device: torch.device, rank: int = 0, world_size: int = 1) -> None:
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
        if config.batch_size % world_size:
            raise ConfigError(f"batch_size {config.batch_size} (the global batch) does not split evenly over "
                              f"{world_size} processes; use a multiple of {world_size}")
        self.shard_size = config.batch_size // world_size  # this rank's rows of every batch
        self.rows = slice(rank * self.shard_size, (rank + 1) * self.shard_size)
        self.z_dim, self.z_prior = config.z_dim, config.z_prior
        self.noise_rng = torch.Generator(device=device).manual_seed(config.seed ^ NOISE_SALT)
        self.seed, self.pixel_range, self.device = config.seed, config.pixel_range, device
        self._epoch, self._perm = -1, None

    def get(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Batch number `index` of the run: ((B, 1, S, S) float in pixel_range, (B, C) or None)."""
        epoch, position = divmod(index, self.per_epoch)
        if epoch != self._epoch:
            rng = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.images), generator=rng, device=self.device)
            self._epoch = epoch
        idx = self._perm[position * self.batch_size:(position + 1) * self.batch_size][self.rows]
        real = to_float(self.images[idx], self.pixel_range)
        return real, None if self.labels is None else self.labels[idx]

    def noise(self) -> torch.Tensor:
        """The next batch's noise, this rank's rows: (shard_size, z_dim), from a (batch_size, z_dim) draw."""
        z = sample_latents(self.batch_size, self.z_dim, self.z_prior, self.device, generator=self.noise_rng)
        return z[self.rows]
