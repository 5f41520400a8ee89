"""Upper bounds of every size a user can type, so none reaches the allocator as a traceback.

Two kinds of bound. A fixed cap on each count, far above any real use (MNIST-scale runs use grids
of 10, noise of 2 to 128, layers of 32 to 1024 units), stops a typo such as `--z-dim 100000000`
before anything is built. Then the networks' parameters are counted on the meta device (shapes
only, nothing allocated) and training's memory for them, weights, gradients and Adam's two
moments at 4 bytes each, is compared with the machine's RAM.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ConfigError

# field -> (cap, why it is far above real use)
CAPS: dict[str, tuple[int, str]] = {
    "z_dim": (65_536, "noise vectors of real GANs have 2 to 512 entries"),
    "batch_size": (65_536, "more than MNIST's 60,000 training images"),
    "grid_size": (100, "a 100x100 grid is already 10,000 pictures"),
    "fixed_noise": (65_536, "progress grids show at most a few hundred"),
    "progress_batch": (65_536, "progress grids show at most a few hundred"),
    "eval_num": (1_000_000, "FID is stable from 10,000 samples"),
    "num_classes": (100_000, "one-hot labels this wide dwarf any image"),
    "clusters": (100_000, "more clusters than training images"),
    "image_size": (1_024, "the datasets' images are 28x28"),
    "d_steps": (10_000, "the write-ups use 1 to 5"),
    "threads": (1_024, "more than any machine's cores; torch crashes on millions"),
    "g_steps": (10_000, "the write-ups use 1 to 5"),
}
WIDTH_CAP = 65_536  # units (or channels) of one hidden layer
DEPTH_CAP = 64  # hidden layers of one network
BYTES_PER_PARAMETER = 16  # weight, gradient and Adam's two moments, float32


def machine_memory() -> int:
    """Bytes of RAM on this machine (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _size(num_bytes: float) -> str:
    return f"{num_bytes / 2**30:,.1f} GiB" if num_bytes >= 2**30 else f"{num_bytes / 2**20:,.0f} MiB"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_sizes(values: dict[str, Any]) -> None:
    """Refuse a size above its cap (the networks' memory is `check_training_memory`)."""
    for name, (cap, why) in CAPS.items():
        if values[name] > cap:
            raise ConfigError(f"{_flag(name)} {values[name]} is above the limit {cap:,} ({why}); "
                              "use a smaller value")
    for name in ("g_hidden", "d_hidden"):
        widths = values[name]
        if len(widths) > DEPTH_CAP:
            raise ConfigError(f"{_flag(name)} has {len(widths)} layers, above the limit {DEPTH_CAP}; "
                              "use fewer")
        if max(widths) > WIDTH_CAP:
            raise ConfigError(f"{_flag(name)} width {max(widths)} is above the limit {WIDTH_CAP:,} "
                              "(real layers have 32 to 1024 units); use a smaller width")


def check_training_memory(parameters: int) -> None:
    """Refuse networks whose training (`parameters` of G and D) would not fit in this machine's RAM;
    models/registry.py counts them from the shapes alone, once the architecture accepts the config."""
    need, have = parameters * BYTES_PER_PARAMETER, machine_memory()
    if have and need > have:
        raise ConfigError(
            f"G and D would have {parameters:,} parameters: training them needs about {_size(need)} "
            f"(weights, gradients and Adam's moments) and this machine has {_size(have)}; "
            "use smaller --g-hidden, --d-hidden or --z-dim")


# What the sampling commands may draw and write at once (their flags are not config fields).
MAX_SAMPLES = 1_000_000  # 100 times the 10,000 samples of a standard FID
MAX_STRIP = 1_000  # pictures in one interpolation strip, rows of a strip or sweep
MAX_SCALE = 64  # pixel upscaling of animation frames: 28 -> 1792 pixels a side
MAX_ANIMATION_PIXELS = 2**31  # 2 GiB of frames held in memory before encoding


def check_count(flag: str, value: int, cap: int, why: str) -> int:
    """A count typed on the command line: positive, and at most `cap` (`why` says where it comes from)."""
    if value <= 0:
        raise ConfigError(f"{flag} must be positive, got {value}")
    if value > cap:
        raise ConfigError(f"{flag} {value} is above the limit {cap:,} ({why}); use a smaller value")
    return value


def check_threads(threads: int) -> int:
    """--threads: 0 (PyTorch's default) to 1024; torch.set_num_threads(10**7) ends the process
    with a segmentation fault, not an error."""
    if threads < 0:
        raise ConfigError(f"--threads must be 0 (PyTorch's default) or positive, got {threads}")
    if threads > (cap := CAPS["threads"][0]):
        raise ConfigError(f"--threads {threads} is above the limit {cap:,} ({CAPS['threads'][1]})")
    return threads


def check_sample_memory(num: int, z_dim: int, side: int) -> None:
    """`num` samples hold num * z_dim noise floats and num * side**2 pixel bytes at once."""
    need, have = num * (4 * z_dim + side * side), machine_memory()
    if have and need > have // 2:
        raise ConfigError(f"--num {num} samples need about {_size(need)} at once, more than half of this "
                          f"machine's {_size(have)}; draw fewer and run it again with another --seed")
