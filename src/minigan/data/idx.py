"""IDX files, the format of MNIST and its siblings: parse raw or gzipped files into numpy arrays.

IDX layout: two zero bytes, a type code, the number of dimensions, one big-endian uint32 per
dimension, then the values in C order, big-endian. Damaged or foreign files raise a one-line
DataError that names the file and the problem; a header that claims more data than the file
holds fails before anything that large is allocated.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import urllib.error
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from minigan.errors import DataError

IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22


class IdxFormatError(DataError):
    """A file that opens but does not hold a valid IDX array; `problem` is the bare reason."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}; the file is damaged or not in IDX format")
        self.problem = problem


def read_idx(path: str | Path) -> np.ndarray:
    """Read a raw or gzipped IDX file (told apart by magic bytes) into a native-endian array."""
    return read_idx_hashed(Path(path))


def read_idx_hashed(path: Path, md5: Any = None) -> np.ndarray:
    """`read_idx`, also feeding every uncompressed byte to `md5` (a hashlib object) when given."""
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
            problem = f"damaged gzip data ({one_line(e)})" if gz else f"read error ({e})"
            raise IdxFormatError(path, problem) from None


def _parse(stream: IO[bytes], path: Path, size: int | None, md5: Any) -> np.ndarray:
    """Parse an IDX stream; `size` is the file size for raw files, None for gzip streams."""
    head = stream.read(4)
    if len(head) == 0:
        raise IdxFormatError(path, "empty file")
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_DTYPES or not 1 <= head[3] <= 4:
        if len(head) == 4 and head[:2] == b"\0\0" and head[2] in IDX_DTYPES:
            problem = f"unsupported number of dimensions {head[3]} (expected 1 to 4)"
        elif len(head) == 4 and head[:2] == b"\0\0":
            problem = f"unknown IDX type code 0x{head[2]:02x}"
        else:
            problem = f"bad magic bytes {head.hex(' ')} (expected 00 00 <type> <ndim>)"
        raise IdxFormatError(path, problem)
    dtype, ndim = IDX_DTYPES[head[2]], head[3]
    dims_raw = stream.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise IdxFormatError(path, f"header ends early: {ndim} dimensions need {4 * ndim} bytes")
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
        raise IdxFormatError(path, _size_problem(actual, expected, dims, at_least=False))
    data = np.empty(expected, np.uint8)
    view, done = memoryview(data), 0
    while done < expected:
        n = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not n:
            raise IdxFormatError(path, _size_problem(done, expected, dims, at_least=False))
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
        raise IdxFormatError(path, _size_problem(len(data), expected, dims, at_least=True))
    return data




def read_idx_shape(path: str | Path) -> tuple[int, ...]:
    """The array shape an IDX file's header announces, reading only the header."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            gz = f.read(2) == _GZIP_MAGIC
            f.seek(0)
            stream: IO[bytes] = gzip.GzipFile(fileobj=f) if gz else f
            head = stream.read(4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_DTYPES or not 1 <= head[3] <= 4:
                raise IdxFormatError(path, "bad IDX header")
            dims = stream.read(4 * head[3])
    except (OSError, EOFError, zlib.error) as e:
        raise IdxFormatError(path, f"read error ({one_line(e)})") from None
    if len(dims) < 4 * head[3]:
        raise IdxFormatError(path, "header ends early")
    return struct.unpack(f">{head[3]}I", dims)


def one_line(e: BaseException) -> str:
    """An exception as one short line (HTTP status, URL reason or message)."""
    if isinstance(e, urllib.error.HTTPError):
        text = f"HTTP {e.code} {e.reason}"
    elif isinstance(e, urllib.error.URLError):
        text = str(e.reason)
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split())
