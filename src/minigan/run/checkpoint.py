"""Checkpoints: plain dicts of tensors and primitives, written atomically, loaded without pickle.

A checkpoint `step-000001000.pt` has a sidecar `step-000001000.pt.sha256`. Loading verifies the
checksum (when the sidecar exists) and uses `torch.load(weights_only=True)`, which refuses any
object that is not a tensor, a primitive or a plain container, so a crafted file cannot run code.
"""

from __future__ import annotations

import errno
import hashlib
import io
import pickle
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..fileio import atomic_path, atomic_write_text

FORMAT = "minigan-checkpoint"
VERSION = 1
_NAME = re.compile(r"^step-(\d{9})\.pt$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:09d}.pt"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes: the checksum inside generator and
    classifier .safetensors files (a checkpoint's is its .sha256 sidecar)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write `state` atomically with its checksum; on a write error the old file stays intact."""
    path = Path(path)
    state = {"format": FORMAT, "version": VERSION, **state}
    # Serialised in memory first: torch's own file writer reports a full disk as a RuntimeError
    # that names no cause, a plain write raises OSError(ENOSPC).
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getbuffer()
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                handle.write(data)
            # A sidecar left from an older file of this name must never judge the new one.
            _sidecar(path).unlink(missing_ok=True)
        atomic_write_text(_sidecar(path), hashlib.sha256(data).hexdigest() + "\n")
    except OSError as exc:
        reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        raise CheckpointError(
            f"could not write checkpoint {path}: {reason}; the previous checkpoint is intact, "
            "free space (or fix the folder) and resume the run"
        ) from None
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and verify one checkpoint; any damage or foreign content is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        expected = _sidecar(path).read_text().strip() if _sidecar(path).is_file() else ""
        if expected and expected != _sha256(path):
            raise CheckpointError(f"checkpoint {path} is damaged (checksum mismatch)")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc}") from None
    try:
        with warnings.catch_warnings():  # e.g. "pickle protocol 4": the one-line error says enough
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"checkpoint {path} was refused: it holds more than tensors and plain values "
            f"({_refusal_reason(exc)}), and loading that could run code"
        ) from None
    except Exception as exc:  # torch raises many types for damaged files
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} cannot be loaded: {first_line}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a minigan checkpoint")
    version = state.get("version")
    if not isinstance(version, int):
        raise CheckpointError(f"{path} is not a minigan checkpoint (no format version)")
    if version > VERSION:
        raise CheckpointError(f"{path} was written by a newer minigan; upgrade to load it")
    return state


def _refusal_reason(exc: Exception) -> str:
    """The specific line of torch's weights_only refusal, without its advice to load unsafely."""
    lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
    for line in lines:
        if not line.startswith(("Please file", "Check the documentation")):
            return line.removeprefix("WeightsUnpickler error:").strip() or "unknown content"
    return "unknown content"


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every periodic checkpoint in `folder`, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := _NAME.match(p.name)) and p.is_file()]
    return sorted(found, reverse=True)


def load_latest(
    folder: str | Path,
    map_location: str | torch.device = "cpu",
    warn: Callable[[str], None] = print,
) -> tuple[dict[str, Any], Path] | None:
    """The newest intact checkpoint in `folder`, skipping damaged ones with a one-line warning.

    Returns None when the folder holds no checkpoint at all; raises when none is intact.
    """
    candidates = list_checkpoints(folder)
    if not candidates:
        return None
    for _, path in candidates:
        try:
            return load_checkpoint(path, map_location), path
        except CheckpointError as exc:
            warn(f"warning: {exc}; trying an older one")
    raise CheckpointError(
        f"no intact checkpoint in {folder} ({len(candidates)} damaged); start a new run with another --out"
    )


def rotate(folder: str | Path, keep: int) -> None:
    """Delete all but the newest `keep` periodic checkpoints, their sidecars and orphan sidecars."""
    for _, path in list_checkpoints(folder)[keep:]:
        remove(path)
    # a kill between deleting a checkpoint and its sidecar leaves the sidecar alone
    for sidecar in Path(folder).glob("step-*.pt.sha256"):
        if not sidecar.with_suffix("").exists():
            sidecar.unlink(missing_ok=True)


def remove(path: str | Path) -> None:
    """Delete a checkpoint and its checksum sidecar (the sidecar last, so no file is left unjudged)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    _sidecar(path).unlink(missing_ok=True)
