"""The auxiliary class head (--aux-class-weight, AC-GAN): D learns the classes of real images on
the features it judges with, G's loss asks that its fakes be classified as their label. The
terms enter the phases that already run (no new pass), train on every conditional network and
update scheme, resume bit for bit, and are refused where there are no labels."""

from __future__ import annotations

import re

import pytest
import torch
from resume_check import resumed_equals_whole

import minigan
from minigan.errors import ConfigError
from minigan.models.base import class_ids, one_hot
from minigan.presets import get_config
from minigan.training import Trainer
from minigan.training.fidelity import Fakes
from minigan.training.wrappers import Autocast

QUIET = dict(log_every=2, sample_every=1000, tensorboard=False, grid_size=2, checkpoint_every=1000)
CE = torch.nn.functional.cross_entropy
STEPS = 100


def _trainer(tmp_path, mnist_dir, weight: float, **overrides) -> Trainer:
    settings = {"batch_size": 16, **QUIET, **overrides}
    config = get_config("fast-cond", data_dir=str(mnist_dir), aux_class_weight=weight, precision="fp32",
                        **settings)
    return Trainer(config, tmp_path / f"run-{weight}", progress=False)


def _inputs(trainer: Trainer) -> tuple[torch.Tensor, torch.Tensor, Fakes]:
    torch.manual_seed(1)
    real, y = trainer.batches.get(0)
    fakes = trainer.feed.draw(y)
    return real, y, Fakes(fakes.z, fakes.labels, fakes.images.detach())


def test_class_ids_read_the_class_block_of_a_cluster_label():
    # 3 classes x 2 clusters: cluster 1 of class 2, cluster 0 of class 0; plain one-hot classes too
    clustered = torch.tensor([[0, 0, 0, 0, 0, 1.0], [1.0, 0, 0, 0, 0, 0]])
    assert class_ids(clustered, 3).tolist() == [2, 0]
    assert class_ids(one_hot(torch.tensor([4, 1]), 5), 5).tolist() == [4, 1]


def test_ds_class_term_is_its_cross_entropy_on_the_reals_alone(tmp_path, mnist_dir):
    """d_main's gradient on the class head is exactly weight x CE on the real rows: D never learns to
    classify fakes (that would reward G for images D finds easy, not for images of the class)."""
    trainer = _trainer(tmp_path, mnist_dir, 0.5)
    real, y, fakes = _inputs(trainer)
    D = trainer.D
    trainer.opt_D.zero_grad(set_to_none=True)
    out = trainer.loss.d_main(real, y, fakes, train=True)
    got = D.classifier.weight.grad.clone()
    D.zero_grad(set_to_none=True)
    _, class_logits = D(real, y, classify=True)
    term = 0.5 * CE(class_logits, class_ids(y, 10))
    term.backward()
    torch.testing.assert_close(got, D.classifier.weight.grad, rtol=1e-5, atol=1e-7)
    assert set(out.terms) == {"loss_class_d"}  # what stats.jsonl logs: the term as it enters D's loss
    torch.testing.assert_close(out.terms["loss_class_d"], term.detach(), rtol=1e-5, atol=1e-7)


def test_gs_loss_adds_the_weighted_cross_entropy_of_its_fakes(tmp_path, mnist_dir):
    with_term, without = _trainer(tmp_path, mnist_dir, 2.0), _trainer(tmp_path, mnist_dir, 0.0)
    without.G.load_state_dict(with_term.G.state_dict())
    real, y, fakes = _inputs(with_term)
    images = with_term.G(fakes.z, fakes.labels)
    grads, terms = [], []
    for trainer in (with_term, without):
        trainer.G.zero_grad(set_to_none=True)
        remade = Fakes(fakes.z, fakes.labels, trainer.G(fakes.z, fakes.labels))
        _, logged = trainer.loss.g_main(remade, real, y)
        grads.append(torch.cat([p.grad.flatten() for p in trainer.G.parameters()]))
        terms.append(logged)
    D = with_term.D
    assert all(p.grad is None for p in D.parameters())  # G's phase leaves D's weights alone
    logits, class_logits = D(images, fakes.labels, classify=True)
    with_term.G.zero_grad(set_to_none=True)
    term = 2.0 * CE(class_logits, class_ids(fakes.labels, 10))
    (torch.nn.functional.softplus(-logits).mean() + term).backward()
    assert set(terms[0]) == {"loss_class_g"} and terms[1] == {}
    torch.testing.assert_close(terms[0]["loss_class_g"], term.detach(), rtol=1e-5, atol=1e-7)
    expected = torch.cat([p.grad.flatten() for p in with_term.G.parameters()])
    torch.testing.assert_close(grads[0], expected, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(grads[0], grads[1])  # the class term moved G


def test_ds_class_head_learns_the_real_classes(tmp_path, mnist_dir):
    trainer = _trainer(tmp_path, mnist_dir, 1.0, steps=STEPS, batch_size=64)
    trainer.fit()
    batches = [trainer.batches.get(STEPS + i) for i in range(4)]  # not trained on yet
    real, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    with torch.no_grad():
        _, class_logits = trainer.D(real, y, classify=True)
    assert (class_logits.argmax(1) == class_ids(y, 10)).float().mean().item() > 0.75  # 0.875; 0.16 untrained


@pytest.mark.parametrize("preset, overrides", [
    ("fast-cond", {}),
    ("cgan", {}),
    ("minimal", {"conditional": True}),  # an MLP D: the head reads the pixels
    ("dcgan", {"conditional": True}),  # simultaneous updates: both terms from one forward
    ("dcgan", {"conditional": True, "arch": "dcgan", "update_scheme": "alternating"}),
])
def test_the_class_head_trains_on_every_conditional_network(preset, overrides, mnist_dir, tmp_path):
    result = minigan.train(preset, tmp_path / "run", steps=3, batch_size=8, data_dir=str(mnist_dir),
                           aux_class_weight=1.0, progress=False, **{**QUIET, **overrides})
    images, labels = minigan.load_generator(result.run_dir).sample(4, seed=0, labels=[0, 1, 2, 3])
    assert images.shape == (4, 28, 28) and list(labels) == [0, 1, 2, 3]


def test_resume_is_bit_exact_with_the_class_head(mnist_dir, tmp_path):
    resumed_equals_whole(tmp_path, "fast-cond", data_dir=str(mnist_dir), batch_size=16,
                         aux_class_weight=1.0, r1_gamma=0.2, reg_interval=2, **QUIET)


def test_autocast_hands_back_both_outputs_in_float32(tmp_path, mnist_dir):
    trainer = _trainer(tmp_path, mnist_dir, 1.0)
    real, y, _ = _inputs(trainer)
    logits, class_logits = Autocast(trainer.D, "cpu")(real, y, classify=True)
    assert logits.dtype == class_logits.dtype == torch.float32 and class_logits.shape == (16, 10)


def test_without_labels_the_class_head_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=re.escape("--aux-class-weight")) as info:
        get_config("fast", aux_class_weight=1.0)
    assert "--conditional" in str(info.value) and "\n" not in str(info.value)
