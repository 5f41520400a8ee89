"""Score generated images: images, a samples ``.npz`` or a run folder -> one dict of metrics.

Every metric is computed on the classifier of the images' dataset (the shipped one, or a file
from `minigan classifier train`): FID against the test-set statistics, precision/recall/density/
coverage against the test-set features (computed from ``data_dir`` once per process, equal-size
subsets), the classifier score, the predicted-class histogram and, for conditional samples, label
accuracy. ``real_floor`` scores real training images the same way: the best value a generator can
hope for on each metric. A run folder is scored on the dataset its config.json names.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from minigan.data import load_dataset, resolve_data_dir
from minigan.errors import DataError
from minigan.metrics import scores
from minigan.metrics.assets import ClassifierChoice, choose_classifier
from minigan.metrics.classifier import cached_classifier, predict_features
from minigan.metrics.precision import full_fp32
from minigan.metrics.reference import shipped_reference_stats
from minigan.metrics.report import format_table, jsonable, write_metrics_json
from minigan.metrics.samples import (
    MIN_IMAGES,
    check_images,
    check_labels,
    labels_at_frequencies,
    load_samples_npz,
)

PR_K, DC_K = 3, 5  # neighbourhood sizes recommended by the two papers
__all__ = ["evaluate_images", "evaluate_npz", "evaluate_run", "format_table", "load_samples_npz",
           "real_floor", "run_dataset", "write_metrics_json", "scored_labels"]


@lru_cache(maxsize=4)
def _training_class_counts(data_dir: str | None, dataset: str) -> np.ndarray:
    train = load_dataset(data_dir, split="train", dataset=dataset, progress=False)
    if train.labels is None:
        raise DataError(f"{train.source} has no labels file; a conditional run is scored at its classes' "
                        "frequencies")
    return np.bincount(train.labels.numpy(), minlength=train.num_classes)


def scored_labels(num: int, num_classes: int, dataset: str, data_dir: str | Path | None) -> np.ndarray:
    """The labels a conditional generator is scored with: the training set's class frequencies.

    The real-data floor and the test statistics carry the data's class mix (MNIST: 11.2% ones,
    9.0% fives), and FID charges a generator for every point of mix it gets wrong: a balanced
    draw cost an 8,000-step `fast-cond` 2.0 FID-MNIST (10.41 vs 8.41, mean of three sample seeds,
    2026-12-06). An unconditional clustered G already draws its clusters at the data's
    frequencies; this gives a conditional one the same p(y).
    """
    counts = _training_class_counts(None if data_dir is None else str(data_dir), dataset)[:num_classes]
    return labels_at_frequencies(num, counts)


@lru_cache(maxsize=4)
def _test_features(data_dir: str, dataset: str, classifier: str, device: str) -> torch.Tensor:
    """Classifier features (N_test, 128) of a dataset's test set, on ``device``."""
    images = load_dataset(data_dir, split="test", dataset=dataset).images
    return predict_features(cached_classifier(classifier, device), images)[0].to(device)


@lru_cache(maxsize=8)
def _real_reference(
    data_dir: str, dataset: str, classifier: str, device: str, n: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed random n-subset of the test features with its k-NN radii for PR_K and DC_K."""
    feats = _test_features(data_dir, dataset, classifier, device)
    if n < len(feats):
        idx = np.sort(np.random.default_rng(0).permutation(len(feats))[:n])
        feats = feats[torch.from_numpy(idx).to(device)]
    return (feats, *scores.kth_nn_distances(feats, (PR_K, DC_K)))


def _fid_reference(choice: ClassifierChoice, test_feats: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    if choice.shipped:
        ref = shipped_reference_stats(choice.dataset)
        return ref["mu"], ref["sigma"]
    return scores.gaussian_stats(test_feats.double().cpu().numpy())


@full_fp32()
def evaluate_images(
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor | None = None,
    *,
    dataset: str = "mnist",
    classifier: str | Path | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 1000,
) -> dict[str, Any]:
    """All metrics for uint8 images (N, 28, 28) of `dataset`; ``labels`` are the classes a
    conditional model was asked for (label metrics are None without them). Precision/recall/
    density/coverage compare with the test set in ``data_dir`` (None: the dataset's default
    folder, see ``minigan.data.resolve_data_dir``; a named dataset is downloaded if missing).
    ``classifier``: a classifier file instead of the dataset's shipped one (needed for "idx").
    Computed in full fp32 whatever TF32 flags training set (`precision.py`).
    """
    choice = choose_classifier(dataset, classifier)
    x = check_images(images)
    y = check_labels(labels, len(x), choice.num_classes)
    model = cached_classifier(str(choice.path), device)
    feats, probs = predict_features(model, torch.from_numpy(x), batch_size)
    # k-NN metrics on equal-size sets: a fixed n-subset of the test set vs the first n samples
    key = (str(resolve_data_dir(data_dir, dataset).resolve()), dataset, str(choice.path), device)
    test_feats = _test_features(*key)
    n = min(len(x), len(test_feats))
    real, radii_pr, radii_dc = _real_reference(*key, n)
    knn = scores.prdc(real, feats[:n].to(device), PR_K, DC_K, real_radii_pr=radii_pr, real_radii_dc=radii_dc)
    pred = probs.argmax(dim=1).numpy()
    hist = scores.class_histogram(pred, choice.num_classes)
    accuracy, per_class = (None, None) if y is None else scores.label_accuracy(pred, y, choice.num_classes)
    fake_stats = scores.gaussian_stats(feats.numpy())
    return {
        "num_images": len(x),
        "fid": scores.frechet_distance(*fake_stats, *_fid_reference(choice, test_feats)),
        "mnist_score": scores.mnist_score(probs.numpy()),
        **knn,
        "modes_covered": scores.modes_covered(hist),
        "kl_uniform": scores.kl_to_uniform(hist),
        "class_histogram": hist.tolist(),
        "label_accuracy": accuracy,
        "label_accuracy_per_digit": None
        if per_class is None
        else [None if math.isnan(a) else float(a) for a in per_class],
        "classifier": choice.fingerprint[:16],
    }


def evaluate_npz(
    path: str | Path,
    num: int | None = None,
    *,
    dataset: str = "mnist",
    classifier: str | Path | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 1000,
    inception: bool = False,
) -> dict[str, Any]:
    """Metrics for the first ``num`` (default all) samples of an ``.npz`` samples file;
    ``inception=True`` adds ``inception_fid`` (slow on CPU, see ``metrics.inception``)."""
    num_classes = choose_classifier(dataset, classifier).num_classes  # no classifier: fail before reading
    images, labels = load_samples_npz(path, num, num_classes)
    results = evaluate_images(images, labels, dataset=dataset, classifier=classifier, data_dir=data_dir,
                              device=device, batch_size=batch_size)
    return _with_inception(results, inception, images, dataset, data_dir, device)


def _with_inception(results: dict[str, Any], inception: bool, images: np.ndarray, dataset: str,
                    data_dir: str | Path | None, device: str) -> dict[str, Any]:
    if inception:
        from minigan.metrics.inception import inception_fid

        results["inception_fid"] = inception_fid(images, dataset=dataset, data_dir=data_dir, device=device)
    return results


def run_dataset(run_dir: str | Path) -> tuple[str, str | None]:
    """(dataset, data_dir) a run was trained on, from its config.json (MNIST for older folders)."""
    path = Path(run_dir) / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return "mnist", None
    return str(config.get("dataset") or "mnist"), config.get("data_dir")


def evaluate_run(
    run_dir: str | Path,
    num: int = 10000,
    seed: int = 0,
    *,
    dataset: str | None = None,
    classifier: str | Path | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 1000,
    inception: bool = False,
) -> dict[str, Any]:
    """Sample ``num`` images from a run's generator (conditional: labels at the training set's
    class frequencies, `scored_labels`), score them on the run's dataset (``dataset=None``: the
    one its config.json names, with its data folder unless ``data_dir`` is given).
    ``inception=True`` adds ``inception_fid``."""
    from minigan.sampling import load_generator

    if dataset is None:
        dataset, run_data_dir = run_dataset(run_dir)
        data_dir = run_data_dir if data_dir is None else data_dir
    choose_classifier(dataset, classifier)  # no classifier for this dataset: say so before sampling
    if inception:
        from minigan.metrics.inception import weights_path

        weights_path()  # and no Inception weights: before sampling too
    g = load_generator(run_dir, device=device)
    wanted = scored_labels(num, g.num_classes, dataset, data_dir) if g.conditional else None
    images, labels = g.sample(num, seed=seed, labels=wanted)
    results = evaluate_images(images, labels, dataset=dataset, classifier=classifier, data_dir=data_dir,
                              device=device, batch_size=batch_size)
    results["seed"] = seed
    return _with_inception(results, inception, images, dataset, data_dir, device)


def _cache_dir() -> Path:
    if "MINIGAN_CACHE_DIR" in os.environ:
        return Path(os.environ["MINIGAN_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minigan"


def real_floor(
    data_dir: str | Path | None,
    num: int = 10000,
    seed: int = 0,
    *,
    dataset: str = "mnist",
    classifier: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 1000,
    inception: bool = False,
) -> dict[str, Any]:
    """Metrics of ``num`` random real training images scored as if generated (with their true
    labels): the real-data floor each generator is compared with. Cached as JSON in the user
    cache dir ($MINIGAN_CACHE_DIR, else $XDG_CACHE_HOME/minigan or ~/.cache/minigan), keyed by
    num, seed and a hash of the images and the classifier. ``inception=True`` adds the
    real-vs-real ``inception_fid`` (cached on its own).
    """
    choice = choose_classifier(dataset, classifier)
    train = load_dataset(data_dir, split="train", dataset=dataset)
    if train.labels is None:
        raise DataError(f"{train.source} has no labels file; the real-data floor needs labelled images")
    if not MIN_IMAGES <= num <= len(train.images):
        raise DataError(f"real_floor num must be in {MIN_IMAGES}..{len(train.images)}, got {num}")
    idx = torch.from_numpy(
        np.random.default_rng(seed).choice(len(train.images), num, replace=False)
    )
    images, labels = train.images[idx].numpy(), train.labels[idx].numpy()
    h = hashlib.sha256(images.tobytes() + labels.tobytes())
    h.update(choice.fingerprint.encode())
    cache = _cache_dir() / f"real_floor_n{num}_s{seed}_{h.hexdigest()[:16]}.json"
    results = _read_cache(cache)
    if results is None:
        results = evaluate_images(images, labels, dataset=dataset, classifier=classifier, data_dir=data_dir,
                                  device=device, batch_size=batch_size)
        results = jsonable({**results, "seed": seed})  # the same plain values as a cache hit
        try:
            write_metrics_json(cache, results)
        except OSError:
            pass  # a read-only cache only costs recomputation
    if inception:
        from minigan.metrics.inception import inception_floor

        results["inception_fid"] = inception_floor(dataset, data_dir, num, seed, device=device)
    return results


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None  # damaged cache: recompute and overwrite
