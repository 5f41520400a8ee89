"""Networks by architecture name. Every architecture can be class-conditional (see base.py)."""

from __future__ import annotations

from ..config import TrainConfig
from .base import Discriminator, Generator, init_fan_in_normal
from .cgan import CGANDiscriminator, CGANGenerator
from .conv import ConvDiscriminator, ConvGenerator
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator

ARCHITECTURES = {
    "mlp": (MLPGenerator, MLPDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "cgan": (CGANGenerator, CGANDiscriminator),
    "conv": (ConvGenerator, ConvDiscriminator),
}


def build_generator(config: TrainConfig) -> Generator:
    generator = ARCHITECTURES[config.arch][0](config)
    if config.init == "xavier":
        init_fan_in_normal(generator)
    return generator


def build_discriminator(config: TrainConfig) -> Discriminator:
    discriminator = ARCHITECTURES[config.arch][1](config)
    if config.init == "xavier":
        init_fan_in_normal(discriminator)
    return discriminator


__all__ = ["Generator", "Discriminator", "build_generator", "build_discriminator", "ARCHITECTURES"]
