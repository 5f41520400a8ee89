"""FID reference statistics: mean and covariance of classifier features over the MNIST test set.

Shipped as ``mnist_test_stats.npz`` (float64 ``mu`` (128,), ``sigma`` (128, 128), and the
fingerprint of the classifier that made them). Recompute after retraining the
classifier, then replace the shipped file with the result::

    python -m minigan.metrics.reference --data-dir ~/mnist --out mnist_test_stats.npz
"""

from __future__ import annotations

import argparse
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from minigan.errors import CheckpointError
from minigan.metrics.classifier import (
    SHIPPED_CLASSIFIER,
    classifier_metadata,
    load_classifier,
    predict_features,
)
from minigan.metrics.scores import gaussian_stats

SHIPPED_STATS = Path(__file__).with_name("mnist_test_stats.npz")


def compute_reference_stats(
    data_dir: str | Path,
    classifier_path: str | Path = SHIPPED_CLASSIFIER,
    device: str = "cpu",
    batch_size: int = 1000,
) -> dict[str, np.ndarray]:
    """Feature statistics of the 10k MNIST test images: {mu, sigma, classifier_fingerprint}."""
    from minigan.data import load_dataset

    model = load_classifier(classifier_path, device)
    feats, _ = predict_features(model, load_dataset(data_dir, split="test").images, batch_size)
    mu, sigma = gaussian_stats(feats.double().numpy())
    fp = classifier_metadata(classifier_path)["fingerprint"]
    return {"mu": mu, "sigma": sigma, "classifier_fingerprint": np.array(fp)}


def save_reference_stats(stats: dict[str, np.ndarray], path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **stats)
    os.replace(tmp, path)


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


@lru_cache(maxsize=1)
def shipped_reference_stats() -> dict[str, np.ndarray]:
    """The packaged stats, checked against the packaged classifier once per process."""
    stats = load_reference_stats(SHIPPED_STATS)
    if stats["classifier_fingerprint"] != classifier_metadata()["fingerprint"]:
        raise CheckpointError(
            f"{SHIPPED_STATS.name} was computed with another classifier than "
            f"{SHIPPED_CLASSIFIER.name}; recompute it with `python -m minigan.metrics.reference`"
        )
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m minigan.metrics.reference",
        description="Compute FID reference statistics of the MNIST test set.",
        epilog="example: python -m minigan.metrics.reference --data-dir shared/data/mnist "
        "--out src/minigan/metrics/mnist_test_stats.npz",
    )
    parser.add_argument("--data-dir", required=True, help="folder with the MNIST IDX files")
    parser.add_argument("--out", required=True, help="where to write the .npz statistics")
    parser.add_argument("--classifier", default=str(SHIPPED_CLASSIFIER), help="weights to use")
    args = parser.parse_args(argv)
    stats = compute_reference_stats(args.data_dir, args.classifier)
    save_reference_stats(stats, args.out)
    print(f"mu {stats['mu'].shape}, sigma {stats['sigma'].shape} -> {args.out}")


if __name__ == "__main__":
    main()
