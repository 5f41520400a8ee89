"""Learning-rate decay over the budget: the formula, the rates the optimisers really use, a bit-exact
resume, and one-line refusals."""

import json
import math
import re
import shutil

import pytest
import torch

import minigan
from minigan.errors import ConfigError
from minigan.presets import get_config
from minigan.run import checkpoint
from minigan.training.monitor import lr_decay_factor

QUIET = dict(log_every=1, sample_every=1000, tensorboard=False, grid_size=2, batch_size=8, clusters=0)


def _lr_scales(run_dir) -> list[float]:
    """The learning-rate multiplier of each stats record (rollback scale x decay)."""
    return [json.loads(line)["lr_scale"] for line in (run_dir / "stats.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("decay, end, fraction, expected", [
    ("none", 0.0, 0.7, 1.0),
    ("linear", 0.0, 0.0, 1.0),
    ("linear", 0.0, 0.25, 0.75),
    ("linear", 0.1, 1.0, 0.1),
    ("linear", 0.2, 0.5, 0.6),
    ("cosine", 0.0, 0.5, 0.5),
    ("cosine", 0.0, 1.0, 0.0),
    ("cosine", 0.5, 0.25, 0.5 + 0.5 * 0.5 * (1 + math.cos(math.pi / 4))),
])
def test_decay_factor_follows_its_formula(decay, end, fraction, expected):
    assert lr_decay_factor(decay, end, fraction) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_the_optimisers_step_at_the_decayed_rates(mnist_dir, tmp_path):
    result = minigan.train("fast", tmp_path / "run", steps=10, lr_decay="linear", lr_decay_to=0.5,
                           data_dir=str(mnist_dir), progress=False, checkpoint_every=5, **QUIET)
    for step, fraction in ((5, 4 / 10), (10, 9 / 10)):  # the last step taken began at step - 1
        state = checkpoint.load_checkpoint(result.run_dir / "checkpoints" / checkpoint.checkpoint_name(step))
        factor = 0.5 + 0.5 * (1 - fraction)
        assert state["opt_G"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * factor, rel=1e-12)
        assert state["opt_D"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * factor, rel=1e-12)
    assert _lr_scales(result.run_dir)[:3] == pytest.approx([1.0, 0.95, 0.9], rel=1e-12)


def test_a_time_budget_decays_with_the_clock(mnist_dir, tmp_path):
    result = minigan.train("fast", tmp_path / "run", time_budget=3, lr_decay="cosine",
                           data_dir=str(mnist_dir), progress=False, **QUIET)
    scales = _lr_scales(result.run_dir)
    assert scales == sorted(scales, reverse=True) and scales[0] > 0.9 and scales[-1] < 0.1


def test_a_run_killed_mid_decay_resumes_bit_exact(mnist_dir, tmp_path):
    # the decay follows the run's own budget, so the crash is simulated: a whole run's folder with
    # its later checkpoints gone, resumed to the same budget
    minigan.train("fast", tmp_path / "whole", steps=9, lr_decay="cosine", lr_decay_to=0.1, checkpoint_every=3,
                  data_dir=str(mnist_dir), progress=False, **QUIET)
    shutil.copytree(tmp_path / "whole", tmp_path / "crashed")
    for step in (6, 9):
        (tmp_path / "crashed" / "checkpoints" / checkpoint.checkpoint_name(step)).unlink()
    minigan.resume(tmp_path / "crashed", progress=False)
    a, b = (checkpoint.load_checkpoint(tmp_path / run / "checkpoints" / checkpoint.checkpoint_name(9))
            for run in ("whole", "crashed"))
    for part in ("G", "D", "G_ema"):
        for key, value in a[part].items():
            torch.testing.assert_close(value, b[part][key], rtol=0, atol=0, msg=f"{part}.{key}")
    assert a["opt_G"]["param_groups"][0]["lr"] == b["opt_G"]["param_groups"][0]["lr"]


@pytest.mark.parametrize("overrides, words", [
    (dict(lr_decay_to=0.1), "add --lr-decay linear or cosine"),
    (dict(lr_decay="linear", lr_decay_to=1.5), "use 0 to 1, not 1.5"),
    (dict(lr_decay="step"), "lr_decay='step' is not one of: none, linear, cosine"),
])
def test_bad_decay_settings_are_one_line_errors(overrides, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        get_config("fast", **overrides)
