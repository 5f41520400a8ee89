"""The table of runs a playground serves, and one cached generator per run.

Only runs named when the server starts are served: a request's run id is looked up in this table
and never joined to a path. A generator is loaded on first use and kept; when its file changes on
disk (a training run writing a newer one, always atomically) the next request loads the new one.
A file that fails to load, for whatever reason, is that run's state: the last good weights stay in
use, the picker says why, and the other runs never notice.

Generator work runs one call at a time in worker threads; requests wait for it on the event loop,
and at most MAX_WAITING of them at once (`RunTable.admit`): the next one gets 503 straight away.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from minigan import load_generator
from minigan.config import TrainConfig
from minigan.errors import ConfigError, MiniganError
from minigan.run.folder import read_jsonl
from minigan.runtime import resolve_device

from .params import ApiError

GENERATOR_FILE = "generator.safetensors"
MAX_WAITING = 64  # costly requests admitted at once; past that a request gets 503 instead of waiting
PNG_WORKERS = 2  # PNGs encoded at once (small: a 16 x 16 grid is 482 x 482 pixels)
GIF_WORKERS = 2  # GIFs encoded at once: a 600-frame clock at scale 8 adds ~200 MB while it encodes
T = TypeVar("T")


def is_run_folder(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / GENERATOR_FILE).is_file()


def is_digit_run(config: TrainConfig) -> bool:
    """Conditional on MNIST's ten digits: what the digit clock needs ("idx" sets may be anything)."""
    return config.conditional and config.num_classes == 10 and config.dataset == "mnist"


def _stat_key(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (path.name, st.st_mtime_ns, st.st_size, st.st_ino)


class RunEntry:
    """One served run: a run folder (or a lone generator .safetensors) and its cached generator."""

    def __init__(self, run_id: str, path: Path, shown: str, device: str) -> None:
        self.id, self.path, self.shown, self.device = run_id, path, shown, device
        self.is_folder = path.is_dir()
        self._generator = None
        self._signature: tuple | None = None
        self.problem: str | None = None  # why the files on disk do not load (None: they do)
        self._load_lock = threading.Lock()
        self.derived: dict[str, Any] = {}  # values computed from the current generator (directions)

    def signature(self) -> tuple:
        """What identifies the weights on disk: the generator file, else the checkpoints."""
        if not self.is_folder:
            return (_stat_key(self.path),)
        generator = self.path / GENERATOR_FILE
        if generator.is_file():
            return (_stat_key(generator),)
        checkpoints = self.path / "checkpoints"
        files = sorted(checkpoints.glob("*.pt")) if checkpoints.is_dir() else []
        return tuple(_stat_key(f) for f in files)

    def generator(self):
        """The run's TrainedGenerator, reloaded when its file changed since the last load.

        A file that does not load leaves the last good generator in use (with a warning) and is
        tried again only once the files change again; with no good generator yet it is a 409.
        """
        with self._load_lock:
            signature = self.signature()
            if signature != self._signature:
                self._load(signature)
            if self._generator is not None:
                return self._generator
            if not any(signature):
                raise ApiError(409, f"run {self.id!r} has no generator yet: a training run writes one "
                                    "at its first checkpoint (--checkpoint-every)")
            raise ApiError(409, f"run {self.id!r} has no usable generator: {self.problem}")

    def _load(self, signature: tuple) -> None:
        self._signature = signature
        if not any(signature):
            self.problem = None
            return
        try:
            generator = load_generator(self.path, self.device)
        except Exception as exc:  # noqa: BLE001 - any damage to one run's files is that run's state
            self.problem = _one_line(exc)
            if self._generator is not None:
                print(f"minigan: warning: keeping the last generator of {self.id}: {self.problem}",
                      file=sys.stderr)
            return
        self._generator, self.problem, self.derived = generator, None, {}

    def config(self) -> TrainConfig | None:
        if self._generator is not None:
            return self._generator.config
        config_path = self.path / "config.json"
        if self.is_folder and config_path.is_file():
            with contextlib.suppress(OSError, ValueError, MiniganError):
                return TrainConfig.from_dict(json.loads(config_path.read_text()))
        return None

    def last_fid(self) -> dict[str, Any] | None:
        """FID-MNIST from `minigan eval` (metrics.json), else the newest training evaluation."""
        if not self.is_folder:
            return None
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            saved = json.loads((self.path / "metrics.json").read_text())["metrics"]
            return {"fid": float(saved["fid"]), "num": saved.get("num_images"), "source": "minigan eval"}
        with contextlib.suppress(MiniganError, ValueError, TypeError, IndexError, KeyError):
            record = read_jsonl(self.path / "metrics.jsonl")[-1]
            return {"fid": float(record["fid"]), "num": record.get("num"),
                    "source": f"training eval at step {record.get('step')}"}
        return None

    def info(self) -> dict[str, Any]:
        """What the run picker shows; loads the generator (once) to know its step. Never raises."""
        error, step = None, None
        try:
            step = self.generator().step
        except ApiError as exc:
            error = exc.message
        except Exception as exc:  # noqa: BLE001 - one run's failure must not take the list down
            error = _one_line(exc)
        try:
            config = self.config()
        except Exception:  # noqa: BLE001
            config = None
        digits = bool(config and is_digit_run(config))
        return {
            "id": self.id, "path": self.shown, "ready": error is None, "error": error, "step": step,
            "warning": None if error or not self.problem else
            f"the generator file does not load ({self.problem}); serving the last good one",
            "preset": config.preset if config else None, "dataset": config.dataset if config else None,
            "arch": config.arch if config else None, "z_dim": config.z_dim if config else None,
            "conditional": bool(config and config.conditional),
            "num_classes": config.num_classes if config and config.conditional else 0,
            "digits": digits, "fid": self.last_fid(), "watchable": self.is_folder,
        }


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    if not isinstance(exc, MiniganError):
        line = f"{type(exc).__name__}: {line}" if line else type(exc).__name__
    return line[:300]


def _run_id(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "run"
    run_id, n = base, 2
    while run_id in taken:
        run_id, n = f"{base}-{n}", n + 1
    taken.add(run_id)
    return run_id


def discover(paths: Sequence[str | Path]) -> list[tuple[Path, str]]:
    """Command-line paths -> (run path, path as the user wrote it): runs, or folders holding runs."""
    found: list[tuple[Path, str]] = []
    for given in paths:
        path = Path(given)
        if path.is_file() and path.suffix == ".safetensors":
            found.append((path, str(given)))
        elif path.is_dir() and is_run_folder(path):
            found.append((path, str(given)))
        elif path.is_dir():
            children = sorted(p for p in path.iterdir() if p.is_dir() and is_run_folder(p))
            if not children:
                raise ConfigError(f"{given} is not a run folder and holds none (no config.json or "
                                  f"{GENERATOR_FILE} in it or its subfolders)")
            found.extend((child, str(Path(given) / child.name)) for child in children)
        else:
            raise ConfigError(f"{given} does not exist; give run folders, folders of runs or "
                              f"{GENERATOR_FILE} files")
    return found


class RunTable:
    """Runs by id, and the lanes their work runs in: generator calls one at a time, encoding beside
    them; a burst waits on the event loop, at most MAX_WAITING requests of it."""

    def __init__(self, paths: Sequence[str | Path], device: str = "cpu") -> None:
        taken: set[str] = set()
        self.entries: dict[str, RunEntry] = {}
        for path, shown in discover(paths):
            name = path.stem if path.is_file() else path.name
            run_id = _run_id(name, taken)
            self.entries[run_id] = RunEntry(run_id, path.resolve(), shown, device)
        if not self.entries:
            raise ConfigError("no runs to serve: name at least one run folder")
        resolve_device(device)  # a bad --device is the caller's error, not every run's state
        self._generator_lane = anyio.CapacityLimiter(1)
        self._png_lane = anyio.CapacityLimiter(PNG_WORKERS)
        self._gif_lane = anyio.CapacityLimiter(GIF_WORKERS)
        self._admitted = 0

    def get(self, run_id: str) -> RunEntry:
        entry = self.entries.get(run_id)
        if entry is None:
            shown = run_id if len(run_id) <= 60 else run_id[:60] + "..."
            raise ApiError(404, f"unknown run {shown!r}; this server has {', '.join(self.entries)}")
        return entry

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold one of MAX_WAITING places for a costly request, from before its body is read to its
        answer; refuse with 503 when all are taken. Counted on the event loop: no lock needed."""
        if self._admitted >= MAX_WAITING:
            raise ApiError(503, f"busy: {MAX_WAITING} requests are in progress; try again shortly")
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def compute(self, fn: Callable[..., T], *args: Any) -> T:
        """Run generator work in a worker thread, one call at a time; the rest wait on the loop."""
        return await anyio.to_thread.run_sync(lambda: fn(*args), limiter=self._generator_lane)

    async def encode(self, fn: Callable[..., T], *args: Any, gif: bool = False) -> T:
        """Run image encoding in a worker thread, never on the event loop: at most PNG_WORKERS PNGs
        and GIF_WORKERS GIFs at once (a GIF is the server's memory peak)."""
        lane = self._gif_lane if gif else self._png_lane
        return await anyio.to_thread.run_sync(lambda: fn(*args), limiter=lane)
