"""Layers that reproduce TensorFlow/Keras semantics exactly, for the `--literal` recipes.

TensorFlow's 'SAME' padding puts the odd pixel of padding after the image (bottom/right), where
PyTorch's integer `padding` pads both sides alike. For stride-1 odd kernels the two agree; for
strided convolutions they differ by a one-pixel shift, so these layers pad (or crop) the TF way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TF 'SAME' for one spatial dim: output = ceil(size / stride)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class TFSameConv2d(nn.Conv2d):
    """`tf.nn.conv2d` / Keras `Conv2D(padding="same")`: asymmetric zero padding, then a valid conv.

    Same parameters (and PyTorch weight layout (out, in, kh, kw)) as the plain `nn.Conv2d`, so
    every init scheme treats it as one. E.g. 32x32, k=5, s=2 pads 1 before and 2 after (PyTorch's
    padding=2 reads rows -2..33 instead of -1..34).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = tf_same_padding(x.shape[-2], kh, sh)
        left, right = tf_same_padding(x.shape[-1], kw, sw)
        return super().forward(F.pad(x, (left, right, top, bottom)))


class TFSameConvTranspose2d(nn.ConvTranspose2d):
    """`tf.nn.conv2d_transpose(..., padding="SAME")` with output size = input size * stride.

    The TF op is the adjoint of a 'SAME' conv from the output size down to the input size: the
    full transposed conv ((n-1)*s + k pixels) is cropped by that conv's padding, the odd pixel at
    the end. 7x7 -> 28x28 with k=5, s=4 gives 29 pixels and drops the last row and column; no
    PyTorch (padding, output_padding) pair crops only at the end. Weight layout (in, out, kh, kw).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 bias: bool = True) -> None:
        if kernel_size < stride:
            raise ValueError(f"TFSameConvTranspose2d needs kernel_size >= stride: {kernel_size}, {stride}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        height, width = x.shape[-2] * sh, x.shape[-1] * sw
        top, _ = tf_same_padding(height, kh, sh)
        left, _ = tf_same_padding(width, kw, sw)
        y = super().forward(x)  # (B, out, (H-1)*s + k, (W-1)*s + k)
        return y[..., top:top + height, left:left + width]


class ChannelsLastUnflatten(nn.Module):
    """(B, H*W*C) -> (B, C, H, W) read in TF's NHWC order: `tf.reshape(h, [-1, H, W, C])`.

    With i.i.d. initial weights the order does not change what trains; it keeps unit j of the
    dense layer at the same (h, w, c) as in the write-up, so TF weights map over one to one.
    """

    def __init__(self, height: int, width: int, channels: int) -> None:
        super().__init__()
        self.shape = (height, width, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape).permute(0, 3, 1, 2)  # (B, C, H, W), NHWC strides


class ScaledSigmoidClip(nn.Module):
    """clip(sigmoid(x) * scale + shift, low, high): the cgan write-up's output, pixels in [0, 1].

    With scale 1.2 and shift -0.1, G reaches exact black and white at finite logits
    (|x| >= log 11 ~ 2.398) instead of only asymptotically; there the gradient is exactly 0,
    as with `tf.clip_by_value` (both pass the gradient at the bounds themselves).
    """

    def __init__(self, scale: float = 1.2, shift: float = -0.1, low: float = 0.0, high: float = 1.0) -> None:
        super().__init__()
        if not low < high:
            raise ValueError(f"ScaledSigmoidClip needs low < high, got {low}, {high}")
        self.scale, self.shift, self.low, self.high = scale, shift, low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.sigmoid(x) * self.scale + self.shift, self.low, self.high)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, shift={self.shift}, low={self.low}, high={self.high}"
