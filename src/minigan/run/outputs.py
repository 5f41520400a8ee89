"""Where a command may write: one rule for every file and run folder a command makes.

- A file's extension says its format: `sample --out x.png` is refused (the .npz writer), with the
  flag that does write PNGs.
- No command writes over a run's own files (weights, checkpoints, config, logs, its pictures)
  unless that is the command's job (`eval` writes the run's metrics.json).
- A run folder is never made at an empty path, nor inside a non-empty folder that is not a run
  (a run has config.json or checkpoints/): a user's own `samples.png` or `stats.jsonl` there
  would be overwritten or appended to.
- A path that cannot be written (its parent is a file, it is a folder, the folder refuses writes)
  is one line naming it, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OutputError
from ..fileio import TEMP_NAME

# What a training run writes at its top level; checkpoints/ and progress/ are wholly the run's.
RUN_FILES = frozenset({
    "config.json", "stats.jsonl", "events.jsonl", "metrics.jsonl", "metrics.json",
    "generator.safetensors", ".lock", "samples.png", "losses.png", "latent.png", "class_grid.png",
})
RUN_SUBFOLDERS = frozenset({"checkpoints", "progress"})


@dataclass(frozen=True)
class Output:
    """One file a command writes: its flag, the extensions of its format, and what it may replace."""

    flag: str  # e.g. "sample --out"
    suffixes: tuple[str, ...]  # e.g. (".npz",)
    what: str  # e.g. "samples as .npz"
    elsewhere: dict[str, str] = field(default_factory=dict)  # ".png" -> "--grid": who writes that format
    may_replace: frozenset[str] = frozenset()  # run files that are this command's job to write


# Every file a command writes, declared once (the CLI checks each before any work).
SAMPLES = Output("sample --out", (".npz",), "samples as .npz", {".png": "--grid or --class-grid"})
GRID = Output("--grid", (".png",), "a PNG grid", {".npz": "--out"})
CLASS_GRID = Output("--class-grid", (".png",), "a PNG grid", {".npz": "--out"})
PICTURE = Output("--out", (".png",), "a PNG", {".gif": "`minigan clock`"})
ANIMATION = Output("clock --out", (".gif", ".mp4"), "an animation", {".png": "`minigan interpolate`"})
METRICS = Output("eval --out", (".json",), "metrics as JSON", may_replace=frozenset({"metrics.json"}))
CLASSIFIER = Output("classifier train --out", (".safetensors",), "classifier weights")


def is_run(folder: str | os.PathLike) -> bool:
    folder = Path(folder)
    return (folder / "config.json").is_file() or (folder / "checkpoints").is_dir()


def owning_run(path: Path) -> Path | None:
    """The run folder whose own file `path` is, or None."""
    if path.parent.name in RUN_SUBFOLDERS and is_run(path.parent.parent):
        return path.parent.parent
    if path.name in RUN_FILES and is_run(path.parent):
        return path.parent
    return None


def _blocking_file(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` when it is not a folder (nothing can be made below it)."""
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            return None if parent.is_dir() else parent
    return None


def check_output(path: str | os.PathLike, output: Output) -> Path:
    """Refuse `path` for `output` unless the file can and may be written there; return it as a Path."""
    path = Path(path)
    names = " or ".join(output.suffixes)
    if str(path) in ("", "."):
        raise OutputError(f"{output.flag} needs a file name ending {names}, got an empty path")
    suffix = path.suffix.lower()
    if suffix not in output.suffixes:
        other = output.elsewhere.get(suffix)
        hint = f" ({suffix} is written by {other})" if other else ""
        raise OutputError(f"{output.flag} {path}: it writes {output.what}; give a name ending {names}{hint}")
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder; give a file name inside it")
    if (blocker := _blocking_file(path)) is not None:
        raise OutputError(f"cannot write {path}: {blocker} is a file, not a folder")
    run = owning_run(path)
    if run is not None and path.name not in output.may_replace:
        raise OutputError(f"{output.flag} {path} would overwrite run {run}'s own {path.name}; "
                          "choose another name")
    return path


def check_run_folder(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Refuse a run folder at an empty path or inside a non-empty folder that is not a run."""
    text = str(path)
    if text in ("", "."):
        raise OutputError(f"{flag} needs a folder name for the run, got {text!r} (the current folder); "
                          f"e.g. {flag} runs/mine")
    path = Path(path)
    if (blocker := _blocking_file(path / "config.json")) is not None:
        raise OutputError(f"cannot use {path} as a run folder: {blocker} is a file; choose another {flag}")
    if path.is_dir() and not is_run(path) and any(_not_a_run_file(entry) for entry in path.iterdir()):
        raise OutputError(f"{flag} {path} is a folder of other files, not a run: its files could be "
                          f"overwritten; give a new or empty folder")
    return path


def keep_larger_measurement(path: Path, num_images: int) -> Path:
    """Where `eval` writes a measurement of `num_images` samples whose default home is `path`.

    A run's metrics.json is what the playground and `compare` show as its score, and FID from fewer
    samples is biased upwards (100 samples: ~100 against ~5 from 10,000). So a smaller measurement
    never replaces a larger one: it goes beside it as metrics-<num>.json, and both are kept.
    """
    try:
        held = json.loads(path.read_text())["metrics"]["num_images"]
    except (OSError, ValueError, KeyError, TypeError):
        return path  # none yet (or unreadable): this one is the run's measurement
    if not isinstance(held, int) or num_images >= held:
        return path
    return path.with_name(f"{path.stem}-{num_images}{path.suffix}")


def _not_a_run_file(entry: Path) -> bool:
    """A run being started holds only its .lock, temporary files and empty-to-be folders
    (progress/, tensorboard/) before its config.json: another process of the job may be there first.
    A sweep writes the run's log.txt (the worker's output) before the run starts."""
    if entry.name in (".lock", "progress", "tensorboard", "log.txt") or TEMP_NAME.match(entry.name):
        return False
    return True


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OSError while writing `path` into one line that names the file and the cause."""
    try:
        yield
    except OSError as exc:
        reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        raise OutputError(f"cannot write {path}: {reason}") from None
