"""Layer-level stabilisers for any architecture: spectral normalisation and minibatch stddev.

Spectral normalisation (Miyato et al. 2018) divides each weight by an estimate of its largest
singular value (one power iteration per training-mode forward, persistent u/v buffers), so every
layer is roughly 1-Lipschitz. It uses torch's parametrization: the state_dict then holds
`<layer>.parametrizations.weight.original` plus `_u`/`_v` buffers, so a checkpoint of a
spectral-normed network loads only into one built the same way; `bake_spectral_norm` turns a copy
back into plain weights (for a generator artefact that loads anywhere).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import ConfigError
from .layers import UpsampleConv2d

WEIGHTED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                   nn.ConvTranspose3d, UpsampleConv2d)
TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def weight_matrix_dim(layer: nn.Module) -> int:
    """The weight dimension spectral norm treats as rows: 1 (output channels) for transposed convs."""
    return 1 if isinstance(layer, TRANSPOSED) else 0


def has_spectral_norm(layer: nn.Module) -> bool:
    return parametrize.is_parametrized(layer, "weight") and any(
        type(p).__name__ == "_SpectralNorm" for p in layer.parametrizations.weight)


def apply_spectral_norm(module: nn.Module, *, n_power_iterations: int = 1, eps: float = 1e-12) -> list[str]:
    """Spectral-normalise the weight of every Linear/Conv/ConvTranspose (and UpsampleConv2d) in
    `module`, in place; layers already normalised are left alone. Returns the names of the layers
    it wrapped. Call before moving the module to its device/memory format and before building its
    optimiser and EMA copy (the parameters become `...parametrizations.weight.original`).
    """
    if n_power_iterations < 1:
        raise ConfigError(f"spectral norm needs at least one power iteration, got {n_power_iterations}")
    wrapped = []
    for name, layer in list(module.named_modules()):
        if isinstance(layer, WEIGHTED_LAYERS) and not has_spectral_norm(layer):
            spectral_norm(layer, "weight", n_power_iterations, eps, dim=weight_matrix_dim(layer))
            wrapped.append(name)
    return wrapped


@torch.no_grad()
def bake_spectral_norm(module: nn.Module) -> nn.Module:
    """Replace every spectral-norm parametrization by its current normalised weight (in place).

    Evaluated in eval mode, so baking runs no extra power iteration: the result computes exactly
    what the module computed in eval mode before.
    """
    was_training = module.training
    module.eval()
    for layer in module.modules():
        if has_spectral_norm(layer):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
    module.train(was_training)
    return module


def check_mbstd_group(batch_size: int, group_size: int) -> None:
    """ConfigError unless minibatch-stddev groups of `group_size` tile a batch of `batch_size`."""
    if group_size < 2:
        raise ConfigError(f"mbstd_group must be 0 (off) or at least 2, got {group_size}")
    if batch_size % group_size:
        raise ConfigError(f"mbstd_group={group_size} must divide batch_size={batch_size}, so that no "
                          "group mixes real and fake images")


class MinibatchStdDev(nn.Module):
    """Append the mean standard deviation over a group of samples as extra features
    (Karras et al. 2018, as in StyleGAN2), so D can see a batch's lack of variety.

    Groups are runs of `group_size` CONSECUTIVE samples (StyleGAN2 strides them across the batch).
    This loop sends [real (B); fake (B)] through D in one call, so consecutive groups with
    group_size dividing B never mix the two halves; a strided group would. The batch size must be a
    multiple of group_size (check_mbstd_group for the config).

    (B, C, H, W) -> (B, C + num_channels, H, W): the C channels split into num_channels parts; for
    each group and part: std over the group (biased, + eps under the root) of every element, then
    the mean over the part's channels and all positions, broadcast as one constant map.
    (B, F) -> (B, F + num_channels) likewise for flat features.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        if group_size < 2:
            raise ConfigError(f"minibatch stddev needs groups of at least 2 samples, got {group_size}")
        if num_channels < 1:
            raise ConfigError(f"minibatch stddev needs num_channels >= 1, got {num_channels}")
        self.group_size, self.num_channels, self.eps = group_size, num_channels, eps

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (2, 4):
            raise ConfigError(f"minibatch stddev takes (B, C, H, W) or (B, F), got shape {tuple(x.shape)}")
        N, C = x.shape[:2]
        G, F = self.group_size, self.num_channels
        if N % G:
            raise ConfigError(f"minibatch stddev: a batch of {N} is not a whole number of groups of {G}; "
                              "use a batch size that mbstd_group divides")
        if C % F:
            raise ConfigError(f"minibatch stddev: {C} channels do not split into {F} parts")
        spatial = x.shape[2:]
        y = x.reshape(N // G, G, F, C // F, *spatial)  # (groups, G, F, C/F, [H, W])
        std = (y.var(dim=1, unbiased=False) + self.eps).sqrt()  # (groups, F, C/F, [H, W])
        stat = std.flatten(2).mean(dim=2)  # (groups, F)
        stat = stat.repeat_interleave(G, dim=0)  # (N, F): every sample gets its own group's value
        stat = stat.to(x.dtype).view(N, F, *([1] * len(spatial))).expand(N, F, *spatial)
        out = torch.cat([x, stat], dim=1)
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)
        return out
