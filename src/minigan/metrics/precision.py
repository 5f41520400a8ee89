"""Metrics in full fp32, whatever precision training chose.

Training turns TF32 on for CUDA (`training.wrappers.choose_kernels`: 10-bit mantissa inputs to matmuls
and convolutions), process-wide; left on, the classifier's convolutions and the k-NN distances
(`torch.cdist` multiplies matrices) would give GPU FID, precision and recall other than the CPU
numbers. Scoring runs inside `full_fp32`, which restores the caller's flags after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def full_fp32() -> Iterator[None]:
    """TF32 off for CUDA matmuls and cuDNN convolutions inside the block (also as a decorator)."""
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    if hasattr(matmul, "fp32_precision"):  # torch >= 2.9; mixing it with allow_tf32 is an error
        before = matmul.fp32_precision, conv.fp32_precision
        matmul.fp32_precision = conv.fp32_precision = "ieee"
        try:
            yield
        finally:
            matmul.fp32_precision, conv.fp32_precision = before
        return
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
