"""Networks by architecture name (registry.py); every architecture can be class-conditional (base.py)."""

from __future__ import annotations

from .base import Discriminator, Generator, one_hot
from .registry import (
    ARCHITECTURES,
    build_discriminator,
    build_generator,
    check_honoured,
    memory_format,
    parameter_signature,
    signature_changes,
)

__all__ = [
    "Generator", "Discriminator", "one_hot", "build_generator", "build_discriminator", "ARCHITECTURES",
    "check_honoured", "memory_format", "parameter_signature", "signature_changes",
]
