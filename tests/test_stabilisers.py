"""Stabilisers against their formulas: R1/R2 and WGAN-GP on critics with known input gradients,
DiffAugment against per-image reference transforms, ADA's p rule, spectral norm, minibatch stddev."""

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from minigan.config import augment_ops as parse_policy
from minigan.errors import ConfigError
from minigan.models import build_discriminator, build_generator
from minigan.models.stabilisers import (
    MinibatchStdDev,
    apply_spectral_norm,
    bake_spectral_norm,
    check_mbstd_group,
    has_spectral_norm,
    weight_matrix_dim,
)
from minigan.presets import get_config
from minigan.training.augment import AdaptiveAugmentP, DiffAugment
from minigan.training.losses import (
    LazyRegulariser,
    d_wasserstein,
    draw_alpha,
    g_wasserstein,
    interpolate,
    lazy_adam_hparams,
    r1_penalty,
    r2_penalty,
    wgan_gp_penalty,
)

EXACT = {"rtol": 1e-12, "atol": 1e-12}  # float64 closed forms


class Linear(nn.Module):
    """D(x) = <w, x>: grad_x = w for every sample."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x, labels=None):
        return (x * self.w).flatten(1).sum(1)


def quadratic(c):
    """D(x) = 0.5 * sum(c * x^2): grad_x = c * x, different for every sample."""
    return lambda x, labels=None: 0.5 * (c * x.square()).flatten(1).sum(1)


# ---------------------------------------------------------------------------------- R1 / R2
def test_r1_on_a_linear_critic_is_half_gamma_w_squared_and_reaches_the_weights():
    torch.manual_seed(0)
    D = Linear(torch.randn(1, 4, 4, dtype=torch.float64))
    real = torch.randn(6, 1, 4, 4, dtype=torch.float64)
    penalty = r1_penalty(D, real, gamma=3.0)
    assert_close(penalty, 1.5 * D.w.detach().square().sum(), **EXACT)
    penalty.backward()  # d/dw (gamma/2 ||w||^2) = gamma * w: the graph through grad_x survived
    assert_close(D.w.grad, 3.0 * D.w.detach(), **EXACT)
    assert not real.requires_grad


def test_r1_and_r2_average_per_sample_gradient_norms_on_a_quadratic_critic():
    torch.manual_seed(1)
    c = torch.rand(1, 3, 3, dtype=torch.float64) + 0.5
    x = torch.randn(5, 1, 3, 3, dtype=torch.float64)
    expected = 0.25 * (c * x).square().flatten(1).sum(1).mean()  # gamma/2 = 0.25
    assert_close(r1_penalty(quadratic(c), x, gamma=0.5), expected, **EXACT)
    weights = nn.Parameter(torch.ones(3, 3, dtype=torch.float64))  # a "generator" the fakes come from
    fake = x * weights
    r2 = r2_penalty(quadratic(c), fake, gamma=0.5)
    assert_close(r2, expected, **EXACT)
    r2.backward()
    assert weights.grad is None  # R2 trains D only: G's graph is detached


def test_penalties_pass_the_labels_to_a_conditional_critic():
    torch.manual_seed(2)
    M = torch.randn(3, 4, dtype=torch.float64)

    def D(x, labels):  # grad_x = labels @ M, so only the right labels give the right penalty
        return (x.flatten(1) * (labels @ M)).sum(1)

    x = torch.randn(6, 1, 2, 2, dtype=torch.float64)
    labels = torch.eye(3, dtype=torch.float64)[[0, 1, 2, 0, 1, 2]]
    expected = 0.5 * (labels @ M).square().sum(1).mean()
    assert_close(r1_penalty(D, x, labels, gamma=1.0), expected, **EXACT)
    assert_close(wgan_gp_penalty(D, x, x.flip(0), labels, lam=1.0),
                 ((labels @ M).norm(dim=1) - 1).square().mean(), **EXACT)


@pytest.mark.parametrize("preset", ["fast", "fast-cond"])
def test_penalties_on_the_conv_d_agree_between_memory_formats(preset):
    torch.manual_seed(3)
    config = get_config(preset, clusters=0)
    D = build_discriminator(config)
    D_last = build_discriminator(config).to(memory_format=torch.channels_last)
    D_last.load_state_dict(D.state_dict())
    real, fake = torch.rand(8, 1, 28, 28) * 2 - 1, torch.rand(8, 1, 28, 28) * 2 - 1
    y = torch.eye(10)[torch.arange(8)] if config.conditional else None
    alpha = draw_alpha(8, generator=torch.Generator().manual_seed(0))
    for D_, r, f in ((D, real, fake), (D_last, real.to(memory_format=torch.channels_last),
                                       fake.to(memory_format=torch.channels_last))):
        values = torch.stack([r1_penalty(D_, r, y, gamma=10.0), r2_penalty(D_, f, y, gamma=10.0),
                              wgan_gp_penalty(D_, r, f, y, alpha=alpha)])
        if D_ is D:
            reference = values.detach()
    assert_close(values.detach(), reference, rtol=1e-5, atol=1e-7)
    assert reference.min() > 0


def test_lazy_regulariser_runs_every_interval_steps_scaled_by_the_interval():
    torch.manual_seed(4)
    c = torch.rand(1, 2, 2, dtype=torch.float64)
    real, fake = torch.randn(4, 1, 2, 2, dtype=torch.float64), torch.randn(4, 1, 2, 2, dtype=torch.float64)
    reg = LazyRegulariser(r1_gamma=2.0, r2_gamma=0.5, interval=4)
    assert [step for step in range(10) if reg.due(step)] == [0, 4, 8]
    expected = 4 * (r1_penalty(quadratic(c), real, gamma=2.0) + r2_penalty(quadratic(c), fake, gamma=0.5))
    assert_close(reg.loss(quadratic(c), real, fake), expected, **EXACT)
    expected = 16 * r1_penalty(quadratic(c), real, gamma=2.0)
    assert_close(LazyRegulariser(r1_gamma=2.0, interval=16).loss(quadratic(c), real, fake), expected, **EXACT)
    assert not LazyRegulariser(interval=1).due(0)  # both gammas 0: never due
    lr, betas = lazy_adam_hparams(1e-3, (0.5, 0.99), 16)
    ratio = 16 / 17
    assert_close(torch.tensor([lr, *betas]), torch.tensor([1e-3 * ratio, 0.5**ratio, 0.99**ratio]))


@pytest.mark.parametrize("bad", [{"reg_interval": 0}, {"reg_interval": 1.5}, {"r1_gamma": -1.0},
                                 {"r2_gamma": math.nan}, {"r1_gamma": math.inf}])
def test_the_config_refuses_bad_regulariser_settings(bad):
    with pytest.raises(ConfigError):  # checked once, where the config is read
        get_config("fast", **bad)


# ---------------------------------------------------------------------------------- WGAN-GP
def test_gp_interpolates_each_sample_with_its_own_alpha():
    real, fake = torch.rand(2, 64, 1, 3, 3, dtype=torch.float64) - torch.tensor([0, 2.0]).view(2, 1, 1, 1, 1)
    alpha = draw_alpha(64, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert alpha.shape == (64,) and 0 <= alpha.min() and alpha.max() < 1 and alpha.unique().numel() == 64
    seen = []
    wgan_gp_penalty(lambda x, labels: seen.append(x.detach()) or x.flatten(1).sum(1), real, fake,
                    generator=torch.Generator().manual_seed(5))
    expected = alpha.view(-1, 1, 1, 1) * real + (1 - alpha.view(-1, 1, 1, 1)) * fake
    assert_close(seen[0], expected, **EXACT)
    fraction = ((seen[0] - fake) / (real - fake)).flatten(1)  # the same alpha for all of a sample's pixels
    assert_close(fraction, alpha[:, None].expand(-1, 9), rtol=0, atol=1e-12)
    assert torch.equal(interpolate(real, fake, torch.ones(64)), real)
    assert torch.equal(interpolate(real, fake, torch.zeros(64)), fake)


def test_gp_value_on_linear_and_quadratic_critics():
    torch.manual_seed(6)
    real, fake = torch.randn(5, 1, 4, 4, dtype=torch.float64), torch.randn(5, 1, 4, 4, dtype=torch.float64)
    D = Linear(torch.randn(1, 4, 4, dtype=torch.float64))
    assert_close(wgan_gp_penalty(D, real, fake, lam=10.0), 10.0 * (D.w.detach().norm() - 1) ** 2, **EXACT)
    unit = Linear(torch.ones(1, 4, 4, dtype=torch.float64) / 4)  # ||w|| = 1: no penalty
    assert_close(wgan_gp_penalty(unit, real, fake), torch.zeros((), dtype=torch.float64), **EXACT)
    alpha = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    x_hat = alpha.view(-1, 1, 1, 1) * real + (1 - alpha.view(-1, 1, 1, 1)) * fake
    expected = 2.0 * (x_hat.flatten(1).norm(dim=1) - 1).square().mean()  # grad of 0.5||x||^2 is x
    assert_close(wgan_gp_penalty(quadratic(1.0), real, fake, lam=2.0, alpha=alpha), expected, **EXACT)


def test_gp_stays_finite_where_the_critic_is_flat():
    D = Linear(torch.zeros(1, 2, 2, dtype=torch.float64))
    real, fake = torch.rand(2, 3, 1, 2, 2, dtype=torch.float64)
    penalty = wgan_gp_penalty(D, real, fake)
    penalty.backward()
    assert penalty.item() == 10.0 and torch.isfinite(D.w.grad).all()


def test_wasserstein_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.0])
    assert d_wasserstein(real, fake).item() == -3.0 and g_wasserstein(fake).item() == 1.0


# ---------------------------------------------------------------------------------- DiffAugment
def reference(aug, x, params):
    """Per-image loops straight from the definitions in augment.py's docstring."""
    out, fill = x.clone(), aug.fill_value
    for op in aug.policy:
        for b in range(x.shape[0]):
            if not params.applied[op][b]:
                continue
            img = out[b].clone()
            H, W = img.shape[1:]
            if op == "translation":
                dy, dx = params.shift[b].tolist()
                out[b] = fill
                for i in range(H):
                    for j in range(W):
                        if 0 <= i - dy < H and 0 <= j - dx < W:
                            out[b, :, i, j] = img[:, i - dy, j - dx]
            elif op == "cutout":
                top, left = params.corner[b].tolist()
                h, w = aug.cutout_size(H, W)
                out[b, :, max(top, 0):max(top + h, 0), max(left, 0):max(left + w, 0)] = fill
            elif op == "brightness":
                out[b] = img + params.brightness[b]
            else:
                out[b] = (img - img.mean()) * params.contrast[b] + img.mean()
    return out


@pytest.mark.parametrize("policy", ["translation", "cutout", "brightness", "contrast",
                                    "cutout,translation,contrast,brightness"])
@pytest.mark.parametrize("pixel_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_augment_matches_per_image_reference(policy, pixel_range):
    aug = DiffAugment.from_policy(policy, pixel_range)
    x = torch.rand(16, 2, 12, 10, dtype=torch.float64) * (pixel_range[1] - pixel_range[0]) + pixel_range[0]
    params = aug.draw(16, 12, 10, 0.6, torch.Generator().manual_seed(7))
    assert 0 < int(params.applied[aug.policy[0]].sum()) < 16  # some images transformed, some not
    assert_close(aug.apply(x, params), reference(aug, x, params), **EXACT)
    if "translation" in policy:
        shift = params.shift
        assert shift.abs().max() == 2 and shift.abs().max(dim=0).values.tolist() == [2, 1]  # 12/8, 10/8


def test_translation_fills_with_black_of_the_pixel_range():
    for pixel_range, black in (((-1.0, 1.0), -1.0), ((0.0, 1.0), 0.0)):
        aug = DiffAugment(("translation",), pixel_range)
        params = aug.draw(4, 28, 28, 1.0, torch.Generator().manual_seed(8))
        params.shift.copy_(torch.tensor([[4, 0], [0, -4], [-3, 2], [0, 0]]))
        out = aug.apply(torch.full((4, 1, 28, 28), 0.5), params)
        assert torch.all(out[0, 0, :4] == black) and torch.all(out[0, 0, 4:] == 0.5)
        assert torch.all(out[1, 0, :, -4:] == black) and torch.all(out[1, 0, :, :-4] == 0.5)
        assert torch.all(out[3] == 0.5)
    assert DiffAugment(("cutout",), (-1.0, 1.0), fill=0.0).fill_value == 0.0


def test_augment_probability_zero_is_identity_and_one_transforms_every_image():
    aug = DiffAugment.from_policy("translation,cutout,brightness,contrast")
    x = torch.rand(64, 1, 28, 28) * 0.5 + 0.25  # no pixel is black, so every cutout shows
    assert torch.equal(aug(x, 0.0, torch.Generator().manual_seed(9)), x)
    params = aug.draw(64, 28, 28, 1.0, torch.Generator().manual_seed(9))
    assert all(bool(applied.all()) for applied in params.applied.values())
    cut = DiffAugment(("cutout",))(x, 1.0, torch.Generator().manual_seed(9))
    assert torch.all((cut == -1.0).flatten(1).sum(1) >= 7 * 7)  # a clipped 14x14 square keeps >= 7x7
    applied = DiffAugment(("cutout",)).draw(4000, 28, 28, 0.3, torch.Generator().manual_seed(10)).applied
    assert 0.27 < applied["cutout"].double().mean().item() < 0.33


def test_augment_is_deterministic_under_a_seed_and_draws_do_not_depend_on_p():
    aug = DiffAugment.from_policy("translation,cutout,brightness")
    x = torch.rand(32, 1, 28, 28)
    same = [aug(x, 0.5, torch.Generator().manual_seed(11)) for _ in range(2)]
    assert torch.equal(same[0], same[1])
    assert not torch.equal(same[0], aug(x, 0.5, torch.Generator().manual_seed(12)))
    low = aug.draw(32, 28, 28, 0.2, torch.Generator().manual_seed(11))
    high = aug.draw(32, 28, 28, 0.9, torch.Generator().manual_seed(11))
    assert torch.equal(low.shift, high.shift) and torch.equal(low.corner, high.corner)
    for op in aug.policy:  # the same uniform draw decides, so a higher p adds images, never swaps them
        assert torch.all(high.applied[op] | ~low.applied[op])
        assert high.applied[op].sum() > low.applied[op].sum()


def test_augment_is_differentiable_twice():
    aug = DiffAugment.from_policy("translation,cutout,brightness,contrast")
    params = aug.draw(2, 6, 6, 1.0, torch.Generator().manual_seed(13))
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: aug.apply(t, params), (x,))
    assert torch.autograd.gradgradcheck(lambda t: aug.apply(t, params).square(), (x,))


def test_augment_keeps_channels_last_and_its_values():
    aug = DiffAugment.from_policy("translation,cutout")
    x = torch.rand(8, 3, 10, 10)
    out = aug(x, 1.0, torch.Generator().manual_seed(14))
    out_last = aug(x.to(memory_format=torch.channels_last), 1.0, torch.Generator().manual_seed(14))
    assert out_last.is_contiguous(memory_format=torch.channels_last) and out.is_contiguous()
    assert torch.equal(out, out_last)


@pytest.mark.parametrize("policy", ["translation,zoom", "cutout,cutout"])
def test_bad_policies_are_config_errors(policy):
    with pytest.raises(ConfigError):
        parse_policy(policy)


def test_policy_parsing_and_bad_arguments():
    assert parse_policy(" cutout, translation ") == ("cutout", "translation")
    assert parse_policy("") == parse_policy("none") == ()
    with pytest.raises(ConfigError):
        get_config("fast", augment="cutout", augment_p=1.5)
    with pytest.raises(ConfigError):
        DiffAugment(("cutout",), (1.0, 0.0))


# ---------------------------------------------------------------------------------- ADA
def test_ada_p_rises_when_d_overfits_falls_otherwise_and_stays_in_0_1():
    ada = AdaptiveAugmentP(0.6, step=0.25, interval=2)
    confident, unsure = torch.ones(8), torch.tensor([1.0, -1.0] * 4)  # r_t = 1 and r_t = 0
    assert [ada.observe(confident) for _ in range(4)] == [0.0, 0.25, 0.25, 0.5]
    assert ada.r_t == 1.0
    assert [ada.observe(unsure) for _ in range(6)] == [0.5, 0.25, 0.25, 0.0, 0.0, 0.0]
    assert ada.r_t == 0.0
    top = AdaptiveAugmentP(0.6, step=0.25, interval=1, p=0.875)
    assert [top.observe(confident) for _ in range(2)] == [1.0, 1.0]
    at_target = AdaptiveAugmentP(0.5, step=0.25, interval=1, p=0.5)  # signs 1, -1, 1, 1 -> r_t = 0.5
    assert at_target.observe(torch.tensor([2.0, -1.0, 3.0, 0.5])) == 0.5 and at_target.r_t == 0.5
    lsgan = AdaptiveAugmentP(0.6, step=0.25, interval=1, center=0.5)
    assert lsgan.observe(torch.tensor([0.75, 0.25, 0.4, 0.6])) == 0.0 and lsgan.r_t == 0.0
    assert AdaptiveAugmentP.step_for(64) == 64 * 4 / 500_000


def test_ada_state_dict_resumes_mid_interval_exactly():
    torch.manual_seed(15)
    batches = [torch.randn(16) + 1.5 for _ in range(11)]
    ada = AdaptiveAugmentP(0.6, step=0.1, interval=4)
    straight = [ada.observe(b) for b in batches]
    first = AdaptiveAugmentP(0.6, step=0.1, interval=4)
    resumed = [first.observe(b) for b in batches[:6]]
    state = json.loads(json.dumps(first.state_dict()))  # plain numbers only
    second = AdaptiveAugmentP(0.6, step=0.1, interval=4)
    second.load_state_dict(state)
    resumed += [second.observe(b) for b in batches[6:]]
    assert resumed == straight and straight[-1] > 0


@pytest.mark.parametrize("bad", [{"step": 0.0}, {"interval": 0}])
def test_ada_rejects_bad_settings(bad):
    with pytest.raises(ConfigError):
        AdaptiveAugmentP(**{"target": 0.6, "step": 0.1, **bad})


@pytest.mark.parametrize("bad", [{"ada_target": 1.0}, {"augment_p": -0.1}])
def test_the_config_refuses_bad_ada_settings(bad):
    with pytest.raises(ConfigError):
        get_config("fast", augment="translation", **{"ada_target": 0.6, **bad})


# ---------------------------------------------------------------------------------- spectral norm
def sigmas(module):
    """The largest singular value of each normalised weight as SN reshapes it (eval: no iteration)."""
    module.eval()
    with torch.no_grad():
        return [largest_singular_value(layer, layer.weight) for layer in module.modules()
                if has_spectral_norm(layer)]


def largest_singular_value(layer, weight):
    return torch.linalg.matrix_norm(weight.movedim(weight_matrix_dim(layer), 0).flatten(1), ord=2)


@pytest.mark.parametrize("preset,side,layers,iterations", [
    ("fast", "D", ["body.0", "body.3", "head"], 1),
    # the class head's 10 singular values start close together: more rounds, as for G below
    ("fast-cond", "D", ["body.0", "body.3", "head", "projection", "classifier"], 6),
    # G's wide layers start with sigma_2/sigma_1 ~ 0.99, so power iteration needs ~300 rounds there
    ("fast", "G", ["net.0", "net.4", "net.7"], 6),  # Linear, ConvTranspose2d (dim 1) x2
    ("dcgan:dcgan", "G", ["net.0", "net.4", "net.8"], 6),  # Linear, UpsampleConv2d x2 (arch dcgan)
])
def test_spectral_norm_brings_each_largest_singular_value_to_one(preset, side, layers, iterations):
    torch.manual_seed(16)
    preset, _, arch = preset.partition(":")
    config = get_config(preset, arch=arch or None, clusters=0)
    net = build_discriminator(config) if side == "D" else build_generator(config)
    raw = [largest_singular_value(net.get_submodule(name), net.get_submodule(name).weight.detach())
           for name in layers]
    assert apply_spectral_norm(net, n_power_iterations=iterations) == layers
    assert apply_spectral_norm(net) == []  # idempotent
    assert max(abs(s - 1).item() for s in raw) > 0.05  # the unnormalised weights were not at 1
    size = config.image_size
    z = torch.randn(4, config.z_dim) if side == "G" else torch.randn(4, 1, size, size)
    y = torch.eye(10)[:4] if config.conditional else None
    head = {"classify": True} if side == "D" and config.aux_class_weight else {}  # training calls it
    net.train()
    with torch.no_grad():
        for _ in range(50):  # 15 power iterations at registration + `iterations` per training forward
            net(z, y, **head)
    for sigma in sigmas(net):
        assert_close(sigma, torch.tensor(1.0), rtol=0, atol=1e-3)


def test_spectral_norm_checkpoints_reload_and_bake_to_plain_weights(tmp_path):
    torch.manual_seed(17)
    config = get_config("fast", clusters=0)
    D, D2 = build_discriminator(config), build_discriminator(config)
    apply_spectral_norm(D), apply_spectral_norm(D2)
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    D.train()
    r1 = r1_penalty(D, x, gamma=1.0)  # double backward through the parametrization
    r1.backward()
    weights = [p.grad for name, p in D.named_parameters() if name.endswith("original")]
    assert len(weights) == 3 and all(torch.isfinite(g).all() and g.abs().max() > 0 for g in weights)
    u = D.body[0].parametrizations.weight[0]._u.clone()
    D.eval()
    expected = D(x)
    assert torch.equal(D.body[0].parametrizations.weight[0]._u, u)  # eval runs no power iteration
    torch.save(D.state_dict(), tmp_path / "d.pt")
    D2.load_state_dict(torch.load(tmp_path / "d.pt", weights_only=True))
    assert torch.equal(D2.eval()(x), expected)
    bake_spectral_norm(D2)
    assert not any(has_spectral_norm(m) for m in D2.modules()) and "body.0.weight" in D2.state_dict()
    assert_close(D2(x), expected, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------- minibatch stddev
def test_minibatch_stddev_on_a_hand_computed_batch():
    x = torch.tensor([[0.0, 2.0], [2.0, 2.0], [1.0, 1.0], [1.0, 5.0]]).view(4, 1, 1, 2)
    out = MinibatchStdDev(group_size=2)(x)
    eps = 1e-8  # group 1: per-element std 1 and 0; group 2: 0 and 2
    first, second = (math.sqrt(1 + eps) + math.sqrt(eps)) / 2, (math.sqrt(eps) + math.sqrt(4 + eps)) / 2
    assert out.shape == (4, 2, 1, 2) and torch.equal(out[:, :1], x)
    assert_close(out[:, 1], torch.tensor([first, first, second, second]).view(4, 1, 1).expand(4, 1, 2))
    flat = MinibatchStdDev(group_size=2)(x.view(4, 2))
    assert flat.shape == (4, 3) and torch.equal(flat[:, :2], x.view(4, 2))
    assert_close(flat[:, 2], torch.tensor([first, first, second, second]))
    columns = torch.tensor([[0.0, 1.0], [0.0, 3.0], [2.0, 1.0], [2.0, 3.0]])
    parts = MinibatchStdDev(group_size=4, num_channels=2)(columns)
    assert_close(parts[:, 2:], torch.tensor([[1.0, 1.0]] * 4), rtol=0, atol=1e-7)  # std 1 in each column


def test_minibatch_stddev_never_mixes_real_and_fake():
    torch.manual_seed(18)
    layer = MinibatchStdDev(group_size=4)
    real = torch.randn(8, 3, 5, 5, dtype=torch.float64)
    fake = (3 * torch.randn(8, 3, 5, 5, dtype=torch.float64)).requires_grad_(True)
    both = layer(torch.cat([real, fake]))
    assert_close(both[:8], layer(real), **EXACT)
    (grad,) = torch.autograd.grad(both[:8, 3].sum(), fake)
    assert torch.equal(grad, torch.zeros_like(grad))
    assert both[8:, 3].min() > 2 * both[:8, 3].max()  # the fakes' own, larger spread
    last = layer(torch.cat([real, fake]).to(memory_format=torch.channels_last))
    assert last.is_contiguous(memory_format=torch.channels_last)
    assert_close(last, both, **EXACT)


def test_minibatch_stddev_rejects_groups_that_do_not_tile_the_batch():
    with pytest.raises(ConfigError):
        MinibatchStdDev(group_size=4)(torch.zeros(6, 2))
    for batch, group in ((64, 3), (64, 1)):
        with pytest.raises(ConfigError):
            check_mbstd_group(batch, group)
    check_mbstd_group(64, 4)


# ---------------------------------------------------------------------------------- benchmark
@pytest.mark.slow
def test_bench_stabilisers_runs_and_reports_paired_ratios(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "bench.json"
    command = [sys.executable, str(repo / "benchmarks" / "bench_stabilisers.py"), "--windows", "3",
               "--window-steps", "3", "--reg-interval", "2", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(repo / "src")})
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["steps_per_window"] == 4  # rounded to whole reg intervals
    sides = ["d_plain", "d_aug", "d_r1", "d_stab", "step_plain", "step_stab"]
    assert list(result["windows"]) == sides and all(len(w) == 3 for w in result["windows"].values())
    for name, plain in (("d_stab", "d_plain"), ("step_stab", "step_plain")):
        pairs = zip(result["windows"][name], result["windows"][plain], strict=True)
        assert result["ratios"][name] == statistics.median(a / b for a, b in pairs)
    rows = done.stdout.splitlines()
    assert rows[0].startswith("| side | ms/step")
    assert [row.split("|")[1].strip() for row in rows[2:8]] == sides
    assert f"{result['ratios']['d_stab']:.2f}x" in rows[5]
