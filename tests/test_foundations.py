"""The loop keeps its promises in the corners: rollbacks end, flags are honoured or refused,
losses read honestly, any square image size trains, best.pt and EMA statistics belong to the
weights they sit beside."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import minigan
from minigan import cli
from minigan.config import TrainConfig, ema_kimg_from_decay
from minigan.errors import ConfigError
from minigan.models import build_discriminator, build_generator
from minigan.models.init import apply_init, forward_fan_in
from minigan.models.registry import ARCHITECTURES, NETWORK_FIELDS, check_honoured
from minigan.presets import PRESETS, get_config
from minigan.run import checkpoint
from minigan.training import Trainer, TrainingDiverged
from minigan.training.ema import ema_beta
from minigan.training.losses import D_LOSSES

# A preset built on each architecture (the literal ones through --literal).
ARCH_PRESET = {"cgan": ("cgan", False), "dcgan": ("dcgan", False), "conv": ("fast", False),
               "mlp": ("mlp4", False), "cgan_literal": ("cgan", True), "dcgan_literal": ("dcgan", True),
               "resnet": ("fast", False)}
# The dcgan preset is its write-up's network; arch dcgan is reached from it with --arch, resnet from
# fast (whose G batchnorm it has no place for).
ARCH_OVERRIDES = {"dcgan": {"arch": "dcgan"}, "resnet": {"arch": "resnet", "g_batchnorm": False}}
QUIET = dict(log_every=1000, sample_every=1000, tensorboard=False, grid_size=2)


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def _inject_nan(trainer: Trainer, when) -> list[int]:
    """Make D's loss NaN at the steps `when(step)` picks; returns the steps it fired at."""
    fired, spec = [], trainer.loss.d_loss

    def loss(real, fake):
        value = spec.loss(real, fake)
        if when(trainer.step):
            fired.append(trainer.step)
            return value * math.nan
        return value

    trainer.loss.d_loss = dataclasses.replace(spec, loss=loss)
    return fired


# ------------------------------------------------------------------ 1, 2: rollbacks that end


def test_a_nan_that_comes_back_stops_the_run_after_the_rollback_cap(mnist_dir, tmp_path):
    run = tmp_path / "run"
    minigan.train("minimal", run, steps=105, checkpoint_every=50, data_dir=str(mnist_dir),
                  progress=False, **QUIET)  # the last checkpoint (105) is no multiple of 50
    config = TrainConfig.from_dict({**json.loads((run / "config.json").read_text()), "steps": 2000,
                                    "on_nan": "rollback", "log_every": 2})
    trainer = Trainer(config, run, resume=True, force=True, progress=False)
    fired = _inject_nan(trainer, lambda step: step >= 108)
    with pytest.raises(TrainingDiverged, match=r"again after 3 rollbacks \(learning rates x0.125\)"):
        trainer.fit()
    assert fired.count(108) == 4  # the original NaN and one after each of the 3 rollbacks
    events = [e for e in _records(run / "events.jsonl") if e["event"] == "rollback"]
    assert [e["step"] for e in events] == [105, 105, 105]
    assert [m["message"].split("halved to ")[1][:6] for m in events] == ["x0.5 (", "x0.25 ", "x0.125"]
    steps = [r["step"] for r in _records(run / "stats.jsonl")]
    assert steps == sorted(set(steps)) and max(steps) <= 108  # no record repeats or survives a rollback


def test_a_nan_found_by_the_final_save_rolls_back_and_still_reaches_the_budget(mnist_dir, tmp_path):
    config = get_config("minimal", data_dir=str(mnist_dir), steps=10, checkpoint_every=5,
                        on_nan="rollback", **{**QUIET, "log_every": 2})
    trainer = Trainer(config, tmp_path / "run", progress=False)
    fired = _inject_nan(trainer, lambda step: step == 6 and not fired)  # once: it does not come back
    result = trainer.fit()
    assert fired == [6]
    assert (result.status, result.step) == ("finished", 10)
    steps = [r["step"] for r in _records(result.run_dir / "stats.jsonl")]
    assert steps == [2, 4, 6, 8, 10]  # the NaN window (step 6 onwards) was dropped, then retrained
    assert checkpoint.load_checkpoint(result.run_dir / "checkpoints" / "step-000000010.pt")["lr_scale"] == 0.5


# ------------------------------------------------------------------ 3: every flag honoured or refused


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_network_fields_an_architecture_ignores_are_refused_in_one_line(arch, capsys):
    base, literal = ARCH_PRESET[arch]
    extra = ARCH_OVERRIDES.get(arch, {})
    preset = get_config(base, literal=literal, **extra)
    other = {"relu": "leaky_relu", "leaky_relu": "relu"}
    values = {"g_hidden": "48,24", "d_hidden": "24,48", "g_activation": other[preset.g_activation],
              "d_activation": other[preset.d_activation], "leaky_slope": "0.1", "g_dropout": "0.2",
              "d_dropout": "0.2" if preset.d_dropout != 0.2 else "0.1"}
    for name in NETWORK_FIELDS:
        flag = "--" + name.replace("_", "-")
        argv = ["train", "--preset", base, "--dry-run", *(["--literal"] if literal else [])]
        for k, v in extra.items():
            argv += [f"--no-{k.replace('_', '-')}"] if v is False else [f"--{k.replace('_', '-')}", v]
        argv += ["--no-g-batchnorm" if preset.g_batchnorm else "--g-batchnorm"] \
            if name == "g_batchnorm" else [flag, values[name]]
        code = cli.main(argv)
        out, err = capsys.readouterr()
        if name in ARCHITECTURES[arch].honours:
            assert code == 0, err
            config = json.loads(out)
            assert config[name] != getattr(preset, name)
        else:
            assert code == 2 and err.count("\n") == 1
            assert f"{flag} does nothing for arch={arch}" in err and "honoured by arch=" in err


def test_every_preset_only_sets_fields_its_architecture_honours():
    for name, preset in PRESETS.items():
        assert check_honoured(preset.config) is preset.config, name
        assert check_honoured(get_config(name, literal=True)), name


def test_honoured_network_fields_change_the_networks():
    """A field an architecture says it honours must change what it builds."""
    for arch, spec in ARCHITECTURES.items():
        base = get_config(ARCH_PRESET[arch][0], literal=ARCH_PRESET[arch][1], **ARCH_OVERRIDES.get(arch, {}))
        for name in spec.honours:
            flip = {"relu": "leaky_relu", "leaky_relu": "relu"}
            changed = {"g_hidden": (16, 8), "d_hidden": (8, 16), "g_activation": flip[base.g_activation],
                       "d_activation": flip[base.d_activation], "leaky_slope": 0.05,
                       "g_dropout": 0.5 if base.g_dropout != 0.5 else 0.1,
                       "d_dropout": 0.5 if base.d_dropout != 0.5 else 0.1,
                       "g_batchnorm": not base.g_batchnorm}[name]
            other = dataclasses.replace(base, **{name: changed})
            if name == "leaky_slope" and "leaky_relu" not in (other.g_activation, other.d_activation):
                other = dataclasses.replace(other, g_activation="leaky_relu")
            assert repr(build_generator(base)) + repr(build_discriminator(base)) != \
                repr(build_generator(other)) + repr(build_discriminator(other)), (arch, name)


@pytest.mark.parametrize("override", [{"d_dropout": 0.0}, {"label_projection": False},
                                      {"g_batchnorm": False}])
def test_resume_force_with_a_layer_change_is_refused_in_one_line(override, mnist_dir, tmp_path, capsys):
    preset = "cgan" if "label_projection" in override or "g_batchnorm" in override else "mlp4"
    run = tmp_path / "run"
    minigan.train(preset, run, steps=2, data_dir=str(mnist_dir), progress=False, **QUIET)
    (name, value), = override.items()
    flag = "--" + name.replace("_", "-")
    argv = ["resume", str(run), "--force", "--quiet",
            *([flag, str(value)] if not isinstance(value, bool) else [f"--no-{flag[2:]}"])]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot resume with different networks" in err and "Traceback" not in err


# ------------------------------------------------------------------ 4: losses read honestly


def test_balance_refuses_losses_without_a_cross_entropy():
    for loss in ("hinge", "lsgan"):  # refused where the config is read, before any data loads
        with pytest.raises(ConfigError, match=f"--d-loss {loss}"):
            get_config("cgan", d_loss=loss, g_loss=loss, balance_metric="mean_ce", balance_schedule="running")


def test_each_loss_says_what_d_thinks_is_real():
    logits = torch.tensor([-2.0, -0.5, 0.0, 0.3, 4.0])
    torch.testing.assert_close(D_LOSSES["bce"].belief(logits), torch.sigmoid(logits))
    torch.testing.assert_close(D_LOSSES["hinge"].belief(logits), torch.tensor([0.0, 0, 0, 1, 1]))
    torch.testing.assert_close(D_LOSSES["lsgan"].belief(logits), torch.tensor([0.0, 0, 0, 0.3, 1]))
    assert D_LOSSES["bce"].saturates and not D_LOSSES["hinge"].saturates
    real, fake = torch.tensor([5.0, 6.0]), torch.tensor([-5.0, -7.0])
    torch.testing.assert_close(D_LOSSES["bce"].error(real, fake),
                               0.5 * (torch.nn.functional.softplus(-real).mean()
                                      + torch.nn.functional.softplus(fake).mean()))


def test_hinge_runs_log_beliefs_in_range_and_never_warn_of_saturation(mnist_dir, tmp_path):
    result = minigan.train("fast", tmp_path / "run", d_loss="hinge", g_loss="hinge", steps=20,
                           data_dir=str(mnist_dir), progress=False, **{**QUIET, "log_every": 5})
    for record in _records(result.run_dir / "stats.jsonl"):
        assert 0.0 <= record["d_fake"] <= record["d_real"] <= 1.0 or record["step"] <= 5
    assert not any("saturated" in e.get("message", "") for e in _records(result.run_dir / "events.jsonl"))


# ------------------------------------------------------------------ 5: any square image size


def _write_idx(folder, images, labels):
    import struct

    folder.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (folder / "train-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, h, w) + images.tobytes())
    (folder / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())


@pytest.mark.parametrize("preset", ["minimal", "fast"])
def test_square_images_of_another_size_train_and_sample_at_that_size(preset, tmp_path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "data", rng.integers(0, 256, (64, 16, 16), dtype=np.uint8),
               rng.integers(0, 10, 64, dtype=np.uint8))
    common = dict(dataset="idx", data_dir=str(tmp_path / "data"), steps=3, batch_size=8, progress=False,
                  train_holdout=0, clusters=0, **QUIET)
    with pytest.raises(ConfigError, match="images are 16x16 but the config makes 28x28.*--image-size 16"):
        minigan.train(preset, tmp_path / "wrong", **common)
    result = minigan.train(preset, tmp_path / "run", image_size=16, **common)
    images, _ = minigan.load_generator(result.run_dir).sample(5, seed=1)
    assert images.shape == (5, 16, 16) and images.dtype == np.uint8


def test_an_architecture_refuses_sizes_it_cannot_build():
    with pytest.raises(ConfigError, match="arch=conv makes images whose side is a multiple of 4, not 18"):
        get_config("fast", image_size=18)
    with pytest.raises(ConfigError, match="arch=cgan .* 28, not 32"):
        get_config("cgan", image_size=32)


# ------------------------------------------------------------------ 6: best.pt and EMA statistics


def test_resume_removes_a_best_checkpoint_from_a_discarded_step(mnist_dir, tmp_path):
    run = tmp_path / "run"
    minigan.train("minimal", run, steps=4, checkpoint_every=2, eval_every=3, eval_num=200,
                  data_dir=str(mnist_dir), progress=False, **QUIET)
    assert checkpoint.load_checkpoint(run / "checkpoints" / "best.pt")["step"] == 3
    checkpoint.remove(run / "checkpoints" / "step-000000004.pt")  # as if killed before step 4's save
    # back at step 2: best.pt (step 3) is from the future. The loop itself, since `minigan.resume` to
    # a spent budget (step 2) leaves the run untouched
    config = TrainConfig.from_dict({**json.loads((run / "config.json").read_text()), "steps": 2})
    Trainer(config, run, resume=True, progress=False).fit()
    assert not (run / "checkpoints" / "best.pt").exists()
    assert [r["step"] for r in _records(run / "metrics.jsonl")] == []
    minigan.resume(run, steps=4, progress=False)
    assert checkpoint.load_checkpoint(run / "checkpoints" / "best.pt")["step"] == 3


def test_ema_batchnorm_statistics_belong_to_the_averaged_weights(mnist_dir, tmp_path):
    config = get_config("fast", data_dir=str(mnist_dir), steps=30, **QUIET)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.fit()
    ema, G = trainer.G_ema.module, trainer.G
    bn = ema.net[1]  # BatchNorm1d after G's first layer
    assert not torch.equal(bn.running_mean, G.net[1].running_mean)  # not copied from G
    captured = []
    handle = ema.net[0].register_forward_hook(lambda m, i, out: captured.append(out.detach()))
    trainer._bn_fresh_step = -1
    rng_before = torch.get_rng_state()
    trainer._refresh_ema_statistics()
    handle.remove()
    assert torch.equal(torch.get_rng_state(), rng_before)  # the training RNG stream is untouched
    # what the refresh fed through the averaged weights, batch by batch: a cumulative average
    means = torch.stack([batch.mean(0) for batch in captured]).mean(0)
    variances = torch.stack([batch.var(0, unbiased=True) for batch in captured]).mean(0)
    torch.testing.assert_close(bn.running_mean, means, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, variances, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ 7: EMA as a half-life in images


def test_ema_half_life_means_the_same_at_every_batch_size():
    # two steps of 32 images move the average exactly as far as one step of 64
    assert ema_beta(32, 10**7, 10.0, 0.05) ** 2 == pytest.approx(ema_beta(64, 10**7, 10.0, 0.05), rel=1e-12)
    assert ema_beta(64, 10**7, 10.0, 0.0) ** (10_000 / 64) == pytest.approx(0.5, rel=1e-12)
    # ramp-up: the half-life is at most 5% of the images seen (here 640 images -> 32)
    assert ema_beta(64, 640, 10.0, 0.05) == pytest.approx(0.25, rel=1e-12)
    # the fast presets keep their old per-step decay of 0.999 at batch 64
    fast = get_config("fast")
    assert ema_beta(fast.batch_size, 10**9, fast.g_ema_kimg, 0.0) == pytest.approx(0.999, abs=2e-6)


def test_configs_written_by_minigan_0_1_still_load():
    old = {**get_config("fast").to_dict(), "g_ema": 0.999, "init": "xavier"}
    del old["g_ema_kimg"], old["pad"], old["g_init"], old["d_init"]
    config = TrainConfig.from_dict(old)
    assert config.g_ema_kimg == pytest.approx(ema_kimg_from_decay(0.999, 64))
    assert (config.g_init, config.d_init) == ("lecun_normal", "lecun_normal")
    assert TrainConfig.from_dict({**old, "image_size": 32, "arch": "dcgan"}).pad == 2


def test_the_generator_file_holds_the_ema_weights(mnist_dir, tmp_path):
    config = get_config("fast", data_dir=str(mnist_dir), steps=6, **QUIET)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.fit()
    saved = minigan.load_generator(tmp_path / "run").module.state_dict()
    for key, value in trainer.G_ema.module.state_dict().items():
        torch.testing.assert_close(saved[key], value.cpu(), rtol=0, atol=0)
    assert not torch.equal(saved["net.0.weight"], trainer.G.state_dict()["net.0.weight"])


# ------------------------------------------------------------------ 8: LeCun's init, named so


def test_lecun_normal_divides_by_the_inputs_each_output_sums():
    linear, conv = torch.nn.Linear(300, 200), torch.nn.Conv2d(16, 32, 5)
    up = torch.nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)
    assert (forward_fan_in(linear), forward_fan_in(conv), forward_fan_in(up)) == (300, 16 * 25, 64 * 16 / 4)
    torch.manual_seed(0)
    for layer in (linear, conv, up):
        apply_init(layer, "lecun_normal")
        w = layer.weight.detach().flatten()
        stderr = forward_fan_in(layer) ** -0.5 / math.sqrt(2 * w.numel())  # std of a sample std
        assert abs(w.std().item() - forward_fan_in(layer) ** -0.5) < 4 * stderr
        assert torch.count_nonzero(layer.bias) == 0
    # a transposed conv initialised so keeps its output variance near its input's
    x = torch.randn(64, 64, 8, 8)
    with torch.no_grad():
        y = torch.nn.functional.conv_transpose2d(x, up.weight, None, 2, 1)
    assert 0.8 < y[..., 2:-2, 2:-2].var().item() < 1.2
