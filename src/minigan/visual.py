"""Pictures of digits: image grids, animated GIFs, MP4 videos and training-curve plots.

Images are uint8 arrays (N, H, W) or (N, 1, H, W), numpy or torch, 0 = black background (MNIST).
Every file is written atomically (``fileio.atomic_path``): a killed process never leaves a
half-written picture where a finished one is expected.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from minigan.errors import ConfigError
from minigan.fileio import atomic_path

# GIF delays are stored in centiseconds and viewers slow down frames shorter than 20 ms.
MAX_GIF_FPS = 50.0


def _as_uint8(images: Any) -> np.ndarray:
    """numpy or torch -> numpy uint8; values outside 0..255 are clipped, floats rounded."""
    if hasattr(images, "detach"):  # torch tensor, without importing torch here
        images = images.detach().cpu().numpy()
    array = np.asarray(images)
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise ConfigError(f"images must be numeric 0..255, got dtype {array.dtype}")
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def _as_batch(images: Any) -> np.ndarray:
    """(N, H, W) or (N, 1, H, W) -> uint8 (N, H, W)."""
    array = _as_uint8(images)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3:
        raise ConfigError(f"images must have shape (N, H, W) or (N, 1, H, W), got {array.shape}")
    if array.shape[0] == 0:
        raise ConfigError("no images to draw: pass at least one image")
    return array


def _upscale(image: np.ndarray, scale: int) -> np.ndarray:
    if not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"scale must be a positive integer, got {scale!r}")
    if scale == 1:
        return image
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def make_grid(
    images: Any, nrow: int | None = None, padding: int = 2, pad_value: int = 0
) -> np.ndarray:
    """Tile images into one uint8 (H', W') picture, ``nrow`` images per row (row-major).

    Padding surrounds every cell, outer border included, so image (r, c) starts at
    ``(padding + r * (H + padding), padding + c * (W + padding))``; empty cells get ``pad_value``.
    """
    batch = _as_batch(images)
    n, h, w = batch.shape
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if nrow < 1:
        raise ConfigError(f"nrow must be >= 1, got {nrow}")
    if padding < 0:
        raise ConfigError(f"padding must be >= 0, got {padding}")
    if not 0 <= pad_value <= 255:
        raise ConfigError(f"pad_value must be in 0..255, got {pad_value}")
    ncol = min(nrow, n)
    nrows = math.ceil(n / nrow)
    grid = np.full(
        (padding + nrows * (h + padding), padding + ncol * (w + padding)), pad_value, np.uint8
    )
    for i in range(n):
        r, c = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        grid[y : y + h, x : x + w] = batch[i]
    return grid


def save_grid(
    images: Any,
    path: str | os.PathLike[str],
    nrow: int | None = None,
    padding: int = 2,
    scale: int = 1,
) -> Path:
    """Write ``make_grid(images)`` as a grayscale PNG, upscaled ``scale`` times (nearest)."""
    picture = _upscale(make_grid(images, nrow=nrow, padding=padding), scale)
    with atomic_path(path) as tmp:
        Image.fromarray(picture, "L").save(tmp, format="PNG")
    return Path(path)


def _frame_stack(frames: Sequence[Any], scale: int) -> list[np.ndarray]:
    """Frames -> list of uint8 (H * scale, W * scale), all the same shape."""
    arrays = [_as_uint8(frame) for frame in frames]
    if not arrays:
        raise ConfigError("no frames to write: pass at least one (H, W) frame")
    for i, array in enumerate(arrays):
        if array.ndim != 2 or array.shape != arrays[0].shape:
            raise ConfigError(
                f"frame {i} has shape {array.shape}; every frame must be (H, W) like frame 0 "
                f"{arrays[0].shape}"
            )
    return [_upscale(array, scale) for array in arrays]


def gif_durations(num_frames: int, fps: float) -> list[int]:
    """Per-frame delays in ms, multiples of 10 (GIF stores centiseconds) averaging 1000 / fps.

    A constant ``int(1000 / fps)`` would make 30 fps play at 33 fps; spreading the rounding
    (30, 30, 40, 30, ...) keeps the total length right.
    """
    stamps = [round(100 * i / fps) for i in range(num_frames + 1)]
    return [10 * (b - a) for a, b in zip(stamps, stamps[1:], strict=False)]


def save_gif(
    frames: Sequence[Any],
    path: str | os.PathLike[str],
    fps: float = 10,
    loop: int = 0,
    scale: int = 1,
) -> Path:
    """Write an animated grayscale GIF; ``loop=0`` repeats forever.

    Pillow merges identical consecutive frames into one longer frame, so the file may hold
    fewer frames than given while playing for the same time.
    """
    if not 0 < fps <= MAX_GIF_FPS:
        raise ConfigError(
            f"GIF fps must be in (0, {MAX_GIF_FPS:g}], got {fps}; use an .mp4 path for faster video"
        )
    if loop < 0:
        raise ConfigError(f"loop must be >= 0 (0 = forever), got {loop}")
    stack = _frame_stack(frames, scale)
    images = [Image.fromarray(frame, "L") for frame in stack]
    durations = gif_durations(len(images), fps)

    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=durations if len(images) > 1 else durations[0],
            loop=loop,
        )
    return Path(path)


def save_video(
    frames: Sequence[Any], path: str | os.PathLike[str], fps: float = 30, scale: int = 1
) -> Path:
    """Write an H.264 MP4 (needs the optional ``video`` extra for its ffmpeg binary)."""
    try:
        import imageio_ffmpeg
    except ImportError as err:
        raise ConfigError(
            "writing .mp4 needs imageio and imageio-ffmpeg: pip install minigan[video] "
            "(or save a .gif instead)"
        ) from err
    if fps <= 0:
        raise ConfigError(f"fps must be > 0, got {fps}")
    stack = _frame_stack(frames, scale)
    h, w = stack[0].shape
    # yuv420p needs even sides: pad with background instead of letting ffmpeg resample.
    pad = ((0, h % 2), (0, w % 2))
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            (w + w % 2, h + h % 2),
            pix_fmt_in="gray",
            fps=fps,
            codec="libx264",
            macro_block_size=1,
            output_params=["-f", "mp4"],  # the temp name has no .mp4 ending
        )
        writer.send(None)
        try:
            for frame in stack:
                writer.send(np.ascontiguousarray(np.pad(frame, pad)).tobytes())
        finally:
            writer.close()
    return Path(path)


def _series(stats: Sequence[dict[str, Any]], x: str, key: str) -> tuple[list[float], list[float]]:
    pairs = [
        (float(r[x]), float(r[key]))
        for r in stats
        if isinstance(r.get(x), int | float) and isinstance(r.get(key), int | float)
    ]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def plot_curves(
    stats: Sequence[dict[str, Any]],
    path: str | os.PathLike[str],
    keys: Sequence[str] = ("loss_d", "loss_g"),
    x: str = "step",
    title: str | None = None,
) -> Path:
    """Plot ``keys`` against ``x`` into a PNG; a second panel shows d_real / d_fake when logged.

    Keys missing from every record are skipped; records without ``x`` are ignored.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    groups = [list(keys), [k for k in ("d_real", "d_fake") if k not in keys]]
    panels = [[(k, _series(stats, x, k)) for k in group] for group in groups]
    panels = [[(k, s) for k, s in panel if s[0]] for panel in panels]
    panels = [panel for panel in panels if panel]
    if not panels:
        present = sorted({k for r in stats for k in r})
        raise ConfigError(
            f"nothing to plot: none of {list(keys)} logged against {x!r}; available keys: {present}"
        )
    fig = Figure(figsize=(7, 3 * len(panels)), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels, strict=True):
        for key, (xs, ys) in panel:
            ax.plot(xs, ys, label=key, linewidth=1)
        ax.legend(loc="best")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(x)
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
