"""Building blocks for the literal recipes: init schemes, Keras batchnorm, TF 'SAME' layers, the
cgan write-up's generator, its clipped losses and balance schedule, TF-style Adam epsilon."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from minigan.config import TrainConfig
from minigan.models import build_generator
from minigan.models.cgan import CGANLiteralGenerator
from minigan.models.init import (
    INIT_SCHEMES,
    KERAS_BN_EPS,
    KERAS_BN_MOMENTUM,
    apply_init,
    fan_in_and_out,
    init_layer,
    set_batchnorm,
)
from minigan.models.layers import UpsampleConv2d
from minigan.models.layers_extra import (
    ScaledSigmoidClip,
    TFSameConv2d,
    TFSameConvTranspose2d,
    tf_same_padding,
)
from minigan.presets import get_config
from minigan.training.balance import ScheduledBalance
from minigan.training.fidelity import OptimiserStep, tf_adam_eps
from minigan.training.losses import (
    cgan_balance_error,
    cgan_d_loss,
    cgan_g_loss,
    cgan_p_fake,
    d_bce,
    g_minimax,
    g_nonsaturating,
    prob_d_loss,
    prob_g_loss,
)


# ------------------------------------------------------------------------------------------ fans
def keras_compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras' compute_fans, written out: the last two dims are (in, out), the rest receptive field."""
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


@pytest.mark.parametrize("layer, keras_kernel, fans", [
    (nn.Linear(7, 5), (7, 5), (7, 5)),  # Dense(5) on 7 inputs: kernel (in, out)
    (nn.Conv2d(3, 8, (5, 3)), (5, 3, 3, 8), (45, 120)),  # Conv2D: (kh, kw, in, out)
    (nn.ConvTranspose2d(64, 32, 5), (5, 5, 32, 64), (800, 1600)),  # Conv2DTranspose: (kh, kw, out, in)
    (nn.ConvTranspose2d(32, 1, 3), (3, 3, 1, 32), (9, 288)),
])
def test_fans_match_hand_numbers_and_keras(layer, keras_kernel, fans):
    assert fan_in_and_out(layer.weight) == fans
    assert keras_compute_fans(keras_kernel) == fans


def test_fan_in_of_grouped_conv_and_bad_shape():
    assert fan_in_and_out(nn.Conv2d(4, 8, 3, groups=2).weight) == (2 * 9, 8 * 9)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fan_in_and_out(torch.zeros(5))


# ------------------------------------------------------------------------------------------ init
def trunc_normal_moments(a: float) -> tuple[float, float]:
    """E[X^2], E[X^4] of a standard normal truncated to [-a, a] (integration by parts)."""
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(a / math.sqrt(2))
    m2 = mass - 2 * a * phi
    m4 = 3 * m2 - 2 * a**3 * phi
    return m2 / mass, m4 / mass


def assert_moments(values: torch.Tensor, var: float, fourth: float, sigmas: float = 4.0) -> None:
    """Two-sided: sample mean within `sigmas` standard errors of 0, sample variance of `var`."""
    x = values.detach().double().flatten()
    n = x.numel()
    mean_z = float(x.mean()) / math.sqrt(var / n)
    var_z = (float(x.square().mean()) - var) / math.sqrt((fourth - var**2) / n)
    assert abs(mean_z) < sigmas, f"mean {float(x.mean()):.3g} is {mean_z:.1f} standard errors from 0"
    assert abs(var_z) < sigmas, f"variance {float(x.square().mean()):.4g} vs {var:.4g}: {var_z:.1f} SE"


@pytest.mark.parametrize("scheme, layer, var_fn", [
    # lecun_normal divides by what each output sums: 128 inputs x 25 taps (torch's fan_in says 64*25)
    ("lecun_normal", nn.ConvTranspose2d(128, 64, 5), lambda fi, fo, n: 1 / (128 * 25)),
    ("lecun_normal", nn.Linear(784, 1000), lambda fi, fo, n: 1 / fi),
    ("std_inv_fan_in", nn.Linear(784, 1000), lambda fi, fo, n: 1 / fi**2),  # vanilla D's first layer
    ("std_inv_fan_in", nn.Linear(100, 4000), lambda fi, fo, n: 1 / fi**2),
    ("glorot_uniform", nn.Conv2d(128, 64, 5), lambda fi, fo, n: 2 / (fi + fo)),  # dcgan g_c1
    ("glorot_uniform", nn.Linear(100, 8192), lambda fi, fo, n: 2 / (fi + fo)),  # dcgan g_1
])
def test_init_statistics_within_sampling_error(scheme, layer, var_fn):
    torch.manual_seed(0)
    fan_in, fan_out = fan_in_and_out(layer.weight)
    n = layer.weight.numel()
    init_layer(layer, scheme)
    var = var_fn(fan_in, fan_out, n)
    fourth = 3 * var**2 if scheme != "glorot_uniform" else 9 / 5 * var**2  # U(-a, a): a^4/5, var a^2/3
    assert_moments(layer.weight, var, fourth)
    if scheme == "glorot_uniform":
        limit = math.sqrt(6 / (fan_in + fan_out))
        assert float(layer.weight.detach().abs().max()) <= limit
        assert float(layer.weight.detach().abs().max()) > 0.999 * limit
    assert torch.equal(layer.bias, torch.zeros_like(layer.bias))


def test_std_inv_fan_in_is_the_code_not_the_formula():
    """The vanilla write-up's code draws std 1/fan_in: 28x smaller than its formula's 1/sqrt(784)."""
    torch.manual_seed(1)
    layer = nn.Linear(784, 400)
    init_layer(layer, "std_inv_fan_in")
    assert_close(layer.weight.std().item(), 1 / 784, rtol=0.01, atol=0)
    assert layer.weight.std().item() < 0.05 / math.sqrt(784)


@pytest.mark.parametrize("shape", [(3146, 1024), (12, 3136), (64, 32, 5, 5)])  # cgan D fc1, G fc1, G conv
def test_truncated_normal_cgan_std_and_exact_bounds(shape):
    torch.manual_seed(2)
    layer = nn.Linear(shape[1], shape[0]) if len(shape) == 2 else nn.ConvTranspose2d(*shape[:2], shape[2])
    init_layer(layer, "truncated_normal_cgan")
    std = 2 / math.sqrt(math.prod(shape))
    w = layer.weight.detach()
    assert float(w.abs().max()) <= 2 * std  # tf.truncated_normal re-draws beyond 2 std
    if w.numel() > 40_000:
        assert float(w.abs().max()) > 1.99 * std
    m2, m4 = trunc_normal_moments(2.0)
    assert_moments(w, m2 * std**2, m4 * std**4)
    assert torch.equal(layer.bias, torch.zeros_like(layer.bias))


def test_truncated_moments_formula_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    m2, m4 = trunc_normal_moments(2.0)
    dist = stats.truncnorm(-2, 2)
    assert_close(m2, float(dist.moment(2)), rtol=1e-12, atol=0)
    assert_close(m4, float(dist.moment(4)), rtol=1e-12, atol=0)
    assert_close(math.sqrt(m2), 0.8796256610342398, rtol=1e-12, atol=0)  # the known 2-sigma factor


@pytest.mark.parametrize("make", [lambda: nn.Linear(30, 20), lambda: nn.Conv2d(3, 8, 5),
                                  lambda: nn.ConvTranspose2d(8, 4, 5, stride=2)])
def test_default_scheme_is_pytorchs_reset_parameters_draw_for_draw(make):
    layer = make()
    torch.manual_seed(3)
    layer.reset_parameters()
    expected = [p.detach().clone() for p in layer.parameters()]
    torch.manual_seed(3)
    init_layer(layer, "default")
    for got, want in zip(layer.parameters(), expected, strict=True):
        assert torch.equal(got, want)


def test_apply_init_reaches_every_weight_layer_and_spares_batchnorm():
    G = build_generator(get_config("dcgan", arch="dcgan"))  # Linear, BatchNorm1d/2d, UpsampleConv2d
    apply_init(G, "glorot_uniform", torch.Generator().manual_seed(4))
    ups = [m for m in G.modules() if isinstance(m, UpsampleConv2d)]
    assert len(ups) == 2
    for layer in [m for m in G.modules() if isinstance(m, nn.Linear)] + ups:
        fan_in, fan_out = fan_in_and_out(layer.weight)
        assert float(layer.weight.detach().abs().max()) <= math.sqrt(6 / (fan_in + fan_out))
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    for bn in [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]:
        assert torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_apply_init_with_a_generator_is_reproducible_and_leaves_the_global_rng():
    a, b = nn.Linear(50, 40), nn.Linear(50, 40)
    state = torch.get_rng_state()
    for scheme in INIT_SCHEMES:
        apply_init(a, scheme, torch.Generator().manual_seed(5))
        apply_init(b, scheme, torch.Generator().manual_seed(5))
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="unknown init scheme 'xavier'"):
        apply_init(a, "xavier")


# ------------------------------------------------------------------------------------- batchnorm
def test_keras_batchnorm_momentum_and_epsilon():
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Unflatten(1, (6, 1, 1)), nn.BatchNorm2d(6))
    assert set_batchnorm(net, KERAS_BN_MOMENTUM, KERAS_BN_EPS) == 2  # what the dcgan presets' fields set
    bn = net[1]
    assert (bn.momentum, bn.eps) == (KERAS_BN_MOMENTUM, KERAS_BN_EPS) == (0.01, 1e-3)
    x = torch.randn(16, 6, dtype=torch.float64) * 3 + 2
    bn = bn.double().train()
    out = bn(x)
    mean, var = x.mean(0), x.var(0, unbiased=False)
    assert_close(out, (x - mean) / torch.sqrt(var + 1e-3))  # Keras normalises with eps 1e-3
    assert_close(bn.running_mean, 0.99 * 0 + 0.01 * mean)  # Keras: 0.99 * moving + 0.01 * batch
    assert_close(bn.running_var, 0.99 * 1 + 0.01 * x.var(0, unbiased=True))


# ------------------------------------------------------------------------------ TF 'SAME' layers
@pytest.mark.parametrize("size, kernel, stride, expected", [
    (32, 5, 2, (1, 2)), (16, 5, 2, (1, 2)), (28, 5, 4, (0, 1)), (28, 3, 1, (1, 1)), (28, 5, 1, (2, 2)),
])
def test_tf_same_padding(size, kernel, stride, expected):
    assert tf_same_padding(size, kernel, stride) == expected


def naive_tf_same_conv(x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """out[o, i, j] = sum x[c, i*s + u - top, j*s + v - left] * w[o, c, u, v], zeros outside."""
    _, height, width = x.shape
    out_c, in_c, k, _ = weight.shape
    top, _ = tf_same_padding(height, k, stride)
    left, _ = tf_same_padding(width, k, stride)
    oh, ow = -(-height // stride), -(-width // stride)
    out = torch.zeros(out_c, oh, ow, dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            for u in range(k):
                for v in range(k):
                    r, c = i * stride + u - top, j * stride + v - left
                    if 0 <= r < height and 0 <= c < width:
                        out[:, i, j] += weight[:, :, u, v] @ x[:, r, c]
    return out


def test_tf_same_conv2d_matches_the_definition_and_differs_from_symmetric_padding():
    torch.manual_seed(6)
    conv = TFSameConv2d(2, 3, 5, stride=2).double()
    nn.init.zeros_(conv.bias)
    x = torch.randn(1, 2, 10, 10, dtype=torch.float64)
    with torch.no_grad():
        got = conv(x)
        symmetric = F.conv2d(x, conv.weight, stride=2, padding=2)
    assert got.shape == (1, 3, 5, 5)
    assert_close(got[0], naive_tf_same_conv(x[0], conv.weight, 2))
    assert symmetric.shape == got.shape and not torch.allclose(symmetric, got)


@pytest.mark.parametrize("in_c, out_c, kernel, stride, size", [(64, 32, 5, 4, 7), (32, 1, 3, 1, 28)])
def test_tf_same_conv_transpose_is_the_adjoint_of_the_tf_same_conv(in_c, out_c, kernel, stride, size):
    """tf.nn.conv2d_transpose is the gradient of a SAME conv2d from the output size to the input
    size: <convT(x), y> = <x, conv(y)> for all x, y, with the conv using the same weight."""
    torch.manual_seed(7)
    layer = TFSameConvTranspose2d(in_c, out_c, kernel, stride=stride).double()
    nn.init.zeros_(layer.bias)
    x = torch.randn(2, in_c, size, size, dtype=torch.float64)
    y = torch.randn(2, out_c, size * stride, size * stride, dtype=torch.float64)
    top, bottom = tf_same_padding(size * stride, kernel, stride)
    with torch.no_grad():
        out = layer(x)
        conv_y = F.conv2d(F.pad(y, (top, bottom, top, bottom)), layer.weight, stride=stride)
    assert out.shape == y.shape and conv_y.shape == x.shape
    assert_close((out * y).sum(), (x * conv_y).sum())
    if stride == 4:  # PyTorch's own way to reach 28 (padding 1, output_padding 1) is shifted by one
        shifted = F.conv_transpose2d(x, layer.weight, stride=4, padding=1, output_padding=1)
        assert shifted.shape == y.shape
        assert not torch.allclose((shifted * y).sum(), (x * conv_y).sum())


def test_tf_same_conv_transpose_rejects_a_kernel_shorter_than_the_stride():
    with pytest.raises(ValueError, match="kernel_size >= stride"):
        TFSameConvTranspose2d(4, 4, 2, stride=4)


# ------------------------------------------------------------------------ output transform
def test_scaled_sigmoid_clip_values_bounds_and_gradient():
    layer = ScaledSigmoidClip(1.2, -0.1, 0.0, 1.0)
    edge = math.log(11)  # sigmoid(x) * 1.2 - 0.1 = 1 at x = log 11, = 0 at x = -log 11
    x = torch.tensor([-50.0, -edge - 1e-3, -1.0, 0.0, 1.0, edge + 1e-3, 50.0], dtype=torch.float64,
                     requires_grad=True)
    y = layer(x)
    inner = torch.sigmoid(x.detach()) * 1.2 - 0.1
    assert_close(y[2:5], inner[2:5], rtol=0, atol=0)
    assert y[0].item() == 0.0 and y[1].item() == 0.0 and y[5].item() == 1.0 and y[6].item() == 1.0
    y.sum().backward()
    assert torch.equal(x.grad[[0, 1, 5, 6]], torch.zeros(4, dtype=torch.float64))
    s = torch.sigmoid(x.detach()[2:5])
    assert_close(x.grad[2:5], 1.2 * s * (1 - s))
    with pytest.raises(ValueError):
        ScaledSigmoidClip(low=1.0, high=0.0)


# ------------------------------------------------------------------------- literal cgan G
def literal_cgan() -> CGANLiteralGenerator:
    return CGANLiteralGenerator(get_config("cgan", literal=True))


def test_literal_cgan_generator_layers_are_the_write_ups():
    G = literal_cgan()
    dense, _, _, up, _, out, transform = G.net
    # the write-up's variables in TF layout: dense (in, out), conv_transpose (kh, kw, out, in)
    tf_shapes = {
        "G_W_fc1": tuple(dense.weight.T.shape), "G_B_fc1": tuple(dense.bias.shape),
        "G_W_conv": tuple(up.weight.permute(2, 3, 1, 0).shape), "G_B_conv": tuple(up.bias.shape),
        "G_W_conv2": tuple(out.weight.permute(2, 3, 1, 0).shape), "G_B_conv2": tuple(out.bias.shape),
    }
    assert tf_shapes == {"G_W_fc1": (12, 3136), "G_B_fc1": (3136,), "G_W_conv": (5, 5, 32, 64),
                         "G_B_conv": (32,), "G_W_conv2": (3, 3, 1, 32), "G_B_conv2": (1,)}
    assert (up.stride, out.stride) == ((4, 4), (1, 1))
    assert isinstance(transform, ScaledSigmoidClip)
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout)) for m in G.modules())
    assert sum(p.numel() for p in G.parameters()) == 92_289
    z, y = torch.randn(10, 2), torch.eye(10)
    hidden = G.net[:3](torch.cat([y, z], 1))
    assert hidden.shape == (10, 64, 7, 7)
    assert G.net[:5](torch.cat([y, z], 1)).shape == (10, 32, 28, 28)
    assert G(z, y).shape == (10, 1, 28, 28)


def test_literal_cgan_takes_label_first_and_reshapes_nhwc():
    G = literal_cgan()
    seen = []
    G.net[2].register_forward_hook(lambda module, inputs, output: seen.append(output))
    dense = G.net[0]
    with torch.no_grad():
        dense.weight.zero_()
        dense.bias.zero_()
        dense.weight[5, 0] = 1.0  # unit 5 reads input 0 only: the label's first entry
        z = torch.full((2, 2), 7.0)
        y = torch.zeros(2, 10)
        y[0, 0] = 1.0
        G(z, y)
    h, w, c = np.unravel_index(5, (7, 7, 64))  # NHWC: unit 5 is channel 5 of pixel (0, 0)
    expected = torch.zeros(2, 64, 7, 7)
    expected[0, c, h, w] = 1.0  # only the sample whose label has entry 0 set; the noise is unread
    assert torch.equal(seen[0], expected)


def test_literal_cgan_output_range_and_exact_clipping():
    torch.manual_seed(8)
    G = apply_init(literal_cgan(), "truncated_normal_cgan")
    z, y = torch.randn(20, 2) * 3, torch.eye(10).repeat(2, 1)
    with torch.no_grad():
        images = G(z, y)
    assert images.min() >= 0.0 and images.max() <= 1.0
    last = G.net[5]
    middle = torch.sigmoid(torch.tensor(0.5)).item() * 1.2 - 0.1
    for bias, value in ((10.0, 1.0), (-10.0, 0.0), (0.5, middle)):
        with torch.no_grad():
            last.weight.zero_()
            last.bias.fill_(bias)
            images = G(z, y)
        assert_close(images, torch.full_like(images, value), rtol=0, atol=0)


# ----------------------------------------------------------------------------- literal losses
def test_cgan_upper_clip_is_a_no_op_in_float32():
    assert np.float32(1 - 1e-9) == np.float32(1.0)
    logits = torch.tensor([-20.0, 0.0, 25.0])  # D: sure it is fake, guessing, sure it is real
    p = cgan_p_fake(logits)
    assert p[0].item() == 1.0 and p[2].item() == pytest.approx(1e-9, rel=1e-6)
    assert math.isinf(cgan_d_loss(logits[:1], logits[1:2]).item())  # -log(1 - 1) on a real image
    assert cgan_d_loss(logits[2:], logits[2:]).item() == pytest.approx(-math.log(1e-9), rel=1e-6)


def test_cgan_losses_equal_the_logit_forms_inside_the_clip_and_lose_the_gradient_outside():
    torch.manual_seed(9)
    real, fake = torch.randn(10, dtype=torch.float64), torch.randn(10, dtype=torch.float64)
    assert_close(cgan_d_loss(real, fake), d_bce(real, fake))
    assert_close(cgan_g_loss(fake), g_minimax(fake))  # the saturating G loss, not non-saturating
    assert not torch.allclose(cgan_g_loss(fake), g_nonsaturating(fake))
    fooled = torch.tensor([25.0, 0.0], requires_grad=True)  # a fake D takes for real beyond the clip
    cgan_g_loss(fooled).backward()
    assert fooled.grad[0].item() == 0.0 and fooled.grad[1].item() == pytest.approx(-0.25)


def test_cgan_balance_error_when_d_guesses():
    zeros = torch.zeros(10)
    assert cgan_balance_error(zeros, zeros, zeros) == pytest.approx(1.5 * math.log(2))  # 1.04 > 0.8


def test_prob_space_losses_overflow_where_logit_forms_do_not():
    real, fake = torch.tensor([1.0, -2.0]), torch.tensor([0.5, -1.0])
    assert_close(prob_d_loss(real, fake), d_bce(real, fake))
    assert_close(prob_g_loss(fake), g_nonsaturating(fake))
    assert math.isinf(prob_d_loss(torch.tensor([1.0]), torch.tensor([20.0])).item())
    assert math.isfinite(d_bce(torch.tensor([1.0]), torch.tensor([20.0])).item())


# --------------------------------------------------------------------------- balance schedule
def test_scheduled_balance_rule_is_strict_and_measured_every_n_steps():
    balance = ScheduledBalance(every=100)
    assert (balance.train_d, balance.train_g) == (True, True)
    assert [s for s in range(1, 401) if balance.due(s)] == [100, 200, 300, 400]
    assert balance.update(0.267) == (False, True)  # the write-up at step 304000: 0.43, 0.10
    assert balance.update(0.47) == (True, True)  # step 1000000: 0.73, 0.21
    assert balance.update(0.8) == (True, False)
    assert balance.update(0.3) == (False, True)
    assert balance.update(1.5 * math.log(2)) == (True, False)
    restored = ScheduledBalance()
    restored.load_state_dict(balance.state_dict())
    assert restored.state_dict() == balance.state_dict()
    with pytest.raises(FloatingPointError):
        balance.update(float("nan"))


# ------------------------------------------------------------------------------ TF Adam epsilon
def tf_adam(param, grads, lr, b1, b2, eps):
    """tf.train.AdamOptimizer / Keras Adam update (ApplyAdam), in float64 numpy."""
    m = np.zeros_like(param)
    v = np.zeros_like(param)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        param = param - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return param


@pytest.mark.parametrize("eps", [1e-7, 1e-3])
def test_torch_adam_with_rescaled_eps_is_tf_adam(eps):
    rng = np.random.default_rng(10)
    start = rng.normal(size=50)
    grads = [rng.normal(size=50) * 10.0 ** rng.integers(-6, 1) for _ in range(8)]
    param = nn.Parameter(torch.tensor(start))
    opt = torch.optim.Adam([param], lr=2e-4, betas=(0.05, 0.999), eps=eps)
    step = OptimiserStep(opt, TrainConfig(adam_eps=eps, adam_eps_style="tf"))
    for g in grads:
        param.grad = torch.tensor(g)
        step()
    expected = tf_adam(start, grads, 2e-4, 0.05, 0.999, eps)
    assert_close(param.detach().numpy(), expected, rtol=1e-12, atol=1e-15)
    plain = nn.Parameter(torch.tensor(start))
    plain_opt = torch.optim.Adam([plain], lr=2e-4, betas=(0.05, 0.999), eps=eps)
    for g in grads:
        plain.grad = torch.tensor(g)
        plain_opt.step()
    assert not np.allclose(plain.detach().numpy(), expected, rtol=1e-9, atol=0)
    assert tf_adam_eps(1e-8, 0.999, 1) == pytest.approx(1e-8 / math.sqrt(0.001))
