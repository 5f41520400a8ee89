"""Balanced consistency regularisation (--cr-weight, bCR, Zhao et al. 2021): in D's phase D also
judges a translated copy of every real and fake in the same call, and w x (mean squared logit gap on
the reals + on the fakes) holds its verdict on the copies to its verdict on the originals. It
trains on every network and update scheme, resumes bit for bit, and leaves G's phase alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from resume_check import resumed_equals_whole
from test_stabilisers import reference

import minigan
from minigan.models.base import class_ids
from minigan.presets import get_config
from minigan.training import Trainer
from minigan.training.augment import DiffAugment
from minigan.training.fidelity import Fakes

QUIET = dict(log_every=2, sample_every=1000, tensorboard=False, grid_size=2, checkpoint_every=1000)
SOFTPLUS = torch.nn.functional.softplus


def _trainer(tmp_path, mnist_dir, weight: float, preset: str = "fast", **overrides) -> Trainer:
    settings = {"batch_size": 16, "precision": "fp32", **QUIET, **overrides}
    config = get_config(preset, data_dir=str(mnist_dir), cr_weight=weight, **settings)
    return Trainer(config, tmp_path / f"run-{preset}-{weight}", progress=False)


def _translated(images: torch.Tensor, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image moved by bCR's draw from `rng`, through the per-image DiffAugment reference (the
    shifts, and the copies: black borders in fast's [-1, 1])."""
    aug = DiffAugment.from_policy("translation")
    params = aug.draw(len(images), *images.shape[2:], 1.0, rng)
    return reference(aug, images, params), params.shift


@pytest.mark.parametrize("preset", ["fast", "fast-cond"])
def test_ds_gradient_is_its_loss_plus_the_weighted_gap_on_translated_copies(preset, tmp_path, mnist_dir):
    """d_main's gradient on D is exactly that of the GAN loss (+ the class head's term) plus
    w x (mean gap^2 on the reals + mean gap^2 on the fakes), every image translated by the draw the
    run's augmentation stream makes."""
    weight = 3.0
    trainer = _trainer(tmp_path, mnist_dir, weight, preset)
    torch.manual_seed(1)
    real, y = trainer.batches.get(0)
    drawn = trainer.feed.draw(y)
    fakes = Fakes(drawn.z, drawn.labels, drawn.images.detach())
    rng_before = trainer.augmenter.rng.get_state()
    D = trainer.D
    D.zero_grad(set_to_none=True)
    logged = trainer.loss.d_main(real, y, fakes, train=True).terms
    got = [p.grad.clone() for p in D.parameters()]

    pair = torch.cat([real, fakes.images])
    labels = None if y is None else torch.cat([y, fakes.labels])
    rng = torch.Generator().manual_seed(0)
    rng.set_state(rng_before)
    moved, shift = _translated(pair, rng)
    assert shift.abs().max() == 4 and (shift != 0).any()  # up to 1/8 of the side
    D.zero_grad(set_to_none=True)
    head = {"classify": True} if trainer.config.aux_class_weight else {}
    out = D(pair, labels, **head)
    logits, class_logits = out if head else (out, None)
    moved_logits = D(moved, labels)
    B = len(real)
    loss = SOFTPLUS(-logits[:B]).mean() + SOFTPLUS(logits[B:]).mean()
    if class_logits is not None:
        loss = loss + torch.nn.functional.cross_entropy(class_logits[:B], class_ids(y, 10))
    gap = (moved_logits - logits).square()
    term = weight * (gap[:B].mean() + gap[B:].mean())
    (loss + term).backward()
    for p, g in zip(D.parameters(), got, strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(logged["loss_cr"], term.detach(), rtol=1e-4, atol=1e-6)  # stats.jsonl's


def test_the_term_makes_d_judge_translated_reals_as_it_judges_them(tmp_path, mnist_dir):
    """What a user turns it on for: after 60 steps D's verdicts on translated unseen reals sit closer
    to its verdicts on the reals with the term than without."""
    gaps = []
    for weight in (0.0, 10.0):
        trainer = _trainer(tmp_path, mnist_dir, weight, steps=60, batch_size=32)
        trainer.fit()
        batches = [trainer.batches.get(60 + i) for i in range(4)]  # not trained on yet
        real, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])  # y: clusters
        moved, _ = _translated(real, torch.Generator().manual_seed(0))
        with torch.no_grad():
            gaps.append((trainer.D(moved, y) - trainer.D(real, y)).abs().mean().item())
    assert gaps[1] < 0.2 * gaps[0], gaps  # 0.061 against 2.19


def test_d_paused_makes_no_translated_copies(tmp_path, mnist_dir):
    """The balance rule pausing D: only its logits, no copies drawn (the stream does not move)."""
    trainer = _trainer(tmp_path, mnist_dir, 1.0)
    real, y = trainer.batches.get(0)
    state = trainer.augmenter.rng.get_state()
    out = trainer.loss.d_main(real, y, trainer.feed.draw(y), train=False)
    assert out.real_logits.shape == (16,) and torch.equal(state, trainer.augmenter.rng.get_state())


def test_simultaneous_updates_keep_gs_gradient_off_the_copies(tmp_path, mnist_dir):
    """Keras' one-forward step (dcgan): the term is D's alone; G's gradient, its class term
    included, comes from the original images exactly as without the term."""
    grads = []
    for weight in (0.0, 5.0):
        trainer = _trainer(tmp_path, mnist_dir, weight, "dcgan", conditional=True, aux_class_weight=1.0)
        torch.manual_seed(1)
        real, y = trainer.batches.get(0)
        trainer.G.zero_grad(set_to_none=True)
        trainer.loss.d_both(real, y, trainer.feed.draw(y))
        grads.append(torch.cat([p.grad.flatten() for p in trainer.G.parameters()]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("preset, overrides", [
    ("fast-cond", {}),
    ("cgan", {}),
    ("minimal", {}),  # an MLP D
    ("dcgan", {}),  # simultaneous updates: the term in the one D gradient
    ("best", {"mbstd_group": 4}),  # groups stay inside the originals and inside the copies
])
def test_the_term_trains_on_every_network(preset, overrides, mnist_dir, tmp_path):
    result = minigan.train(preset, tmp_path / "run", steps=3, batch_size=8, data_dir=str(mnist_dir),
                           cr_weight=10.0, progress=False, **{**QUIET, **overrides})
    images, _ = minigan.load_generator(result.run_dir).sample(4, seed=0)
    assert images.shape == (4, 28, 28) and bool(np.isfinite(images).all())


def test_resume_is_bit_exact_with_the_term(mnist_dir, tmp_path):
    resumed_equals_whole(tmp_path, "fast", data_dir=str(mnist_dir), batch_size=16, cr_weight=10.0,
                         precision="fp32", **QUIET)
