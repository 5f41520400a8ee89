"""Named datasets: registry, layouts (transposed EMNIST, 1-based letters, QMNIST label columns),
checksums of downloads and of content, archive downloads against 127.0.0.1 only, the offline
error, cache state, and the real Fashion-MNIST copy. Synthetic files stand in for every dataset
this machine does not hold; nothing here reaches the network."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import shutil
import socket
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from loopback import LoopbackServer

from minigan import cli
from minigan.config import field_choices
from minigan.data import (
    DATASET_NAMES,
    DATASETS,
    DataFile,
    cache_state,
    dataset_info,
    format_datasets,
    get_spec,
    load_dataset,
    resolve_data_dir,
)
from minigan.errors import ConfigError, DataError

N_TRAIN, N_TEST = 12, 6


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.dtype("u1"): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def gz(content: bytes, level: int = 9) -> bytes:
    return gzip.compress(content, compresslevel=level, mtime=0)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def one_line(excinfo: pytest.ExceptionInfo, *words: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


@dataclasses.dataclass
class Fake:
    """A tiny dataset in a real layout, the registry entry that describes it, and its .gz files."""

    spec: object
    gz_files: dict[str, bytes]  # download name -> bytes
    upright: dict[str, np.ndarray]  # split -> images as they must load
    classes: dict[str, np.ndarray]  # split -> 0-based classes as they must load


def make_fake(name: str, *, with_content_md5: bool = False) -> Fake:
    """Synthetic files for `name`, laid out as the real ones: EMNIST transposed (letters 1-based),
    QMNIST labels as (N, 8) int32 rows with the class in column 0."""
    real = get_spec(name)
    rng = np.random.default_rng(len(name))
    gz_files, upright, classes, files = {}, {}, {}, {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        images_file, labels_file = real.files(split)
        up = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        up[:, 0, :] = 255  # a bright top row: a transposition would turn it into a left column
        stored = up.transpose(0, 2, 1).copy() if real.transposed else up
        y = np.arange(n) % real.num_classes
        if real.label_column is not None:
            rows = rng.integers(0, 3000, (n, 8)).astype(">i4")
            rows[:, real.label_column] = y
            labels = rows
        else:
            labels = (y + real.label_offset).astype(np.uint8)
        pair = []
        for datafile, array in ((images_file, stored), (labels_file, labels)):
            content = idx_bytes(np.ascontiguousarray(array))
            data = gz(content)
            gz_files[datafile.download_name] = data
            pair.append(DataFile(datafile.stem, md5(data), md5(content) if with_content_md5 else None,
                                 tuple(array.shape)))
        files[split], upright[split], classes[split] = tuple(pair), up, y
    spec = dataclasses.replace(real, train=files["train"], test=files["test"])
    return Fake(spec, gz_files, upright, classes)


def write_folder(folder: Path, fake: Fake) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in fake.gz_files.items():
        (folder / name).write_bytes(data)
    return folder


def zip_of(fake: Fake, member_dir: str = "gzip/", damage: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for name, data in fake.gz_files.items():
            if name == damage:
                data = data[:-1] + bytes([data[-1] ^ 1])
            z.writestr(member_dir + name, data)
        z.writestr(member_dir + "emnist-other-split-images-idx3-ubyte.gz", b"another split")
    return buffer.getvalue()


def register(monkeypatch: pytest.MonkeyPatch, spec, mirrors: tuple[str, ...] = (), **changes) -> None:
    changed = dataclasses.replace(spec, mirrors=mirrors or spec.mirrors, **changes)
    monkeypatch.setitem(DATASETS, spec.name, changed)


# --- the registry -----------------------------------------------------------------------------


def test_registry_names_match_the_config_choices() -> None:
    assert DATASET_NAMES == ("mnist", "fashion", "kmnist", "emnist-letters", "emnist-balanced",
                             "emnist-digits", "qmnist", "idx")
    assert field_choices("dataset") == DATASET_NAMES  # the one list config.py validates against


@pytest.mark.parametrize("name, classes, train, test, digits", [
    ("mnist", 10, 60000, 10000, True), ("fashion", 10, 60000, 10000, False),
    ("kmnist", 10, 60000, 10000, False), ("emnist-letters", 26, 124800, 20800, False),
    ("emnist-balanced", 47, 112800, 18800, False), ("emnist-digits", 10, 240000, 40000, True),
    ("qmnist", 10, 60000, 60000, True),
])
def test_registry_entries(name: str, classes: int, train: int, test: int, digits: bool) -> None:
    spec = get_spec(name)
    info = dataset_info(name)
    assert (info.num_classes, info.train_size, info.test_size) == (classes, train, test)
    assert info.is_digits == digits
    assert len(info.class_names) == len(set(info.class_names)) == classes and info.image_shape == (28, 28)
    assert spec.license and spec.mirrors and all(m.startswith(("http://", "https://")) for m in spec.mirrors)
    for f in spec.all_files:
        assert len(f.md5) == 32 and int(f.md5, 16) >= 0
        assert f.content_md5 is None or len(f.content_md5) == 32
        assert f.shape[0] in (train, test)
    assert spec.transposed == (spec.archive is not None) == name.startswith("emnist")
    assert spec.label_offset == (1 if name == "emnist-letters" else 0)
    assert spec.label_column == (0 if name == "qmnist" else None)
    label_rows = ((8,), (8,)) if name == "qmnist" else ((), ())
    assert (spec.train[1].shape[1:], spec.test[1].shape[1:]) == label_rows


def test_registry_class_names_for_grids() -> None:
    assert dataset_info("fashion").class_names[0] == "T-shirt/top"
    assert dataset_info("fashion").class_names[9] == "Ankle boot"
    assert dataset_info("emnist-letters").class_names[:3] == ("Aa", "Bb", "Cc")
    balanced = dataset_info("emnist-balanced").class_names
    assert balanced[:11] == (*"0123456789", "A") and balanced[36:] == tuple("abdefghnqrt")


def test_unknown_dataset_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_dataset(None, dataset="cifar10")
    one_line(excinfo, "cifar10", "fashion", "emnist-letters", "idx")


# --- layouts: orientation, label offsets, QMNIST columns --------------------------------------


@pytest.mark.parametrize("name", ["emnist-letters", "emnist-balanced", "emnist-digits", "qmnist", "kmnist"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_layouts_load_upright_with_0_based_classes(monkeypatch, tmp_path: Path, name: str, split: str):
    fake = make_fake(name)
    register(monkeypatch, fake.spec)
    ds = load_dataset(write_folder(tmp_path, fake), split, dataset=name, download=False)
    torch.testing.assert_close(ds.images, torch.from_numpy(fake.upright[split]), rtol=0, atol=0)
    assert (ds.images[:, 0, :] == 255).all()  # the bright row is on top again
    assert ds.labels is not None and ds.labels.dtype == torch.int64
    torch.testing.assert_close(ds.labels, torch.from_numpy(fake.classes[split]), rtol=0, atol=0)
    assert (ds.name, ds.num_classes) == (name, get_spec(name).num_classes)
    assert (ds.image_shape, ds.image_size) == ((28, 28), 28)


def test_letters_label_0_is_outside_the_1_based_range(monkeypatch, tmp_path: Path) -> None:
    fake = make_fake("emnist-letters")
    labels = np.zeros(N_TEST, np.uint8)  # 0 is no letter: the stored labels are 1..26
    data = gz(idx_bytes(labels))
    fake.gz_files[fake.spec.test[1].download_name] = data
    test = (fake.spec.test[0], dataclasses.replace(fake.spec.test[1], md5=md5(data)))
    register(monkeypatch, fake.spec, test=test)
    with pytest.raises(DataError) as excinfo:
        load_dataset(write_folder(tmp_path, fake), "test", dataset="emnist-letters", download=False)
    one_line(excinfo, "labels outside 0..25", str(tmp_path))


def test_non_square_images_are_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 5, 4), np.uint8)))
    ds = load_dataset(tmp_path, dataset="idx")
    assert ds.image_shape == (5, 4)
    with pytest.raises(DataError) as excinfo:
        _ = ds.image_size
    one_line(excinfo, "5x4", "square", str(tmp_path))


def test_dataset_info_of_an_idx_folder_counts_its_classes(tmp_path: Path) -> None:
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gz(idx_bytes(np.zeros((7, 28, 28), np.uint8))))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([0, 4, 2, 1, 0, 3, 2], np.uint8)))
    info = dataset_info("idx", tmp_path)
    assert (info.num_classes, info.class_names) == (5, tuple("01234"))
    assert (info.train_size, info.test_size) == (7, None)
    assert not info.is_digits and info.image_shape == (28, 28)


# --- checksums: of the download, and of the content -------------------------------------------


def test_recompressed_copy_verifies_only_where_content_md5s_exist(monkeypatch, tmp_path: Path) -> None:
    fake = make_fake("kmnist", with_content_md5=True)
    register(monkeypatch, fake.spec)
    folder = write_folder(tmp_path / "k", fake)
    for name, data in fake.gz_files.items():  # the same content, other gzip bytes
        (folder / name).write_bytes(gz(gzip.decompress(data), level=1))
        assert md5((folder / name).read_bytes()) != md5(data)
    assert len(load_dataset(folder, "test", dataset="kmnist", download=False)) == N_TEST
    no_content = dataclasses.replace(fake.spec, test=tuple(dataclasses.replace(f, content_md5=None)
                                                           for f in fake.spec.test))
    register(monkeypatch, no_content)
    with pytest.raises(DataError) as excinfo:
        load_dataset(folder, "test", dataset="kmnist", download=False)
    one_line(excinfo, "cannot be verified", "original .gz", "delete", 'dataset="idx"')


def test_changed_content_is_rejected_naming_the_file(monkeypatch, tmp_path: Path) -> None:
    fake = make_fake("emnist-digits", with_content_md5=True)
    register(monkeypatch, fake.spec)
    folder = write_folder(tmp_path, fake)
    path = folder / fake.spec.train[1].download_name
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[-1] ^= 1  # still a valid IDX file: only the checksum can tell
    path.write_bytes(gz(bytes(content)))
    with pytest.raises(DataError) as excinfo:
        load_dataset(folder, "train", dataset="emnist-digits", download=False)
    one_line(excinfo, str(path), "not EMNIST Digits", "MD5", "delete")


# --- Fashion-MNIST, the real files --------------------------------------------------------------


@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_real_fashion_mnist(fashion_dir: Path, split: str, n: int) -> None:
    ds = load_dataset(fashion_dir, split, dataset="fashion", download=False)
    assert ds.images.shape == (n, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels is not None and torch.bincount(ds.labels).tolist() == [n // 10] * 10
    assert (ds.name, ds.num_classes, ds.source.parent) == ("fashion", 10, fashion_dir)


def test_real_fashion_copy_verifies_by_content_not_gzip_bytes(fashion_dir: Path) -> None:
    spec = get_spec("fashion")
    for f in spec.all_files:
        data = (fashion_dir / f.download_name).read_bytes()
        assert md5(data) != f.md5  # re-compressed: the published .gz sum cannot match ...
        assert md5(gzip.decompress(data)) == f.content_md5  # ... the content sum does


def test_real_fashion_with_a_changed_label_is_rejected(fashion_dir: Path, tmp_path: Path) -> None:
    shutil.copy(fashion_dir / "t10k-images-idx3-ubyte.gz", tmp_path)
    labels = bytearray(gzip.decompress((fashion_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    labels[100] = (labels[100] + 1) % 10
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(labels))
    with pytest.raises(DataError) as excinfo:
        load_dataset(tmp_path, "test", dataset="fashion", download=False)
    one_line(excinfo, "t10k-labels-idx1-ubyte", "not Fashion-MNIST", "MD5")


# --- folders and cache state --------------------------------------------------------------------


def test_resolve_data_dir_per_dataset(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)
    assert resolve_data_dir(None, "fashion") == tmp_path / "xdg/minigan/fashion"
    root = tmp_path / "data"
    (root / "fashion-mnist").mkdir(parents=True)
    (root / "mnist").mkdir()
    monkeypatch.setenv("MINIGAN_DATA_DIR", str(root))  # a parent of one folder per dataset
    assert resolve_data_dir(None, "fashion") == root / "fashion-mnist"
    assert resolve_data_dir(None, "mnist") == root / "mnist"
    assert resolve_data_dir(None, "kmnist") == tmp_path / "xdg/minigan/kmnist"  # no folder for it: the cache
    (root / "train-images-idx3-ubyte.gz").write_bytes(b"")  # the folder itself holds MNIST
    assert resolve_data_dir(None, "mnist") == root
    assert resolve_data_dir(None, "fashion") == root / "fashion-mnist"  # same file names: not Fashion's
    shutil.rmtree(root / "fashion-mnist")
    assert resolve_data_dir(None, "fashion") == tmp_path / "xdg/minigan/fashion"
    (root / "qmnist-test-labels-idx2-int.gz").write_bytes(b"")  # a name only QMNIST has
    assert resolve_data_dir(None, "qmnist") == root
    monkeypatch.setenv("MINIGAN_DATA_DIR", str(root / "fashion-mnist"))  # named like it, even if empty
    assert resolve_data_dir(None, "fashion") == root / "fashion-mnist"
    assert resolve_data_dir(tmp_path / "given", "fashion") == tmp_path / "given"


def test_cache_state_and_the_datasets_listing(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)
    fashion = tmp_path / "minigan" / "fashion"
    fashion.mkdir(parents=True)
    for f in get_spec("fashion").test:
        (fashion / f.download_name).write_bytes(b"x")
    (tmp_path / "minigan" / "emnist-letters").mkdir()
    (tmp_path / "minigan" / "emnist-letters" / "gzip.zip").write_bytes(b"x")
    assert cache_state("fashion").status == "partial (2/4 files)"
    assert cache_state("fashion").missing == ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    assert cache_state("kmnist").status == "not downloaded"
    assert cache_state("emnist-letters").status == "archive only"
    for f in get_spec("fashion").train:
        (fashion / f.stem).write_bytes(b"x")  # raw copies count too
    assert cache_state("fashion").status == "cached"
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert set(DATASETS) <= set(rows)
    assert "cached: " + str(fashion) in rows["fashion"] and "CC BY-SA 4.0" in rows["kmnist"]
    assert "124,800" in rows["emnist-letters"] and " 26 " in rows["emnist-letters"]
    assert out == format_datasets() + "\n"


# --- downloads, against servers on 127.0.0.1 only ------------------------------------------------


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    s = LoopbackServer(tmp_path / "www")
    yield s
    s.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"  # refused once the block ends


def test_download_from_mirrors_verified(monkeypatch, tmp_path: Path, server: LoopbackServer) -> None:
    fake = make_fake("kmnist")
    write_folder(server.folder, fake)
    register(monkeypatch, fake.spec, mirrors=(closed_port_url(), server.url))
    folder = tmp_path / "cache"
    folder.mkdir()  # a folder the user names must exist (a typo must not start a download)
    ds = load_dataset(folder, "test", dataset="kmnist", progress=False)
    torch.testing.assert_close(ds.images, torch.from_numpy(fake.upright["test"]), rtol=0, atol=0)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.download_name for f in fake.spec.test)
    assert server.requests == ["/" + f.download_name for f in fake.spec.test]


def test_corrupt_download_is_rejected_and_left_nowhere(monkeypatch, tmp_path: Path,
                                                       server: LoopbackServer) -> None:
    fake = make_fake("kmnist")
    write_folder(server.folder, fake)
    name = fake.spec.test[1].download_name
    (server.folder / name).write_bytes(gz(gzip.decompress(fake.gz_files[name]), level=1))  # other bytes
    register(monkeypatch, fake.spec, mirrors=(server.url,))
    folder = tmp_path / "cache"
    folder.mkdir()
    with pytest.raises(DataError) as excinfo:
        load_dataset(folder, "test", dataset="kmnist", progress=False)
    one_line(excinfo, name, str(folder), "MD5", "--data-dir", "MINIGAN_DATA_DIR")
    assert sorted(p.name for p in folder.iterdir()) == [fake.spec.test[0].download_name]  # no partial file


def test_offline_is_the_mnist_style_one_line_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)
    url = closed_port_url()
    register(monkeypatch, get_spec("fashion"), mirrors=(url,))
    with pytest.raises(DataError) as excinfo:
        load_dataset(None, "train", dataset="fashion", progress=False)
    folder = tmp_path / "minigan" / "fashion"
    one_line(excinfo, "could not download train-images-idx3-ubyte.gz", str(folder), url.rstrip("/")[7:],
             "Fashion-MNIST", "--data-dir", "MINIGAN_DATA_DIR")
    assert list(folder.iterdir()) == []


def test_missing_named_folder_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(DataError) as excinfo:
        load_dataset(tmp_path / "typo", dataset="kmnist")
    one_line(excinfo, "typo does not exist", "--data-dir")
    assert not (tmp_path / "typo").exists()


def test_emnist_archive_download_extracts_verified_members(monkeypatch, tmp_path: Path,
                                                           server: LoopbackServer):
    fake = make_fake("emnist-letters")
    archive = zip_of(fake)
    (server.folder / "gzip.zip").write_bytes(archive)
    register(monkeypatch, fake.spec, mirrors=(closed_port_url(), server.url),
             archive=dataclasses.replace(fake.spec.archive, md5=md5(archive)))
    folder = tmp_path / "letters"
    folder.mkdir()
    ds = load_dataset(folder, "train", dataset="emnist-letters", progress=False)
    torch.testing.assert_close(ds.images, torch.from_numpy(fake.upright["train"]), rtol=0, atol=0)
    torch.testing.assert_close(ds.labels, torch.from_numpy(fake.classes["train"]), rtol=0, atol=0)
    # only this split's files come out; the archive is not kept
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.download_name for f in fake.spec.train)
    assert server.requests == ["/gzip.zip"]
    load_dataset(folder, "test", dataset="emnist-letters", progress=False)  # a second fetch for the rest
    assert server.requests == ["/gzip.zip"] * 2 and cache_state("emnist-letters", folder).status == "cached"


def test_emnist_archive_put_there_by_hand_is_used(monkeypatch, tmp_path: Path) -> None:
    fake = make_fake("emnist-balanced")
    archive = zip_of(fake)
    register(monkeypatch, fake.spec, mirrors=(closed_port_url(),),
             archive=dataclasses.replace(fake.spec.archive, md5=md5(archive)))
    tmp_path.joinpath("gzip.zip").write_bytes(archive)
    ds = load_dataset(tmp_path, "test", dataset="emnist-balanced", progress=False)  # no network needed
    assert len(ds) == N_TEST and (tmp_path / "gzip.zip").is_file()


@pytest.mark.parametrize("case", ["archive md5", "member md5", "not a zip"])
def test_bad_emnist_archive_is_a_one_line_error(monkeypatch, tmp_path: Path, server: LoopbackServer,
                                                case: str):
    fake = make_fake("emnist-digits")
    member = fake.spec.test[0].download_name
    archive = {"archive md5": zip_of(fake), "member md5": zip_of(fake, damage=member),
               "not a zip": b"PK\x03\x04 truncated"}[case]
    (server.folder / "gzip.zip").write_bytes(archive)
    official = md5(b"the real one") if case == "archive md5" else md5(archive)
    register(monkeypatch, fake.spec, mirrors=(server.url,),
             archive=dataclasses.replace(fake.spec.archive, md5=official))
    folder = tmp_path / "digits"
    folder.mkdir()
    with pytest.raises(DataError) as excinfo:
        load_dataset(folder, "test", dataset="emnist-digits", progress=False)
    words = {"archive md5": ["gzip.zip", "MD5", "--data-dir"], "member md5": [member, "MD5", "delete"],
             "not a zip": ["damaged zip"]}[case]
    one_line(excinfo, *words)
    assert list(folder.iterdir()) == []  # neither the archive nor a member is left behind
