"""Watch a run train: curves and the newest progress grid, read from the run folder (never written).

A training run appends to stats.jsonl and metrics.jsonl and writes progress/step-*.png atomically;
a truncated last line (a record being written) is skipped by `run.folder.read_jsonl`.
"""

from __future__ import annotations

import contextlib
import re
import time
import warnings
from pathlib import Path
from typing import Any

from minigan.errors import MiniganError
from minigan.run.folder import read_jsonl

CURVE_KEYS = ("loss_d", "loss_g", "d_real", "d_fake")
METRIC_KEYS = ("fid", "label_accuracy")
MAX_POINTS = 500  # per curve: longer histories are thinned evenly, the newest record always kept
LIVE_SECONDS = 60.0  # a run whose stats changed this recently counts as training
MAX_PROGRESS_BYTES = 32 * 1024 * 1024
_PROGRESS = re.compile(r"step-(\d+)\.png")


def _thin(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(records) <= MAX_POINTS:
        return records
    stride = len(records) / (MAX_POINTS - 1)
    picked = [records[int(i * stride)] for i in range(MAX_POINTS - 1)]
    return [*picked, records[-1]]


class RunFiles:
    """Parsed JSONL files of one run folder, re-read only when their size or mtime changes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, tuple[tuple, list]] = {}

    def _records(self, name: str, keys: tuple[str, ...]) -> tuple[list[dict[str, Any]], float | None]:
        path = self.folder / name
        try:
            st = path.stat()
        except OSError:
            return [], None
        key = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(name)
        if cached is None or cached[0] != key:
            with warnings.catch_warnings(), contextlib.suppress(MiniganError, OSError):
                warnings.simplefilter("ignore")  # a damaged line is skipped; the page shows the rest
                records = [{k: r[k] for k in ("step", *keys) if isinstance(r.get(k), int | float)}
                           for r in read_jsonl(path)]
                self._cache[name] = (key, _thin([r for r in records if "step" in r]))
        return self._cache.get(name, (None, []))[1], st.st_mtime

    def newest_progress(self) -> tuple[int, Path] | None:
        folder = self.folder / "progress"
        if not folder.is_dir():
            return None
        found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _PROGRESS.fullmatch(p.name))]
        found = [(step, p) for step, p in found if p.is_file() and not p.is_symlink()]
        return max(found) if found else None

    def summary(self) -> dict[str, Any]:
        stats, stats_mtime = self._records("stats.jsonl", CURVE_KEYS)
        metrics, _ = self._records("metrics.jsonl", METRIC_KEYS)
        newest = self.newest_progress()
        return {
            "stats": stats, "metrics": metrics,
            "live": stats_mtime is not None and time.time() - stats_mtime < LIVE_SECONDS,
            "progress_step": newest[0] if newest else None,
            "last_step": stats[-1]["step"] if stats else None,
        }

    def progress_png(self) -> bytes | None:
        newest = self.newest_progress()
        if newest is None:
            return None
        path = newest[1]
        with contextlib.suppress(OSError):
            if path.stat().st_size <= MAX_PROGRESS_BYTES:
                return path.read_bytes()
        return None
