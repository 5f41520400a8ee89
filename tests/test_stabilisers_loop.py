"""The stabiliser menu inside the one loop: every option trains on every kind of network, resumes
bit for bit, never touches what G is scored on, and its failure modes are named in plain words."""

import json
import re

import pytest
import torch
from resume_check import resumed_equals_whole

import minigan
from minigan.errors import ConfigError
from minigan.models.stabilisers import has_spectral_norm
from minigan.presets import get_config
from minigan.training import Trainer
from minigan.training.augment import DiffAugment

QUIET = dict(log_every=2, sample_every=1000, tensorboard=False, grid_size=2, checkpoint_every=3)
MENU = dict(r1_gamma=1.0, reg_interval=2, augment="translation,cutout", augment_p=0.5, ada_target=0.6,
            ada_kimg=0.1, spectral_norm_d=True, mbstd_group=4)


@pytest.mark.parametrize("preset, arch", [("minimal", None), ("fast", None), ("dcgan", "dcgan"),
                                         ("cgan", None)])
def test_the_whole_menu_trains_on_every_architecture(preset, arch, mnist_dir, tmp_path):
    # dcgan's write-up D takes no minibatch stddev, and its simultaneous updates log no plain-real belief
    overrides = dict(MENU, batch_size=8, arch=arch, update_scheme="alternating" if arch else None)
    result = minigan.train(preset, tmp_path / "run", steps=4, data_dir=str(mnist_dir), progress=False,
                           **{**QUIET, **overrides})
    records = [json.loads(line) for line in (result.run_dir / "stats.jsonl").read_text().splitlines()]
    assert all("loss_penalty" in r and "augment_p" in r and "d_real_plain" in r for r in records)
    images, _ = minigan.load_generator(result.run_dir).sample(4, seed=0)
    assert images.shape == (4, 28, 28)


def test_resume_is_bit_exact_with_augmentation_ada_r1_and_spectral_norm(mnist_dir, tmp_path):
    a, b = resumed_equals_whole(tmp_path, "fast", data_dir=str(mnist_dir), batch_size=16,
                                spectral_norm_g=True, **QUIET, **MENU)
    assert torch.equal(a["stabilisers"]["rng"], b["stabilisers"]["rng"])
    assert a["stabilisers"]["ada"] == b["stabilisers"]["ada"]


def test_augmentation_never_reaches_what_g_is_scored_on(mnist_dir, tmp_path, monkeypatch):
    calls = []
    original = DiffAugment.__call__
    monkeypatch.setattr(DiffAugment, "__call__",
                        lambda self, x, p, g: calls.append(tuple(x.shape)) or original(self, x, p, g))
    config = get_config("fast", data_dir=str(mnist_dir), steps=2, augment="translation", **QUIET)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.train_step()
    B = config.batch_size  # D's phase, fast's lazy R1 + R2 on [reals; fakes] (due at step 0), G's phase
    assert config.r1_gamma > 0 and config.r2_gamma > 0
    assert calls == [(2 * B, 1, 28, 28), (2 * B, 1, 28, 28), (B, 1, 28, 28)]
    calls.clear()
    snapshot = trainer.snapshot()
    snapshot.generator.sample(8, seed=0)
    assert calls == []
    plain = minigan.TrainedGenerator(config, trainer.sampling_G.state_dict()).generate(trainer.fixed_z)
    assert torch.equal(torch.from_numpy(snapshot.fixed_images), plain)


def test_spectral_norm_holds_d_layers_near_unit_gain_through_training(mnist_dir, tmp_path):
    config = get_config("fast", data_dir=str(mnist_dir), steps=20, spectral_norm_d=True, clusters=0, **QUIET)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.fit()
    layers = [m for m in trainer.D.modules() if has_spectral_norm(m)]
    assert len(layers) == 3  # two convs and the head
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()
        assert 0.9 < sigma < 1.1


def test_wgan_gp_trains_and_a_bare_critic_is_refused(mnist_dir, tmp_path):
    with pytest.raises(ConfigError, match="needs a Lipschitz critic"):
        get_config("fast", d_loss="wgan", g_loss="wgan")
    with pytest.raises(ConfigError, match="go together"):
        get_config("fast", d_loss="wgan", gp_lambda=10)
    result = minigan.train("fast", tmp_path / "run", d_loss="wgan", g_loss="wgan", gp_lambda=10.0, d_steps=2,
                           steps=4, clusters=0, data_dir=str(mnist_dir), progress=False, **QUIET)
    records = [json.loads(line) for line in (result.run_dir / "stats.jsonl").read_text().splitlines()]
    assert all(r["loss_penalty"] > 0 for r in records)


def test_a_dominating_penalty_is_named_with_its_remedy(mnist_dir, tmp_path):
    result = minigan.train("fast", tmp_path / "run", r1_gamma=1e6, reg_interval=1, steps=4,
                           data_dir=str(mnist_dir), progress=False, **QUIET)
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    assert any("penalty dominates" in e.get("message", "") and "--r1-gamma" in e["message"] for e in events)


@pytest.mark.parametrize("overrides, words", [
    (dict(mbstd_group=3), "divide batch_size 64"),
    (dict(augment="rotate"), "unknown augmentation rotate"),
    (dict(ada_target=0.6), "add --augment"),
    (dict(augment_p=1.5), "augment_p must be in [0, 1]"),
])
def test_bad_stabiliser_settings_are_one_line_errors(overrides, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        get_config("fast", **overrides)
