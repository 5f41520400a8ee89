"""MNIST-format (IDX) image sets: parsing, checksums, download into a cache, pixel scaling.

IDX layout: two zero bytes, a type code, the number of dimensions, one big-endian uint32 per
dimension, then the values in C order, big-endian. MNIST ships four such files, gzipped.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from tqdm import tqdm

from minigan.errors import ConfigError, DataError
from minigan.fileio import atomic_path

IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Official sums of the uncompressed bytes, so a raw and a gzipped copy verify alike.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_SPLITS = {"train": "train", "test": "test", "t10k": "test"}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22
_WHERE = "put the files in a folder and pass --data-dir DIR or set MINIGAN_DATA_DIR"
_NOT_MNIST = 'delete it to download it again, or use dataset="idx" for another MNIST-format set'


class _IdxFormatError(DataError):
    """A file that opens but does not hold a valid IDX array; `problem` is the bare reason."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}; the file is damaged or not in IDX format")
        self.problem = problem


@dataclass
class Dataset:
    images: torch.Tensor  # (N, H, W) uint8
    labels: torch.Tensor | None  # (N,) int64; None for an unlabelled set
    source: Path  # the images file

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_classes(self) -> int:
        if self.labels is None or self.labels.numel() == 0:
            return 0
        return int(self.labels.max()) + 1

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])


def read_idx(path: str | Path) -> np.ndarray:
    """Read a raw or gzipped IDX file (told apart by magic bytes) into a native-endian array."""
    return _read_idx(Path(path))


def _read_idx(path: Path, md5: Any = None) -> np.ndarray:
    """`read_idx`, also feeding every uncompressed byte to `md5` when given."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise DataError(f"cannot open {path}: {e.strerror or e}; check the path") from None
    with f:
        gz = False
        try:
            gz = f.read(2) == _GZIP_MAGIC
            f.seek(0)
            if gz:
                with gzip.GzipFile(fileobj=f) as g:
                    return _parse(g, path, None, md5)
            return _parse(f, path, os.fstat(f.fileno()).st_size, md5)
        except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            problem = f"damaged gzip data ({_one_line(e)})" if gz else f"read error ({e})"
            raise _IdxFormatError(path, problem) from None


def _parse(stream: IO[bytes], path: Path, size: int | None, md5: Any) -> np.ndarray:
    """Parse an IDX stream; `size` is the file size for raw files, None for gzip streams."""
    head = stream.read(4)
    if len(head) == 0:
        raise _IdxFormatError(path, "empty file")
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_DTYPES or not 1 <= head[3] <= 4:
        if len(head) == 4 and head[:2] == b"\0\0" and head[2] in IDX_DTYPES:
            problem = f"unsupported number of dimensions {head[3]} (expected 1 to 4)"
        elif len(head) == 4 and head[:2] == b"\0\0":
            problem = f"unknown IDX type code 0x{head[2]:02x}"
        else:
            problem = f"bad magic bytes {head.hex(' ')} (expected 00 00 <type> <ndim>)"
        raise _IdxFormatError(path, problem)
    dtype, ndim = IDX_DTYPES[head[2]], head[3]
    dims_raw = stream.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise _IdxFormatError(path, f"header ends early: {ndim} dimensions need {4 * ndim} bytes")
    dims = struct.unpack(f">{ndim}I", dims_raw)
    expected = math.prod(dims) * dtype.itemsize  # may be astronomically large: never allocated
    if size is not None:
        data = _read_raw(stream, path, size - 4 - 4 * ndim, expected, dims)
    else:
        data = _read_gzip(stream, path, expected, dims)
    if md5 is not None:
        md5.update(head)
        md5.update(dims_raw)
        md5.update(data)
    array = np.frombuffer(data, dtype).reshape(dims)
    return array.astype(dtype.newbyteorder("=")) if dtype.byteorder == ">" else array


def _size_problem(actual: int, expected: int, dims: tuple[int, ...], *, at_least: bool) -> str:
    what = "truncated" if actual < expected else "trailing bytes"
    shown = f"at least {actual}" if at_least and actual > expected else str(actual)
    return f"{what}: header says shape {dims} ({expected} bytes) but {shown} bytes follow it"


def _read_raw(stream: IO[bytes], path: Path, actual: int, expected: int, dims: tuple) -> Any:
    if actual != expected:
        raise _IdxFormatError(path, _size_problem(actual, expected, dims, at_least=False))
    data = np.empty(expected, np.uint8)
    view, done = memoryview(data), 0
    while done < expected:
        n = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not n:
            raise _IdxFormatError(path, _size_problem(done, expected, dims, at_least=False))
        done += n
    return data


def _read_gzip(stream: IO[bytes], path: Path, expected: int, dims: tuple) -> bytearray:
    # The buffer grows with what the stream really holds; reading expected+1 bytes detects
    # trailing data and makes gzip check its CRC and length trailer.
    data = bytearray()
    while len(data) <= expected:
        chunk = stream.read(min(_CHUNK, expected + 1 - len(data)))
        if not chunk:
            break
        data += chunk
    if len(data) != expected:
        raise _IdxFormatError(path, _size_problem(len(data), expected, dims, at_least=True))
    return data


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """The argument, else $MINIGAN_DATA_DIR, else $XDG_CACHE_HOME/minigan/mnist."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    if env := os.environ.get("MINIGAN_DATA_DIR"):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"  # XDG: ignore relative
    return base / "minigan" / "mnist"


def load_dataset(
    data_dir: str | Path | None = None,
    split: str = "train",
    *,
    dataset: str = "mnist",
    download: bool = True,
    progress: bool = True,
) -> Dataset:
    """Load one split: verified MNIST (downloaded if missing) or any folder of IDX files."""
    if not isinstance(split, str) or split.lower() not in _SPLITS:
        raise ConfigError(f"unknown split {split!r}; use 'train' or 'test'")
    split = _SPLITS[split.lower()]
    folder = resolve_data_dir(data_dir)
    if dataset == "mnist":
        named = (data_dir is not None and str(data_dir) != "") or os.environ.get("MINIGAN_DATA_DIR")
        if named and not folder.is_dir():  # a typo must not start a download into a new folder
            raise DataError(
                f"data folder {folder} does not exist; {_WHERE} (MNIST is downloaded into an "
                "existing empty folder)"
            )
        images_path, labels_path = _mnist_paths(folder, split, download, progress)
        images, labels = _read_mnist(images_path), _read_mnist(labels_path)
    elif dataset == "idx":
        images_path, labels_path = _idx_paths(folder, split)
        images = read_idx(images_path)
        labels = read_idx(labels_path) if labels_path is not None else None
    else:
        raise ConfigError(f"unknown dataset {dataset!r}; use 'mnist' or 'idx'")
    return _make_dataset(images, labels, images_path, labels_path)


def _find(folder: Path, name: str) -> Path | None:
    return next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)


def _mnist_paths(folder: Path, split: str, download: bool, progress: bool) -> tuple[Path, Path]:
    names = MNIST_FILES[split]
    missing = [n for n in names if _find(folder, n) is None]
    if missing and download:
        download_mnist(folder, MIRRORS, progress=progress, files=missing)
    elif missing:
        raise DataError(
            f"MNIST {split} files missing from {folder}: {', '.join(missing)} (.gz or raw); "
            f"{_WHERE}, or allow the download"
        )
    images, labels = (_find(folder, n) for n in names)
    assert images is not None and labels is not None  # download_mnist raises otherwise
    return images, labels


def _read_mnist(path: Path) -> np.ndarray:
    name = path.name.removesuffix(".gz")
    md5 = hashlib.md5(usedforsecurity=False)
    try:
        array = _read_idx(path, md5)
    except _IdxFormatError as e:
        raise DataError(f"{path} is damaged or not MNIST ({e.problem}); {_NOT_MNIST}") from None
    if md5.hexdigest() != MNIST_MD5[name]:
        raise DataError(
            f"{path} is damaged or not MNIST (MD5 of its uncompressed bytes is {md5.hexdigest()}, "
            f"the official one is {MNIST_MD5[name]}); {_NOT_MNIST}"
        )
    return array


def _idx_paths(folder: Path, split: str) -> tuple[Path, Path | None]:
    """Pick the split's images and labels files by name, e.g. `emnist-letters-train-images...`."""
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist; {_WHERE}")
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


def _make_dataset(
    images: np.ndarray, labels: np.ndarray | None, images_path: Path, labels_path: Path | None
) -> Dataset:
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
    return Dataset(torch.from_numpy(images), labels_t, images_path)


def download_mnist(
    dest: str | Path,
    mirrors: Sequence[str] = MIRRORS,
    *,
    progress: bool = True,
    timeout: float = 30.0,
    files: Sequence[str] | None = None,
) -> None:
    """Download the missing MNIST `.gz` files into `dest`, each verified and moved in atomically."""
    dest = Path(dest).expanduser()
    names = [f.removesuffix(".gz") for f in (files if files is not None else MNIST_MD5)]
    if unknown := [n for n in names if n not in MNIST_MD5]:
        raise ConfigError(f"unknown MNIST files {unknown}; use names from {list(MNIST_MD5)}")
    if isinstance(mirrors, str) or not mirrors:
        raise ConfigError("mirrors must be a non-empty sequence of base URLs")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create data folder {dest} ({e.strerror or e}); {_WHERE}") from None
    for name in names:
        if _find(dest, name) is None:
            _download_one(dest, name, mirrors, progress, timeout)


def _download_one(dest: Path, name: str, mirrors: Sequence[str], progress: bool, timeout: float) -> None:
    final = dest / f"{name}.gz"
    last_error = ""
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + final.name
        try:
            with atomic_path(final) as tmp:  # a failed or killed download never takes the final name
                with open(tmp, "wb") as out:
                    _fetch(url, out, timeout, progress, final.name)
                if (digest := _gunzip_md5(tmp)) != MNIST_MD5[name]:
                    raise DataError(f"MD5 {digest} of the uncompressed file is not the official one")
            return
        except (OSError, http.client.HTTPException, ValueError, DataError) as e:
            last_error = f"{url}: {_one_line(e)}"
    raise DataError(
        f"could not download {final.name} into {dest} from any mirror (last error: {last_error}); "
        f"download the MNIST files yourself, {_WHERE}"
    )


def _fetch(url: str, out: IO[bytes], timeout: float, progress: bool, desc: str) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "minigan"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.isdigit() else None
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=desc,
            disable=not progress,
            leave=False,
        ) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))


def _gunzip_md5(path: Path) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        if f.read(2) != _GZIP_MAGIC:
            raise DataError("the mirror did not send a gzip file")
        f.seek(0)
        try:
            with gzip.GzipFile(fileobj=f) as g:
                while chunk := g.read(_CHUNK):
                    md5.update(chunk)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"damaged gzip data ({_one_line(e)})") from None
    return md5.hexdigest()


def _one_line(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        text = f"HTTP {e.code} {e.reason}"
    elif isinstance(e, urllib.error.URLError):
        text = str(e.reason)
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split())


def _pixel_range(pixel_range: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in pixel_range)
    if not hi > lo:
        raise ConfigError(f"pixel range {pixel_range} must be (low, high) with low < high")
    return lo, hi


def to_float(images_uint8: torch.Tensor, pixel_range: tuple[float, float]) -> torch.Tensor:
    """Map uint8 0..255 linearly onto float32 `pixel_range`, e.g. (0, 1) or (-1, 1)."""
    if images_uint8.dtype != torch.uint8:
        raise TypeError(f"to_float expects a uint8 tensor, got {images_uint8.dtype}")
    lo, hi = _pixel_range(pixel_range)
    # Dividing (not multiplying by a reciprocal) makes (0, 1) exactly x / 255.
    return images_uint8.to(torch.float32).div_(255.0 / (hi - lo)).add_(lo)


def to_uint8(x: torch.Tensor, pixel_range: tuple[float, float]) -> torch.Tensor:
    """Inverse of `to_float`: clamp to `pixel_range`, round to the nearest of 256 levels."""
    lo, hi = _pixel_range(pixel_range)
    scaled = (x.to(torch.float32) - lo) * (255.0 / (hi - lo))
    return scaled.round_().clamp_(0, 255).nan_to_num_(0.0).to(torch.uint8)
