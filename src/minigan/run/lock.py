"""One writer per run folder: an flock held for the process's lifetime, naming its holder."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..errors import CheckpointError
from ..fileio import remove_stale_temp_files


class RunLock:
    """`with RunLock(path):` holds the folder exclusively (released by the OS on any exit, kill -9 too).

    Once held, temporary files that killed writers left behind are deleted.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._handle = None

    def acquire(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = open(self.path / ".lock", "a+")
        except OSError as exc:
            raise CheckpointError(
                f"cannot use {self.path} as a run folder ({exc.strerror or exc}); choose another --out"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise CheckpointError(
                f"run folder {self.path} is in use by process {owner}; wait for it to finish "
                "or choose another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        for folder in (self.path, self.path / "checkpoints", self.path / "progress"):
            remove_stale_temp_files(folder)

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
