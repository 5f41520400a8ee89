"""Draw a digit: find the latent (and class) whose sample looks most like a drawing.

The drawing is normalised the way MNIST was made (ink box scaled to 20 px, centre of mass at the
centre of a 28 x 28 frame), then z is fitted by Adam on the pixel MSE from several random starts at
once, one batch row per (start, class). The search is bounded by a step count and a wall-clock
limit, whichever comes first; the best row wins.
"""

from __future__ import annotations

import io
import time

import numpy as np
import torch
from PIL import Image

from .latent import label_vectors, pixels_01
from .params import MAX_UPLOAD_SIDE, ApiError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RESTARTS = 6  # random starts per class
LEARNING_RATE = 0.05
PRIOR_WEIGHT = 1e-3  # normal prior: penalise mean z^2 so the fit stays where G was trained
INK = 0.1  # pixels brighter than this count as ink when boxing the drawing


def read_drawing(data: bytes) -> np.ndarray:
    """PNG bytes -> float32 (H, W) in [0, 1], light ink on dark (a light background is inverted)."""
    if not data.startswith(PNG_MAGIC):
        raise ApiError(415, "the drawing must be a PNG image (body starting with the PNG signature)")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if max(image.size) > MAX_UPLOAD_SIDE:
                raise ApiError(413, f"the drawing is {image.size[0]}x{image.size[1]} pixels; "
                                    f"at most {MAX_UPLOAD_SIDE} per side")
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")  # transparent = background = black
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
            gray = np.asarray(image.convert("L"), dtype=np.float32) / 255
    except ApiError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ApiError(400, f"the drawing is not a readable PNG: {exc}") from None
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return 1 - gray if border.mean() > 0.5 else gray


def mnist_frame(gray: np.ndarray) -> np.ndarray:
    """(H, W) drawing -> float32 (28, 28): ink box fitted into 20 x 20, centre of mass centred."""
    rows, cols = np.nonzero(gray > INK)
    if rows.size == 0:
        raise ApiError(400, "the drawing is empty: draw a digit first")
    box = gray[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = box.shape
    scale = 20 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = np.asarray(Image.fromarray(np.uint8(box * 255)).resize(size, Image.LANCZOS), np.float32) / 255
    frame = np.zeros((28, 28), np.float32)
    mass = resized.sum()
    ys, xs = np.indices(resized.shape)
    cy, cx = ((ys * resized).sum() / mass, (xs * resized).sum() / mass) if mass > 0 else (h / 2, w / 2)
    top = int(np.clip(round(14 - cy), 0, 28 - resized.shape[0]))
    left = int(np.clip(round(14 - cx), 0, 28 - resized.shape[1]))
    frame[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return frame


def project(gen, target: np.ndarray, *, steps: int, seconds: float, digit: int | None,
            seed: int) -> dict:
    """Fit z (and pick a class) so G's sample matches `target` (28, 28) in [0, 1].

    Returns z, digit (None when unconditional), the per-pixel MSE, steps and seconds used, the
    uint8 sample, and for conditional runs each class's best MSE.
    """
    started = time.monotonic()
    classes = [digit] if digit is not None or not gen.conditional else list(range(gen.num_classes))
    rows = RESTARTS * len(classes)
    z = gen.latents(rows, seed).to(gen.device).requires_grad_(True)  # (rows, z_dim)
    digits = None if classes == [None] else torch.as_tensor(classes).repeat_interleave(RESTARTS)
    y = label_vectors(gen, digits, rows)
    goal = torch.as_tensor(target, device=gen.device)
    uniform = gen.config.z_prior == "uniform"
    optimiser = torch.optim.Adam([z], lr=LEARNING_RATE)
    done = 0
    while done < steps and time.monotonic() - started < seconds:
        error = ((pixels_01(gen, gen.module(z, y)) - goal) ** 2).mean(dim=(1, 2))  # (rows,)
        loss = error if uniform else error + PRIOR_WEIGHT * (z ** 2).mean(dim=1)
        (z.grad,) = torch.autograd.grad(loss.sum(), [z])  # G's weights get no .grad
        optimiser.step()
        if uniform:
            with torch.no_grad():
                z.clamp_(-1, 1)
        done += 1
    with torch.no_grad():
        final = ((pixels_01(gen, gen.module(z, y)) - goal) ** 2).mean(dim=(1, 2))
    best = int(torch.argmin(final))
    found = None if digits is None else int(digits[best])
    z_best = z.detach()[best:best + 1].cpu()
    result = {
        "z": z_best[0].tolist(), "digit": found, "mse": float(final[best]), "steps": done,
        "seconds": round(time.monotonic() - started, 3),
        "image": gen.generate(z_best, None if found is None else torch.tensor([found])).numpy()[0],
    }
    if digits is not None and len(classes) > 1:
        per_class = final.reshape(len(classes), RESTARTS).min(dim=1).values
        result["class_mse"] = {str(c): float(v) for c, v in zip(classes, per_class, strict=True)}
    return result
