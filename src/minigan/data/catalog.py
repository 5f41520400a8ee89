"""What a dataset is (classes, names, digits or not) and what of it is cached: `minigan datasets`.

`dataset_info` is how the trainer, the class grids and the metrics learn the class count and
class names from the data instead of assuming MNIST's ten digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from minigan.errors import DataError

from .datasets import DATASETS, get_spec
from .download import find_file
from .idx import read_idx, read_idx_shape
from .loading import idx_paths, resolve_data_dir


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    num_classes: int  # 0 for an unlabelled IDX folder
    class_names: tuple[str, ...]  # readable names, one per class index
    is_digits: bool  # classes are the digits 0..9 (the digit clock needs that)
    image_shape: tuple[int, int]
    train_size: int
    test_size: int | None  # None: an IDX folder without test files


def dataset_info(name: str, data_dir: str | Path | None = None) -> DatasetInfo:
    """Facts about a dataset. Named ones come from the registry (no file is read); for "idx" the
    folder's training labels are read to count the classes (0 without labels)."""
    if name != "idx":
        spec = get_spec(name)
        shape = spec.train[0].shape
        return DatasetInfo(spec.name, spec.title, spec.num_classes, spec.class_names, spec.is_digits,
                           (shape[1], shape[2]), spec.size("train"), spec.size("test"))
    folder = resolve_data_dir(data_dir, "idx")
    images, labels = idx_paths(folder, "train")
    shape = read_idx_shape(images)
    if len(shape) != 3:
        raise DataError(f"{images}: header announces shape {shape}, expected images (N, H, W)")
    classes = int(read_idx(labels).max()) + 1 if labels is not None else 0
    try:
        test_size: int | None = read_idx_shape(idx_paths(folder, "test")[0])[0]
    except DataError:
        test_size = None
    return DatasetInfo("idx", f"IDX folder {folder}", classes, tuple(str(c) for c in range(classes)),
                       False, (shape[1], shape[2]), shape[0], test_size)


@dataclass(frozen=True)
class CacheState:
    folder: Path
    present: tuple[str, ...]  # stems found (raw or .gz)
    missing: tuple[str, ...]
    archive: bool  # the dataset's archive (EMNIST's zip) lies in the folder

    @property
    def status(self) -> str:
        if not self.missing:
            return "cached"
        if self.present:
            return f"partial ({len(self.present)}/{len(self.present) + len(self.missing)} files)"
        return "archive only" if self.archive else "not downloaded"


def cache_state(name: str, data_dir: str | Path | None = None) -> CacheState:
    """Which of a named dataset's files its folder holds (presence only: loading verifies them)."""
    spec = get_spec(name)
    folder = resolve_data_dir(data_dir, name)
    found = {f.stem: find_file(folder, f.stem) is not None for f in spec.all_files} if folder.is_dir() else {}
    present = tuple(s for s, ok in found.items() if ok)
    missing = tuple(f.stem for f in spec.all_files if not found.get(f.stem))
    archive = spec.archive is not None and (folder / spec.archive.name).is_file()
    return CacheState(folder, present, missing, archive)


def format_datasets(data_dir: str | Path | None = None) -> str:
    """The table `minigan datasets` prints: sizes, classes, licence and cache state of each."""
    rows = [("name", "title", "train", "test", "classes", "license", "cache")]
    notes = []
    for name, spec in DATASETS.items():
        state = cache_state(name, data_dir)
        rows.append((name, spec.title, f"{spec.size('train'):,}", f"{spec.size('test'):,}",
                     str(spec.num_classes), spec.license, f"{state.status}: {state.folder}"))
        if spec.note:
            notes.append(f"  {name}: {spec.note}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines += ["", "notes:", *notes,
              "  idx: any folder of MNIST-format files: --dataset idx --data-dir DIR (not verified)"]
    return "\n".join(lines)
