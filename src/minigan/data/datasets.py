"""The named MNIST-format datasets as data: files, mirrors, checksums, classes, licence, quirks.

Every file carries two MD5s: `md5` of the compressed file exactly as published (the download, or
the member of EMNIST's zip), and `content_md5` of its uncompressed bytes, so that a copy gzipped
again by someone else still verifies. Content sums are published for MNIST and Fashion-MNIST
only; for the others a local file verifies only as the original `.gz` (`content_md5` is None).

Where the numbers come from (read, then typed in here):
- MNIST: content MD5s as minigan always shipped them; `.gz` MD5s and the S3 mirror from
  torchvision `datasets/mnist.py`.
- Fashion-MNIST: `.gz` MD5s from zalandoresearch/fashion-mnist README (also torchvision); content
  MD5s as listed by several public loaders, and checked here against the copy in
  shared/data/fashion-mnist (whose gzip bytes differ from the published ones).
- KMNIST: rois-codh/kmnist README (files, CC BY-SA 4.0), MD5s from torchvision.
- EMNIST: zip URL and MD5 from torchvision and NIST's EMNIST page; member MD5s from
  pczarnik/mnists `_emnist.py`; class mappings from the EMNIST paper's mapping files.
- QMNIST: facebookresearch/qmnist README (files, idx2-int label columns, BSD licence), MD5s
  from torchvision.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

from minigan.errors import ConfigError

Split = Literal["train", "test"]


@dataclass(frozen=True)
class DataFile:
    stem: str  # the name without .gz, e.g. "train-images-idx3-ubyte"; raw or .gz copies both count
    md5: str  # MD5 of the published .gz file (as downloaded, or as stored in the archive)
    content_md5: str | None  # MD5 of the uncompressed bytes; None: no published sum
    shape: tuple[int, ...]  # the array the file holds

    @property
    def download_name(self) -> str:
        return f"{self.stem}.gz"


@dataclass(frozen=True)
class Archive:
    """One download that holds the files of several datasets (EMNIST's gzip.zip)."""

    name: str
    md5: str
    member_dir: str  # folder of the .gz files inside the zip


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    homepage: str
    license: str
    mirrors: tuple[str, ...]  # base URLs, tried in order; the file (or archive) name is appended
    train: tuple[DataFile, DataFile]  # (images, labels)
    test: tuple[DataFile, DataFile]
    class_names: tuple[str, ...]
    is_digits: bool
    transposed: bool = False  # EMNIST stores every image transposed relative to MNIST
    label_offset: int = 0  # subtracted from the stored labels: EMNIST letters stores 1..26
    label_column: int | None = None  # labels stored as (N, C) rows: the column holding the class
    archive: Archive | None = None
    folder_names: tuple[str, ...] = ()  # sub-folders of $MINIGAN_DATA_DIR that hold this dataset
    note: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def files(self, split: Split) -> tuple[DataFile, DataFile]:
        return self.train if split == "train" else self.test

    @property
    def all_files(self) -> tuple[DataFile, ...]:
        return self.train + self.test

    def size(self, split: Split) -> int:
        return self.files(split)[0].shape[0]


def _pair(prefix: str, n: int, md5s: tuple[str, str], content: tuple[str | None, str | None] = (None, None),
          label_kind: str = "labels-idx1-ubyte", label_shape: tuple[int, ...] = ()
          ) -> tuple[DataFile, DataFile]:
    return (DataFile(f"{prefix}-images-idx3-ubyte", md5s[0], content[0], (n, 28, 28)),
            DataFile(f"{prefix}-{label_kind}", md5s[1], content[1], (n, *label_shape)))


_DIGITS = tuple(string.digits)
_EMNIST_ZIP = Archive("gzip.zip", "58c8d27c78d21e728a6bc7b3cc06412e", "gzip/")
_EMNIST_MIRRORS = ("https://biometrics.nist.gov/cs_links/EMNIST/",
                   "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/")
_EMNIST_LICENSE = "NIST SD 19 terms; cite Cohen et al. 2017"
_EMNIST_HOME = "https://www.nist.gov/itl/products-and-services/emnist-dataset"


def _emnist(split: str, title: str, train_n: int, test_n: int, md5s: tuple[str, str, str, str],
            class_names: tuple[str, ...], is_digits: bool, label_offset: int = 0, note: str = ""
            ) -> DatasetSpec:
    return DatasetSpec(
        name=f"emnist-{split}", title=title, homepage=_EMNIST_HOME, license=_EMNIST_LICENSE,
        mirrors=_EMNIST_MIRRORS,
        train=_pair(f"emnist-{split}-train", train_n, md5s[:2]),
        test=_pair(f"emnist-{split}-test", test_n, md5s[2:]),
        class_names=class_names, is_digits=is_digits, transposed=True, label_offset=label_offset,
        archive=_EMNIST_ZIP, folder_names=(f"emnist-{split}",),
        note="one large zip of all six EMNIST splits; images stored transposed (fixed on load)" + note,
    )


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist", title="MNIST", homepage="http://yann.lecun.com/exdb/mnist/", license="CC BY-SA 3.0",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/",
                 "http://yann.lecun.com/exdb/mnist/"),
        train=_pair("train", 60000, ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432"),
                    ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624")),
        test=_pair("t10k", 10000, ("9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
                   ("2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637")),
        class_names=_DIGITS, is_digits=True, folder_names=("mnist",),
    ),
    "fashion": DatasetSpec(
        name="fashion", title="Fashion-MNIST", homepage="https://github.com/zalandoresearch/fashion-mnist",
        license="MIT",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        train=_pair("train", 60000, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe"),
                    ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9")),
        test=_pair("t10k", 10000, ("bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
                   ("8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965")),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                     "Bag", "Ankle boot"),
        is_digits=False, folder_names=("fashion", "fashion-mnist"),
    ),
    "kmnist": DatasetSpec(
        name="kmnist", title="Kuzushiji-MNIST", homepage="https://github.com/rois-codh/kmnist",
        license="CC BY-SA 4.0",
        mirrors=("https://codh.rois.ac.jp/kmnist/dataset/kmnist/", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
        train=_pair("train", 60000, ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344")),
        test=_pair("t10k", 10000, ("5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134")),
        # romanised hiragana, one character per row of the syllabary
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        is_digits=False, folder_names=("kmnist",),
    ),
    "emnist-letters": _emnist(
        "letters", "EMNIST Letters", 124800, 20800,
        ("8795078f199c478165fe18db82625747", "c16de4f1848ddcdddd39ab65d2a7be52",
         "382093a19703f68edac6d01b8dfdfcad", "d4108920cd86601ec7689a97f2de7f59"),
        tuple(u + u.lower() for u in string.ascii_uppercase), is_digits=False, label_offset=1,
        note="; labels stored as 1..26, loaded as 0..25 (class 0 = Aa)",
    ),
    "emnist-balanced": _emnist(
        "balanced", "EMNIST Balanced", 112800, 18800,
        ("4041b0d6f15785d3fa35263901b5496b", "7a35cc7b2b7ee7671eddf028570fbd20",
         "6818d20fe2ce1880476f747bbc80b22b", "acd3694070dcbf620e36670519d4b32f"),
        # digits, capitals, then the 11 lower-case letters whose shape differs from their capital
        _DIGITS + tuple(string.ascii_uppercase) + tuple("abdefghnqrt"), is_digits=False,
    ),
    "emnist-digits": _emnist(
        "digits", "EMNIST Digits", 240000, 40000,
        ("d2662ecdc47895a6bbfce25de9e9a677", "2223fcfee618ac9c89ef20b6e48bcf9e",
         "a159b8b3bd6ab4ed4793c1cb71a2f5cc", "8afde66ea51d865689083ba6bb779fac"),
        _DIGITS, is_digits=True,
    ),
    "qmnist": DatasetSpec(
        name="qmnist", title="QMNIST", homepage="https://github.com/facebookresearch/qmnist",
        license="BSD-style",
        mirrors=("https://raw.githubusercontent.com/facebookresearch/qmnist/master/",
                 "https://github.com/facebookresearch/qmnist/raw/master/"),
        train=_pair("qmnist-train", 60000,
                    ("ed72d4157d28c017586c42bc6afe6370", "0058f8dd561b90ffdd0f734c6a30e5e4"),
                    label_kind="labels-idx2-int", label_shape=(8,)),
        test=_pair("qmnist-test", 60000,
                   ("1394631089c404de565df7b7aeaf9412", "5b5b05890a5e13444e108efe57b788aa"),
                   label_kind="labels-idx2-int", label_shape=(8,)),
        class_names=_DIGITS, is_digits=True, label_column=0, folder_names=("qmnist",),
        note="test set 60,000 (the first 10,000 match MNIST's); labels idx2-int (N, 8), column 0 = class",
    ),
}
DATASET_NAMES: tuple[str, ...] = (*DATASETS, "idx")  # "idx": any folder of MNIST-format files


def get_spec(name: str) -> DatasetSpec:
    """The registry entry of a named dataset; ConfigError for an unknown name (and for "idx")."""
    if name not in DATASETS:
        hint = " (idx is a folder you name, not a registered dataset)" if name == "idx" else ""
        raise ConfigError(f"unknown dataset {name!r}{hint}; use one of: {', '.join(DATASET_NAMES)}")
    return DATASETS[name]
