"""IDX parsing, MNIST verification and download (against local servers only), pixel scaling."""

from __future__ import annotations

import gzip
import hashlib
import math
import shutil
import socket
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import mnist_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopback import LoopbackServer

from minigan import data
from minigan.data import (
    IDX_DTYPES,
    MNIST_MD5,
    download_mnist,
    load_dataset,
    read_idx,
    resolve_data_dir,
    to_float,
    to_uint8,
)
from minigan.errors import ConfigError, DataError

MNIST_DIR = mnist_folder()
LABEL_FILES = ["train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def idx_bytes(array: np.ndarray, code: int = 0x08, dims: tuple[int, ...] | None = None) -> bytes:
    dims = array.shape if dims is None else dims
    header = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    return header + array.astype(IDX_DTYPES[code]).tobytes()


def write(path: Path, content: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
    return path


def expected_array(content: bytes) -> np.ndarray | None:
    """An independent oracle: what a correct IDX reader returns for these bytes, None if invalid."""
    if content[:2] == b"\x1f\x8b":
        try:
            content = gzip.decompress(content)
        except Exception:
            return None
    if len(content) < 4 or content[:2] != b"\0\0" or content[2] not in IDX_DTYPES:
        return None
    ndim, dtype = content[3], IDX_DTYPES[content[2]]
    if not 1 <= ndim <= 4 or len(content) < 4 + 4 * ndim:
        return None
    dims = struct.unpack(f">{ndim}I", content[4 : 4 + 4 * ndim])
    payload = content[4 + 4 * ndim :]
    if len(payload) != math.prod(dims) * dtype.itemsize:
        return None
    return np.frombuffer(payload, dtype).reshape(dims).astype(dtype.newbyteorder("="))


def assert_one_line_error(excinfo: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message, message


# --- IDX parser -------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("code", sorted(IDX_DTYPES), ids=lambda c: f"0x{c:02x}")
def test_round_trip_each_dtype(tmp_path: Path, code: int, gz: bool) -> None:
    rng = np.random.default_rng(code)
    dtype = IDX_DTYPES[code]
    for shape in [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2)]:
        if dtype.kind == "f":
            array = rng.normal(0, 1000, size=shape).astype(dtype)
        else:
            info = np.iinfo(dtype)
            array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
        got = read_idx(write(tmp_path / "a.idx", idx_bytes(array, code), gz))
        assert got.shape == shape
        assert got.dtype == dtype.newbyteorder("=")
        np.testing.assert_array_equal(got, array)


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_named_raw = write(tmp_path / "plain.gz", idx_bytes(array))
    raw_named_gz = write(tmp_path / "zipped-idx3-ubyte", idx_bytes(array), gz=True)
    np.testing.assert_array_equal(read_idx(gz_named_raw), array)
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)


BAD_FILES = {
    "empty": (b"", "empty"),
    "bad magic": (b"\x12\x34\x56\x78" + bytes(40), "magic"),
    "unknown type": (b"\0\0\x07\x01" + struct.pack(">I", 1) + b"\0", "type code"),
    "ndim 0": (b"\0\0\x08\x00", "dimensions"),
    "ndim 5": (b"\0\0\x08\x05" + bytes(20), "dimensions"),
    "short header": (b"\0\0\x08\x03\0\0", "header"),
    "truncated": (idx_bytes(np.zeros((4, 3, 3), np.uint8))[:-5], "truncated"),
    "trailing": (idx_bytes(np.zeros((4, 3, 3), np.uint8)) + b"\0", "trailing"),
    "count mismatch": (idx_bytes(np.zeros((4, 3, 3), np.uint8), dims=(5, 3, 3)), "truncated"),
    "random": (bytes(np.random.default_rng(1).integers(0, 256, 1000, dtype=np.uint8)), "magic"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_one_line_data_error(tmp_path: Path, case: str, gz: bool) -> None:
    content, word = BAD_FILES[case]
    path = write(tmp_path / "bad", content, gz)
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, path, word)


@pytest.mark.parametrize(
    "content",
    [
        b"\x1f\x8b" + b"not really gzip data",
        gzip.compress(idx_bytes(np.zeros((50, 8, 8), np.uint8)))[:-30],  # cut mid-stream
        gzip.compress(idx_bytes(np.zeros((5, 2), np.uint8)))[:-8] + b"\0\0\0\0\x0e\0\0\0",  # CRC
    ],
    ids=["not gzip", "cut", "bad crc"],
)
def test_damaged_gzip_is_data_error(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path / "x.gz", content)
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, path, "gzip")


def test_missing_file_and_folder_are_data_errors(tmp_path: Path) -> None:
    for path in [tmp_path / "nope", tmp_path]:
        with pytest.raises(DataError) as excinfo:
            read_idx(path)
        assert_one_line_error(excinfo, path)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("count", [2**31, 2**20], ids=["2^31", "2^20"])
def test_huge_claim_fails_fast_without_allocating(tmp_path: Path, count: int, gz: bool) -> None:
    # 2**20 images of 28x28 (822 MB) would be allocatable: only the memory peak can catch that.
    content = idx_bytes(np.zeros((3, 28, 28), np.uint8), dims=(count, 28, 28))
    path = write(tmp_path / "huge", content, gz)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as excinfo:
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_one_line_error(excinfo, path, "truncated", str(count))
    assert peak < 8 * 2**20


def check_against_oracle(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    expected = expected_array(content)
    try:
        got = read_idx(path)
    except DataError as e:
        assert "\n" not in str(e) and str(path) in str(e)
        assert expected is None, f"valid file rejected: {e}"
        return
    assert expected is not None, f"invalid file accepted as {got.shape} {got.dtype}"
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert got.tobytes() == expected.tobytes()


@FUZZ
@given(content=st.binary(max_size=300))
def test_fuzz_random_bytes(tmp_path: Path, content: bytes) -> None:
    check_against_oracle(tmp_path / "fuzz", content)


@FUZZ
@given(content=st.binary(max_size=300))
def test_fuzz_random_bytes_with_idx_magic(tmp_path: Path, content: bytes) -> None:
    check_against_oracle(tmp_path / "fuzz", b"\0\0\x08" + content)


@st.composite
def mutated_idx_files(draw: st.DrawFn) -> bytes:
    code = draw(st.sampled_from(sorted(IDX_DTYPES)))
    dims = draw(st.lists(st.integers(0, 4), min_size=1, max_size=4))
    size = math.prod(dims) * IDX_DTYPES[code].itemsize
    header = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    content = bytearray(header + draw(st.binary(min_size=size, max_size=size)))
    if draw(st.booleans()):
        content = bytearray(gzip.compress(bytes(content), mtime=0))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "truncate", "append"]))
        if op == "flip" and content:
            content[draw(st.integers(0, len(content) - 1))] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del content[draw(st.integers(0, len(content))) :]
        elif op == "append":
            content += draw(st.binary(min_size=1, max_size=8))
    return bytes(content)


@FUZZ
@given(content=mutated_idx_files())
def test_fuzz_mutated_valid_files(tmp_path: Path, content: bytes) -> None:
    check_against_oracle(tmp_path / "fuzz", content)


# --- Real MNIST -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_dir() -> Path:
    if not all((MNIST_DIR / f"{name}.gz").is_file() for name in MNIST_MD5):
        pytest.skip(f"real MNIST .gz files not in {MNIST_DIR} (set MINIGAN_TEST_DATA to a folder)")
    return MNIST_DIR


@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000), ("t10k", 10000)])
def test_real_mnist(mnist_dir: Path, split: str, n: int) -> None:
    ds = load_dataset(mnist_dir, split, download=False)  # verifies both MD5 sums
    assert ds.images.shape == (n, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels is not None and ds.labels.shape == (n,) and ds.labels.dtype == torch.int64
    assert (int(ds.labels.min()), int(ds.labels.max())) == (0, 9)
    assert (len(ds), ds.num_classes, ds.image_shape) == (n, 10, (28, 28))
    assert int(ds.images.max()) == 255 and int(ds.images.min()) == 0
    assert ds.source.parent == mnist_dir


def test_real_mnist_raw_copy_is_found_and_verified(mnist_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "t10k-images-idx3-ubyte.gz").symlink_to(mnist_dir / "t10k-images-idx3-ubyte.gz")
    raw = gzip.decompress((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    write(tmp_path / "t10k-labels-idx1-ubyte", raw)
    ds = load_dataset(tmp_path, "test", download=False)
    assert ds.labels is not None
    np.testing.assert_array_equal(ds.labels.numpy(), np.frombuffer(raw[8:], np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte",
    ]


def test_md5_mismatch_names_the_file(tmp_path: Path) -> None:
    write(tmp_path / "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((2, 4, 4), np.uint8)), True)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(DataError) as excinfo:
        load_dataset(tmp_path, "test", download=False)
    assert_one_line_error(
        excinfo,
        tmp_path / "t10k-images-idx3-ubyte.gz",
        "not MNIST",
        "MD5",
        "delete",
        'dataset="idx"',
    )


def test_damaged_mnist_file_says_delete_it(tmp_path: Path) -> None:
    write(tmp_path / "train-images-idx3-ubyte", b"\0\0\x08\x03" + bytes(7))
    write(tmp_path / "train-labels-idx1-ubyte", b"")
    with pytest.raises(DataError) as excinfo:
        load_dataset(tmp_path, "train", download=False)
    assert_one_line_error(excinfo, tmp_path / "train-images-idx3-ubyte", "header", "delete")


@pytest.mark.parametrize("exists", [True, False])
def test_missing_mnist_without_download_says_where(tmp_path: Path, exists: bool) -> None:
    folder = tmp_path if exists else tmp_path / "absent"
    with pytest.raises(DataError) as excinfo:
        load_dataset(folder, "train", download=False)
    assert_one_line_error(excinfo, folder, "--data-dir", "MINIGAN_DATA_DIR")
    assert not (tmp_path / "absent").exists()


# --- Download, against servers on 127.0.0.1 ---------------------------------------------------


@pytest.fixture(scope="module")
def mirrors(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A mirror serving label files with one flipped byte each, and one serving good copies."""
    bad, good = (LoopbackServer(tmp_path_factory.mktemp(name), "mnist") for name in ("bad", "good"))
    shutil.copy(mnist_dir / "t10k-images-idx3-ubyte.gz", good.folder)
    for name in LABEL_FILES:
        shutil.copy(mnist_dir / f"{name}.gz", good.folder)
        content = bytearray(gzip.decompress((mnist_dir / f"{name}.gz").read_bytes()))
        content[-1] ^= 0x01  # still a valid IDX file: only the checksum can tell
        write(bad.folder / f"{name}.gz", bytes(content), gz=True)
    yield bad, good
    bad.close()
    good.close()


@pytest.fixture(autouse=True)
def _no_proxy_for_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def gunzip_md5(path: Path) -> str:
    return hashlib.md5(gzip.decompress(path.read_bytes())).hexdigest()


def test_download_skips_corrupted_mirror(mirrors, tmp_path: Path) -> None:
    bad, good = mirrors
    bad.requests.clear()
    dest = tmp_path / "cache" / "mnist"  # created by download_mnist
    download_mnist(dest, [bad.url, good.url.rstrip("/")], progress=False, files=LABEL_FILES)
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in LABEL_FILES)
    for name in LABEL_FILES:
        assert gunzip_md5(dest / f"{name}.gz") == MNIST_MD5[name]
    assert bad.requests == [f"/mnist/{n}.gz" for n in LABEL_FILES]
    good.requests.clear()
    download_mnist(dest, [good.url], progress=False, files=LABEL_FILES)  # present: no request
    assert good.requests == []


def test_corrupted_mirror_alone_is_data_error(mirrors, tmp_path: Path) -> None:
    bad, _ = mirrors
    with pytest.raises(DataError) as excinfo:
        download_mnist(tmp_path, [bad.url], progress=False, files=LABEL_FILES[:1])
    assert_one_line_error(excinfo, tmp_path, LABEL_FILES[0], "MD5", "--data-dir")
    assert list(tmp_path.iterdir()) == []


def test_missing_file_on_mirror_is_data_error(mirrors, tmp_path: Path) -> None:
    _, good = mirrors
    with pytest.raises(DataError) as excinfo:
        download_mnist(tmp_path, [good.url], progress=False, files=["train-images-idx3-ubyte"])
    assert_one_line_error(excinfo, tmp_path, "HTTP 404", "MINIGAN_DATA_DIR")
    assert list(tmp_path.iterdir()) == []


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the block ends: connections are refused


def test_unreachable_mirror_is_data_error_with_fix(tmp_path: Path) -> None:
    port = closed_port()
    with pytest.raises(DataError) as excinfo:
        download_mnist(tmp_path, [f"http://127.0.0.1:{port}/"], progress=False, timeout=5)
    assert_one_line_error(excinfo, tmp_path, f"127.0.0.1:{port}", "--data-dir", "MINIGAN_DATA_DIR")
    assert list(tmp_path.iterdir()) == []


def test_load_dataset_downloads_missing_files(
    mirrors, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, good = mirrors
    monkeypatch.setattr(data, "MIRRORS", (f"http://127.0.0.1:{closed_port()}/", good.url))
    ds = load_dataset(tmp_path, "t10k", progress=False)
    assert ds.images.shape == (10000, 28, 28) and ds.num_classes == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]


# --- dataset="idx", folders, splits -----------------------------------------------------------


def make_fashion_folder(folder: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 5, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 6, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 5, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.array([9, 0, 3], np.uint8),
    }
    folder.mkdir(exist_ok=True)
    for name, array in arrays.items():
        write(folder / name, idx_bytes(array), gz=name.endswith(".gz"))
    (folder / "README.md").write_text("Fashion-MNIST, but tiny")
    return arrays


@pytest.mark.parametrize("split, prefix", [("train", "train"), ("test", "t10k")])
def test_idx_dataset_fashion_style(tmp_path: Path, split: str, prefix: str) -> None:
    arrays = make_fashion_folder(tmp_path)
    ds = load_dataset(tmp_path, split, dataset="idx")
    images = next(a for n, a in arrays.items() if n.startswith(f"{prefix}-images"))
    labels = next(a for n, a in arrays.items() if n.startswith(f"{prefix}-labels"))
    torch.testing.assert_close(ds.images, torch.from_numpy(images), rtol=0, atol=0)
    assert ds.labels is not None
    torch.testing.assert_close(ds.labels, torch.from_numpy(labels).long(), rtol=0, atol=0)
    assert ds.source.name.startswith(f"{prefix}-images")
    assert (ds.num_classes, ds.image_shape) == (int(labels.max()) + 1, (5, 4))


def test_idx_dataset_labels_optional_and_raw_preferred(tmp_path: Path) -> None:
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write(tmp_path / "emnist-letters-test-images-idx3-ubyte", idx_bytes(images))
    write(tmp_path / "emnist-letters-test-images-idx3-ubyte.gz", b"damaged")
    ds = load_dataset(tmp_path, "test", dataset="idx")
    assert ds.labels is None and ds.num_classes == 0 and len(ds) == 2
    assert ds.source == tmp_path / "emnist-letters-test-images-idx3-ubyte"


def test_idx_dataset_ambiguous_or_missing_lists_files(tmp_path: Path) -> None:
    for kind in ["letters", "digits"]:
        write(tmp_path / f"emnist-{kind}-train-images-idx3-ubyte", idx_bytes(np.zeros((1, 2, 2))))
    with pytest.raises(DataError) as excinfo:
        load_dataset(tmp_path, "train", dataset="idx")
    assert_one_line_error(excinfo, tmp_path, "several", "emnist-digits", "emnist-letters")
    with pytest.raises(DataError) as excinfo:
        load_dataset(tmp_path, "test", dataset="idx")
    assert_one_line_error(excinfo, tmp_path, "no test images", "emnist-digits")


def test_idx_dataset_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError) as excinfo:
        load_dataset(tmp_path / "absent", dataset="idx")
    assert_one_line_error(excinfo, tmp_path / "absent", "--data-dir", "MINIGAN_DATA_DIR")


@pytest.mark.parametrize(
    "images, labels, word",
    [
        (np.zeros((3, 4), np.uint8), np.zeros(3, np.uint8), "3-D"),
        (np.zeros((3, 2, 2), np.float32), np.zeros(3, np.uint8), "uint8"),
        (np.zeros((3, 2, 2), np.uint8), np.zeros(4, np.uint8), "3 integer labels"),
        (np.zeros((3, 2, 2), np.uint8), np.zeros((3, 1), np.uint8), "1-D"),
        (np.zeros((3, 2, 2), np.uint8), np.array([0, -1, 2], np.int8), "negative"),
    ],
)
def test_idx_dataset_checks_shapes(tmp_path: Path, images, labels, word: str) -> None:
    image_code = 0x0D if images.dtype == np.float32 else 0x08
    label_code = 0x09 if labels.dtype == np.int8 else 0x08
    write(tmp_path / "train-images", idx_bytes(images, image_code))
    write(tmp_path / "train-labels", idx_bytes(labels, label_code))
    with pytest.raises(DataError, match=word):
        load_dataset(tmp_path, dataset="idx")


def test_bad_split_and_dataset_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="split"):
        load_dataset(tmp_path, "validation")
    with pytest.raises(ConfigError, match="dataset"):
        load_dataset(tmp_path, dataset="cifar")


def test_resolve_data_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert resolve_data_dir(None) == Path.home() / ".cache/minigan/mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir(None) == tmp_path / "xdg/minigan/mnist"
    monkeypatch.setenv("MINIGAN_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"


# --- Pixel scaling ----------------------------------------------------------------------------


@pytest.mark.parametrize("pixel_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_to_float_to_uint8_round_trip(pixel_range: tuple[float, float]) -> None:
    lo, hi = pixel_range
    levels = torch.arange(256, dtype=torch.uint8).reshape(4, 1, 8, 8)
    x = to_float(levels, pixel_range)
    assert x.dtype == torch.float32 and x.shape == levels.shape
    expected = torch.arange(256, dtype=torch.float64).reshape(4, 1, 8, 8) / 255 * (hi - lo) + lo
    torch.testing.assert_close(x, expected.float(), rtol=0, atol=1e-7)
    assert (float(x.min()), float(x.max())) == (lo, hi)
    torch.testing.assert_close(to_uint8(x, pixel_range), levels, rtol=0, atol=0)
    step = (hi - lo) / 255
    nudged = x + torch.empty_like(x).uniform_(-0.49 * step, 0.49 * step)
    torch.testing.assert_close(to_uint8(nudged, pixel_range), levels, rtol=0, atol=0)
    outside = torch.tensor([lo - 3.0, hi + 0.5, float("nan")])
    torch.testing.assert_close(to_uint8(outside, pixel_range), torch.tensor([0, 255, 0], dtype=torch.uint8))


def test_pixel_scaling_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        to_float(torch.zeros(2), (0.0, 1.0))
    with pytest.raises(ConfigError):
        to_uint8(torch.zeros(2), (1.0, 1.0))
