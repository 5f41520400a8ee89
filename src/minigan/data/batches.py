"""The training data as the loop sees it: one uint8 tensor on the device, batches by index, and G's
noise; with several processes, each rank's share of both."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from ..errors import ConfigError
from ..models import one_hot
from ..sampling import sample_latents
from .batch_orders import BatchOrderSampler
from .clusters import PURE_ENOUGH, cluster_cdf, cluster_ids, cluster_purity
from .loading import load_dataset
from .pixels import to_float

NOISE_SALT = 0x9E3779B9  # G's noise stream is seeded with seed ^ NOISE_SALT: apart from the weights' init


class DeviceBatches:
    """The whole dataset as one uint8 tensor on the device; batch k of the run by index.

    Which images make batch k is a pure function of (seed, k) (`batch_orders.py`: a permutation per
    epoch by default, or one of the write-ups' orders), so a resumed run draws exactly the batches
    the uninterrupted run would have drawn. With `world_size` processes,
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
        if config.train_holdout >= len(images):
            raise ConfigError(f"train_holdout {config.train_holdout} leaves none of the {len(images)} "
                              "images; set --train-holdout 0 (or below the image count) for this data")
        images = images[config.train_holdout:].unsqueeze(1)  # (N, 1, H, W)
        labels = None if labels is None else labels[config.train_holdout:]
        # A black border is added once, in uint8; tf.pad's 0.0 after scaling is added to each batch.
        self.pad_after_scaling = pad if config.pad_value == "zero" else 0
        if pad and not self.pad_after_scaling:
            images = F.pad(images, (pad, pad, pad, pad))  # zero (black) border: (N, 1, S, S)
        self.images = images.to(device)
        classes = config.label_classes or config.num_classes  # an unconditional run keeps its labels too
        self.labels = None if labels is None else one_hot(labels, classes).to(device)
        self.batch_size = config.batch_size
        if len(images) < config.batch_size:
            raise ConfigError(f"batch_size {config.batch_size} exceeds the dataset ({len(images)} images)")
        if config.batch_size % world_size:
            raise ConfigError(f"batch_size {config.batch_size} (the global batch) does not split evenly over "
                              f"{world_size} processes; use a multiple of {world_size}")
        self.shard_size = config.batch_size // world_size  # this rank's rows of every batch
        self.rows = slice(rank * self.shard_size, (rank + 1) * self.shard_size)
        self.rank, self.world_size = rank, world_size
        self.z_dim, self.z_prior = config.z_dim, config.z_prior
        self.noise_rng = torch.Generator(device=device).manual_seed(config.seed ^ NOISE_SALT)
        self.order = BatchOrderSampler(len(images), config.batch_size, config.batch_order, config.seed,
                                       device)
        self.per_epoch = self.order.batches_per_epoch
        self.pixel_range, self.device = config.pixel_range, device

    def get(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Batch number `index` of the run, this rank's rows: ((b, 1, S, S) float in pixel_range,
        (b, C) or None). A short batch (the last of an epoch under shuffle_keep_last) is split as
        evenly as it goes: no rank is left without rows."""
        idx = self.order.indices(index)
        idx = idx[self.rows] if len(idx) == self.batch_size else idx[rank_rows(len(idx), self.rank,
                                                                                 self.world_size)]
        real = to_float(self.images[idx], self.pixel_range)
        if self.pad_after_scaling:
            p = self.pad_after_scaling
            real = F.pad(real, (p, p, p, p), value=0.0)
        return real, None if self.labels is None else self.labels[idx]

    def noise(self) -> torch.Tensor:
        """The next batch's noise, this rank's rows: (shard_size, z_dim), from a (batch_size, z_dim) draw."""
        z = sample_latents(self.batch_size, self.z_dim, self.z_prior, self.device, generator=self.noise_rng)
        return z[self.rows]


def rank_rows(num: int, rank: int, world_size: int) -> slice:
    """Rank `rank`'s contiguous part of `num` items (the first num % world_size ranks take one more)."""
    base, extra = divmod(num, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


@dataclass
class TrainingData:
    config: TrainConfig  # num_classes set to the data's when the config chose none
    batches: DeviceBatches
    cluster_cdf: torch.Tensor | None  # the training images' cluster frequencies (clustered G)
    setup_seconds: float  # the clustering's time, counted in the time budget


def _cluster_within(config: TrainConfig, labelled: bool) -> str:
    """`cluster_within` as far as the config and the labels' presence decide it: a conditional
    model clusters within its classes; `auto` with no clusters or no labels takes the images;
    `auto` on labelled data stays for `_pseudo_labels` to decide by the clusters' purity."""
    if config.conditional and config.clusters:
        return "classes"
    if config.cluster_within == "auto" and not (config.clusters and labelled):
        return "images"
    return config.cluster_within


def _pseudo_labels(images: torch.Tensor, labels: torch.Tensor | None,
                   config: TrainConfig) -> tuple[TrainConfig, torch.Tensor]:
    """k-means cluster ids of the images, and the config with `cluster_within` resolved.

    `auto` on labelled data clusters all images first and keeps those clusters when they are at
    least PURE_ENOUGH pure on the labels (MNIST: 0.87); below it (Fashion-MNIST: 0.75, where
    shirts, pullovers and coats share clusters) it finds them within each class instead, which
    scored 9.30 against 10.63 there but lost on MNIST (6.83 against 5.69; 8,000 steps, median
    FID of 2 seeds, 2026-12-06).
    """
    ids = None
    if config.cluster_within == "auto":  # fewer than 2 clusters per class: nothing to split
        ids = cluster_ids(images, config.clusters, config.seed)
        pure = (config.clusters < 2 * config.num_classes
                or cluster_purity(ids, labels, config.clusters) >= PURE_ENOUGH)
        config = dataclasses.replace(config, cluster_within="images" if pure else "classes")
    if config.cluster_within == "images":
        return config, cluster_ids(images, config.clusters, config.seed) if ids is None else ids
    per_class = config.label_classes // config.num_classes
    if per_class < 2:
        raise ConfigError(f"--clusters {config.clusters} over {config.num_classes} classes leaves "
                          f"{per_class} per class: use {2 * config.num_classes} or more, or --cluster-within "
                          "images")
    return config, cluster_ids(images, per_class, config.seed, labels, config.num_classes)


def load_training_data(config: TrainConfig, device: torch.device, rank: int = 0, world_size: int = 1,
                       progress: bool = True) -> TrainingData:
    """The config's training set on the device, with k-means pseudo-labels under `clusters`."""
    data = load_dataset(config.data_dir, "train", dataset=config.dataset, progress=progress)
    data.image_size  # noqa: B018 - raises the one-line DataError for non-square images
    config = dataclasses.replace(config, cluster_within=_cluster_within(config, data.labels is not None))
    by_class = config.conditional or config.cluster_within in ("classes", "auto")
    if by_class and data.labels is None:
        raise ConfigError(f"{'conditional training' if config.conditional else '--cluster-within classes'} "
                          f"needs labels, and {data.source} has none")
    if by_class and data.num_classes != config.num_classes:
        if config.num_classes != TrainConfig.num_classes and data.num_classes > config.num_classes:
            raise ConfigError(f"{data.source} has {data.num_classes} classes but num_classes is "
                              f"{config.num_classes}; raise --num-classes or drop it")
        if config.num_classes == TrainConfig.num_classes:  # not chosen: the data's class count
            config = dataclasses.replace(config, num_classes=data.num_classes)
    labels, started, cdf = data.labels, time.perf_counter(), None
    if config.clusters:  # pseudo-labels: k-means of the images (within each class when by_class)
        config, labels = _pseudo_labels(data.images, data.labels, config)
        groups = config.num_classes if config.conditional else 1  # G's cluster_cdf rows
        cdf = cluster_cdf(labels[config.train_holdout:], config.label_classes // groups, groups)
    seconds = time.perf_counter() - started
    return TrainingData(config, DeviceBatches(data.images, labels, config, device, rank, world_size), cdf,
                        seconds)
