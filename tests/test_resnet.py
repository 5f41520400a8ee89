"""arch=resnet (R3GAN-style residual G and D without normalisation): its init, its shapes, its refusals."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from resume_check import resumed_equals_whole
from torch import nn

import minigan
from minigan import cli
from minigan.errors import ConfigError
from minigan.models import build_discriminator, build_generator
from minigan.models.resnet import BasisReadout, ResidualBlock
from minigan.presets import get_config

RESNET = dict(arch="resnet", g_batchnorm=False, g_hidden=(32, 16, 8), d_hidden=(8, 16, 32))


def test_every_block_starts_as_the_identity_with_fixup_scaled_branches():
    torch.manual_seed(0)
    config = get_config("fast", **RESNET)
    for net in build_generator(config), build_discriminator(config):
        blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
        assert len(blocks) == 3
        for block in blocks:
            x = torch.randn(4, block.branch[0].in_channels, 7, 7)
            assert torch.equal(block(x), x)  # the branch's last conv starts at zero
            leaky = isinstance(block.branch[1], nn.LeakyReLU)  # fast: ReLU in G, leaky ReLU in D
            gain = math.sqrt(2 / (1 + config.leaky_slope**2)) if leaky else math.sqrt(2)
            for conv in block.branch[0], block.branch[2]:
                expected = gain * 3**-0.25 / math.sqrt(conv.weight[0].numel())
                assert conv.weight.std().item() == pytest.approx(expected, rel=0.15)
                assert not conv.bias.any()


def test_the_basis_readout_is_a_depthwise_convolution():
    torch.manual_seed(0)
    readout = BasisReadout(6, 7)
    x = torch.randn(5, 6, 7, 7)
    expected = F.conv2d(x, readout.weight, groups=6).flatten(1)
    torch.testing.assert_close(readout(x), expected, rtol=1e-5, atol=1e-5)
    assert readout.weight.std().item() == pytest.approx(1 / 7, rel=0.25)  # He-normal, fan-in 49


@pytest.mark.parametrize("stages", [1, 2, 3])
@pytest.mark.parametrize("conditional", [False, True])
def test_generator_and_discriminator_shapes_at_every_stage_count(stages, conditional):
    widths = (32, 16, 8)[-stages:]
    extra = dict(conditional=True, clusters=0, aux_class_weight=1.0, mbstd_group=4) if conditional else {}
    config = get_config("fast", **{**RESNET, "g_hidden": widths, "d_hidden": widths[::-1], **extra})
    G, D = build_generator(config), build_discriminator(config)
    z = torch.randn(8, config.z_dim)
    labels = torch.eye(G.num_classes)[torch.arange(8) % G.num_classes] if G.num_classes else None
    images = G(z, labels)
    assert images.shape == (8, 1, 28, 28) and images.abs().max() <= 1
    out = D(images, labels, classify=conditional)
    logits, classes = out if conditional else (out, None)
    assert logits.shape == (8,)
    if conditional:
        assert classes.shape == (8, 10)
        assert D.projection is not None and D.projection.out_features == widths[0] + 1  # + mbstd


def test_stages_that_do_not_halve_the_side_and_spectral_norm_are_refused():
    with pytest.raises(ConfigError, match=r"arch=resnet makes images whose side is a multiple of 2 \*\* "
                       r"\(stages - 1\), a stage per width of --g-hidden and of --d-hidden, not 28"):
        get_config("fast", **{**RESNET, "g_hidden": (64, 32, 16, 8)})
    assert get_config("fast", **{**RESNET, "d_hidden": (8, 16, 32, 64), "image_size": 32}).image_size == 32
    with pytest.raises(ConfigError, match="fix-up init.*spectral norm cannot normalise"):
        get_config("fast", **RESNET, spectral_norm_d=True)  # a zero weight has no spectral norm: NaN


def test_fast_as_resnet_is_told_to_turn_its_batchnorm_off(capsys):
    argv = ["train", "--preset", "fast", "--arch", "resnet", "--dry-run"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--g-batchnorm does nothing for arch=resnet" in err
    assert "add --no-g-batchnorm" in err
    assert cli.main([*argv, "--no-g-batchnorm"]) == 0  # asking for none is what resnet does
    assert cli.main(["train", "--preset", "fast", "--arch", "resnet", "--no-g-batchnorm",
                     "--g-dropout", "0.2", "--dry-run"]) == 2  # a switch turned on is still refused
    assert "--g-dropout does nothing for arch=resnet" in capsys.readouterr().err


def test_resnet_trains_resumes_bit_exactly_and_samples(mnist_dir, tmp_path):
    resumed_equals_whole(tmp_path, "fast", data_dir=str(mnist_dir), batch_size=16, clusters=10,
                         precision="fp32", log_every=3, sample_every=100, grid_size=2, tensorboard=False,
                         **RESNET)
    images, _ = minigan.load_generator(tmp_path / "whole").sample(4, seed=0)
    assert images.shape == (4, 28, 28) and images.std() > 0
