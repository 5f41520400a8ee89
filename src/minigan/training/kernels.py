"""Which cuDNN kernels CUDA training runs: deterministic ones when asked (`--deterministic`), else the
fastest for the run's shapes."""

from __future__ import annotations

import torch


def choose_kernels(deterministic: bool, device: torch.device) -> None:
    """On CUDA: `deterministic` takes cuDNN's deterministic algorithms, so a resume on the same GPU
    type and software repeats the uninterrupted run bit for bit, at some cost per step. Otherwise
    cudnn.benchmark times the algorithms once per input shape and keeps the fastest: a run's shapes
    are fixed (one batch and image size; a short last batch adds one), so only the first steps
    search, but the chosen kernels (some with non-deterministic backward) may differ between runs.
    On CPU nothing changes: its kernels are deterministic already."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
