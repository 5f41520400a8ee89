"""k-means clusters of the training images: pseudo-labels for self-conditioned training.

An unconditional GAN on MNIST gets its digit proportions wrong (an over-produced 9 here, a missing 0
there) and that alone costs FID-MNIST more than blurry strokes do: real test images resampled with
class proportions off by a KL of 0.085 score FID 101 against the 3.7 of balanced ones. Conditioning
G and D on clusters of the images (no labels: PCA of the pixels, then k-means) gives the
conditional twin's training signal and fixes the proportions: a clustered G draws its cluster
from its noise at the clusters' frequencies (models/base.py). Self-conditioned GANs (Liu et al.
2020) cluster D's features instead; pixels are enough for 28x28 digits and need no schedule.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError


def _principal_features(images: torch.Tensor, dims: int) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, dims) float64 coordinates on the top principal axes (exact: eigh)."""
    x = images.flatten(1).double() / 255.0
    x -= x.mean(0)
    cov = x.T @ x / len(x)
    _, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
    return x @ vectors[:, -dims:].flip(1)


def kmeans_clusters(images: torch.Tensor, k: int, seed: int = 0, dims: int = 50,
                    iterations: int = 30) -> torch.Tensor:
    """Cluster ids (N,) int64 of the images: k-means++ then Lloyd's iterations, deterministic in
    `seed` on one machine (float64; callers save the ids so that a resume never recomputes them)."""
    if not 2 <= k <= len(images):
        raise ConfigError(f"--clusters {k} needs at least {k} training images and this data has "
                          f"{len(images)}: set --clusters {max(len(images) // 10, 2)} or 0 (off)")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same sums in the same order whatever --threads says
    try:
        return _kmeans(images, k, seed, dims, iterations)
    finally:
        torch.set_num_threads(threads)


def _kmeans(images: torch.Tensor, k: int, seed: int, dims: int, iterations: int) -> torch.Tensor:
    features = _principal_features(images, min(dims, images[0].numel()))
    rng = torch.Generator().manual_seed(seed)
    norms = (features * features).sum(1)
    centres = features[torch.randint(len(features), (1,), generator=rng)]
    nearest = norms - 2 * features @ centres[0] + centres[0] @ centres[0]
    for _ in range(1, k):  # k-means++: each new centre drawn in proportion to squared distance
        pick = torch.multinomial(nearest.clamp_min(0).float(), 1, generator=rng)
        centres = torch.cat([centres, features[pick]])
        nearest = torch.minimum(nearest, norms - 2 * features @ features[pick][0]
                                + features[pick][0] @ features[pick][0])
    for _ in range(iterations):
        distances = norms[:, None] - 2 * features @ centres.T + (centres * centres).sum(1)[None]
        ids = distances.argmin(1)
        counts = torch.bincount(ids, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, ids, features)
        empty = counts == 0
        if empty.any():  # an empty cluster restarts at the points farthest from their centres
            far = distances.gather(1, ids[:, None])[:, 0].topk(int(empty.sum())).indices
            sums[empty], counts[empty] = features[far], 1
        centres = sums / counts[:, None]
    distances = norms[:, None] - 2 * features @ centres.T + (centres * centres).sum(1)[None]
    return distances.argmin(1)


def cluster_ids(images: torch.Tensor, k: int, seed: int = 0, classes: torch.Tensor | None = None,
                num_classes: int = 0) -> torch.Tensor:
    """k clusters over all images, or k within each class (ids class * k + cluster)."""
    if classes is None:
        return kmeans_clusters(images, k, seed)
    ids = torch.zeros(len(images), dtype=torch.int64)
    for c in range(num_classes):
        rows = (classes == c).nonzero()[:, 0]
        if len(rows) < k:
            raise ConfigError(f"class {c} has {len(rows)} training images, fewer than --clusters {k}; "
                              "choose fewer clusters")
        ids[rows] = c * k + kmeans_clusters(images[rows], k, seed)
    return ids


PURE_ENOUGH = 0.8  # --cluster-within auto keeps clusters of all images at least this pure on the labels


def cluster_purity(ids: torch.Tensor, classes: torch.Tensor, k: int) -> float:
    """The share of images whose cluster's most common class is their own (1 = no cluster mixes
    classes)."""
    counts = torch.zeros(k, int(classes.max()) + 1, dtype=torch.int64)
    counts.index_put_((ids, classes.long()), torch.ones_like(ids), accumulate=True)
    return float(counts.max(1).values.sum()) / len(ids)


def cluster_cdf(ids: torch.Tensor, k: int, groups: int = 1) -> torch.Tensor:
    """(groups, k) float32 cumulative frequencies of each group's clusters, the last exactly 1."""
    counts = torch.bincount(ids, minlength=groups * k).double().view(groups, k)
    cdf = (counts.cumsum(1) / counts.sum(1, keepdim=True).clamp_min(1)).float()
    cdf[:, -1] = 1.0
    return cdf


__all__ = ["kmeans_clusters", "cluster_ids", "cluster_cdf", "cluster_purity", "PURE_ENOUGH"]
