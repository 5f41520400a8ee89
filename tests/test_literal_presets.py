"""`--literal` is each write-up line by line, and every literal recipe trains through the one loop."""

import json

import pytest
import torch

import minigan
from minigan.presets import PRESETS, get_config
from minigan.run import checkpoint
from minigan.training import Trainer

LITERAL = sorted(name for name, preset in PRESETS.items() if preset.literal)


@pytest.mark.parametrize("preset", LITERAL)
def test_every_literal_recipe_trains_and_samples(preset, mnist_dir, tmp_path):
    overrides = dict(steps=3, log_every=1, sample_every=1000, checkpoint_every=1000, tensorboard=False)
    config = get_config(preset, literal=True, data_dir=str(mnist_dir), **overrides)
    assert (config.steps, config.epochs) == (3, PRESETS[preset].literal.get("epochs"))
    result = Trainer(config, tmp_path / "run", progress=False).fit()
    assert result.step == 3
    saved = json.loads((result.run_dir / "config.json").read_text())
    for name, value in PRESETS[preset].literal.items():
        if name not in overrides:
            assert saved[name] == (list(value) if isinstance(value, tuple) else value), name
    images, _ = minigan.load_generator(result.run_dir).sample(4, seed=0)
    assert images.shape == (4, 28, 28)


def test_simultaneous_updates_take_both_gradients_from_pre_update_weights(mnist_dir, tmp_path):
    """dcgan's Keras train_step: G's gradient flows through D's weights as they were before D's update."""
    config = get_config("minimal", data_dir=str(mnist_dir), update_scheme="simultaneous", g_noise="shared",
                        steps=1, log_every=1, tensorboard=False)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    d_before = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    seen = {}

    def remember_d(*args) -> None:
        seen.setdefault("d_at_g_step", {k: v.clone() for k, v in trainer.D.state_dict().items()})

    trainer.opt_G.register_step_pre_hook(remember_d)
    trainer.train_step()
    for key, value in seen["d_at_g_step"].items():
        assert torch.equal(value, d_before[key]), key  # D had not moved when G stepped
    assert any(not torch.equal(v, d_before[k]) for k, v in trainer.D.state_dict().items())  # then it did


@pytest.mark.parametrize("order, first", [("d_first", "D"), ("g_first", "G")])
def test_update_order_is_the_order_the_optimisers_step(order, first, mnist_dir, tmp_path):
    config = get_config("minimal", data_dir=str(mnist_dir), update_order=order, g_noise="fresh", steps=1,
                        log_every=1, tensorboard=False)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    calls = []
    trainer.opt_D.register_step_post_hook(lambda *a: calls.append("D"))
    trainer.opt_G.register_step_post_hook(lambda *a: calls.append("G"))
    trainer.train_step()
    assert calls[0] == first and sorted(calls) == ["D", "G"]


def test_g_steps_and_reused_k_step_batches(mnist_dir, tmp_path):
    config = get_config("minimal", data_dir=str(mnist_dir), d_steps=2, g_steps=3, k_step_batches="reuse",
                        steps=2, log_every=1, checkpoint_every=2, tensorboard=False)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    counts = {"D": 0, "G": 0}
    for name, opt in (("D", trainer.opt_D), ("G", trainer.opt_G)):
        opt.register_step_post_hook(lambda *a, name=name: counts.__setitem__(name, counts[name] + 1))
    trainer.fit()
    assert counts == {"D": 4, "G": 6}
    state = checkpoint.load_checkpoint(tmp_path / "run" / "checkpoints" / "step-000000002.pt")
    assert state["batches_seen"] == 2  # reuse: one real batch per iteration, however many D steps
