"""Sample-quality metrics for GANs on MNIST-format data, computed on each dataset's classifier.

``evaluate_run`` / ``evaluate_npz`` / ``evaluate_images`` return a dict of FID, classifier score,
precision/recall, density/coverage, class-mode statistics and (conditional) label accuracy;
``real_floor`` scores real training images the same way; ``format_table`` prints both side by side.
``inception_fid`` (optional extra) is the Inception-FID papers quote.

Names are imported on first use (PEP 562): ``import minigan.metrics`` stays cheap, and
``python -m minigan.metrics.classifier`` / ``.reference`` do not import their module twice.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "assets": ["choose_classifier", "shipped_datasets"],
    "classifier": ["Classifier", "MnistClassifier", "load_classifier"],
    "classifier_training": ["train_classifier"],
    "reference": ["compute_reference_stats", "load_reference_stats"],
    "scores": [
        "class_histogram",
        "density_coverage",
        "frechet_distance",
        "kl_to_uniform",
        "label_accuracy",
        "mnist_score",
        "modes_covered",
        "precision_recall",
    ],
    "evaluate": ["evaluate_images", "evaluate_npz", "evaluate_run", "real_floor", "run_dataset"],
    "inception": ["inception_fid", "inception_floor"],
    "report": ["format_table", "write_metrics_json"],
    "samples": ["load_samples_npz"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
