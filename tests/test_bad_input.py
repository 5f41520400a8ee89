"""Bad input anywhere: one stderr line `minigan: error: ...`, a non-zero exit, no traceback."""

import gzip
import os
import socket
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minigan import cli, data
from minigan.config import config_fields
from minigan.errors import ConfigError, DataError
from minigan.models import build_generator
from minigan.presets import get_config
from minigan.sampling import save_generator

REPO = Path(__file__).resolve().parents[1]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def _fails_in_one_line(argv: list[str], capsys) -> str:
    """Run the CLI in-process; assert a non-zero exit and one `minigan: error:` line; return it."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse exits by itself
        code = exc.code
    err = capsys.readouterr().err
    assert code not in (0, None), f"{argv} exited 0"
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigan: error:"), err
    return lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run folder holding an (untrained) unconditional generator: enough for `sample`."""
    run = tmp_path_factory.mktemp("bad-input") / "run"
    config = get_config("minimal")
    save_generator(build_generator(config), config, 0, run / "generator.safetensors")
    return run


@pytest.fixture
def offline(monkeypatch):
    """Any download attempt fails at once (a closed local port), never touching the network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(data, "MIRRORS", (f"http://127.0.0.1:{port}/",))
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)


# ------------------------------------------------------------------------------- settings


@pytest.mark.parametrize("flags, words", [
    (["--preset", "nope"], ["unknown preset 'nope'", "minimal"]),
    (["--batch-size", "0"], ["batch_size must be positive"]),
    (["--batch-size", "-3"], ["batch_size must be positive"]),
    (["--z-dim", "-1"], ["z_dim must be positive"]),
    (["--steps", "0"], ["--steps must be positive"]),
    (["--epochs", "-1"], ["--epochs must be positive"]),
    (["--steps", "abc"], ["steps", "'abc'", "int"]),
    (["--batch-size", "1.5"], ["batch_size", "'1.5'"]),
    (["--lr-g", "fast"], ["lr_g", "'fast'", "float"]),
    (["--epochs", "nan"], ["epochs must be a finite number"]),
    (["--time-budget", "inf"], ["time_budget must be a finite number"]),
    (["--lr-d", "nan"], ["lr_d must be a finite number"]),
    (["--seed", "99999999999999999999"], ["seed must be below"]),
    (["--g-hidden", "64,x"], ["g_hidden"]),
    (["--d-loss", "wasserstein"], ["--d-loss", "'wasserstein'", "hinge"]),
    (["--device", "tpu"], ["device='tpu'"]),
    (["--d-dropout", "1.5"], ["d_dropout"]),
    (["--bogus-flag"], ["unrecognized arguments: --bogus-flag"]),
    (["--conditional", "--batch-order", "shuffle", "--arch", "dcgan"],
     ["--g-hidden does nothing for arch=dcgan"]),
])
def test_bad_training_settings(flags, words, offline, capsys, tmp_path):
    line = _fails_in_one_line(["train", *flags, "--data-dir", str(tmp_path), "--out",
                               str(tmp_path / "run"), "--quiet"], capsys)
    for word in words:
        assert word in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, words", [
    ([], ["required: COMMAND"]),
    (["bogus"], ["invalid choice: 'bogus'"]),
    (["sample", "RUN", "--num", "abc"], ["sample: argument --num: invalid int value: 'abc'"]),
    (["interpolate", "RUN", "--from", "1"], ["--to"]),
    (["eval", "x.npz", "--seed", "1.5"], ["--seed"]),
    (["eval", "x.npz", "--threads", "-1"], ["--threads must be 0 (PyTorch's default) or positive, got -1"]),
])
def test_bad_command_lines(argv, words, capsys):
    line = _fails_in_one_line(argv, capsys)
    for word in words:
        assert word in line


@NO_CUDA
def test_unavailable_device_fails_before_loading_data(capsys, tmp_path):
    started = time.perf_counter()
    line = _fails_in_one_line(["train", "--device", "cuda", "--data-dir", "/nonexistent", "--out",
                               str(tmp_path / "run")], capsys)
    assert "device 'cuda' is not available" in line  # not the missing data folder: checked first
    assert time.perf_counter() - started < 2.0


@NO_CUDA
@pytest.mark.parametrize("command, device, source", [
    ("sample", "cuda", "run"), ("sample", "cuda:3", "run"), ("eval", "cuda", "run"),
    ("eval", "cuda", "npz"),
])
def test_unavailable_device_for_sampling_and_eval(command, device, source, run_dir, tmp_path,
                                                  capsys):
    path = run_dir
    if source == "npz":
        path = tmp_path / "samples.npz"
        np.savez(path, images=np.zeros((10, 28, 28), np.uint8))
    extra = ["--num", "10", "--no-floor"] if command == "eval" else []
    line = _fails_in_one_line([command, str(path), "--device", device, *extra], capsys)
    assert f"device '{device}' is not available" in line


def test_unknown_device_name(run_dir, capsys):
    assert "'bogus' is not a device name" in _fails_in_one_line(
        ["sample", str(run_dir), "--device", "bogus"], capsys)


def test_cgan_with_too_few_classes_for_the_data(mnist_dir, tmp_path, capsys):
    line = _fails_in_one_line(["train", "--preset", "cgan", "--num-classes", "3", "--steps", "1",
                               "--data-dir", str(mnist_dir), "--out", str(tmp_path / "run")],
                              capsys)
    assert "10 classes but num_classes is 3" in line


def test_out_is_a_file(mnist_dir, tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("not a folder")
    line = _fails_in_one_line(["train", "--preset", "minimal", "--steps", "1", "--data-dir",
                               str(mnist_dir), "--out", str(out), "--quiet"], capsys)
    assert "cannot use" in line and str(out) in line
    assert out.read_text() == "not a folder"


# ------------------------------------------------------------------------------- data folders


def test_missing_data_dir_names_both_ways_to_fix_it(offline, capsys, tmp_path):
    if Path("/nonexistent").exists():
        pytest.skip("/nonexistent exists on this machine")
    line = _fails_in_one_line(["train", "--data-dir", "/nonexistent", "--out",
                               str(tmp_path / "run")], capsys)
    assert "/nonexistent" in line and "--data-dir" in line and "MINIGAN_DATA_DIR" in line
    assert not Path("/nonexistent").exists()  # no folder created, no download started


def test_missing_data_dir_from_the_environment(offline, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MINIGAN_DATA_DIR", str(tmp_path / "typo"))
    line = _fails_in_one_line(["train", "--out", str(tmp_path / "run")], capsys)
    assert "typo does not exist" in line and "MINIGAN_DATA_DIR" in line
    assert not (tmp_path / "typo").exists()


def _idx_header(dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def _idx_folder(folder: Path, images: bytes, labels: bytes | None = None) -> Path:
    folder.mkdir()
    (folder / "train-images-idx3-ubyte").write_bytes(images)
    if labels is not None:
        (folder / "train-labels-idx1-ubyte").write_bytes(labels)
    return folder


@pytest.mark.parametrize("case, words", [
    ("claims-more-images", ["truncated", "(100, 28, 28)"]),
    ("random-bytes", ["bad magic bytes"]),
    ("random-bytes-gzipped", ["bad magic bytes"]),
    ("damaged-gzip", ["damaged gzip data"]),
    ("labels-mismatch", ["expected 10 integer labels"]),
    ("empty", ["empty file"]),
])
def test_bad_idx_files(case, words, capsys, tmp_path):
    rng = np.random.default_rng(0)
    noise = b"\x01" + rng.bytes(4999)  # never starts with the 00 00 IDX magic
    images = {
        "claims-more-images": _idx_header((100, 28, 28)) + bytes(10 * 784),
        "random-bytes": noise,
        "random-bytes-gzipped": gzip.compress(noise),
        "damaged-gzip": gzip.compress(_idx_header((10, 28, 28)) + bytes(7840))[:-20],
        "labels-mismatch": _idx_header((10, 28, 28)) + bytes(7840),
        "empty": b"",
    }[case]
    labels = _idx_header((7,)) + bytes(7) if case == "labels-mismatch" else None
    folder = _idx_folder(tmp_path / "idx", images, labels)
    line = _fails_in_one_line(["train", "--preset", "minimal", "--dataset", "idx", "--data-dir",
                               str(folder), "--out", str(tmp_path / "run"), "--quiet"], capsys)
    for word in words:
        assert word in line


# ------------------------------------------------------------------------------- runs and files


def test_sample_and_friends_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    folder = tmp_path / "holiday-photos"
    folder.mkdir()
    (folder / "beach.jpg").write_bytes(b"\xff\xd8\xff")
    for argv in (["sample", str(folder)], ["interpolate", str(folder), "--from", "1", "--to", "2"],
                 ["clock", str(folder)], ["amplitude", str(folder), "--digit", "1"]):
        assert "no trained generator" in _fails_in_one_line(argv, capsys)
    assert "not a minigan run folder" in _fails_in_one_line(["resume", str(folder)], capsys)
    assert "does not exist" in _fails_in_one_line(["sample", str(tmp_path / "absent")], capsys)
    assert sorted(p.name for p in folder.iterdir()) == ["beach.jpg"]


@pytest.mark.parametrize("name, content, words", [
    ("model.pt", os.urandom(3000), ["model.pt"]),
    ("model.pt", b"", ["model.pt"]),
    ("g.safetensors", os.urandom(3000), ["not a readable generator file"]),
    ("g.safetensors", b"\x08" + bytes(7) + b"{}      ", ["not a minigan generator file"]),
])
def test_sample_from_a_file_that_is_not_a_model(name, content, words, tmp_path, capsys):
    path = tmp_path / name
    path.write_bytes(content)
    line = _fails_in_one_line(["sample", str(path)], capsys)
    for word in words:
        assert word in line


@pytest.mark.parametrize("flags, words", [
    (["--num", "0"], ["--num must be positive"]),
    (["--num", "-4"], ["--num must be positive"]),
    (["--digit", "3"], ["need a conditional run"]),
    (["--labels", "1,x"], ["--labels must be comma-separated digits"]),
])
def test_bad_sample_requests(flags, words, run_dir, tmp_path, capsys):
    out = tmp_path / "s.npz"
    line = _fails_in_one_line(["sample", str(run_dir), *flags, "--out", str(out)], capsys)
    for word in words:
        assert word in line
    assert not out.exists()


# ------------------------------------------------------------------------------- samples files


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("case, words", [
    ("wrong-shape", ["shape (N, 28, 28)", "(20, 28, 27)"]),
    ("wrong-dtype", ["uint8", "float32"]),
    ("too-few", ["at least 10"]),
    ("labels-length", ["labels must have shape (20,)"]),
    ("labels-range", ["labels must be integers in 0..9"]),
    ("no-images-key", ["no 'images' array", "pictures"]),
    ("random-bytes", ["not a readable .npz"]),
    ("truncated", ["not a readable .npz"]),
    ("npy-not-npz", ["single .npy array"]),
])
def test_bad_samples_file_for_eval(case, words, tmp_path, capsys):
    pytest.importorskip("minigan.metrics")
    images = np.zeros((20, 28, 28), np.uint8)
    path = tmp_path / "samples.npz"
    if case == "wrong-shape":
        _npz(path, images=np.zeros((20, 28, 27), np.uint8))
    elif case == "wrong-dtype":
        _npz(path, images=images.astype(np.float32))
    elif case == "too-few":
        _npz(path, images=images[:5])
    elif case == "labels-length":
        _npz(path, images=images, labels=np.zeros(19, np.int64))
    elif case == "labels-range":
        _npz(path, images=images, labels=np.full(20, 10))
    elif case == "no-images-key":
        _npz(path, pictures=images)
    elif case == "random-bytes":
        path.write_bytes(os.urandom(2000))
    elif case == "truncated":
        _npz(path, images=images)
        path.write_bytes(path.read_bytes()[:300])
    else:
        with open(path, "wb") as handle:
            np.save(handle, images)
    line = _fails_in_one_line(["eval", str(path), "--num", "20", "--no-floor"], capsys)
    for word in words:
        assert word in line
    assert not path.with_suffix(".metrics.json").exists()


_DTYPES = st.sampled_from(["u1", "i1", "<i2", ">i4", "<i8", "<u8", "<f2", "<f4", ">f8", "?", "<c8",
                           "<U3", "S2", "<M8[s]"])


@st.composite
def _samples_arrays(draw) -> dict[str, np.ndarray]:
    n = draw(st.integers(0, 14))
    shape = draw(st.sampled_from([(n, 28, 28), (n, 28, 28), (n, 784), (n, 1, 28, 28), (28, 28), (),
                                  (n, 28, 27)]))
    arrays = {}
    keys = st.lists(st.sampled_from(["images", "labels", "extra"]), unique=True, max_size=3)
    for key in draw(keys):
        if key == "labels":
            arrays[key] = draw(hnp.arrays(_DTYPES, st.sampled_from([(n,), (n + 1,), (n, 1), ()])))
        else:
            arrays[key] = draw(hnp.arrays(_DTYPES, shape))
    return arrays


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(arrays=_samples_arrays(), num=st.one_of(st.none(), st.integers(-2, 20)),
       cut=st.one_of(st.none(), st.integers(0, 4000)))
def test_fuzz_samples_reader(tmp_path_factory, arrays, num, cut):
    """Whatever the file holds, the reader returns valid samples or raises DataError: no other."""
    metrics = pytest.importorskip("minigan.metrics")
    path = tmp_path_factory.mktemp("npz") / "samples.npz"
    np.savez(path, **arrays)
    if cut is not None:
        path.write_bytes(path.read_bytes()[:cut])
    try:
        images, labels = metrics.load_samples_npz(path, num)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    assert images.dtype == np.uint8 and images.ndim == 3 and images.shape[1:] == (28, 28)
    assert len(images) >= 10 and (num is None or len(images) == num)
    if labels is not None:
        assert labels.dtype == np.int64 and labels.shape == (len(images),)
        assert labels.min() >= 0 and labels.max() <= 9


def test_samples_file_with_a_garbage_member(tmp_path):
    """A zip whose 'images.npy' member is not an array at all."""
    metrics = pytest.importorskip("minigan.metrics")
    path = tmp_path / "samples.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images.npy", b"\x93NUMPY garbage")
    with pytest.raises(DataError):
        metrics.load_samples_npz(path)


_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(
    ["0", "-1", "1e400", "nan", "-inf", "1,2", "", "none", "true", "1.5", "99999999999999999999"]))


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from([f.name for f in config_fields()]), value=_TEXT)
def test_fuzz_config_overrides(field, value):
    """Any string for any flag: a valid config or a one-line ConfigError."""
    try:
        config = get_config("minimal", **{field: value})
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        for name, v in config.to_dict().items():
            assert not isinstance(v, float) or np.isfinite(v), name


# ------------------------------------------------------------------------------- as a real process


@NO_CUDA
def test_real_process_prints_one_line_and_exits_2(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    argv = ["train", "--device", "cuda", "--data-dir", "/nonexistent"]
    proc = subprocess.run([sys.executable, "-m", "minigan", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigan: error: device 'cuda'"), proc.stderr
