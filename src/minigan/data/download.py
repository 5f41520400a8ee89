"""Download a named dataset's files into a cache folder: mirrors in order, MD5-verified, atomic.

A file takes its final name only after it verified (a killed or failed download leaves nothing
but a hidden temporary file, removed on the spot). Datasets published as one archive (EMNIST's
zip) are downloaded to a temporary file, verified, and the needed members extracted, each
verified and moved in atomically; an archive the user put in the folder is used instead.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import urllib.request
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from tqdm import tqdm

from minigan.errors import ConfigError, DataError
from minigan.fileio import atomic_path, temp_path_for

from .datasets import DATASETS, DataFile, DatasetSpec
from .idx import one_line

WHERE = "put the files in a folder and pass --data-dir DIR or set MINIGAN_DATA_DIR"
MIRRORS = DATASETS["mnist"].mirrors
MNIST_MD5 = {f.stem: f.content_md5 for f in DATASETS["mnist"].all_files}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22
_NET_ERRORS = (OSError, http.client.HTTPException, ValueError)


def find_file(folder: Path, stem: str) -> Path | None:
    """`stem` raw or gzipped in `folder` (the raw copy first: it reads faster)."""
    return next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)


def file_md5(path: Path) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


def gunzip_md5(path: Path) -> str:
    """MD5 of the uncompressed bytes of a gzip file; DataError if it is not intact gzip."""
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
            raise DataError(f"damaged gzip data ({one_line(e)})") from None
    return md5.hexdigest()


def check_gz(path: Path, datafile: DataFile) -> None:
    """Accept the published .gz (its own MD5) or any gzip of the published content."""
    if file_md5(path) == datafile.md5:
        return
    if datafile.content_md5 is None:
        raise DataError(f"MD5 {file_md5(path)} is not the official {datafile.md5}")
    if (digest := gunzip_md5(path)) != datafile.content_md5:
        raise DataError(f"MD5 {digest} of the uncompressed file is not the official one")


def fetch(url: str, out: IO[bytes], timeout: float, progress: bool, desc: str) -> None:
    """Stream `url` into `out` with a byte progress bar (hidden when `progress` is False)."""
    request = urllib.request.Request(url, headers={"User-Agent": "minigan"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.isdigit() else None
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                  disable=not progress, leave=False) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))


def _fail(spec: DatasetSpec, name: str, dest: Path, last_error: str) -> DataError:
    return DataError(
        f"could not download {name} into {dest} from any mirror (last error: {last_error}); "
        f"download the {spec.title} files yourself, {WHERE}"
    )


def _download_one(dest: Path, spec: DatasetSpec, datafile: DataFile, mirrors: Sequence[str], progress: bool,
                  timeout: float) -> None:
    final = dest / datafile.download_name
    last_error = ""
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + final.name
        try:
            with atomic_path(final) as tmp:  # a failed or killed download never takes the final name
                with open(tmp, "wb") as out:
                    fetch(url, out, timeout, progress, final.name)
                check_gz(tmp, datafile)
            return
        except (*_NET_ERRORS, DataError) as e:
            last_error = f"{url}: {one_line(e)}"
    raise _fail(spec, final.name, dest, last_error)


def extract_members(archive_path: Path, spec: DatasetSpec, files: Sequence[DataFile], dest: Path) -> None:
    """Copy `files` out of a verified archive into `dest`, each checked against its member MD5."""
    assert spec.archive is not None
    try:
        with zipfile.ZipFile(archive_path) as z:
            for datafile in files:
                member = spec.archive.member_dir + datafile.download_name
                try:
                    source = z.open(member)
                except KeyError:
                    raise DataError(f"{archive_path} has no member {member}; delete it to download it "
                                    "again") from None
                md5 = hashlib.md5(usedforsecurity=False)
                with source, atomic_path(dest / datafile.download_name) as tmp, open(tmp, "wb") as out:
                    while chunk := source.read(_CHUNK):
                        md5.update(chunk)
                        out.write(chunk)
                    if md5.hexdigest() != datafile.md5:
                        raise DataError(f"{member} in {archive_path} has MD5 {md5.hexdigest()}, not the "
                                        f"official {datafile.md5}; delete the archive to download it again")
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise DataError(f"{archive_path} is a damaged zip ({one_line(e)}); delete it to download it "
                        "again") from None


def _download_archive(dest: Path, spec: DatasetSpec, files: Sequence[DataFile], mirrors: Sequence[str],
                      progress: bool, timeout: float) -> None:
    assert spec.archive is not None
    local = dest / spec.archive.name
    if local.is_file():  # put there by the user: verify it, then use it
        if (digest := file_md5(local)) != spec.archive.md5:
            raise DataError(f"{local} is damaged or not the {spec.title} archive (MD5 {digest}, the official "
                            f"one is {spec.archive.md5}); delete it to download it again")
        extract_members(local, spec, files, dest)
        return
    tmp = temp_path_for(local)  # hidden while it downloads; removed once the members are out
    last_error = ""
    try:
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + spec.archive.name
            try:
                with open(tmp, "wb") as out:
                    fetch(url, out, timeout, progress, spec.archive.name)
                if (digest := file_md5(tmp)) != spec.archive.md5:
                    raise DataError(f"MD5 {digest} is not the official {spec.archive.md5}")
                break
            except (*_NET_ERRORS, DataError) as e:
                last_error = f"{url}: {one_line(e)}"
        else:
            raise _fail(spec, spec.archive.name, dest, last_error)
        extract_members(tmp, spec, files, dest)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def download_files(spec: DatasetSpec, dest: Path, files: Sequence[DataFile],
                   mirrors: Sequence[str] | None = None, *, progress: bool = True,
                   timeout: float = 30.0) -> None:
    """Fetch the given files of `spec` that `dest` lacks, verified and moved in atomically."""
    mirrors = spec.mirrors if mirrors is None else mirrors
    if isinstance(mirrors, str) or not mirrors:
        raise ConfigError("mirrors must be a non-empty sequence of base URLs")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create data folder {dest} ({e.strerror or e}); {WHERE}") from None
    missing = [f for f in files if find_file(dest, f.stem) is None]
    if missing and spec.archive is not None:
        _download_archive(dest, spec, missing, mirrors, progress, timeout)
    else:
        for datafile in missing:
            _download_one(dest, spec, datafile, mirrors, progress, timeout)


def download_mnist(dest: str | Path, mirrors: Sequence[str] = MIRRORS, *, progress: bool = True,
                   timeout: float = 30.0, files: Sequence[str] | None = None) -> None:
    """Download the missing MNIST `.gz` files into `dest`, each verified and moved in atomically."""
    spec = DATASETS["mnist"]
    by_stem = {f.stem: f for f in spec.all_files}
    names = [f.removesuffix(".gz") for f in (files if files is not None else by_stem)]
    if unknown := [n for n in names if n not in by_stem]:
        raise ConfigError(f"unknown MNIST files {unknown}; use names from {list(by_stem)}")
    download_files(spec, Path(dest).expanduser(), [by_stem[n] for n in names], mirrors,
                   progress=progress, timeout=timeout)
