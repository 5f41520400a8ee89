"""The digit clock: 0..9 cross-fading in label space, and a four-digit HH:MM face turning over.

A digit feature: it needs a conditional generator with (at least) the ten digit classes.
cgan's write-up draws every frame from zero noise and plays them at 60 fps (`picture_choices`);
a GIF plays at most 50 (its delays are whole centiseconds), so 60 fps needs an .mp4.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from .. import visual
from ..config.limits import MAX_ANIMATION_PIXELS, MAX_SCALE, MAX_STRIP
from ..data.datasets import DATASETS
from ..errors import ConfigError
from .choices import CLOCK_NOISE, ClockNoise, picture_choices
from .explore import (
    GeneratorLike,
    PathLike,
    _check_choice,
    _check_int,
    _digit_list,
    _generate,
    _one_hot,
    _require_conditional,
)
from .mixing import ease_cosine, lerp


def clock_noise(gen: GeneratorLike, noise: ClockNoise | None = None, seed: int = 0) -> torch.Tensor:
    """(1, z_dim): zeros, or one draw from ``seed``; None: the run's choice (``picture_choices``)."""
    noise = _check_choice(noise or picture_choices(gen).clock_noise, "noise", CLOCK_NOISE)
    return torch.zeros(1, gen.z_dim) if noise == "zero" else gen.latents(1, seed)


def clock_fps(gen: GeneratorLike, path: PathLike, fps: float | None = None) -> tuple[float, str | None]:
    """The frame rate for ``path`` and, when the run's default is more than a GIF plays, a note why
    it is lower. An explicit ``fps`` is kept (save_gif refuses more than a GIF plays)."""
    if fps is not None:
        return fps, None
    fps = picture_choices(gen).fps
    if Path(path).suffix.lower() == ".gif" and fps > visual.MAX_GIF_FPS:
        return visual.MAX_GIF_FPS, (f"{fps:g} fps needs an .mp4 path: a GIF plays at most "
                                    f"{visual.MAX_GIF_FPS:g} fps (its frame delays are whole centiseconds)")
    return fps, None


def clock_frames(
    gen: GeneratorLike,
    *,
    frames_per_digit: int = 60,
    seed: int = 0,
    digits: Iterable[int] = range(10),
    noise: ClockNoise | None = None,
) -> list[np.ndarray]:
    """len(digits) * frames_per_digit frames (H, W), cross-fading d0 -> d1 -> ... -> d0.

    Frame k * frames_per_digit shows digits[k] exactly; the label weight follows cosine easing and
    the noise is fixed (``clock_noise``), so only the class changes. The last frame leads back
    into the first: loops.
    """
    _require_conditional(gen, "clock_frames")
    _require_digits(gen)
    frames_per_digit = _check_int(frames_per_digit, "frames_per_digit", 1, MAX_STRIP)
    sequence = _digit_list(gen, digits)
    z = clock_noise(gen, noise, seed)
    w = ease_cosine(torch.arange(frames_per_digit, dtype=torch.float64) / frames_per_digit)
    onehot = _one_hot(sequence + sequence[:1], gen.num_classes, z.device)
    labels = torch.cat([lerp(onehot[k], onehot[k + 1], w) for k in range(len(sequence))])
    images = _generate(gen, z.repeat(labels.shape[0], 1), labels)
    return list(images)


def _require_digits(gen: GeneratorLike) -> None:
    """The clock is a digit feature: refuse a generator trained on another named dataset's classes."""
    dataset = getattr(getattr(gen, "config", None), "dataset", "mnist")
    spec = DATASETS.get(dataset)
    if spec is not None and not spec.is_digits:
        raise ConfigError(f"the digit clock draws digits, and this run learned {spec.title}'s classes "
                          "(its labels are not 0..9): use `minigan sample --class-grid` instead")


_HHMM = re.compile(r"(\d{2}):(\d{2})")


def _parse_hhmm(time_hhmm: str) -> tuple[int, int]:
    match = _HHMM.fullmatch(time_hhmm) if isinstance(time_hhmm, str) else None
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigError(
            f"time must be 'HH:MM' on a 24-hour clock (e.g. '09:59'), got {time_hhmm!r}"
        )
    return int(match[1]), int(match[2])


def _clock_digits(minutes: int) -> list[int]:
    h, m = divmod(minutes % (24 * 60), 60)
    return [h // 10, h % 10, m // 10, m % 10]


def _clock_face(digits: np.ndarray) -> np.ndarray:
    """(4, H, W) -> (H, 4W + 2 gap + colon): HH:MM with a small gap in each pair, a drawn colon."""
    _, h, w = digits.shape
    gap, colon_w, dot = max(1, w // 14), max(3, w // 3), max(1, round(h / 9))
    colon = np.zeros((h, colon_w), np.uint8)
    x = (colon_w - dot) // 2
    for center in (h / 3, 2 * h / 3):
        y = round(center - dot / 2)
        colon[y : y + dot, x : x + dot] = 255
    space = np.zeros((h, gap), np.uint8)
    return np.concatenate([digits[0], space, digits[1], colon, digits[2], space, digits[3]], 1)


def clock_face_frames(
    gen: GeneratorLike, time_hhmm: str, *, frames: int = 60, seed: int = 0, noise: ClockNoise | None = None
) -> list[np.ndarray]:
    """``frames`` pictures of the clock face going from ``time_hhmm`` to the next minute.

    The first frame shows HH:MM, the last the next minute (23:59 -> 00:00); changed digits
    cross-fade with cosine easing, all four positions share one noise vector (one handwriting).
    """
    _require_conditional(gen, "clock_face_frames")
    _require_digits(gen)
    if gen.num_classes < 10:
        raise ConfigError(f"a clock needs 10 digit classes, this generator has {gen.num_classes}")
    frames = _check_int(frames, "frames", 1, MAX_STRIP)
    h, m = _parse_hhmm(time_hhmm)
    now, nxt = _clock_digits(60 * h + m), _clock_digits(60 * h + m + 1)
    z = clock_noise(gen, noise, seed)
    t = torch.arange(frames, dtype=torch.float64) / max(frames - 1, 1)
    a = _one_hot(now, gen.num_classes, z.device)  # (4, C)
    b = _one_hot(nxt, gen.num_classes, z.device)
    labels = lerp(a, b, ease_cosine(t)).reshape(frames * 4, -1)  # (frames * 4, C)
    images = _generate(gen, z.repeat(frames * 4, 1), labels)
    return [_clock_face(images[4 * f : 4 * f + 4]) for f in range(frames)]


def save_clock(
    gen: GeneratorLike,
    path: PathLike,
    fps: float | None = None,
    frames_per_digit: int = 60,
    seed: int = 0,
    time_hhmm: str | None = None,
    scale: int = 4,
    noise: ClockNoise | None = None,
) -> Path:
    """The digit clock (or, with ``time_hhmm``, the HH:MM face turning over) as .gif or .mp4.

    With ``time_hhmm`` the animation has ``frames_per_digit`` frames in all. ``fps`` None: the run's
    choice (``clock_fps``: 30, or cgan's write-up's 60 for a --literal cgan run, 50 in a GIF).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ConfigError(f"clock path must end in .gif or .mp4, got {str(path)!r}")
    _check_int(scale, "scale", 1, MAX_SCALE)
    # frames held before encoding: 10 cross-fades of 1 digit, or the 4-digit face's `frames_per_digit`
    frames, digits = (frames_per_digit, 4) if time_hhmm else (10 * frames_per_digit, 1)
    side = getattr(getattr(gen, "config", None), "data_size", 28)  # test fakes have no config: MNIST's
    if (size := frames * digits * (side * scale) ** 2) > MAX_ANIMATION_PIXELS:
        raise ConfigError(f"{frames} frames at scale {scale} would hold {size / 2**30:.1f} GiB before "
                          "encoding; lower --frames-per-digit or --scale")
    fps, _ = clock_fps(gen, path, fps)
    if time_hhmm is None:
        frames = clock_frames(gen, frames_per_digit=frames_per_digit, seed=seed, noise=noise)
    else:
        frames = clock_face_frames(gen, time_hhmm, frames=frames_per_digit, seed=seed, noise=noise)
    if suffix == ".mp4":
        return visual.save_video(frames, path, fps=fps, scale=scale)
    return visual.save_gif(frames, path, fps=fps, scale=scale)
