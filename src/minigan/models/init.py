"""Named weight-init schemes, applied layer by layer over a module (weights and biases).

Fan-in and fan-out follow PyTorch's `_calculate_fan_in_and_fan_out`, which for every layer here
gives the numbers Keras' `compute_fans` gives for the same layer in Keras' kernel layout:

    layer                          PyTorch weight        Keras kernel        fan_in       fan_out
    Linear / Dense (in -> out)     (out, in)             (in, out)           in           out
    Conv2d / Conv2D                (out, in, kh, kw)     (kh, kw, in, out)   in*kh*kw     out*kh*kw
    ConvTranspose2d / Conv2DTr.    (in, out, kh, kw)     (kh, kw, out, in)   out*kh*kw    in*kh*kw

Both frameworks thus call out*kh*kw the "fan-in" of a transposed conv: the fan-in of the forward
conv whose adjoint it is (PyTorch reads dim 1 of (in, out, kh, kw); Keras reads shape[-2] of
(kh, kw, out, in)). The write-ups' schemes (glorot_uniform, truncated_normal_cgan,
std_inv_fan_in on dense layers) use those fans, as their frameworks did. LeCun's init exists to
keep each output's variance that of its inputs, so lecun_normal divides by what one output really
sums, `forward_fan_in`: in*kh*kw/(sh*sw) for a stride-s transposed conv.

Schemes (biases are zero in all but "default"):
- default: PyTorch's own reset_parameters: W ~ U(+-1/sqrt(fan_in)), b ~ U(+-1/sqrt(fan_in)).
- lecun_normal: W ~ N(0, 1/forward_fan_in) (an untruncated normal; Keras' initializer of the
  same name is a truncated normal rescaled to that std and counts fans as above).
- std_inv_fan_in: W ~ N(0, std = 1/fan_in): the vanilla write-up's code,
  `tf.random_normal(shape, stddev=1/shape[0])` on (in, out) kernels (its formula says variance).
- glorot_uniform: W ~ U(+-sqrt(6/(fan_in+fan_out))): Keras' and tf.layers' default kernel init.
- truncated_normal_cgan: W ~ N(0, s) redrawn outside +-2s, s = 2/sqrt(prod(shape)): the cgan
  write-up's `tf.truncated_normal(shape, stddev=2.0/np.sqrt(np.product(shape)))`. prod(shape) is
  every element of the kernel (fan-in times fan-out for a dense layer), the same in any layout.
"""

from __future__ import annotations

import math
from typing import get_args

import torch
from torch import nn

from ..config import InitScheme
from .layers import UpsampleConv2d

INIT_SCHEMES: tuple[str, ...] = get_args(InitScheme)

# Keras BatchNormalization defaults in PyTorch's terms: Keras keeps momentum * old + (1 - momentum)
# * new with momentum 0.99; PyTorch keeps (1 - momentum) * old + momentum * new.
KERAS_BN_MOMENTUM = 0.01
KERAS_BN_EPS = 1e-3

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
             nn.ConvTranspose3d)


def fan_in_and_out(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a PyTorch weight tensor; see the module docstring for the layouts."""
    if weight.dim() < 2:
        raise ValueError(f"fan-in needs a weight with at least 2 dimensions, got shape {tuple(weight.shape)}")
    return nn.init._calculate_fan_in_and_fan_out(weight)


def forward_fan_in(layer: nn.Module) -> float:
    """Inputs summed into each output value: what LeCun's init divides by.

    Linear: in_features. Conv2d (and UpsampleConv2d, a plain conv on the upsampled image):
    in_channels * kh * kw / groups. ConvTranspose2d: in_channels * kh * kw / (sh * sw) / groups,
    since a stride-s transposed conv spreads each input over s*s times fewer outputs per tap.
    """
    if isinstance(layer, nn.Linear):
        return float(layer.in_features)
    if isinstance(layer, nn.ConvTranspose2d):
        kh, kw = layer.kernel_size
        sh, sw = layer.stride
        return layer.in_channels // layer.groups * kh * kw / (sh * sw)
    if isinstance(layer, UpsampleConv2d):
        return float(layer.weight[0].numel())
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        return float(layer.in_channels // layer.groups * kh * kw)
    return float(fan_in_and_out(layer.weight)[0])


def _layers(module: nn.Module) -> list[nn.Module]:
    """Every layer with a weight matrix or kernel: torch's own, plus any module (e.g.
    UpsampleConv2d) that holds a `weight` of 2+ dims laid out as the conv it stands for."""
    found = []
    for layer in module.modules():
        weight = getattr(layer, "weight", None)
        if isinstance(layer, _WEIGHTED) or (
            isinstance(weight, nn.Parameter) and weight.dim() >= 2 and not isinstance(layer, nn.Embedding)
        ):
            found.append(layer)
    return found


def _rng(generator: torch.Generator | None) -> dict:
    return {} if generator is None else {"generator": generator}


@torch.no_grad()
def init_layer(layer: nn.Module, scheme: InitScheme, generator: torch.Generator | None = None) -> None:
    """Re-draw one layer's weight (and bias) in place by the named scheme."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose one of: {', '.join(INIT_SCHEMES)}")
    weight, bias = layer.weight, getattr(layer, "bias", None)
    fan_in, fan_out = fan_in_and_out(weight)
    rng = _rng(generator)
    if scheme == "default":  # exactly nn.Linear/_ConvNd.reset_parameters, same draws in the same order
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5), **rng)
        if bias is not None:
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(bias, -bound, bound, **rng)
        return
    if scheme == "lecun_normal":
        nn.init.normal_(weight, 0.0, forward_fan_in(layer) ** -0.5, **rng)
    elif scheme == "std_inv_fan_in":
        nn.init.normal_(weight, 0.0, 1.0 / fan_in, **rng)
    elif scheme == "glorot_uniform":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        nn.init.uniform_(weight, -limit, limit, **rng)
    else:  # truncated_normal_cgan
        std = 2.0 / math.sqrt(weight.numel())
        nn.init.trunc_normal_(weight, 0.0, std, -2.0 * std, 2.0 * std, **rng)
    if bias is not None:
        nn.init.zeros_(bias)


def apply_init(module: nn.Module, scheme: InitScheme, generator: torch.Generator | None = None) -> nn.Module:
    """Re-draw every weight layer of `module` by `scheme`, in module order; returns `module`.

    Batchnorm affine parameters keep their (1, 0) start in every scheme, as in Keras and PyTorch.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose one of: {', '.join(INIT_SCHEMES)}")
    for layer in _layers(module):
        init_layer(layer, scheme, generator)
    return module


def set_batchnorm(module: nn.Module, momentum: float, eps: float) -> int:
    """Set momentum (PyTorch convention) and eps on every batchnorm layer; returns how many."""
    if not 0.0 <= momentum <= 1.0 or not eps > 0.0:
        raise ValueError(f"batchnorm needs momentum in [0, 1] and eps > 0, got {momentum}, {eps}")
    count = 0
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.momentum, layer.eps = momentum, eps
            count += 1
    return count


__all__ = ["InitScheme", "INIT_SCHEMES", "forward_fan_in", "KERAS_BN_MOMENTUM", "KERAS_BN_EPS",
           "fan_in_and_out", "init_layer", "apply_init", "set_batchnorm"]
