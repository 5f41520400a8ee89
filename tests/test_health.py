"""Adaptive balance on a scripted error sequence, the NaN guard on an injected NaN, warnings."""

import json
import math

import numpy as np
import pytest
import torch

from minigan.presets import get_config
from minigan.run import checkpoint
from minigan.training import Trainer, TrainingDiverged
from minigan.training.balance import AdaptiveBalance
from minigan.training.monitor import HealthMonitor, all_finite


def test_balance_pauses_the_winner_and_releases_it():
    balance = AdaptiveBalance(low=0.3, high=0.8, momentum=0.0)  # no smoothing: the rule itself
    script = [0.69, 0.9, 0.85, 0.5, 0.2, 0.1, 0.31, 0.79, 0.81]
    paused = [balance.update(e) for e in script]
    assert paused == ["none", "g", "g", "none", "d", "d", "none", "none", "g"]


def test_balance_running_error_is_an_ema():
    balance = AdaptiveBalance(low=0.3, high=0.8, momentum=0.5)
    assert balance.update(1.0) == "g"  # first value initialises the running error
    assert balance.update(0.0) == "none" and balance.error == pytest.approx(0.5)
    assert balance.update(0.0) == "d" and balance.error == pytest.approx(0.25)
    restored = AdaptiveBalance()
    restored.load_state_dict(balance.state_dict())
    assert (restored.error, restored.paused) == (0.25, "d")


def test_balanced_training_records_which_side_paused(mnist_dir, tmp_path):
    # Thresholds that force switching: low above any plausible error pauses D from the first step.
    config = get_config("cgan", data_dir=str(mnist_dir), steps=6, log_every=3, checkpoint_every=6,
                        tensorboard=False, balance_low=5.0, balance_high=6.0, balance_momentum=0.0,
                        balance_schedule="running", balance_metric="mean_ce")
    trainer = Trainer(config, tmp_path / "run", progress=False)
    d_before = [p.detach().clone() for p in trainer.D.parameters()]
    trainer.fit()
    # First step trains both (nothing paused yet), then D stays paused: D's weights change once only.
    events = [json.loads(x) for x in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "balance" and events[0]["paused"] == "d" and events[0]["step"] == 1
    stats = [json.loads(x) for x in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert [s["paused_d"] for s in stats] == [2, 3] and [s["paused_g"] for s in stats] == [0, 0]
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters(), strict=True))


def _poison_at(trainer, step):
    original = trainer.train_step

    def train_step():
        original()
        if trainer.step + 1 == step and trainer.rollbacks == 0:
            with torch.no_grad():
                next(trainer.G.parameters()).fill_(math.nan)
    trainer.train_step = train_step


def test_nan_rolls_back_to_last_good_checkpoint_with_lower_lr(mnist_dir, tmp_path):
    config = get_config("minimal", data_dir=str(mnist_dir), steps=12, log_every=2, checkpoint_every=4,
                        tensorboard=False, on_nan="rollback")
    trainer = Trainer(config, tmp_path / "run", progress=False)
    _poison_at(trainer, 6)
    result = trainer.fit()
    assert result.step == 12 and trainer.lr_scale == 0.5
    assert trainer.opt_G.param_groups[0]["lr"] == pytest.approx(config.lr_g * 0.5)
    events = [json.loads(x) for x in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["rollback"] and "step-000000004.pt" in events[0]["message"]
    for _, path in checkpoint.list_checkpoints(tmp_path / "run" / "checkpoints"):
        state = checkpoint.load_checkpoint(path)
        assert all_finite(state["G"].values()) and all_finite(state["D"].values())


def test_nan_aborts_by_default_and_never_reaches_a_checkpoint(mnist_dir, tmp_path):
    config = get_config("minimal", data_dir=str(mnist_dir), steps=12, log_every=3, checkpoint_every=4,
                        tensorboard=False)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    _poison_at(trainer, 4)  # poisoned on the step that would checkpoint, before any log sees it
    with pytest.raises(TrainingDiverged, match="step 4"):
        trainer.fit()
    assert checkpoint.list_checkpoints(tmp_path / "run" / "checkpoints") == []


def test_health_warnings_for_saturation_and_collapse():
    monitor = HealthMonitor()
    assert monitor.check_record({"step": 1, "d_real": 0.7, "d_fake": 0.3}) == []
    [message] = monitor.check_record({"step": 2, "d_real": 0.999, "d_fake": 0.001})
    assert "saturated at step 2" in message
    assert monitor.check_record({"step": 3, "d_real": 0.999, "d_fake": 0.001}) == []  # once per episode
    rng = np.random.default_rng(0)
    varied = rng.integers(0, 256, (16, 28, 28), dtype=np.uint8)
    assert monitor.check_samples(varied, 10) is None
    same = np.repeat(varied[:1], 16, axis=0)
    assert "stopped varying" in monitor.check_samples(same, 20)
