"""Layers that compute a standard block's exact function with less work."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class UpsampleConv2d(nn.Module):
    """Nearest 2x upsampling followed by a k x k 'same' convolution, computed at low resolution.

    Output pixel (2i+a, 2j+b) of conv(upsample(x)) only sees x around (i, j), so each of the four
    output phases (a, b) is a small convolution of x with the k x k kernel's taps summed by where
    they land. One convolution with 4x the output channels plus a pixel shuffle gives the same
    result (up to float rounding) with ~2.8x fewer multiply-adds for k=5. Parameters and their
    shapes are those of the plain `nn.Conv2d(in, out, k, padding=k//2)` it replaces.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError("UpsampleConv2d needs an odd kernel size")
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.weight, self.bias = conv.weight, conv.bias  # PyTorch's default init, same shapes
        half = kernel_size // 2
        low, high = (0 - half) // 2, (1 + half) // 2  # offsets in x that the taps reach
        taps = torch.zeros(2, high - low + 1, kernel_size)  # (phase, offset, tap)
        for phase in range(2):
            for tap in range(kernel_size):
                taps[phase, (phase + tap - half) // 2 - low, tap] = 1.0
        self.register_buffer("taps", taps, persistent=False)
        self.padding = (-low, high)

    def phase_kernels(self) -> torch.Tensor:
        """(out*4, in, T, T): output channel c*4 + 2a + b holds phase (a, b) of channel c."""
        t = self.taps.to(self.weight.dtype)
        kernels = torch.einsum("apk,oikl,bql->oabipq", t, self.weight, t)  # (O, 2, 2, I, T, T)
        out, _, _, inp, size, _ = kernels.shape
        return kernels.reshape(out * 4, inp, size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = self.padding
        x = F.pad(x, (left, right, left, right))
        y = F.conv2d(x, self.phase_kernels(), self.bias.repeat_interleave(4))  # (B, 4*O, H, W)
        return F.pixel_shuffle(y, 2)  # (B, O, 2H, 2W)


class Dropout(nn.Dropout):
    """`nn.Dropout` with a cheaper mask on CPU: same Bernoulli(p) zeroing and 1/(1-p) scaling.

    PyTorch's CPU dropout draws one random number per element (~15 ns each, ~15% of an mlp4 step).
    Here each element takes 16 bits of a 64-bit draw, a quarter as many draws; p is quantised to a
    multiple of 1/65536 (0.3 becomes 0.300003) and the scale uses that exact p, so the expected
    activation is unchanged. Masks come from torch's CPU generator, so seeds and resumes reproduce
    them. CUDA, tensors that are not densely laid out, and a p that rounds to 0 or 1 use PyTorch's
    own dropout.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dense = x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last))
        drop_count = round(self.p * 65536)
        if (not self.training or x.device.type != "cpu" or not dense or self.inplace
                or drop_count in (0, 65536)):
            return super().forward(x)
        return x * cpu_dropout_mask(x, drop_count)


def cpu_dropout_mask(x: torch.Tensor, drop_count: int) -> torch.Tensor:
    """A mask shaped and laid out like dense `x`: 0 with probability drop_count/65536, else the
    matching 1/(1-p)."""
    numel = x.numel()
    bits = torch.empty((numel + 3) // 4, dtype=torch.int64).random_(-(2**63), None)
    bits = bits.view(torch.int16)[:numel].as_strided(x.shape, x.stride())
    keep_scale = 65536 / (65536 - drop_count)
    return ((bits >= drop_count - 32768) * keep_scale).to(x.dtype)


class _FlattenKeepingFormat(torch.autograd.Function):
    """x.flatten(1), whose gradient goes back in x's memory format (differentiable: R1 takes its
    double backward)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.shape = x.shape
        ctx.channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last)
        return x.flatten(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.reshape(ctx.shape)
        return grad.contiguous(memory_format=torch.channels_last) if ctx.channels_last else grad


class Flatten(nn.Module):
    """`nn.Flatten()` (B, C, H, W) -> (B, C*H*W) in the same order, with the gradient handed back in
    the input's memory format. A channels_last conv net's last feature map otherwise gets an
    NCHW-contiguous gradient from nn.Flatten, and the activation's backward before it takes a strided
    path ~20x slower on CPU (leaky_relu_backward: 4.8 ms against 0.2 at (128, 32, 14, 14), bf16 or fp32)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _FlattenKeepingFormat.apply(x)
