"""FID reference statistics: mean and covariance of classifier features over a dataset's test set.

Shipped as ``<dataset>_test_stats.npz`` beside the dataset's classifier (float64 ``mu`` (128,),
``sigma`` (128, 128), and the fingerprint of the classifier that made them). Recompute after
retraining a classifier, then replace the shipped file with the result::

    python -m minigan.metrics.reference --dataset fashion --data-dir ~/fashion \
        --classifier src/minigan/metrics/fashion_classifier.safetensors --out fashion_test_stats.npz
"""

from __future__ import annotations

import argparse
from functools import lru_cache
from pathlib import Path

import numpy as np

from minigan.errors import CheckpointError
from minigan.fileio import atomic_path
from minigan.metrics.classifier import (
    SHIPPED_CLASSIFIER,
    classifier_metadata,
    load_classifier,
    predict_features,
    shipped_classifier_path,
)
from minigan.metrics.scores import gaussian_stats

SHIPPED_STATS = Path(__file__).with_name("mnist_test_stats.npz")


def shipped_stats_path(dataset: str) -> Path:
    return Path(__file__).with_name(f"{dataset}_test_stats.npz")


def compute_reference_stats(
    data_dir: str | Path | None,
    classifier_path: str | Path = SHIPPED_CLASSIFIER,
    device: str = "cpu",
    batch_size: int = 1000,
    *,
    dataset: str = "mnist",
) -> dict[str, np.ndarray]:
    """Feature statistics of a dataset's test images: {mu, sigma, classifier_fingerprint}."""
    from minigan.data import load_dataset

    model = load_classifier(classifier_path, device)
    images = load_dataset(data_dir, split="test", dataset=dataset).images
    feats, _ = predict_features(model, images, batch_size)
    mu, sigma = gaussian_stats(feats.double().numpy())
    fp = classifier_metadata(classifier_path)["fingerprint"]
    return {"mu": mu, "sigma": sigma, "classifier_fingerprint": np.array(fp)}


def save_reference_stats(stats: dict[str, np.ndarray], path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **stats)


def load_reference_stats(path: str | Path = SHIPPED_STATS) -> dict[str, np.ndarray]:
    """Read stats written by ``save_reference_stats`` (no pickle)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            stats = {k: f[k] for k in ("mu", "sigma", "classifier_fingerprint")}
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(
            f"cannot read reference statistics {path}: {e}; recompute them with "
            "`python -m minigan.metrics.reference`"
        ) from e
    stats["classifier_fingerprint"] = str(stats["classifier_fingerprint"])
    return stats


@lru_cache(maxsize=8)
def shipped_reference_stats(dataset: str = "mnist") -> dict[str, np.ndarray]:
    """A dataset's packaged stats, checked against its packaged classifier once per process."""
    stats_path, classifier_path = shipped_stats_path(dataset), shipped_classifier_path(dataset)
    stats = load_reference_stats(stats_path)
    if stats["classifier_fingerprint"] != classifier_metadata(classifier_path)["fingerprint"]:
        raise CheckpointError(
            f"{stats_path.name} was computed with another classifier than "
            f"{classifier_path.name}; recompute it with `python -m minigan.metrics.reference`"
        )
    return stats


def main(argv: list[str] | None = None) -> None:
    from minigan.data import DATASET_NAMES

    parser = argparse.ArgumentParser(
        prog="python -m minigan.metrics.reference",
        description="Compute FID reference statistics of a dataset's test set.",
        epilog="example: python -m minigan.metrics.reference --data-dir shared/data/mnist "
        "--out src/minigan/metrics/mnist_test_stats.npz",
    )
    parser.add_argument("--dataset", default="mnist", choices=DATASET_NAMES,
                        help="which dataset (default mnist)")
    parser.add_argument("--data-dir", help="folder with the IDX files (default: the dataset's cache folder)")
    parser.add_argument("--out", required=True, help="where to write the .npz statistics")
    parser.add_argument("--classifier", help="weights to use (default: the dataset's shipped classifier)")
    args = parser.parse_args(argv)
    classifier = args.classifier or shipped_classifier_path(args.dataset)
    stats = compute_reference_stats(args.data_dir, classifier, dataset=args.dataset)
    save_reference_stats(stats, args.out)
    print(f"mu {stats['mu'].shape}, sigma {stats['sigma'].shape} -> {args.out}")


if __name__ == "__main__":
    main()
