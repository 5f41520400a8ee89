"""Print and save metric results: the aligned value / real-data floor table, and plain JSON."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from minigan.fileio import atomic_write_json

# (key, row label, which direction is better, format); {score} and {k} are filled per dataset
_ROWS = [
    ("fid", "FID", "lower", "{:.2f}"),
    ("inception_fid", "Inception-FID", "lower", "{:.2f}"),
    ("mnist_score", "{score} score (max {k})", "higher", "{:.3f}"),
    ("precision", "precision", "higher", "{:.3f}"),
    ("recall", "recall", "higher", "{:.3f}"),
    ("density", "density", "higher", "{:.3f}"),
    ("coverage", "coverage", "higher", "{:.3f}"),
    ("modes_covered", "modes covered (of {k})", "higher", "{:d}"),
    ("kl_uniform", "KL(classes || uniform)", "lower", "{:.4f}"),
    ("label_accuracy", "label accuracy", "higher", "{:.4f}"),
]


def format_table(results: dict[str, Any], floor: dict[str, Any] | None = None, dataset: str = "mnist") -> str:
    """Aligned text table: metric, value, real-data floor, which direction is better.

    The classifier score is named after the dataset ("MNIST score", "Fashion-MNIST score", ...).
    """
    from minigan.data import DATASETS

    k = len(results.get("class_histogram") or []) or 10
    score = DATASETS[dataset].title if dataset in DATASETS else "classifier"

    def cell(d: dict[str, Any] | None, key: str, fmt: str) -> str:
        v = None if d is None else d.get(key)
        return "-" if v is None else fmt.format(v)

    rows = [("metric", "value", "real data", "better")]
    rows += [
        (label.format(score=score, k=k), cell(results, key, fmt), cell(floor, key, fmt), better)
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


def jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [jsonable(x) for x in (v.tolist() if isinstance(v, np.ndarray) else v)]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_metrics_json(path: str | Path, results: dict[str, Any]) -> Path:
    """Write ``results`` as JSON atomically (temp file beside it, then os.replace); NaN -> null."""
    return atomic_write_json(path, jsonable(results))
