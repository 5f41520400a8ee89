"""MNIST-format image sets: IDX parsing, the named-dataset registry, verified downloads, pixels.

    idx.py       parse raw or gzipped IDX files
    datasets.py  the registry: files, mirrors, MD5s, classes, licence, orientation, label quirks
    download.py  mirrors, progress bar, MD5 checks, atomic writes, archive extraction
    loading.py   load_dataset, resolve_data_dir, the Dataset record
    catalog.py   dataset_info (class count and names), cache state, the `minigan datasets` table
    pixels.py    to_float / to_uint8
    batches.py   the training data on the device, batch k of a run by index, G's noise stream
    batch_orders.py  which images make batch k (the write-ups' orders), a pure function of (seed, k)
    pictures.py  real_grid / save_real_grid: a grid of the data's own images, by class

Names are imported on first use (PEP 562), so `minigan.data.datasets` (the registry, standard
library only) stays cheap to import for the command line. `MIRRORS` is MNIST's mirror list;
`load_dataset` reads it from here at call time, so replacing it (as the tests do with a local
server) redirects MNIST downloads.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "catalog": ["CacheState", "DatasetInfo", "cache_state", "dataset_info", "format_datasets"],
    "datasets": ["DATASETS", "DATASET_NAMES", "Archive", "DataFile", "DatasetSpec", "get_spec"],
    "download": ["MIRRORS", "MNIST_MD5", "download_mnist"],
    "idx": ["IDX_DTYPES", "read_idx", "read_idx_shape"],
    "loading": ["Dataset", "load_dataset", "resolve_data_dir"],
    "pixels": ["to_float", "to_uint8"],
    "pictures": ["RealGrid", "real_grid", "save_real_grid"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted([*_WHERE, "MNIST_FILES"])


def __getattr__(name: str) -> Any:
    if name == "MNIST_FILES":
        mnist = importlib.import_module(f"{__name__}.datasets").DATASETS["mnist"]
        value: Any = {split: tuple(f.stem for f in mnist.files(split)) for split in ("train", "test")}
    elif name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
