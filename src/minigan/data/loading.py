"""Load one split of a named dataset (verified, downloaded if missing) or of any IDX folder.

Named datasets come out in MNIST's conventions whatever their files store: images (N, H, W)
upright (EMNIST's transposed images are turned back), labels 0-based class indices (EMNIST
letters' 1..26 become 0..25; QMNIST's (N, 8) label rows give their class column).
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from minigan.errors import ConfigError, DataError

from .datasets import DATASETS, DataFile, DatasetSpec, Split, get_spec
from .download import WHERE, download_files, file_md5, find_file
from .idx import IdxFormatError, read_idx, read_idx_hashed

_SPLITS: dict[str, Split] = {"train": "train", "test": "test", "t10k": "test"}
_NOT_IT = 'delete it to download it again, or use dataset="idx" for another MNIST-format set'


@dataclass
class Dataset:
    images: torch.Tensor  # (N, H, W) uint8
    labels: torch.Tensor | None  # (N,) int64 class indices; None for an unlabelled set
    source: Path  # the images file
    name: str = "idx"  # the registry name, or "idx" for a folder of IDX files
    classes: int | None = None  # the registry's class count; None: counted from the labels

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_classes(self) -> int:
        if self.classes is not None:
            return self.classes
        if self.labels is None or self.labels.numel() == 0:
            return 0
        return int(self.labels.max()) + 1

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    @property
    def image_size(self) -> int:
        """The side of the square images; DataError for non-square ones (networks need squares)."""
        h, w = self.image_shape
        if h != w:
            raise DataError(f"{self.source} holds {h}x{w} images; minigan trains and scores square images "
                            "only (28x28 like MNIST): crop or pad them first")
        return h


def _cache_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(cache) if os.path.isabs(cache) else Path.home() / ".cache") / "minigan"  # XDG: no relative


def _is_folder_of(folder: Path, spec: DatasetSpec) -> bool:
    """Named for the dataset, or holding files only it has (Fashion and KMNIST reuse MNIST's names)."""
    if folder.name in spec.folder_names:
        return True
    others = {f.stem for other in DATASETS.values() if other is not spec for f in other.all_files}
    return any(find_file(folder, f.stem) is not None for f in spec.all_files if f.stem not in others)


def _resolve(data_dir: str | Path | None, dataset: str) -> tuple[Path, bool]:
    """(folder, whether the user named it) for a dataset; see `resolve_data_dir`."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser(), True
    if env := os.environ.get("MINIGAN_DATA_DIR"):
        root = Path(env).expanduser()
        spec = DATASETS.get(dataset)
        if spec is None:  # "idx": the folder itself
            return root, True
        holds_mnist = dataset == "mnist" and any(find_file(root, f.stem) for f in spec.all_files)
        if holds_mnist or _is_folder_of(root, spec):
            return root, True
        for sub in spec.folder_names:
            if (root / sub).is_dir():
                return root / sub, True
        if dataset == "mnist":  # MNIST: the folder itself, as always (even a missing one)
            return root, True
    return _cache_root() / dataset, False


def resolve_data_dir(data_dir: str | Path | None, dataset: str = "mnist") -> Path:
    """Where `dataset` lives: the argument; else $MINIGAN_DATA_DIR if it is that dataset's folder
    (named like it, e.g. `fashion-mnist`, or holding files no other dataset has) or has such a
    sub-folder (for MNIST the folder itself otherwise, as always); else the cache
    $XDG_CACHE_HOME/minigan/<dataset> (default ~/.cache/minigan/<dataset>)."""
    return _resolve(data_dir, dataset)[0]


def _package_mirrors(spec: DatasetSpec) -> tuple[str, ...]:
    """`minigan.data.MIRRORS` stays the one switch for MNIST's mirrors (tests point it at a local server)."""
    package = sys.modules.get(__package__ or "")
    return tuple(getattr(package, "MIRRORS", spec.mirrors)) if spec.name == "mnist" else spec.mirrors


def _read_verified(path: Path, datafile: DataFile, spec: DatasetSpec) -> np.ndarray:
    md5 = hashlib.md5(usedforsecurity=False)
    try:
        array = read_idx_hashed(path, md5)
    except IdxFormatError as e:
        raise DataError(f"{path} is damaged or not {spec.title} ({e.problem}); {_NOT_IT}") from None
    if datafile.content_md5 is not None:
        if md5.hexdigest() != datafile.content_md5:
            raise DataError(f"{path} is damaged or not {spec.title} (MD5 of its uncompressed bytes is "
                            f"{md5.hexdigest()}, the official one is {datafile.content_md5}); {_NOT_IT}")
    elif (digest := file_md5(path)) != datafile.md5:
        raise DataError(f"{path} cannot be verified: {spec.title} publishes MD5s of its original .gz files "
                        f"only, and this file's is {digest}, not {datafile.md5}; {_NOT_IT}")
    if array.shape != datafile.shape:
        raise DataError(f"{path} holds shape {array.shape}, {spec.title} has {datafile.shape}; {_NOT_IT}")
    return array


def _load_named(spec: DatasetSpec, data_dir: str | Path | None, split: Split, download: bool,
                progress: bool) -> Dataset:
    folder, named = _resolve(data_dir, spec.name)
    if named and not folder.is_dir():  # a typo must not start a download into a new folder
        raise DataError(f"data folder {folder} does not exist; {WHERE} ({spec.title} is downloaded into an "
                        "existing empty folder)")
    files = spec.files(split)
    missing = [f.stem for f in files if find_file(folder, f.stem) is None]
    if missing and download:
        download_files(spec, folder, files, _package_mirrors(spec), progress=progress)
    elif missing:
        raise DataError(f"{spec.title} {split} files missing from {folder}: {', '.join(missing)} (.gz or "
                        f"raw); {WHERE}, or allow the download")
    paths = [find_file(folder, f.stem) for f in files]
    assert paths[0] is not None and paths[1] is not None  # download_files raises otherwise
    images = _read_verified(paths[0], files[0], spec)
    labels = _read_verified(paths[1], files[1], spec)
    if spec.transposed:
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    if spec.label_column is not None:
        labels = labels[:, spec.label_column]
    labels = labels.astype(np.int64) - spec.label_offset
    if len(labels) and (labels.min() < 0 or labels.max() >= spec.num_classes):
        raise DataError(f"{paths[1]}: labels outside 0..{spec.num_classes - 1} after the registry's offset; "
                        f"{_NOT_IT}")
    return _make_dataset(images, labels, paths[0], paths[1], spec.name, spec.num_classes)


def load_dataset(
    data_dir: str | Path | None = None,
    split: str = "train",
    *,
    dataset: str = "mnist",
    download: bool = True,
    progress: bool = True,
) -> Dataset:
    """Load one split: a verified named dataset (downloaded if missing) or any folder of IDX files."""
    if not isinstance(split, str) or split.lower() not in _SPLITS:
        raise ConfigError(f"unknown split {split!r}; use 'train' or 'test'")
    which = _SPLITS[split.lower()]
    if dataset == "idx":
        images_path, labels_path = idx_paths(resolve_data_dir(data_dir, "idx"), which)
        images = read_idx(images_path)
        labels = read_idx(labels_path) if labels_path is not None else None
        return _make_dataset(images, labels, images_path, labels_path)
    return _load_named(get_spec(dataset), data_dir, which, download, progress)


def idx_paths(folder: Path, split: Split) -> tuple[Path, Path | None]:
    """Pick the split's images and labels files by name, e.g. `emnist-letters-train-images...`."""
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist; {WHERE}")
    words = ("train",) if split == "train" else ("t10k", "test")
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    found: dict[str, dict[str, Path]] = {"images": {}, "labels": {}}
    for name in names:
        low = name.lower()
        is_images = "images" in low or "idx3" in low
        is_labels = "labels" in low or "idx1" in low
        if is_images != is_labels and any(w in low for w in words):
            # A raw file and its .gz count once; the raw one (sorted first) reads faster.
            kind = "images" if is_images else "labels"
            found[kind].setdefault(name.removesuffix(".gz"), folder / name)
    listing = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "") or "no files"
    for kind, paths in found.items():
        if len(paths) > 1 or (kind == "images" and not paths):
            problem = "several" if paths else "no"
            raise DataError(
                f"{problem} {split} {kind} files in {folder} (found: {listing}); keep one set of "
                f"IDX files named like train-images-idx3-ubyte per folder, or pass --data-dir DIR"
            )
    labels = next(iter(found["labels"].values()), None)
    return next(iter(found["images"].values())), labels


def _make_dataset(images: np.ndarray, labels: np.ndarray | None, images_path: Path, labels_path: Path | None,
                  name: str = "idx", classes: int | None = None) -> Dataset:
    if images.ndim != 3 or images.dtype != np.uint8 or images.shape[0] == 0:
        raise DataError(
            f"{images_path}: expected images as a non-empty 3-D uint8 array (N, H, W), got shape "
            f"{images.shape} of {images.dtype}; point --data-dir at a folder of IDX image files"
        )
    if labels is not None:
        if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(images):
            raise DataError(
                f"{labels_path}: expected {len(images)} integer labels (1-D), got shape "
                f"{labels.shape} of {labels.dtype}; the images and labels files do not match"
            )
        if labels.min() < 0:
            raise DataError(f"{labels_path}: negative labels; labels must be class indices >= 0")
    labels_t = None if labels is None else torch.from_numpy(labels.astype(np.int64))
    return Dataset(torch.from_numpy(images), labels_t, images_path, name, classes)
