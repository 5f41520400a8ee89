"""Per-architecture facts in one place: the networks, the config fields each honours, image sizes.

A config field that changes the networks (NETWORK_FIELDS) and that an architecture does not read
is refused in one line instead of being silently ignored. Which fields change parameter shapes
or state-dict keys is not a hand-kept list: `parameter_signature` builds both networks and
compares what `load_state_dict` would see.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ..config import TrainConfig, flag
from ..config.limits import check_training_memory
from ..errors import ConfigError
from .base import Discriminator, Generator
from .cgan import CGANDiscriminator, CGANGenerator, CGANLiteralGenerator
from .conv import ConvDiscriminator, ConvGenerator
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .dcgan_literal import DCGANLiteralDiscriminator, DCGANLiteralGenerator
from .init import apply_init, set_batchnorm
from .mlp import MLPDiscriminator, MLPGenerator
from .resnet import ResNetDiscriminator, ResNetGenerator
from .stabilisers import apply_spectral_norm

# Fields that shape the networks; each architecture declares the ones it reads.
NETWORK_FIELDS = ("g_hidden", "d_hidden", "g_activation", "d_activation", "leaky_slope", "g_dropout",
                  "d_dropout", "g_batchnorm")
# Switches whose default is "none": asking for none is what an architecture without them does.
SWITCH_OFF = {"g_dropout": "--g-dropout 0", "d_dropout": "--d-dropout 0", "g_batchnorm": "--no-g-batchnorm"}


@dataclass(frozen=True)
class Architecture:
    generator: type[Generator]
    discriminator: type[Discriminator]
    honours: frozenset[str]  # the NETWORK_FIELDS this architecture reads
    image_size_ok: Callable[[TrainConfig], bool]  # whether it can build G/D for the config's image side
    sizes_text: str  # the sides it can build, in words, for error messages
    channels_last: bool  # oneDNN's convolutions are faster in NHWC
    conditional_only: bool = False
    minibatch_stddev: bool = True  # D can take --mbstd-group
    spectral_norm: bool = True  # False: it starts layers at zero (fix-up init), which spectral norm makes 0/0


def _stages_halve_evenly(config: TrainConfig) -> bool:
    """arch=resnet: each width of --g-hidden / --d-hidden is a stage at half the side of the next."""
    return all(config.image_size % 2 ** (len(widths) - 1) == 0
               for widths in (config.g_hidden, config.d_hidden))


ARCHITECTURES: dict[str, Architecture] = {
    "mlp": Architecture(MLPGenerator, MLPDiscriminator, frozenset(NETWORK_FIELDS) - {"g_batchnorm"},
                        lambda c: True, "any size", channels_last=False),
    "dcgan": Architecture(DCGANGenerator, DCGANDiscriminator,
                          frozenset({"leaky_slope", "g_dropout", "d_dropout", "g_batchnorm"}),
                          lambda c: c.image_size % 4 == 0, "a multiple of 4", channels_last=True),
    "cgan": Architecture(CGANGenerator, CGANDiscriminator, frozenset({"d_dropout", "g_batchnorm"}),
                         lambda c: c.image_size == 28, "28", channels_last=True, conditional_only=True),
    "conv": Architecture(ConvGenerator, ConvDiscriminator,
                         frozenset({"g_hidden", "d_hidden", "g_activation", "d_activation", "leaky_slope",
                                    "d_dropout", "g_batchnorm"}),
                         lambda c: c.image_size % 4 == 0, "a multiple of 4", channels_last=True),
    "resnet": Architecture(ResNetGenerator, ResNetDiscriminator,
                           frozenset({"g_hidden", "d_hidden", "g_activation", "d_activation", "leaky_slope"}),
                           _stages_halve_evenly, "a multiple of 2 ** (stages - 1), a stage per width of "
                           "--g-hidden and of --d-hidden", channels_last=True, spectral_norm=False),
    # The write-ups' networks layer by layer (--literal): Keras' dcgan, the cgan notebook's G.
    "dcgan_literal": Architecture(DCGANLiteralGenerator, DCGANLiteralDiscriminator,
                                  frozenset({"leaky_slope", "g_dropout", "d_dropout"}),
                                  lambda c: c.image_size == 32, "32", channels_last=True,
                                  minibatch_stddev=False),
    "cgan_literal": Architecture(CGANLiteralGenerator, CGANDiscriminator, frozenset({"d_dropout"}),
                                 lambda c: c.image_size == 28, "28", channels_last=True,
                                 conditional_only=True),
}
_DEFAULTS = TrainConfig()


def honouring(name: str) -> list[str]:
    return [arch for arch, spec in ARCHITECTURES.items() if name in spec.honours]


def check_honoured(config: TrainConfig, explicit: Iterable[str] = ()) -> TrainConfig:
    """Refuse network fields the architecture would ignore: set explicitly, or off their default. A
    switch turned off (no dropout, no batchnorm) asks for what such an architecture does anyway."""
    spec = ARCHITECTURES[config.arch]
    explicit = set(explicit)
    for name in NETWORK_FIELDS:
        if name in spec.honours:
            continue
        at_default = getattr(config, name) == getattr(_DEFAULTS, name)
        if (name in SWITCH_OFF and at_default) or (name not in explicit and at_default):
            continue
        others = ", ".join(honouring(name)) or "none"
        fix = "drop it" if name in explicit or name not in SWITCH_OFF else f"add {SWITCH_OFF[name]}"
        raise ConfigError(f"{flag(name)} does nothing for arch={config.arch}; it is honoured by "
                          f"arch={others}: {fix} or pick one of those")
    uses_leaky = ("leaky_relu" in (config.g_activation, config.d_activation)
                  or config.arch in ("dcgan", "dcgan_literal"))
    if ("leaky_slope" in explicit or config.leaky_slope != _DEFAULTS.leaky_slope) and not uses_leaky:
        raise ConfigError("--leaky-slope does nothing without a leaky_relu activation: add "
                          "--g-activation leaky_relu or --d-activation leaky_relu")
    if config.arch == "conv" and (len(config.g_hidden) != 2 or len(config.d_hidden) < 2):
        raise ConfigError("arch=conv takes --g-hidden C1,C2 (channels at S/4, S/2) and --d-hidden "
                          "C1,C2[,C3...] (channels at S/2, S/4, then 3x3 layers at S/4)")
    if spec.conditional_only and not config.conditional:
        raise ConfigError(f"arch={config.arch} is conditional by design: keep conditional=true or pick "
                          "another arch")
    if not spec.image_size_ok(config):
        raise ConfigError(f"arch={config.arch} makes images whose side is {spec.sizes_text}, not "
                          f"{config.image_size}: set --image-size/--pad to fit, or use arch=mlp")
    if (config.spectral_norm_g or config.spectral_norm_d) and not spec.spectral_norm:
        raise ConfigError(f"arch={config.arch} starts layers at zero (fix-up init), which spectral norm "
                          "cannot normalise: drop --spectral-norm-g/-d or pick another arch")
    if config.mbstd_group and not spec.minibatch_stddev:
        raise ConfigError(f"--mbstd-group does nothing for arch={config.arch}: its D is the write-up's as "
                          "written; drop it or pick another arch")
    if not config.conditional and ("label_projection" in explicit and not config.label_projection):
        raise ConfigError("--no-label-projection does nothing without --conditional")
    check_training_memory(sum(math.prod(shape) for shape in parameter_signature(config).values()))
    return config


def _finish(module: nn.Module, config: TrainConfig, init: str, spectral_norm: bool) -> nn.Module:
    if init != "default":  # "default" is what PyTorch's layers drew when they were built
        apply_init(module, init)
    if (config.bn_momentum, config.bn_eps) != (0.1, 1e-5):  # PyTorch's defaults are already set
        set_batchnorm(module, config.bn_momentum, config.bn_eps)
    if spectral_norm:  # after the init: the parametrization normalises whatever weights it finds
        apply_spectral_norm(module)
    return module


def build_generator(config: TrainConfig) -> Generator:
    net = ARCHITECTURES[config.arch].generator(config)
    if config.clusters:
        net.use_clusters(config.z_prior, config.num_classes if config.conditional else 1)
    return _finish(net, config, config.g_init, config.spectral_norm_g)


def build_discriminator(config: TrainConfig) -> Discriminator:
    net = ARCHITECTURES[config.arch].discriminator(config)
    return _finish(net, config, config.d_init, config.spectral_norm_d)


def memory_format(config: TrainConfig) -> torch.memory_format:
    return torch.channels_last if ARCHITECTURES[config.arch].channels_last else torch.contiguous_format


def parameter_signature(config: TrainConfig) -> dict[str, tuple[int, ...]]:
    """{'G.<key>': shape, 'D.<key>': shape}: what a checkpoint's state dicts must match."""
    with torch.device("meta"):  # shapes only: no memory, no init cost
        nets = {"G": build_generator(config), "D": build_discriminator(config)}
    return {f"{name}.{key}": tuple(value.shape)
            for name, net in nets.items() for key, value in net.state_dict().items()}


def signature_changes(old: TrainConfig, new: TrainConfig) -> list[str]:
    """The state-dict entries that differ in presence or shape between two configs' networks."""
    a, b = parameter_signature(old), parameter_signature(new)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))

