"""Sample-quality metrics as pure functions of features, probabilities and labels.

Nothing here knows about networks or files: callers pass classifier features (N, D), softmax
probabilities (N, K) or integer labels (N,). numpy only for the linear algebra (no scipy), torch
for the chunked pairwise distances behind the k-NN metrics.
"""

from __future__ import annotations

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2): the FID formula.

    d² = |mu1 - mu2|² + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^½)
    (Dowson & Landau 1982; used as FID by Heusel et al. 2017, "GANs Trained by a Two Time-Scale
    Update Rule Converge to a Local Nash Equilibrium", NeurIPS).

    The trace term avoids a non-symmetric matrix square root: with A = sigma1^½, the products
    A·(A sigma2) and (A sigma2)·A share their eigenvalues, and A sigma2 A is symmetric PSD, so
    Tr((sigma1 sigma2)^½) = Σ sqrt(eig(A sigma2 A)). Two ``eigh`` calls, exact for singular
    (rank-deficient) covariances too, never complex.
    """
    mu1, mu2 = (np.asarray(m, dtype=np.float64).reshape(-1) for m in (mu1, mu2))
    s1, s2 = (np.asarray(s, dtype=np.float64) for s in (sigma1, sigma2))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            f"shape mismatch: mu1 {mu1.shape}, sigma1 {s1.shape}, "
            f"mu2 {mu2.shape}, sigma2 {s2.shape}"
        )
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    w, v = np.linalg.eigh(s1)
    sqrt_s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = sqrt_s1 @ s2 @ sqrt_s1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    fid = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean
    return float(max(fid, 0.0))  # exact arithmetic gives >= 0; only rounding can dip below


def gaussian_stats(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D), both float64, of features (N, D), N >= 2."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need features of shape (N >= 2, D), got {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def mnist_score(probs: ArrayLike) -> float:
    """Inception score on MNIST-classifier softmax outputs: exp(E_x KL(p(y|x) || p(y))).

    Salimans et al. 2016, "Improved Techniques for Training GANs" (NeurIPS), with the MNIST
    classifier in place of Inception as in TF-GAN's ``mnist_score``; computed over the whole set
    in one split. Ranges from 1 (every sample gets the same class distribution) to the number of
    classes (confident predictions, classes used equally).
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"need probabilities of shape (N >= 1, K), got {p.shape}")
    marginal = p.mean(axis=0, keepdims=True)
    safe = np.where(p > 0, p, 1.0)  # 0 * log 0 = 0
    kl = (p * (np.log(safe) - np.log(np.where(p > 0, marginal, 1.0)))).sum(axis=1)
    return float(np.exp(kl.mean()))


def _as_float_tensor(x: ArrayLike) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def _pair(real: ArrayLike, fake: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    r, f = _as_float_tensor(real), _as_float_tensor(fake)
    dtype = torch.promote_types(r.dtype, f.dtype)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise ValueError(f"need features (N, D) and (M, D), got {tuple(r.shape)}, {tuple(f.shape)}")
    return r.to(dtype), f.to(dtype)


def kth_nn_distance(feats: ArrayLike, k: int, chunk_size: int = 1000) -> torch.Tensor:
    """Distance (N,) from each row to its k-th nearest *other* row; the radius of its k-NN ball."""
    return kth_nn_distances(feats, (k,), chunk_size)[0]


def kth_nn_distances(
    feats: ArrayLike, ks: tuple[int, ...], chunk_size: int = 1000
) -> tuple[torch.Tensor, ...]:
    """``kth_nn_distance`` for several k from one pass over the distance matrix."""
    x = _as_float_tensor(feats)
    if not all(1 <= k < len(x) for k in ks):
        raise ValueError(f"k={ks} needs 1 <= k < number of points ({len(x)})")
    out = []
    for start in range(0, len(x), chunk_size):
        d = torch.cdist(x[start : start + chunk_size], x)  # (chunk, N)
        out.append(d.topk(max(ks) + 1, dim=1, largest=False).values)  # [:, 0] is the point itself
    nearest = torch.cat(out)
    return tuple(nearest[:, k] for k in ks)


def precision_recall(
    real_feats: ArrayLike,
    fake_feats: ArrayLike,
    k: int = 3,
    *,
    real_radii: torch.Tensor | None = None,
    chunk_size: int = 1000,
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019, NeurIPS).

    The real and the fake manifolds are each the union of k-NN balls around their points.
    Precision: share of fakes inside the real manifold (fidelity). Recall: share of reals inside
    the fake manifold (diversity). Use equally sized sets; ``real_radii`` may be passed in to
    reuse ``kth_nn_distance(real_feats, k)``.
    """
    found = prdc(real_feats, fake_feats, k, k, real_radii_pr=real_radii, real_radii_dc=real_radii,
                 chunk_size=chunk_size)
    return found["precision"], found["recall"]


def density_coverage(
    real_feats: ArrayLike,
    fake_feats: ArrayLike,
    k: int = 5,
    *,
    real_radii: torch.Tensor | None = None,
    chunk_size: int = 1000,
) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
    Generative Models", ICML).

    Only real k-NN balls are used, so outlying fakes cannot inflate the manifold. Density: mean
    number of real balls containing a fake, divided by k (about 1 for real data, can exceed 1).
    Coverage: share of real balls that contain at least one fake.
    """
    found = prdc(real_feats, fake_feats, k, k, real_radii_pr=real_radii, real_radii_dc=real_radii,
                 chunk_size=chunk_size)
    return found["density"], found["coverage"]


def prdc(
    real_feats: ArrayLike,
    fake_feats: ArrayLike,
    k_pr: int = 3,
    k_dc: int = 5,
    *,
    real_radii_pr: torch.Tensor | None = None,
    real_radii_dc: torch.Tensor | None = None,
    chunk_size: int = 1000,
) -> dict[str, float]:
    """Precision, recall (k = ``k_pr``), density and coverage (k = ``k_dc``): the one k-NN
    computation behind all four, in three chunked passes over the distance matrices. The real
    radii may be passed in (they are fixed per real set).
    """
    real, fake = _pair(real_feats, fake_feats)
    r_pr = kth_nn_distance(real, k_pr, chunk_size) if real_radii_pr is None else real_radii_pr
    r_dc = kth_nn_distance(real, k_dc, chunk_size) if real_radii_dc is None else real_radii_dc
    r_pr, r_dc = r_pr.to(real.dtype), r_dc.to(real.dtype)
    fake_radii = kth_nn_distance(fake, k_pr, chunk_size)
    in_real, dc_hits = [], []
    for start in range(0, len(fake), chunk_size):
        d = torch.cdist(fake[start : start + chunk_size], real)  # (chunk, N)
        in_real.append((d <= r_pr[None, :]).any(dim=1))
        dc_hits.append((d <= r_dc[None, :]).sum(dim=1))
    in_fake, covered = [], []
    for start in range(0, len(real), chunk_size):
        d = torch.cdist(real[start : start + chunk_size], fake)  # (chunk, M)
        in_fake.append((d <= fake_radii[None, :]).any(dim=1))
        covered.append(d.min(dim=1).values <= r_dc[start : start + chunk_size])
    return {
        "precision": torch.cat(in_real).double().mean().item(),
        "recall": torch.cat(in_fake).double().mean().item(),
        "density": (torch.cat(dc_hits).double().sum() / (k_dc * len(fake))).item(),
        "coverage": torch.cat(covered).double().mean().item(),
    }


def class_histogram(pred_labels: ArrayLike, num_classes: int = 10) -> np.ndarray:
    """Share (K,) of samples per predicted class; sums to 1."""
    y = np.asarray(pred_labels, dtype=np.int64).reshape(-1)
    if y.size == 0 or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"need a non-empty array of labels in [0, {num_classes})")
    return np.bincount(y, minlength=num_classes) / y.size


def modes_covered(hist: ArrayLike, threshold: float = 0.02) -> int:
    """Number of classes holding more than ``threshold`` of the samples.

    Mode counting as in Che et al. 2017 (Mode Regularized GANs) and Metz et al. 2017 (Unrolled
    GANs); the 2% floor keeps a few stray samples from counting as a covered digit.
    """
    return int((np.asarray(hist) > threshold).sum())


def kl_to_uniform(hist: ArrayLike) -> float:
    """KL(hist || uniform) in nats: 0 for balanced classes, log K for a single class.

    The mode-balance score of Metz et al. 2017 ("Unrolled Generative Adversarial Networks").
    """
    p = np.asarray(hist, dtype=np.float64)
    nz = p[p > 0]
    return float((nz * np.log(nz * p.size)).sum())


def label_accuracy(
    pred_labels: ArrayLike, labels: ArrayLike, num_classes: int = 10
) -> tuple[float, np.ndarray]:
    """Share of conditional samples classified as the digit they were asked for.

    Returns (overall, per-digit (K,)); a digit with no requested samples gets NaN. The
    classifier-accuracy check for conditional GANs (e.g. Odena et al. 2017, AC-GAN).
    """
    pred = np.asarray(pred_labels, dtype=np.int64).reshape(-1)
    want = np.asarray(labels, dtype=np.int64).reshape(-1)
    if pred.shape != want.shape or pred.size == 0:
        raise ValueError(f"need equal, non-empty label arrays, got {pred.shape} and {want.shape}")
    correct = pred == want
    per = np.full(num_classes, np.nan)
    for c in range(num_classes):
        mask = want == c
        if mask.any():
            per[c] = correct[mask].mean()
    return float(correct.mean()), per
