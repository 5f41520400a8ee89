"""MNIST-format image sets: IDX parsing, the named-dataset registry, verified downloads, pixels.

    idx.py       parse raw or gzipped IDX files
    datasets.py  the registry: files, mirrors, MD5s, classes, licence, orientation, label quirks
    download.py  mirrors, progress bar, MD5 checks, atomic writes, archive extraction
    loading.py   load_dataset, resolve_data_dir, the Dataset record
    catalog.py   dataset_info (class count and names), cache state, the `minigan datasets` table
    pixels.py    to_float / to_uint8

`MIRRORS` is MNIST's mirror list; `load_dataset` reads it from here at call time, so replacing
it (as the tests do with a local server) redirects MNIST downloads.
"""

from .catalog import CacheState, DatasetInfo, cache_state, dataset_info, format_datasets
from .datasets import DATASET_NAMES, DATASETS, Archive, DataFile, DatasetSpec, get_spec
from .download import MIRRORS, MNIST_MD5, download_dataset, download_mnist
from .idx import IDX_DTYPES, read_idx, read_idx_shape
from .loading import Dataset, load_dataset, resolve_data_dir
from .pixels import to_float, to_uint8

MNIST_FILES = {split: tuple(f.stem for f in DATASETS["mnist"].files(split)) for split in ("train", "test")}

__all__ = [
    "DATASETS", "DATASET_NAMES", "IDX_DTYPES", "MIRRORS", "MNIST_FILES", "MNIST_MD5", "Archive", "CacheState",
    "DataFile", "Dataset", "DatasetInfo", "DatasetSpec", "cache_state", "dataset_info", "download_dataset",
    "download_mnist", "format_datasets", "get_spec", "load_dataset", "read_idx", "read_idx_shape",
    "resolve_data_dir", "to_float", "to_uint8",
]
