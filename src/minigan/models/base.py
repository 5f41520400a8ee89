"""The one shared way to condition any generator or discriminator on a class label.

Labels travel as float vectors (B, num_classes): one-hot for plain sampling, soft for interpolation
and amplitude sweeps. A generator sees cat(z, label); a discriminator sees cat(features(x), label)
before its head, plus a projection term <embed(label), features>. Architectures only define `net`
(G) or `body`/`head` (D).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import TrainConfig
from .layers_extra import ScaledSigmoidClip
from .stabilisers import MinibatchStdDev


class Generator(nn.Module):
    """z (B, z_dim) [+ label (B, C)] -> image (B, 1, S, S) in the range of the output activation.

    A clustered generator (`use_clusters`, --clusters) takes its cluster from its own noise: the id
    whose cumulative frequency the uniform u = CDF(z[:, 0]) falls under, so the clusters come at the
    data's frequencies and the same z always gives the same image. Unconditional, it needs no label
    at all; conditional, its users give the class and it picks the cluster within that class. The
    label vector the networks see is one block of clusters per class (one block if unconditional).
    Training draws the fakes' clusters the same way.
    """

    def __init__(self, z_dim: int, num_classes: int = 0) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.net: nn.Module = nn.Identity()
        self.z_prior: str | None = None  # set by use_clusters

    def use_clusters(self, z_prior: str, groups: int) -> None:
        """Draw clusters from z. `cluster_cdf` (groups, K), a buffer saved with the weights, holds
        each class's cumulative cluster frequencies (one row if unconditional), uniform until the
        trainer sets the data's."""
        self.z_prior, k = z_prior, self.num_classes // groups
        uniform = torch.arange(1, k + 1, dtype=torch.float32) / k
        self.register_buffer("cluster_cdf", uniform.repeat(groups, 1))

    def cluster_labels(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """(B, z_dim) noise [+ (B, groups) class vectors, one-hot or soft] -> (B, groups * K): in
        each class's block, the cluster z picks there, weighted by the class's share of the label."""
        groups, k = self.cluster_cdf.shape
        z0 = z[:, 0].float()
        u = (z0 + 1) / 2 if self.z_prior == "uniform" else 0.5 * (1 + torch.erf(z0 / 2**0.5))
        ids = torch.searchsorted(self.cluster_cdf, u.expand(groups, -1).contiguous(), right=True)
        ids = ids.clamp(max=k - 1).T[..., None]  # (B, groups, 1); no F.one_hot: torch.func-friendly
        picked = (ids == torch.arange(k, device=z.device)).float()  # (B, groups, K)
        weights = torch.ones(len(z), groups, device=z.device) if classes is None else classes.float()
        return (picked * weights[:, :, None]).flatten(1).to(z.dtype)

    def class_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, groups * K) cluster vectors -> (B, groups) class vectors."""
        return class_vectors(labels, self.cluster_cdf.shape[0])

    @property
    def input_dim(self) -> int:
        return self.z_dim + self.num_classes

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            if self.z_prior is not None and (labels is None or labels.shape[1] != self.num_classes):
                labels = self.cluster_labels(z, labels)  # none, or classes: pick the clusters
            z = torch.cat([z, labels.to(z.dtype)], dim=1)
        return self.net(z)


class Discriminator(nn.Module):
    """image (B, 1, S, S) [+ label (B, C)] -> logit (B,). `body` maps images to flat features.

    Every architecture calls `add_label_heads`. The projection discriminator's term <embed(label),
    features> (Miyato & Koyama 2018; on unless config.label_projection is off): without it a head
    that is a single linear layer cannot relate the label to the image at all (the label only adds a
    per-class bias), and a deeper head learns the relation slowly. With config.aux_class_weight, a
    class head on the same features (AC-GAN, Odena et al. 2017): `forward(..., classify=True)` also
    returns its logits over the data's classes (not the clusters within them).
    """

    def __init__(self, num_classes: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.body: nn.Module = nn.Flatten()
        self.head: nn.Module = nn.Identity()
        self.projection: nn.Module | None = None
        self.classifier: nn.Module | None = None

    @staticmethod
    def stddev_layer(group_size: int) -> list[nn.Module]:
        """[MinibatchStdDev] when group_size > 0 (it adds one feature map / feature), else []."""
        return [MinibatchStdDev(group_size)] if group_size else []

    def add_label_heads(self, feature_dim: int, config: TrainConfig) -> None:
        if not self.num_classes:
            return
        if config.label_projection:
            self.projection = nn.Linear(self.num_classes, feature_dim, bias=False)
        if config.aux_class_weight:
            self.classifier = nn.Linear(feature_dim, config.num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                classify: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        if not self.num_classes:
            return self.head(features).squeeze(1)
        labels = labels.to(features.dtype)
        logits = self.head(torch.cat([features, labels], dim=1)).squeeze(1)
        if self.projection is not None:
            logits = logits + (self.projection(labels) * features).sum(dim=1)
        return (logits, self.classifier(features)) if classify else logits


def activation(name: str, leaky_slope: float) -> nn.Module:
    return nn.LeakyReLU(leaky_slope) if name == "leaky_relu" else nn.ReLU()


def output_activation(name: str) -> nn.Module:
    if name == "sigmoid_clip":  # the cgan write-up's clip(sigmoid(x) * 1.2 - 0.1, 0, 1)
        return ScaledSigmoidClip(1.2, -0.1, 0.0, 1.0)
    return nn.Tanh() if name == "tanh" else nn.Sigmoid()


def class_vectors(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, classes [* clusters]) label vectors -> (B, classes): each class's block summed."""
    return labels.view(len(labels), num_classes, -1).sum(2)


def class_ids(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, classes [* clusters]) label vectors -> (B,) the class each one weighs most."""
    return class_vectors(labels, num_classes).argmax(1)


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B,) class ids -> (B, num_classes) float label vectors, the form every network takes."""
    return nn.functional.one_hot(labels.long(), num_classes).float()
