"""The update step as phases: the schedule a config gives, and the bugs the phases closed
(a stabiliser a scheme skipped, D's lazy-regularisation optimiser, the package's import face)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import tomllib

from minigan.errors import ConfigError
from minigan.presets import get_config
from minigan.training import Trainer
from minigan.training.phases import schedule

REPO = Path(__file__).resolve().parents[1]
QUIET = dict(sample_every=1000, tensorboard=False, grid_size=2, checkpoint_every=1000)


@pytest.mark.parametrize(("preset", "overrides", "phases"), [
    ("minimal", {}, ["Dmain", "Gmain"]),
    ("minimal", {"d_steps": 2}, ["Dmain", "Dmain", "Gmain"]),
    ("vanilla", {}, ["Gmain", "Dmain"]),  # the write-up steps G first
    ("fast", {}, ["Dmain", "Dreg", "Gmain"]),
    ("fast", {"d_steps": 2, "g_steps": 2}, ["Dmain", "Dreg", "Dmain", "Dreg", "Gmain", "Gmain"]),
    ("dcgan", {}, ["Dboth"]),
    ("dcgan", {"r1_gamma": 1.0}, ["Dboth", "Dreg"]),
])
def test_each_config_runs_its_schedule_of_phases(preset, overrides, phases):
    assert schedule(get_config(preset, **overrides)) == phases


def test_simultaneous_updates_run_the_lazy_regulariser(mnist_dir, tmp_path):
    """Once, `--preset dcgan --r1-gamma 1` trained without R1 and said nothing."""
    config = get_config("dcgan", data_dir=str(mnist_dir), r1_gamma=1.0, reg_interval=2, batch_size=20,
                        steps=4, log_every=2, **QUIET)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    d_steps = []
    trainer.opt_D.register_step_post_hook(lambda *a: d_steps.append(trainer.step))
    trainer.fit()
    assert d_steps == [0, 0, 1, 2, 2, 3]  # one simultaneous step each, and R1 at D steps 0 and 2
    records = [json.loads(line) for line in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4] and all(r["loss_penalty"] > 0 for r in records)


@pytest.mark.parametrize("flag", [{"update_order": "g_first"}, {"g_noise": "fresh"}])
def test_simultaneous_updates_refuse_the_flags_they_cannot_honour(flag):
    with pytest.raises(ConfigError, match="--update-scheme simultaneous") as info:
        get_config("dcgan", **flag)
    assert "\n" not in str(info.value)


def test_balance_on_a_loss_without_a_cross_entropy_is_refused_where_the_config_is_read():
    with pytest.raises(ConfigError, match="--balance reads D's error as a cross-entropy"):
        get_config("minimal", balance=True, d_loss="hinge", g_loss="hinge")


@pytest.mark.parametrize("preset", ["fast", "best-cond"])
def test_lazy_regularisation_corrects_ds_adam_by_the_interval(mnist_dir, tmp_path, preset):
    """StyleGAN2's mb_ratio: D's optimiser takes lr x r and betas ** r, r = interval / (interval + 1)."""
    config = get_config(preset, data_dir=str(mnist_dir), steps=1, reg_mb_ratio=True, **QUIET)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    ratio = config.reg_interval / (config.reg_interval + 1)
    group = trainer.opt_D.param_groups[0]
    assert group["lr"] == pytest.approx(config.lr_d * ratio, rel=1e-12)
    assert group["betas"] == pytest.approx((config.beta1**ratio, config.beta2**ratio), rel=1e-12)
    assert trainer.opt_G.param_groups[0]["lr"] == config.lr_g  # G has no lazy phase
    trainer.state.set_learning_rates(0.5)  # a rollback halves both, and D keeps its ratio
    assert group["lr"] == pytest.approx(config.lr_d * ratio * 0.5, rel=1e-12)


@pytest.mark.parametrize(("preset", "overrides"), [("fast-cond", {}), ("fast", {"reg_mb_ratio": False})])
def test_without_the_correction_ds_adam_is_as_configured(mnist_dir, tmp_path, preset, overrides):
    config = get_config(preset, data_dir=str(mnist_dir), steps=1, **QUIET, **overrides)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    group = trainer.opt_D.param_groups[0]
    assert (group["lr"], group["betas"]) == (config.lr_d, (config.beta1, config.beta2))


def test_the_torch_pin_allows_only_versions_with_fused_adam_on_cpu():
    """The loop builds fused Adam, which CPUs have from torch 2.4 on."""
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_pin = next(d for d in dependencies if re.match(r"torch\b", d))
    low = re.search(r">=\s*(\d+)\.(\d+)", torch_pin)
    assert low is not None and (int(low[1]), int(low[2])) >= (2, 4), torch_pin
