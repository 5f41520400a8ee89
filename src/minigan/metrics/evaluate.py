"""Score generated digits: images, a samples ``.npz`` or a run folder -> one dict of metrics.

Every metric is computed on the shipped MNIST classifier: FID against the shipped test-set
statistics, precision/recall/density/coverage against the 10k test-set features (computed from
``data_dir`` once per process, equal-size subsets), the MNIST score, the predicted-class
histogram and, for conditional samples, label accuracy. ``real_floor`` scores 10k real training
images the same way: the best value a generator can hope for on each metric.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from minigan.data import load_dataset, resolve_data_dir
from minigan.errors import DataError
from minigan.fileio import atomic_write_json
from minigan.metrics import scores
from minigan.metrics.classifier import NUM_CLASSES, predict_features, shipped_classifier
from minigan.metrics.reference import shipped_reference_stats

PR_K, DC_K = 3, 5  # neighbourhood sizes recommended by the two papers
MIN_IMAGES = 10
# (key, row label, which direction is better, format)
_ROWS = [
    ("fid", "FID", "lower", "{:.2f}"),
    ("mnist_score", "MNIST score (max 10)", "higher", "{:.3f}"),
    ("precision", "precision", "higher", "{:.3f}"),
    ("recall", "recall", "higher", "{:.3f}"),
    ("density", "density", "higher", "{:.3f}"),
    ("coverage", "coverage", "higher", "{:.3f}"),
    ("modes_covered", "modes covered (of 10)", "higher", "{:d}"),
    ("kl_uniform", "KL(classes || uniform)", "lower", "{:.4f}"),
    ("label_accuracy", "label accuracy", "higher", "{:.4f}"),
]


def _check_images(images: np.ndarray | torch.Tensor) -> np.ndarray:
    x = images.cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.dtype != np.uint8:
        raise DataError(
            f"images must be uint8 in 0..255, got {x.dtype}; convert with "
            "(x * 255).round().clip(0, 255).astype(np.uint8)"
        )
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise DataError(f"images must have shape (N, 28, 28), got {x.shape}")
    if len(x) < MIN_IMAGES:
        raise DataError(f"need at least {MIN_IMAGES} images to score, got {len(x)}")
    return x


def _check_labels(labels: np.ndarray | torch.Tensor | None, n: int) -> np.ndarray | None:
    if labels is None:
        return None
    y = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"labels must have shape ({n},) to match the images, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= NUM_CLASSES:
        raise DataError(f"labels must be integers in 0..{NUM_CLASSES - 1} (got dtype {y.dtype})")
    return y.astype(np.int64)


@lru_cache(maxsize=2)
def _test_features(data_dir: str, device: str) -> torch.Tensor:
    """Classifier features (10000, 128) of the MNIST test set, on ``device``."""
    images = load_dataset(data_dir, split="test").images
    return predict_features(shipped_classifier(device), images)[0].to(device)


@lru_cache(maxsize=8)
def _real_reference(
    data_dir: str, device: str, n: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed random n-subset of the test features with its k-NN radii for PR_K and DC_K."""
    feats = _test_features(data_dir, device)
    if n < len(feats):
        idx = np.sort(np.random.default_rng(0).permutation(len(feats))[:n])
        feats = feats[torch.from_numpy(idx).to(device)]
    return (feats, *scores.kth_nn_distances(feats, (PR_K, DC_K)))


def evaluate_images(
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor | None = None,
    *,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 1000,
) -> dict[str, Any]:
    """All metrics for uint8 images (N, 28, 28); ``labels`` are the digits a conditional model
    was asked for (label metrics are None without them). Precision/recall/density/coverage
    compare with the MNIST test set in ``data_dir`` (None: the default data folder, see
    ``minigan.data.resolve_data_dir``; MNIST is downloaded there if missing).
    """
    x = _check_images(images)
    y = _check_labels(labels, len(x))
    feats, probs = predict_features(shipped_classifier(device), torch.from_numpy(x), batch_size)
    ref = shipped_reference_stats()
    # k-NN metrics on equal-size sets: a fixed n-subset of the test set vs the first n samples
    key = str(resolve_data_dir(data_dir).resolve())
    n = min(len(x), len(_test_features(key, device)))
    real, radii_pr, radii_dc = _real_reference(key, device, n)
    fake = feats[:n].to(device)
    knn = scores.prdc(real, fake, PR_K, DC_K, real_radii_pr=radii_pr, real_radii_dc=radii_dc)
    pred = probs.argmax(dim=1).numpy()
    hist = scores.class_histogram(pred, NUM_CLASSES)
    accuracy, per_digit = (None, None) if y is None else scores.label_accuracy(pred, y)
    return {
        "num_images": len(x),
        "fid": scores.frechet_distance(
            *scores.gaussian_stats(feats.numpy()), ref["mu"], ref["sigma"]
        ),
        "mnist_score": scores.mnist_score(probs.numpy()),
        **knn,
        "modes_covered": scores.modes_covered(hist),
        "kl_uniform": scores.kl_to_uniform(hist),
        "class_histogram": hist.tolist(),
        "label_accuracy": accuracy,
        "label_accuracy_per_digit": None
        if per_digit is None
        else [None if math.isnan(a) else float(a) for a in per_digit],
        "classifier": ref["classifier_fingerprint"][:16],
    }


def load_samples_npz(
    path: str | Path, num: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read and validate a samples file: ``images`` uint8 (N, 28, 28), optional ``labels`` (N,)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"samples file {path} does not exist; write one with `minigan sample`")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} is not a readable .npz samples file ({e})") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataError(f"{path} is a single .npy array, not an .npz with an 'images' key")
    with data:
        if "images" not in data.files:
            raise DataError(
                f"{path} has no 'images' array (keys: {', '.join(data.files) or 'none'})"
            )
        try:
            images = data["images"]
            labels = data["labels"] if "labels" in data.files else None
        except ValueError as e:  # object arrays need pickle
            raise DataError(f"{path} holds arrays that need pickle to load ({e})") from e
    try:
        images = _check_images(images)
        labels = _check_labels(labels, len(images))
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    if num is not None:
        if not MIN_IMAGES <= num <= len(images):
            raise DataError(
                f"{path} holds {len(images)} images; ask for {MIN_IMAGES}..{len(images)}"
            )
        images = images[:num]
        labels = None if labels is None else labels[:num]
    return images, labels


def evaluate_npz(
    path: str | Path,
    num: int | None = None,
    *,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 1000,
) -> dict[str, Any]:
    """Metrics for the first ``num`` (default all) samples of an ``.npz`` samples file."""
    images, labels = load_samples_npz(path, num)
    return evaluate_images(images, labels, data_dir=data_dir, device=device, batch_size=batch_size)


def evaluate_run(
    run_dir: str | Path,
    num: int = 10000,
    seed: int = 0,
    *,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 1000,
) -> dict[str, Any]:
    """Sample ``num`` digits from a run's generator (class-balanced if conditional), score them."""
    from minigan.sampling import load_generator

    g = load_generator(run_dir, device=device)
    wanted = np.arange(num, dtype=np.int64) % g.num_classes if g.conditional else None
    images, labels = g.sample(num, seed=seed, labels=wanted)
    results = evaluate_images(
        images, labels, data_dir=data_dir, device=device, batch_size=batch_size
    )
    results["seed"] = seed
    return results


def _cache_dir() -> Path:
    if "MINIGAN_CACHE_DIR" in os.environ:
        return Path(os.environ["MINIGAN_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minigan"


def real_floor(
    data_dir: str | Path,
    num: int = 10000,
    seed: int = 0,
    *,
    device: str = "cpu",
    batch_size: int = 1000,
) -> dict[str, Any]:
    """Metrics of ``num`` random real training images scored as if generated (with their true
    labels): the real-data floor each generator is compared with. Cached as JSON in the user
    cache dir ($MINIGAN_CACHE_DIR, else $XDG_CACHE_HOME/minigan or ~/.cache/minigan), keyed by
    num, seed and a hash of the images and the classifier.
    """
    train = load_dataset(data_dir, split="train")
    if not MIN_IMAGES <= num <= len(train.images):
        raise DataError(f"real_floor num must be in {MIN_IMAGES}..{len(train.images)}, got {num}")
    idx = torch.from_numpy(
        np.random.default_rng(seed).choice(len(train.images), num, replace=False)
    )
    images, labels = train.images[idx].numpy(), train.labels[idx].numpy()
    h = hashlib.sha256(images.tobytes() + labels.tobytes())
    h.update(shipped_reference_stats()["classifier_fingerprint"].encode())
    cache = _cache_dir() / f"real_floor_n{num}_s{seed}_{h.hexdigest()[:16]}.json"
    if cache.is_file():
        try:
            return json.loads(cache.read_text())
        except (OSError, ValueError):
            pass  # damaged cache: recompute and overwrite
    results = evaluate_images(
        images, labels, data_dir=data_dir, device=device, batch_size=batch_size
    )
    results = _jsonable({**results, "seed": seed})  # the same plain values as a cache hit
    try:
        write_metrics_json(cache, results)
    except OSError:
        pass  # a read-only cache only costs recomputation
    return results


def format_table(results: dict[str, Any], floor: dict[str, Any] | None = None) -> str:
    """Aligned text table: metric, value, real-data floor, which direction is better."""

    def cell(d: dict[str, Any] | None, key: str, fmt: str) -> str:
        v = None if d is None else d.get(key)
        return "-" if v is None else fmt.format(v)

    rows = [("metric", "value", "real data", "better")]
    rows += [
        (label, cell(results, key, fmt), cell(floor, key, fmt), better)
        for key, label, better, fmt in _ROWS
        if results.get(key) is not None
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d:<{widths[3]}}".rstrip()
        for a, b, c, d in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in (v.tolist() if isinstance(v, np.ndarray) else v)]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_metrics_json(path: str | Path, results: dict[str, Any]) -> Path:
    """Write ``results`` as JSON atomically (temp file beside it, then os.replace); NaN -> null."""
    return atomic_write_json(path, _jsonable(results))
