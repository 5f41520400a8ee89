"""Process-wide settings, made once at an entry point (CLI `main`, `minigan.train`), never in a loop."""

from __future__ import annotations

import ctypes
import platform

import torch

from .errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> a device that exists here, or a one-line ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} is not available on this machine; use --device cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r} is not a device name; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r} does not exist: this machine has "
                          f"{torch.cuda.device_count()} GPU(s)")
    return device


def keep_freed_memory_mapped() -> None:
    """Stop glibc returning big freed blocks to the OS after every step.

    Conv steps allocate and free tens of MB per layer; by default glibc unmaps them each time
    and the next step page-faults them back in (~100k faults per dcgan step, ~17% of its time).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


def configure_process(threads: int = 0) -> None:
    """Thread count (0 = PyTorch's default) and allocator settings for this whole process."""
    from .config.limits import check_threads

    if check_threads(threads):
        torch.set_num_threads(threads)
    keep_freed_memory_mapped()
