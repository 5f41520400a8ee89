"""The table of runs a playground serves, and one cached generator per run.

Only runs named when the server starts are served: a request's run id is looked up in this table
and never joined to a path. A generator is loaded on first use and kept; when its file changes on
disk (a training run writing a newer one, always atomically) the next request loads the new one.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from minigan import load_generator
from minigan.config import TrainConfig
from minigan.errors import CheckpointError, ConfigError, MiniganError
from minigan.run.folder import read_jsonl

from .params import ApiError

GENERATOR_FILE = "generator.safetensors"
MAX_WAITING = 64  # generator calls queued at once; past that a request gets 503 instead of waiting


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
        """The run's TrainedGenerator, reloaded when its file changed since the last load."""
        with self._load_lock:
            signature = self.signature()
            if self._generator is not None and signature == self._signature:
                return self._generator
            try:
                generator = load_generator(self.path, self.device)
            except CheckpointError as exc:  # a ConfigError (say, a bad --device) is the caller's to see
                self._signature = signature  # retry when the files change again, not on every request
                if self._generator is None and not any(self.signature()):
                    raise ApiError(409, f"run {self.id!r} has no generator yet: a training run writes one "
                                        "at its first checkpoint (--checkpoint-every)") from None
                if self._generator is None:
                    raise ApiError(409, f"run {self.id!r} has no usable generator: {exc}") from None
                print(f"minigan: warning: keeping the last generator of {self.id}: {exc}", file=sys.stderr)
                return self._generator
            self._generator, self._signature, self.derived = generator, signature, {}
            return generator

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
        """What the run picker shows; loads the generator (once) to know its step."""
        error, step = None, None
        try:
            step = self.generator().step
        except ApiError as exc:
            error = exc.message
        config = self.config()
        digits = bool(config and is_digit_run(config))
        return {
            "id": self.id, "path": self.shown, "ready": error is None, "error": error, "step": step,
            "preset": config.preset if config else None, "dataset": config.dataset if config else None,
            "arch": config.arch if config else None, "z_dim": config.z_dim if config else None,
            "conditional": bool(config and config.conditional),
            "num_classes": config.num_classes if config and config.conditional else 0,
            "digits": digits, "fid": self.last_fid(), "watchable": self.is_folder,
        }


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
    """Runs by id, and the one lock that serialises generator work (a burst queues behind it)."""

    def __init__(self, paths: Sequence[str | Path], device: str = "cpu") -> None:
        taken: set[str] = set()
        self.entries: dict[str, RunEntry] = {}
        for path, shown in discover(paths):
            name = path.stem if path.is_file() else path.name
            run_id = _run_id(name, taken)
            self.entries[run_id] = RunEntry(run_id, path.resolve(), shown, device)
        if not self.entries:
            raise ConfigError("no runs to serve: name at least one run folder")
        self._work_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._waiting = 0

    def get(self, run_id: str) -> RunEntry:
        entry = self.entries.get(run_id)
        if entry is None:
            shown = run_id if len(run_id) <= 60 else run_id[:60] + "..."
            raise ApiError(404, f"unknown run {shown!r}; this server has {', '.join(self.entries)}")
        return entry

    @contextlib.contextmanager
    def work(self) -> Iterator[None]:
        """Hold the generator lock; refuse with 503 when MAX_WAITING requests already queue."""
        with self._count_lock:
            if self._waiting >= MAX_WAITING:
                raise ApiError(503, f"busy: {MAX_WAITING} requests are queued; try again shortly")
            self._waiting += 1
        try:
            with self._work_lock:
                yield
        finally:
            with self._count_lock:
                self._waiting -= 1
