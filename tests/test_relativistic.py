"""The relativistic pairing loss (--d-loss relativistic --g-loss relativistic, RpGAN as R3GAN runs it):
each real is judged against the fake in its row, in D's phase and in G's; only the gap counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from resume_check import resumed_equals_whole

from minigan import cli
from minigan.errors import ConfigError
from minigan.models.base import class_ids
from minigan.presets import get_config
from minigan.training import Trainer
from minigan.training.fidelity import Fakes
from minigan.training.losses import d_relativistic, g_relativistic

RPGAN = dict(d_loss="relativistic", g_loss="relativistic")
QUIET = dict(log_every=3, sample_every=1000, tensorboard=False, grid_size=2)


def test_the_losses_read_only_the_gap_between_paired_logits():
    real, fake = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([0.0, 1.0, -1.0])
    expected_d = F.softplus(torch.tensor([-2.0, 1.0, 0.0])).mean().item()  # softplus(fake - real)
    assert d_relativistic(real, fake).item() == pytest.approx(expected_d, abs=1e-7)
    assert g_relativistic(fake - real).item() == pytest.approx(d_relativistic(fake, real).item(), abs=1e-7)
    assert d_relativistic(real + 7.5, fake + 7.5).item() == pytest.approx(d_relativistic(real, fake).item(),
                                                                          abs=1e-6)
    assert d_relativistic(real, fake[[1, 0, 2]]).item() != pytest.approx(d_relativistic(real, fake).item())


def _trainer(tmp_path, mnist_dir, preset: str = "fast") -> Trainer:
    config = get_config(preset, data_dir=str(mnist_dir), batch_size=16, precision="fp32", **RPGAN, **QUIET)
    return Trainer(config, tmp_path / "run", progress=False)


def _inputs(trainer: Trainer) -> tuple[torch.Tensor, torch.Tensor | None, Fakes]:
    torch.manual_seed(1)
    real, y = trainer.batches.get(0)
    fakes = trainer.feed.draw(y)
    return real, y, fakes


def _grads(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in net.parameters()])


@pytest.mark.parametrize("preset", ["fast", "fast-cond"])
def test_gs_gradient_is_that_of_softplus_of_the_real_minus_the_fake_in_its_row(preset, tmp_path, mnist_dir):
    trainer = _trainer(tmp_path, mnist_dir, preset)
    G, D = trainer.G, trainer.D
    real, y, fakes = _inputs(trainer)
    G.zero_grad(set_to_none=True)
    trainer.loss.g_main(Fakes(fakes.z, fakes.labels, G(fakes.z, fakes.labels)), real, y)
    got = _grads(G)
    assert all(p.grad is None for p in D.parameters())  # G's phase leaves D's weights alone
    G.zero_grad(set_to_none=True)
    logits = D(G(fakes.z, fakes.labels), fakes.labels)
    class_term = 0.0
    if trainer.config.aux_class_weight:  # fast-cond's class head adds its fakes' cross-entropy
        _, class_logits = D(G(fakes.z, fakes.labels), fakes.labels, classify=True)
        class_term = F.cross_entropy(class_logits, class_ids(fakes.labels, 10))
    (F.softplus(D(real, y).detach() - logits).mean() + class_term).backward()
    torch.testing.assert_close(got, _grads(G), rtol=1e-4, atol=1e-6)


def test_ds_gradient_is_that_of_softplus_of_the_fake_minus_the_real_in_its_row(tmp_path, mnist_dir):
    trainer = _trainer(tmp_path, mnist_dir)
    D = trainer.D
    real, y, fakes = _inputs(trainer)
    D.zero_grad(set_to_none=True)
    trainer.loss.d_main(real, y, fakes, train=True)
    got = _grads(D)
    D.zero_grad(set_to_none=True)
    F.softplus(D(fakes.images.detach(), fakes.labels) - D(real, y)).mean().backward()
    torch.testing.assert_close(got, _grads(D), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("flags, words", [
    (["--d-loss", "relativistic"], "--d-loss relativistic and --g-loss relativistic go together"),
    (["--g-loss", "relativistic", "--d-loss", "bce"], "go together: set both or neither"),
    (["--d-loss", "relativistic", "--g-loss", "relativistic", "--augment", "translation", "--ada-target",
      "0.6"], "--ada-target reads D's outputs as real/fake verdicts, which --d-loss relativistic"),
])
def test_half_a_pair_and_ada_are_refused_in_one_line(flags, words, capsys):
    assert cli.main(["train", "--preset", "fast", *flags, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err
    with pytest.raises(ConfigError):
        get_config("fast", d_loss="relativistic")


@pytest.mark.parametrize("preset, overrides", [("fast", {}), ("dcgan", {}), ("minimal", {}),
                                               ("fast-cond", {"cr_weight": 1.0})])
def test_trains_on_every_scheme_and_resumes_bit_exactly(preset, overrides, tmp_path, mnist_dir):
    a, _ = resumed_equals_whole(tmp_path, preset, data_dir=str(mnist_dir), batch_size=16, **RPGAN,
                                **overrides, **QUIET)
    assert all(torch.isfinite(v).all() for v in a["G"].values())
