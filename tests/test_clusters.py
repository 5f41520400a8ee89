"""Self-conditioning on k-means clusters (--clusters): the clustering, G's own draw of its cluster,
and a clustered run that trains, resumes bit-exactly and samples as an unconditional model."""

import struct
from dataclasses import replace

import numpy as np
import pytest
import torch
from resume_check import resumed_equals_whole

import minigan
from minigan.data import load_dataset
from minigan.data.batches import load_training_data
from minigan.data.clusters import cluster_cdf, cluster_ids, cluster_purity, kmeans_clusters
from minigan.errors import ConfigError
from minigan.models import build_generator, one_hot
from minigan.presets import get_config
from minigan.run import checkpoint

QUIET = dict(log_every=1000, sample_every=1000, checkpoint_every=1000, tensorboard=False)


def _three_shapes(per: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy images of three shapes (a bar, a square, a ring), `per` each, and their shape ids."""
    rng = np.random.default_rng(seed)
    shapes = np.zeros((3, 12, 12), np.float64)
    shapes[0, 5:7, :] = 1
    shapes[1, 3:9, 3:9] = 1
    shapes[2, 1:11, 1:11], shapes[2, 3:9, 3:9] = 1, 0
    truth = np.repeat(np.arange(3), per)
    images = shapes[truth] * 200 + rng.normal(0, 20, (3 * per, 12, 12))
    order = rng.permutation(3 * per)
    return torch.from_numpy(images.clip(0, 255).astype(np.uint8)[order]), torch.from_numpy(truth[order])


def test_kmeans_finds_separated_groups_exactly_and_deterministically():
    images, truth = _three_shapes(40)
    ids = kmeans_clusters(images, 3, seed=1)
    pairs = set(zip(ids.tolist(), truth.tolist(), strict=True))
    assert len(pairs) == 3 and len({a for a, _ in pairs}) == 3  # a one-to-one map: pure clusters
    assert torch.equal(ids, kmeans_clusters(images, 3, seed=1))
    torch.set_num_threads(2)
    assert torch.equal(ids, kmeans_clusters(images, 3, seed=1))  # threads do not change the sums


def test_cluster_cdf_is_the_cumulative_frequency():
    cdf = cluster_cdf(torch.tensor([0, 2, 2, 1, 2, 0, 2, 2, 2, 2]), 3)
    torch.testing.assert_close(cdf, torch.tensor([[0.2, 0.3, 1.0]]), rtol=0, atol=1e-7)
    per_class = cluster_cdf(torch.tensor([0, 1, 1, 1, 3, 2]), 2, groups=2)  # ids class * 2 + cluster
    torch.testing.assert_close(per_class, torch.tensor([[0.25, 1.0], [0.5, 1.0]]), rtol=0, atol=1e-7)


def test_clusters_within_classes_keep_each_class_apart():
    images, truth = _three_shapes(30)
    classes = (torch.arange(90) % 2)  # two "classes" that cut across the shapes
    ids = cluster_ids(images, 3, seed=0, classes=classes, num_classes=2)
    assert torch.equal(ids // 3, classes)  # each id lies in its image's class block
    for c in range(2):  # and within a class the three shapes are found exactly
        inside = classes == c
        assert len(set(zip(ids[inside].tolist(), truth[inside].tolist(), strict=True))) == 3


@pytest.mark.parametrize("prior", ["normal", "uniform"])
def test_a_clustered_generator_draws_its_clusters_from_its_noise_at_their_frequencies(prior):
    G = build_generator(get_config("fast", clusters=3, z_prior=prior))
    G.cluster_cdf.copy_(torch.tensor([[0.2, 0.5, 1.0]]))
    z = (torch.randn(200_000, 64, generator=torch.Generator().manual_seed(0)) if prior == "normal"
         else torch.rand(200_000, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    labels = G.cluster_labels(z)
    assert labels.shape == (200_000, 3) and torch.equal(labels.sum(1), torch.ones(200_000))
    freq = labels.mean(0)
    assert torch.allclose(freq, torch.tensor([0.2, 0.3, 0.5]), atol=0.005)  # sampling error ~0.001
    G.eval()
    with torch.no_grad():  # no label given: G takes the one of its noise
        torch.testing.assert_close(G(z[:5]), G(z[:5], labels[:5]), rtol=0, atol=0)


def test_a_conditional_clustered_generator_picks_clusters_within_the_class_it_is_given():
    G = build_generator(get_config("fast-cond", clusters=2)).eval()
    assert G.cluster_cdf.shape == (10, 2) and G.num_classes == 20
    G.cluster_cdf.copy_(torch.tensor([[0.3, 1.0]] * 10))
    z = torch.randn(100_000, 64, generator=torch.Generator().manual_seed(1))
    fine = G.cluster_labels(z, one_hot(torch.full((100_000,), 7), 10))
    assert torch.equal(fine.view(-1, 10, 2).sum(2).argmax(1), torch.full((100_000,), 7))  # class 7's block
    assert abs(float(fine[:, 14].mean()) - 0.3) < 0.005  # its first cluster at 30%
    soft = G.cluster_labels(z[:4], torch.tensor([[0.5] * 2 + [0.0] * 8] * 4))
    torch.testing.assert_close(soft.sum(1), torch.ones(4))  # a soft label splits its weight
    torch.testing.assert_close(G.class_labels(soft), torch.tensor([[0.5] * 2 + [0.0] * 8] * 4))
    with torch.no_grad():  # given the class, G picks the cluster itself
        torch.testing.assert_close(G(z[:3], one_hot(torch.tensor([1, 2, 3]), 10)),
                                   G(z[:3], G.cluster_labels(z[:3], one_hot(torch.tensor([1, 2, 3]), 10))))


def test_a_conditional_clustered_run_samples_by_class(mnist_dir, tmp_path):
    result = minigan.train("fast-cond", tmp_path / "run", clusters=3, steps=3, batch_size=16, progress=False,
                           data_dir=str(mnist_dir), **QUIET)
    g = minigan.load_generator(result.run_dir)
    assert g.conditional and g.num_classes == 10 and g.module.cluster_cdf.shape == (10, 3)
    images, labels = g.sample(20, seed=0)
    assert images.shape == (20, 28, 28) and np.array_equal(labels, np.arange(20) % 10)


@pytest.mark.parametrize("overrides, message", [
    (dict(clusters=1), "--clusters 1 is no clustering"),
    (dict(clusters=10, gp_lambda=10.0, d_loss="wgan", g_loss="wgan"), "use --r1-gamma with --clusters"),
])
def test_impossible_cluster_settings_are_refused_in_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message):
        get_config("fast", **overrides)


def test_a_clustered_run_trains_on_the_data_frequencies_and_samples_unconditionally(mnist_dir, tmp_path):
    result = minigan.train("fast", tmp_path / "run", clusters=6, steps=3, batch_size=16, progress=False,
                           data_dir=str(mnist_dir), **QUIET)
    state = checkpoint.load_checkpoint(result.run_dir / "checkpoints" / "step-000000003.pt")
    cdf = state["G"]["cluster_cdf"]
    assert cdf.shape == (1, 6) and cdf[0, -1] == 1.0 and bool((cdf.diff() > 0.02).all())  # the data's
    assert not torch.allclose(cdf, torch.arange(1, 7) / 6, atol=1e-3)  # not the uniform start
    torch.testing.assert_close(state["G_ema"]["cluster_cdf"], cdf, rtol=0, atol=0)
    g = minigan.load_generator(result.run_dir)
    assert not g.conditional and g.num_classes == 0  # to its users an unconditional model
    images, labels = g.sample(12, seed=3)
    assert images.shape == (12, 28, 28) and labels is None
    assert np.array_equal(images, g.sample(12, seed=3)[0])


def test_a_clustered_run_resumes_bit_exactly(mnist_dir, tmp_path):
    quiet = {k: v for k, v in QUIET.items() if k != "checkpoint_every"}
    a, _ = resumed_equals_whole(tmp_path, "fast", data_dir=str(mnist_dir), clusters=5, batch_size=16,
                                r1_gamma=1.0, reg_interval=2, **quiet)
    assert a["G"]["cluster_cdf"].shape == (1, 5)


def test_the_playground_finds_latent_directions_of_a_clustered_generator():
    """torch.func reaches the cluster draw: it must stay vmap-friendly (no data-dependent ops)."""
    from minigan.sampling import TrainedGenerator
    from minigan.serve.latent import principal_directions

    config = get_config("fast", clusters=4)
    gen = TrainedGenerator(config, build_generator(config).state_dict())
    directions, rms = principal_directions(gen, 3)
    torch.testing.assert_close(directions @ directions.T, torch.eye(3), atol=1e-5, rtol=0)
    assert bool((rms > 0).all())



def test_clusters_within_classes_are_pure_and_split_evenly_for_an_unconditional_model(mnist_dir):
    """--cluster-within classes: --clusters 30 become 3 inside each labelled digit, one cumulative
    row over all 30 (G draws class and cluster from its noise); the resolved value is kept."""
    config = get_config("fast", clusters=30, cluster_within="classes", data_dir=str(mnist_dir),
                        train_holdout=0)
    data = load_training_data(config, torch.device("cpu"), progress=False)
    assert data.config.label_classes == 30 and data.cluster_cdf.shape == (1, 30)
    digits = load_dataset(str(mnist_dir), "train", progress=False).labels
    ids = data.batches.labels.argmax(1)
    assert torch.equal(ids // 3, digits.long())  # each cluster inside one digit's block
    counts = torch.bincount(ids, minlength=30).double()
    expected = counts.cumsum(0) / counts.sum()
    torch.testing.assert_close(data.cluster_cdf[0].double(), expected, rtol=0, atol=1e-6)
    G = build_generator(data.config)
    assert G.cluster_cdf.shape == (1, 30) and G.num_classes == 30


def _unlabelled_copy(mnist_dir, folder, count: int = 600):
    images = load_dataset(str(mnist_dir), "train", progress=False).images[:count].numpy()
    folder.mkdir()
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", *images.shape)
    (folder / "train-images-idx3-ubyte").write_bytes(header + images.tobytes())
    return folder


def test_cluster_purity_is_the_share_of_images_in_their_clusters_majority_class():
    ids, classes = torch.tensor([0, 0, 0, 1, 1, 2]), torch.tensor([3, 3, 1, 2, 0, 1])
    assert cluster_purity(ids, classes, 3) == pytest.approx(4 / 6)  # 2 of cluster 0, 1 of 1, 1 of 2


def test_auto_keeps_pure_image_clusters_splits_mixed_ones_by_class_and_takes_images_without_labels(
        mnist_dir, fashion_dir, tmp_path):
    """--cluster-within auto, resolved from the data and kept in the config: MNIST's 100 pixel
    clusters are 0.87 pure, so they stay; Fashion-MNIST's are 0.75 (shirts, pullovers and coats
    share clusters), so its clusters are found within each class; unlabelled data takes images."""
    cpu = torch.device("cpu")
    for folder, dataset, expected in ((mnist_dir, "mnist", "images"), (fashion_dir, "fashion", "classes")):
        config = get_config("fast", dataset=dataset, clusters=100, cluster_within="auto",
                            data_dir=str(folder))
        data = load_training_data(config, cpu, progress=False)
        assert data.config.cluster_within == expected and data.config.label_classes == 100, dataset
    folder = _unlabelled_copy(mnist_dir, tmp_path / "idx")
    config = get_config("fast", dataset="idx", clusters=20, cluster_within="auto", data_dir=str(folder),
                        train_holdout=0)
    bare = load_training_data(config, cpu, progress=False)
    assert bare.config.cluster_within == "images" and bare.cluster_cdf.shape == (1, 20)
    few = get_config("fast", clusters=15, cluster_within="auto", data_dir=str(mnist_dir))
    assert load_training_data(few, cpu, progress=False).config.cluster_within == "images"  # 1 per class
    with pytest.raises(ConfigError, match="--cluster-within classes needs labels"):
        load_training_data(replace(config, cluster_within="classes"), cpu, progress=False)
    with pytest.raises(ConfigError, match="leaves 1 per class: use 20 or more"):
        load_training_data(get_config("fast", clusters=15, cluster_within="classes", data_dir=str(mnist_dir)),
                           cpu, progress=False)


def test_cluster_within_classes_is_refused_without_clusters():
    with pytest.raises(ConfigError, match="add --clusters"):
        get_config("mlp4", cluster_within="classes")
