"""Which classifier scores which dataset, and what to say when there is none.

Each named dataset may ship ``<name>_classifier.safetensors`` (+ ``<name>_test_stats.npz``);
any dataset, an IDX folder included, can be scored with a classifier file the user trained
(`minigan classifier train`). Nothing is ever scored with another dataset's classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from minigan.errors import DataError
from minigan.metrics.classifier import classifier_metadata, shipped_classifier_path


@dataclass(frozen=True)
class ClassifierChoice:
    dataset: str
    path: Path
    shipped: bool  # the packaged one: its shipped reference statistics apply
    num_classes: int
    fingerprint: str


def shipped_datasets() -> tuple[str, ...]:
    """Named datasets that ship a classifier with the package."""
    from minigan.data import DATASETS

    return tuple(name for name in DATASETS if shipped_classifier_path(name).is_file())


def choose_classifier(dataset: str, classifier: str | Path | None = None) -> ClassifierChoice:
    """The classifier file for `dataset`: the one given, else the shipped one; a one-line
    DataError saying how to make one when neither exists."""
    from minigan.data import DATASET_NAMES

    if dataset not in DATASET_NAMES:
        raise DataError(f"unknown dataset {dataset!r}; use one of: {', '.join(DATASET_NAMES)}")
    if classifier is not None:
        path, shipped = Path(classifier).expanduser(), False
        if not path.is_file():
            raise DataError(f"classifier file {path} does not exist; make one with `minigan classifier train "
                            f"--dataset {dataset} --data-dir DIR --out {path}`")
    elif dataset == "idx":
        raise DataError("no classifier for an IDX folder (dataset idx); make one with `minigan classifier "
                        "train --data-dir DIR --out FILE` (labels required) and pass --classifier FILE")
    else:
        path, shipped = shipped_classifier_path(dataset), True
        if not path.is_file():
            raise DataError(f"no classifier is shipped for {dataset}; make one with `minigan classifier "
                            f"train --dataset {dataset} --out FILE` (downloads {dataset} if needed) and pass "
                            "--classifier FILE")
    meta = classifier_metadata(path)
    if meta["dataset"] not in (dataset, "idx") and dataset != "idx":
        raise DataError(f"{path} was trained on {meta['dataset']}, not {dataset}; pass that dataset's "
                        f"classifier or make one with `minigan classifier train --dataset {dataset} --out "
                        "FILE`")
    return ClassifierChoice(dataset, path, shipped, int(meta["num_classes"]), meta["fingerprint"])
