"""PNG and GIF endpoints: samples, latent sliders and map, interpolation, the digit clock, amplitude.

Each picture is what the CLI command in its `X-Minigan-Command` header writes, pixel for pixel
(PNG grids: `visual.make_grid` with the CLI's padding; GIFs: the same `save_*` call).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from minigan import visual
from minigan.sampling import clock, explore

from . import latent
from .params import (
    MAX_AMPLITUDE,
    MAX_FRAMES,
    MAX_GIF_SCALE,
    MAX_GRID,
    MAX_LATENT,
    MAX_MAP,
    MAX_MOVE,
    MAX_SEED,
    MAX_STEPS,
    ApiError,
    Query,
    command_header,
    png_bytes,
)
from .registry import RunEntry, RunTable, is_digit_run

HHMM = r"([01]\d|2[0-3]):[0-5]\d"
MAX_LOOP_FRAMES = 60  # per digit for the 0..9 clock GIF: 600 frames in all


def query(request: Request, *allowed: str) -> Query:
    return Query(request.query_params, allowed, request.query_params.multi_items())


def image_response(data: bytes, media: str = "image/png", command: list[str] | None = None) -> Response:
    headers = {"Cache-Control": "no-cache"}
    if command:
        headers["X-Minigan-Command"] = command_header(command)
    return Response(data, media_type=media, headers=headers)


async def load(table: RunTable, request: Request):
    """(entry, generator) for the request's run id; loading (or reloading) runs off the event loop."""
    entry = table.get(request.path_params["run"])
    return entry, await run_in_threadpool(entry.generator)


async def compute(table: RunTable, fn, *args):
    """Run generator work in a worker thread, one call at a time."""
    return await table.compute(fn, *args)


async def png_response(table: RunTable, images: np.ndarray, nrow: int, padding: int = 2,
                       command: list[str] | None = None) -> Response:
    """The grid of `images` as a PNG answer, encoded in a worker thread (never on the event loop)."""
    return image_response(await table.encode(png_bytes, images, nrow, padding), command=command)


async def gif_response(table: RunTable, frames, fps: float, scale: int,
                       command: list[str] | None = None) -> Response:
    """`frames` as the GIF `visual.save_gif` writes, encoded in a worker thread (GIF_WORKERS at once)."""
    def write(path: Path) -> None:
        visual.save_gif(list(frames), path, fps=fps, scale=scale)

    data = await table.encode(gif_bytes, write, gif=True)
    return image_response(data, media="image/gif", command=command)


def digit_param(gen, q: Query, name: str = "digit", required: bool = False) -> int | None:
    if not gen.conditional:
        if q.has(name):
            raise ApiError(400, f"{name} applies to conditional runs; this run is unconditional")
        return None
    value = q.optional_int(name, 0, gen.num_classes - 1)
    if value is None and required:
        raise ApiError(400, f"parameter {name!r} is required: a class in 0..{gen.num_classes - 1}")
    return value


def require_digits(entry: RunEntry) -> None:
    config = entry.config()
    if not (config and is_digit_run(config)):
        raise ApiError(400, f"run {entry.id!r} is not a conditional MNIST run; the clock needs one "
                            "(train e.g. --preset fast-cond)")


async def samples(table: RunTable, request: Request) -> Response:
    """A grid x grid sample grid from a seed; one class (digit=) or the class grid (classes=1)."""
    entry, gen = await load(table, request)
    q = query(request, "seed", "grid", "digit", "classes")
    seed, side = q.int("seed", 0, 0, MAX_SEED), q.int("grid", 8, 1, MAX_GRID)
    digit, classes = digit_param(gen, q), q.flag("classes")
    base = ["minigan", "sample", entry.shown]
    if classes:
        if not gen.conditional:
            raise ApiError(400, "classes=1 needs a conditional run; this run is unconditional")
        images = await compute(table, explore.class_grid, gen, 10, seed)
        command = [*base, "--seed", str(seed), "--class-grid", f"class_grid-seed{seed:04d}.png"]
        return await png_response(table, images, gen.num_classes, command=command)
    labels = None if digit is None else np.full(side * side, digit)
    images, _ = await compute(table, gen.sample, side * side, seed, labels)
    only = [] if digit is None else ["--digit", str(digit)]
    return await png_response(table, images, side,
                              command=[*base, *only, "--num", str(side * side), "--seed", str(seed),
                                       "--grid", f"seed{seed:04d}.png"])


async def latent_png(table: RunTable, request: Request) -> Response:
    """One sample: latents(1, seed) moved along principal directions (move=), or an explicit z=."""
    entry, gen = await load(table, request)
    q = query(request, "seed", "digit", "move", "z")
    seed, digit = q.int("seed", 0, 0, MAX_SEED), digit_param(gen, q)
    if gen.conditional and digit is None:
        digit = 0
    if q.has("move") and q.has("z"):
        raise ApiError(400, "give move= (along the principal directions) or z= (a latent), not both")
    if q.has("z"):
        values = q.floats("z", gen.z_dim, -MAX_LATENT, MAX_LATENT)
        if len(values) != gen.z_dim:
            raise ApiError(400, f"z needs {gen.z_dim} comma-separated numbers, got {len(values)}")
        z = torch.tensor([values])
    else:
        move = q.floats("move", latent.direction_count(gen), -MAX_MOVE, MAX_MOVE)
        z = await compute(table, latent.moved, gen, entry, seed, move)
    images = await compute(table, latent.decode, gen, z, digit)
    return await png_response(table, images, 1, padding=0)


async def directions(table: RunTable, request: Request) -> dict:
    entry, gen = await load(table, request)
    query(request)
    if gen.z_dim == 2:
        return {"mode": "raw", "count": 2, "z_dim": 2, "rms": None}
    _, rms = await compute(table, latent.cached_directions, entry, gen)
    return {"mode": "principal", "count": len(rms), "z_dim": gen.z_dim,
            "rms": [round(float(v), 5) for v in rms]}


async def directions_png(table: RunTable, request: Request) -> Response:
    """The sliders at a glance: row k moves the seed's sample along direction k, -span .. span."""
    entry, gen = await load(table, request)
    q = query(request, "seed", "digit", "span", "columns")
    seed, digit = q.int("seed", 0, 0, MAX_SEED), digit_param(gen, q)
    span, columns = q.float("span", 3.0, 0.5, MAX_MOVE), q.int("columns", 7, 2, MAX_STEPS)
    if gen.z_dim == 2:
        raise ApiError(400, "a 2-d latent has no principal directions: use map.png and z=")
    if gen.conditional and digit is None:
        digit = 0
    images = await compute(table, latent.atlas, gen, entry, seed, digit, span, columns)
    return await png_response(table, images, columns)


async def latents(table: RunTable, request: Request) -> dict:
    _, gen = await load(table, request)
    seed = query(request, "seed").int("seed", 0, 0, MAX_SEED)
    return {"seed": seed, "z": gen.latents(1, seed)[0].tolist()}


async def latent_map(table: RunTable, request: Request) -> Response:
    """The 2-d latent manifold over [-span, span]^2 (z_dim 2 only); top row is z[1] = +span."""
    _, gen = await load(table, request)
    q = query(request, "size", "span", "digit")
    size, span = q.int("size", 16, 2, MAX_MAP), q.float("span", 3.0, 0.5, MAX_LATENT)
    digit = digit_param(gen, q)
    if gen.z_dim != 2:
        raise ApiError(400, f"the latent map needs a 2-d latent; this run has z_dim {gen.z_dim}")
    if gen.conditional and digit is None:
        digit = 0
    images = await compute(table, lambda: explore.latent_grid(gen, size=size, span=span, label=digit))
    return await png_response(table, images, size, padding=0)


def _interpolation(gen, q: Query) -> dict:
    """explore.interpolate's arguments; from/to are classes (conditional) or seeds."""
    high = gen.num_classes - 1 if gen.conditional else MAX_SEED
    return {"start": q.int("from", 0, 0, high), "end": q.int("to", 1, 0, high),
            "steps": q.int("steps", 10, 2, MAX_STEPS),
            "method": q.choice("method", "linear", ("linear", "slerp")),
            "seed": q.int("seed", 0, 0, MAX_SEED)}


async def interpolate_png(table: RunTable, request: Request) -> Response:
    """A strip between two seeds (unconditional) or two classes (conditional, noise from seed)."""
    entry, gen = await load(table, request)
    args = _interpolation(gen, query(request, "from", "to", "steps", "method", "seed"))
    images = await compute(table, lambda: explore.interpolate(gen, **args))
    command = ["minigan", "interpolate", entry.shown, "--from", str(args["start"]), "--to", str(args["end"]),
               "--steps", str(args["steps"]), "--method", args["method"], "--seed", str(args["seed"]),
               "--out", "interpolation.png"]
    return await png_response(table, images, args["steps"], command=command)


def gif_bytes(write) -> bytes:
    """Call write(path) into a private temp folder and return the file's bytes."""
    with tempfile.TemporaryDirectory(prefix="minigan-serve-") as folder:
        path = Path(folder) / "out.gif"
        write(path)
        return path.read_bytes()


async def interpolate_gif(table: RunTable, request: Request) -> Response:
    _, gen = await load(table, request)
    q = query(request, "from", "to", "steps", "method", "seed", "fps", "scale")
    args = _interpolation(gen, q)
    fps, scale = q.float("fps", 10.0, 1.0, visual.MAX_GIF_FPS), q.int("scale", 4, 1, MAX_GIF_SCALE)
    images = await compute(table, lambda: explore.interpolate(gen, **args))
    return await gif_response(table, images, fps, scale)


def _clock_command(entry: RunEntry, hhmm: str | None, frames: int, fps: float, seed: int,
                   scale: int) -> list[str]:
    return ["minigan", "clock", entry.shown, *(["--time", hhmm] if hhmm else []),
            "--frames-per-digit", str(frames), "--fps", f"{fps:g}", "--seed", str(seed),
            "--scale", str(scale), "--out", "clock.gif"]


async def clock_png(table: RunTable, request: Request) -> Response:
    """The HH:MM face turning into the next minute: `frames` faces stacked top to bottom.

    The command in the header writes these frames as a GIF (`fps` only matters there).
    """
    entry, gen = await load(table, request)
    require_digits(entry)
    q = query(request, "time", "frames", "fps", "seed")
    hhmm = q.text("time", "", HHMM, "HH:MM on a 24-hour clock, e.g. '09:59'")
    if not hhmm:
        raise ApiError(400, "parameter 'time' is required: HH:MM on a 24-hour clock, e.g. 09:59")
    frames, seed = q.int("frames", 30, 1, MAX_FRAMES), q.int("seed", 0, 0, MAX_SEED)
    fps = q.float("fps", 20.0, 1.0, visual.MAX_GIF_FPS)
    faces = await compute(table, lambda: clock.clock_face_frames(gen, hhmm, frames=frames, seed=seed))
    return await png_response(table, np.stack(faces), 1, padding=0,
                              command=_clock_command(entry, hhmm, frames, fps, seed, 4))


async def clock_gif(table: RunTable, request: Request) -> Response:
    """`minigan clock` as a download: the face at time= turning over, or without time the 0..9 loop."""
    entry, gen = await load(table, request)
    require_digits(entry)
    q = query(request, "time", "frames", "fps", "seed", "scale")
    hhmm = q.text("time", "", HHMM, "HH:MM on a 24-hour clock, e.g. '09:59'") or None
    frames = q.int("frames", 30 if hhmm else 20, 1, MAX_FRAMES if hhmm else MAX_LOOP_FRAMES)
    fps, scale = q.float("fps", 20.0, 1.0, visual.MAX_GIF_FPS), q.int("scale", 4, 1, MAX_GIF_SCALE)
    seed = q.int("seed", 0, 0, MAX_SEED)

    if hhmm is None:  # what clock.save_clock does, with drawing and encoding in their own lanes
        faces = await compute(table, lambda: clock.clock_frames(gen, frames_per_digit=frames, seed=seed))
    else:
        faces = await compute(table, lambda: clock.clock_face_frames(gen, hhmm, frames=frames, seed=seed))
    return await gif_response(table, faces, fps, scale, command=_clock_command(entry, hhmm, frames, fps, seed,
                                                                                 scale))


async def amplitude_png(table: RunTable, request: Request) -> Response:
    """label = amplitude * one_hot(digit): one sample (amplitude=) or the CLI's sweep strip."""
    entry, gen = await load(table, request)
    q = query(request, "digit", "seed", "amplitude", "rows")
    if not gen.conditional:
        raise ApiError(400, "the label-amplitude sweep needs a conditional run; this run is unconditional")
    digit = digit_param(gen, q, required=True)
    seed, rows = q.int("seed", 0, 0, MAX_SEED), q.int("rows", 1, 1, 5)
    if q.has("amplitude"):
        amplitude = q.float("amplitude", 1.0, 0.0, MAX_AMPLITUDE)
        images = await compute(table, lambda: explore.amplitude_sweep(gen, digit, amplitudes=[amplitude],
                                                                       rows=1, seed=seed))
        return await png_response(table, images, 1, padding=0)
    images = await compute(table, lambda: explore.amplitude_sweep(gen, digit, rows=rows, seed=seed))
    command = ["minigan", "amplitude", entry.shown, "--digit", str(digit), "--rows", str(rows),
               "--seed", str(seed), "--out", "amplitude.png"]
    return await png_response(table, images, len(images) // rows, command=command)
