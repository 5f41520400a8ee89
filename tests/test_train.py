"""The training loop end to end on real MNIST: every preset, resume equality, run-folder files."""

import json

import pytest
import torch

import minigan
from minigan.presets import PRESETS, get_config
from minigan.run import checkpoint
from minigan.training import Trainer

FAST = dict(log_every=2, checkpoint_every=4, sample_every=4, tensorboard=False)


def _train(mnist_dir, out, preset="minimal", **overrides):
    config = get_config(preset, data_dir=str(mnist_dir), **{**FAST, **overrides})
    return Trainer(config, out, progress=False).fit()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_trains_a_few_steps(mnist_dir, tmp_path, preset):
    result = _train(mnist_dir, tmp_path / preset, preset, steps=4, grid_size=4)
    assert result.status == "finished" and result.step == 4
    run = result.run_dir
    for name in ("config.json", "stats.jsonl", "samples.png", "losses.png", "progress.gif",
                 "generator.safetensors"):
        assert (run / name).is_file(), name
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in stats] == [2, 4]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "img_per_s", "grad_norm_d", "grad_norm_g"):
        assert all(isinstance(r[key], float) for r in stats), key
    assert json.loads((run / "config.json").read_text())["preset"] == preset
    images, labels = minigan.load_generator(run).sample(12, seed=3)
    assert images.shape == (12, 28, 28) and images.dtype.name == "uint8"
    assert (labels is not None) == PRESETS[preset].config.conditional


def _weights(run_dir):
    state, _ = checkpoint.load_latest(run_dir / "checkpoints")
    return state


def test_interrupted_then_resumed_run_equals_uninterrupted(mnist_dir, tmp_path):
    # mlp4 has dropout (global RNG) and Adam moments: both must be restored for equality.
    whole = _train(mnist_dir, tmp_path / "whole", "mlp4", steps=12, batch_size=8)
    half = _train(mnist_dir, tmp_path / "half", "mlp4", steps=8, batch_size=8)
    assert half.step == 8
    resumed = minigan.resume(half.run_dir, steps=12, progress=False)
    assert resumed.step == 12
    a, b = _weights(whole.run_dir), _weights(half.run_dir)
    for net in ("G", "D"):
        for key in a[net]:
            torch.testing.assert_close(a[net][key], b[net][key], rtol=0, atol=0, msg=f"{net}.{key}")
    torch.testing.assert_close(a["opt_G"]["state"][0]["exp_avg"], b["opt_G"]["state"][0]["exp_avg"],
                               rtol=0, atol=0)
    steps = [json.loads(line)["step"] for line in (half.run_dir / "stats.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8, 10, 12]


def test_same_seed_same_weights_on_cpu(mnist_dir, tmp_path):
    a = _train(mnist_dir, tmp_path / "a", steps=3, seed=7)
    b = _train(mnist_dir, tmp_path / "b", steps=3, seed=7)
    c = _train(mnist_dir, tmp_path / "c", steps=3, seed=8)
    wa, wb, wc = (_weights(r.run_dir)["G"] for r in (a, b, c))
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=0)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)


def test_two_dim_latent_writes_latent_grid(mnist_dir, tmp_path):
    result = _train(mnist_dir, tmp_path / "z2", steps=2, z_dim=2, grid_size=20)
    assert (result.run_dir / "latent.png").is_file()


def test_budget_by_epochs_and_time(mnist_dir, tmp_path):
    tiny_epoch = _train(mnist_dir, tmp_path / "e", steps=None, epochs=0.0005)  # 60000/16 * 0.0005 -> 2 steps
    assert tiny_epoch.step == 2
    timed = _train(mnist_dir, tmp_path / "t", time_budget=1.0)
    first = _weights(timed.run_dir)
    assert timed.status == "finished" and first["elapsed"] >= 1.0
    # budgets are totals for the run: the same budget again trains nothing, a larger one trains on
    again = minigan.resume(timed.run_dir, time_budget=1.0, progress=False)
    assert again.step == timed.step
    longer = minigan.resume(timed.run_dir, time_budget=2.0, progress=False)
    assert longer.step > timed.step and _weights(timed.run_dir)["elapsed"] >= 2.0


def test_existing_run_is_not_overwritten(mnist_dir, tmp_path):
    _train(mnist_dir, tmp_path / "run", steps=2)
    with pytest.raises(minigan.MiniganError, match="already holds a run"):
        _train(mnist_dir, tmp_path / "run", steps=2)


def test_eval_every_appends_metrics_and_keeps_best_checkpoint(mnist_dir, tmp_path):
    result = _train(mnist_dir, tmp_path / "run", "minimal", steps=4, eval_every=2, eval_num=200)
    records = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert all(r["fid"] > 0 and 0 <= r["precision"] <= 1 for r in records)
    best = checkpoint.load_checkpoint(result.run_dir / "checkpoints" / "best.pt")
    assert json.loads(best["metrics"])["fid"] == min(r["fid"] for r in records)
    assert (result.run_dir / "metrics.png").is_file()
