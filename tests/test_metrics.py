"""Metrics: formulas against independent computations, the shipped classifier and statistics
against the MNIST files, and the evaluation API on real, collapsed and noise images."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import mnist_folder

from minigan.errors import DataError
from minigan.metrics import (
    class_histogram,
    compute_reference_stats,
    density_coverage,
    evaluate_images,
    evaluate_npz,
    evaluate_run,
    format_table,
    frechet_distance,
    kl_to_uniform,
    label_accuracy,
    load_classifier,
    load_reference_stats,
    mnist_score,
    modes_covered,
    precision_recall,
    real_floor,
    train_classifier,
    write_metrics_json,
)
from minigan.metrics import evaluate as evaluate_module
from minigan.metrics.classifier import (
    SHIPPED_CLASSIFIER,
    classifier_metadata,
    fingerprint,
    predict_features,
)
from minigan.metrics.reference import SHIPPED_STATS
from minigan.metrics.samples import labels_at_frequencies
from minigan.metrics.scores import kth_nn_distance, kth_nn_distances, prdc

MNIST_DIR = mnist_folder()
needs_mnist = pytest.mark.skipif(
    not any(MNIST_DIR.glob("t10k-images-idx3-ubyte*")), reason=f"no MNIST files in {MNIST_DIR}"
)
RESULT_KEYS = {
    "num_images", "fid", "mnist_score", "precision", "recall", "density", "coverage",
    "modes_covered", "kl_uniform", "class_histogram", "label_accuracy",
    "label_accuracy_per_digit", "classifier",
}  # fmt: skip


def _load(split: str):
    from minigan.data import load_dataset

    return load_dataset(MNIST_DIR, split=split, download=False, progress=False)


@pytest.fixture(scope="module")
def mnist_test():
    return _load("test")


@pytest.fixture(scope="module")
def mnist_train():
    return _load("train")


@pytest.fixture(scope="module")
def test_outputs(mnist_test):
    """Shipped-classifier features and softmax of the 10k test images."""
    return predict_features(load_classifier(), mnist_test.images)


# ---------------------------------------------------------------- formulas


def _fid_scipy(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.mark.parametrize("rank", [32, 6])
def test_frechet_distance_matches_scipy_sqrtm(rank):
    rng = np.random.default_rng(rank)
    a, b = rng.normal(size=(2, 32, rank))
    s1, s2 = a @ a.T + (1e-1 if rank == 32 else 0) * np.eye(32), b @ b.T / 3
    mu1, mu2 = rng.normal(size=(2, 32))
    expected = _fid_scipy(mu1, s1, mu2, s2)
    np.testing.assert_allclose(frechet_distance(mu1, s1, mu2, s2), expected, rtol=1e-3)
    np.testing.assert_allclose(frechet_distance(mu2, s2, mu1, s1), expected, rtol=1e-3)


def test_frechet_distance_zero_for_identical_and_closed_form_in_1d():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(16, 16))
    mu, s = rng.normal(size=16), a @ a.T
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    # 1-D: (m1 - m2)^2 + (sd1 - sd2)^2
    assert frechet_distance([0.0], [[4.0]], [1.0], [[9.0]]) == pytest.approx(2.0, rel=1e-12)
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(mu, s, mu[:3], s)


def test_mnist_score_extremes():
    confident = np.eye(10)[np.arange(100) % 10]
    assert mnist_score(confident) == pytest.approx(10.0, rel=1e-12)
    assert mnist_score(np.tile([0.3, 0.7] + [0.0] * 8, (50, 1))) == pytest.approx(1.0, rel=1e-12)
    two = np.eye(10)[np.arange(100) % 2]
    assert mnist_score(two) == pytest.approx(2.0, rel=1e-12)


def test_knn_metrics_hand_example():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0]])
    # real 1-NN radii are all 1; fake 1-NN radii are 9.5 and cover every real point
    assert precision_recall(real, fake, k=1) == (0.5, 1.0)
    # 0.5 lies in the balls of 0 and 1: density 2 / (1 * 2), coverage 2 of 4 balls
    assert density_coverage(real, fake, k=1) == (1.0, 0.5)


def _brute_knn_metrics(real, fake, k_pr, k_dc):
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=2)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=2)
    d_fr = np.linalg.norm(fake[:, None] - real[None], axis=2)  # (M, N)
    r_pr, r_dc = np.sort(d_rr, 1)[:, k_pr], np.sort(d_rr, 1)[:, k_dc]
    f_pr = np.sort(d_ff, 1)[:, k_pr]
    precision = (d_fr <= r_pr[None]).any(1).mean()
    recall = (d_fr.T <= f_pr[None]).any(1).mean()
    density = (d_fr <= r_dc[None]).sum() / (k_dc * len(fake))
    coverage = (d_fr.min(0) <= r_dc).mean()
    return precision, recall, density, coverage


@pytest.mark.parametrize("chunk_size", [7, 1000])
def test_knn_metrics_match_brute_force(chunk_size):
    rng = np.random.default_rng(1)
    real = rng.normal(size=(120, 5))
    fake = rng.normal(0.3, 1.2, size=(100, 5))
    p, r = precision_recall(real, fake, k=3, chunk_size=chunk_size)
    d, c = density_coverage(real, fake, k=5, chunk_size=chunk_size)
    np.testing.assert_allclose([p, r, d, c], _brute_knn_metrics(real, fake, 3, 5), rtol=1e-12)
    radii = kth_nn_distance(real, 3, chunk_size=chunk_size)
    brute = np.sort(np.linalg.norm(real[:, None] - real[None], axis=2), axis=1)
    for k, got in zip((3, 1, 5), kth_nn_distances(real, (3, 1, 5), chunk_size), strict=True):
        np.testing.assert_allclose(got.numpy(), brute[:, k], rtol=1e-12)
    assert precision_recall(real, fake, k=3, real_radii=radii) == (p, r)
    together = prdc(real, fake, 3, 5, real_radii_pr=radii, chunk_size=chunk_size)
    assert together == {"precision": p, "recall": r, "density": d, "coverage": c}


def test_class_histogram_modes_and_kl():
    hist = class_histogram([0] * 49 + [1] * 49 + [2] * 2)
    np.testing.assert_allclose(hist, [0.49, 0.49, 0.02] + [0.0] * 7, rtol=0, atol=1e-15)
    assert modes_covered(hist) == 2  # a 2% share is not a covered mode
    assert modes_covered(class_histogram(np.arange(100) % 10)) == 10
    assert kl_to_uniform(np.full(10, 0.1)) == pytest.approx(0.0, abs=1e-15)
    assert kl_to_uniform(np.eye(10)[3]) == pytest.approx(math.log(10), rel=1e-12)
    assert kl_to_uniform([0.5, 0.5] + [0] * 8) == pytest.approx(math.log(5), rel=1e-12)
    with pytest.raises(ValueError):
        class_histogram([0, 10])


def test_label_accuracy_overall_and_per_digit():
    overall, per = label_accuracy([1, 1, 2, 3], [1, 2, 2, 2])
    assert overall == 0.5
    np.testing.assert_array_equal(per[[1, 2]], [1.0, 1 / 3])
    assert np.isnan(per[[0, 3, 4, 9]]).all()


# ------------------------------------------------------ shipped classifier and statistics


@needs_mnist
def test_shipped_classifier_accuracy_and_fingerprint(mnist_test, test_outputs):
    meta = classifier_metadata()
    assert SHIPPED_CLASSIFIER.stat().st_size < 1_000_000
    assert fingerprint(load_classifier().state_dict()) == meta["fingerprint"]
    acc = (test_outputs[1].argmax(1) == mnist_test.labels).double().mean().item()
    assert acc >= 0.99
    assert acc == pytest.approx(float(meta["test_accuracy"]), abs=1e-4)


@needs_mnist
def test_shipped_reference_stats_recompute(test_outputs):
    shipped = load_reference_stats(SHIPPED_STATS)
    fresh = compute_reference_stats(MNIST_DIR)
    assert shipped["mu"].shape == (128,) and shipped["sigma"].shape == (128, 128)
    assert shipped["mu"].dtype == shipped["sigma"].dtype == np.float64
    assert str(fresh["classifier_fingerprint"]) == shipped["classifier_fingerprint"]
    scale = np.abs(shipped["sigma"]).max()
    np.testing.assert_allclose(fresh["mu"], shipped["mu"], rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(fresh["sigma"], shipped["sigma"], rtol=1e-5, atol=1e-6 * scale)


def test_train_classifier_is_deterministic(tmp_path):
    if not any(MNIST_DIR.glob("train-images-idx3-ubyte*")):
        pytest.skip(f"no MNIST files in {MNIST_DIR}")
    a = train_classifier(MNIST_DIR, tmp_path / "a.safetensors", epochs=2, limit=1024)
    b = train_classifier(MNIST_DIR, tmp_path / "b.safetensors", epochs=2, limit=1024)
    assert a["fingerprint"] == b["fingerprint"]
    assert classifier_metadata(tmp_path / "a.safetensors")["fingerprint"] == a["fingerprint"]
    assert a["test_accuracy"] > 0.2  # 16 small steps: well above chance (0.1)


# ---------------------------------------------------------------- whole-set behaviour


@needs_mnist
def test_mnist_score_and_label_accuracy_on_real_digits(mnist_test, test_outputs):
    probs, labels = test_outputs[1].numpy(), mnist_test.labels.numpy()
    assert mnist_score(probs) > 9.0
    assert mnist_score(probs[labels == 3]) < 1.1
    pred = probs.argmax(1)
    assert label_accuracy(pred, labels)[0] >= 0.99
    shuffled = np.random.default_rng(0).permutation(labels)
    assert label_accuracy(pred, shuffled)[0] == pytest.approx(0.1, abs=0.02)


@needs_mnist
@pytest.mark.slow
def test_real_collapsed_and_noise_are_ranked(mnist_train):
    n = 3000
    images, labels = mnist_train.images.numpy(), mnist_train.labels.numpy()
    rng = np.random.default_rng(0)
    real = images[rng.choice(len(images), n, replace=False)]
    collapsed = images[rng.choice(np.flatnonzero(labels < 2), n, replace=False)]
    noise = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    r, c, z = (evaluate_images(x, data_dir=MNIST_DIR) for x in (real, collapsed, noise))
    # measured: FID 4.4 / 1833 / 3929; recall 0.89 / 0.20; precision, density, coverage >= 0.87
    assert r["fid"] < 10
    assert c["fid"] > 100 * r["fid"]
    assert r["recall"] > 0.8 and c["recall"] < 0.3
    assert r["modes_covered"] == 10 and c["modes_covered"] == 2
    assert r["kl_uniform"] < 0.01 and c["kl_uniform"] == pytest.approx(math.log(5), abs=0.05)
    for key in ("precision", "density", "coverage"):
        assert r[key] > 0.8
        assert z[key] < 0.01
    assert z["fid"] > 200 * r["fid"]
    assert z["mnist_score"] < 1.05


# ---------------------------------------------------------------- evaluation API


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _npz_cases(tmp_path):
    ok = np.zeros((20, 28, 28), np.uint8)
    (tmp_path / "text.npz").write_text("not a zip")
    np.save(tmp_path / "single.npy", ok)
    return {
        "no-file": (tmp_path / "missing.npz", "does not exist"),
        "not-npz": (tmp_path / "text.npz", "not a readable .npz"),
        "npy": (tmp_path / "single.npy", "not an .npz"),
        "no-images": (_write_npz(tmp_path / "a.npz", x=ok), "no 'images' array"),
        "float": (_write_npz(tmp_path / "b.npz", images=ok.astype(np.float32)), "uint8"),
        "shape": (_write_npz(tmp_path / "c.npz", images=ok[:, :, :27]), "shape"),
        "ndim": (_write_npz(tmp_path / "d.npz", images=ok.reshape(20, -1)), "shape"),
        "labels": (_write_npz(tmp_path / "e.npz", images=ok, labels=np.zeros(19, int)), "labels"),
        "label-range": (_write_npz(tmp_path / "f.npz", images=ok, labels=np.full(20, 10)), "0..9"),
        "pickle": (
            _write_npz(tmp_path / "g.npz", images=ok, labels=np.array([None] * 20, object)),
            "pickle",
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["no-file", "not-npz", "npy", "no-images", "float", "shape", "ndim", "labels", "label-range",
     "pickle"],
)  # fmt: skip
def test_evaluate_npz_rejects_bad_files(tmp_path, case):
    path, message = _npz_cases(tmp_path)[case]
    with pytest.raises(DataError, match=message) as info:
        evaluate_npz(path)
    assert "\n" not in str(info.value)


@needs_mnist
def test_evaluate_npz_on_real_samples(tmp_path, mnist_train):
    images, labels = mnist_train.images[:600].numpy(), mnist_train.labels[:600].numpy()
    path = _write_npz(tmp_path / "samples.npz", images=images, labels=labels)
    results = evaluate_npz(path, num=500, data_dir=MNIST_DIR)
    assert set(results) == RESULT_KEYS
    assert results["num_images"] == 500
    assert results["label_accuracy"] >= 0.98
    assert all(0.9 <= a <= 1.0 for a in results["label_accuracy_per_digit"])
    assert results["modes_covered"] == 10 and results["mnist_score"] > 8.5
    assert 0.5 < results["precision"] <= 1 and 0.5 < results["coverage"] <= 1
    with pytest.raises(DataError, match="holds 600 images"):
        evaluate_npz(path, num=601)
    unlabelled = _write_npz(tmp_path / "u.npz", images=images[:50])
    assert evaluate_npz(unlabelled, data_dir=MNIST_DIR)["label_accuracy"] is None


@needs_mnist
def test_evaluate_run_samples_labels_at_the_training_class_frequencies(monkeypatch, mnist_test, mnist_train):
    images, labels = mnist_test.images.numpy(), mnist_test.labels.numpy()
    by_digit = [images[labels == d] for d in range(10)]
    calls = {}

    class FakeGenerator:
        conditional, num_classes = True, 10

        def sample(self, num, seed=0, labels=None):
            calls.update(num=num, seed=seed, labels=labels)
            counts = np.zeros(10, int)
            out = []
            for y in labels:
                out.append(by_digit[y][counts[y]])
                counts[y] += 1
            return np.stack(out), labels

    monkeypatch.setattr("minigan.sampling.load_generator", lambda path, device: FakeGenerator())
    results = evaluate_run("run-dir", num=300, seed=7, data_dir=MNIST_DIR)
    assert calls["num"] == 300 and calls["seed"] == 7
    share = np.bincount(mnist_train.labels.numpy(), minlength=10) / len(mnist_train.labels) * 300
    counts = np.bincount(calls["labels"], minlength=10)
    assert counts.sum() == 300 and np.abs(counts - share).max() < 1  # MNIST's mix: 34 ones, 27 fives
    assert counts[1] == 34 and counts[5] == 27
    assert np.abs(np.bincount(calls["labels"][:150], minlength=10) - share / 2).max() < 1.5  # interleaved
    assert results["seed"] == 7 and results["label_accuracy"] >= 0.98


@pytest.mark.parametrize(("num", "frequencies", "expected"), [
    (7, [1, 1, 1], [0, 1, 2, 0, 1, 2, 0]),  # a tie: the lowest class takes the extra sample
    (10, [0, 1, 1], [1, 2] * 5),  # a class the data lacks is never asked for
    (6, [1, 2], [1, 0, 1, 1, 0, 1]),  # each class spread evenly over the set
])
def test_labels_at_frequencies_keep_the_proportions_and_spread_each_class(num, frequencies, expected):
    np.testing.assert_array_equal(labels_at_frequencies(num, np.array(frequencies)), expected)


@needs_mnist
def test_real_floor_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGAN_CACHE_DIR", str(tmp_path))
    first = real_floor(MNIST_DIR, num=300, seed=3)
    assert len(list(tmp_path.glob("real_floor_n300_s3_*.json"))) == 1
    assert first["label_accuracy"] >= 0.98 and first["modes_covered"] == 10

    def fail(*args, **kwargs):
        raise AssertionError("recomputed despite the cache")

    monkeypatch.setattr(evaluate_module, "evaluate_images", fail)
    assert real_floor(MNIST_DIR, num=300, seed=3) == first
    assert first == json.loads(json.dumps(first))  # plain JSON values, cached or not
    with pytest.raises(AssertionError, match="recomputed"):
        real_floor(MNIST_DIR, num=300, seed=4)


def test_format_table_aligns_values_and_floor():
    results = {"fid": 12.3456, "mnist_score": 9.1, "modes_covered": 9, "precision": None}
    floor = {"fid": 0.5, "mnist_score": 9.8}
    lines = format_table(results, floor).splitlines()
    assert lines[0].split() == ["metric", "value", "real", "data", "better"]
    assert set(lines[1]) == {"-"}
    assert lines[2].split() == ["FID", "12.35", "0.50", "lower"]
    assert lines[3].split()[-3:] == ["9.100", "9.800", "higher"]
    assert lines[4].split()[-3:] == ["9", "-", "higher"]
    assert len(lines) == 5  # None metrics are left out
    values = ["12.35", "9.100", "9"]
    value_ends = {line.index(v) + len(v) for line, v in zip(lines[2:], values, strict=True)}
    assert len(value_ends) == 1  # right-aligned column


def test_write_metrics_json_is_plain_json(tmp_path):
    path = tmp_path / "out" / "metrics.json"
    results = {"fid": np.float64(1.5), "n": np.int64(3), "per": np.array([0.5, np.nan])}
    write_metrics_json(path, results)
    assert json.loads(path.read_text()) == {"fid": 1.5, "n": 3, "per": [0.5, None]}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


def test_evaluate_images_rejects_bad_arrays():
    with pytest.raises(DataError, match="uint8"):
        evaluate_images(np.zeros((20, 28, 28), np.float32))
    with pytest.raises(DataError, match="at least"):
        evaluate_images(np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DataError, match="labels"):
        evaluate_images(torch.zeros(20, 28, 28, dtype=torch.uint8), labels=np.zeros(5, int))
