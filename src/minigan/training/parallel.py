"""One process or many, and how the networks run: torchrun's environment, the process group, the
few collectives the loop needs, and what a job of several processes refuses. Every helper degrades
to the one-process answer, so the loop has one code path (the networks' wrappers: wrappers.py).

A launcher that sets WORLD_SIZE > 1 (with RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT: torchrun) makes
a job; anything else is one process and never touches torch.distributed. CPU jobs talk over gloo;
CUDA jobs over NCCL for GPU tensors and gloo for CPU tensors, so agreeing on a decision (stop, NaN)
is a host-side exchange that never waits on a GPU stream.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.distributed as dist

from ..config import TrainConfig
from ..errors import CheckpointError, ConfigError, MiniganError

TIMEOUT_S = 300  # a collective that waits longer fails: a rank that hangs (not only one that dies) ends it
EXIT_WAIT_S = 10  # at exit, how long a rank waits for the others before tearing its connections down
_LOST = ("connection closed by peer", "connection reset by peer", "broken pipe", "remote worker",
         "timed out", "timeout", "nccl communicator was aborted")
_exit_group: Any = None  # the gloo group the ranks meet in at exit: NCCL has no monitored_barrier


class PeerLost(MiniganError):
    """Another process of the job died or stopped answering; this one stops too."""


def launched() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """In a job of more than one process, its process group up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if active() else 0


def setup(device: torch.device) -> torch.device:
    """Join torchrun's job when the environment names one; the device of this process (cuda:LOCAL_RANK)."""
    if not launched():
        return device
    local, ranks = int(os.environ.get("LOCAL_RANK", "0")), os.environ["WORLD_SIZE"]
    if device.type == "cuda":
        if device.index is not None:
            raise ConfigError(f"under torchrun every process takes cuda:LOCAL_RANK; use --device cuda, "
                              f"not {device}")
        if local >= torch.cuda.device_count():
            raise ConfigError(f"torchrun started process {local} on a machine with "
                              f"{torch.cuda.device_count()} GPU(s): use --nproc-per-node <= that")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"
        try:
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=TIMEOUT_S))
        except (RuntimeError, ValueError, KeyError) as exc:
            where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
            raise ConfigError(f"could not join the torchrun job ({ranks} processes, {where}): "
                              f"{short_cause(exc)}") from None
        global _exit_group
        _exit_group = dist.new_group(backend="gloo") if device.type == "cuda" else None
        atexit.register(_shutdown)
    return device


def _shutdown() -> None:
    """Leave the job together, then destroy the group while the interpreter is alive.

    A rank that tore its gloo connections down while another was still closing its own once ended the
    other with SIGABRT. The barrier (gloo: CPU jobs' default group, CUDA jobs' own) makes every rank
    reach this point first; when a peer is gone it fails within EXIT_WAIT_S, and the group goes anyway.

    A lost peer on NCCL: host-side decisions (`any_rank`, gloo) fail at once, but a rank in a GPU
    collective (DDP's all-reduce) waits TIMEOUT_S until NCCL's watchdog aborts it (DistBackendError, or
    SIGABRT); torchrun usually ends the job first, with SIGTERM to the survivors when one worker dies.
    """
    if not dist.is_initialized():
        return
    with contextlib.suppress(Exception):
        dist.monitored_barrier(group=_exit_group, timeout=datetime.timedelta(seconds=EXIT_WAIT_S))
    with contextlib.suppress(Exception):
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


@contextlib.contextmanager
def local_main_first() -> Iterator[None]:
    """Local rank 0 runs the block first (a download into a shared cache), the others after it."""
    if local_rank():
        barrier()
    try:
        yield
    finally:
        if not local_rank():
            barrier()


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is True on any (a CPU all-reduce: no GPU stream waits)."""
    if not active():
        return bool(flag)
    value = torch.tensor([int(bool(flag))], dtype=torch.int32)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def all_ranks(flag: bool) -> bool:
    return not any_rank(not flag)


def average_(tensor: torch.Tensor) -> torch.Tensor:
    """In place: the mean over ranks of a same-shaped tensor (equal shards: the mean of the whole batch)."""
    if active():
        dist.all_reduce(tensor)
        tensor.div_(world_size())
    return tensor


def average_gradients_(parameters: Iterable[torch.nn.Parameter]) -> None:
    """In place: each gradient the mean over ranks, in one all-reduce (what DDP does in backward).

    For a backward that bypasses DDP; parameters without a gradient are skipped, and are the same
    on every rank because they follow from the graph, not from the data.
    """
    if not active():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if grads:
        flat = torch.cat([g.flatten() for g in grads])
        average_(flat)
        for g, part in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
            g.copy_(part.view_as(g))


def mean(tensor: torch.Tensor) -> torch.Tensor:
    return average_(tensor.detach().clone()) if active() else tensor


def broadcast(value: Any) -> Any:
    """Rank 0's `value` on every rank (any picklable value)."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather(value: Any) -> list[Any]:
    """Every rank's `value`, in rank order, on every rank."""
    if not active():
        return [value]
    values: list[Any] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def check_agree(value: Any, what: str) -> None:
    """Stop every rank with one line when they hold different `value`s (a shared folder one cannot see)."""
    values = all_gather(value)
    if any(v != values[0] for v in values):
        seen = ", ".join(f"rank {r}: {v}" for r, v in enumerate(values))
        raise CheckpointError(f"the processes disagree on {what} ({seen}): on several machines the run "
                              "folder must be on a filesystem every machine sees")


def is_lost_peer(exc: BaseException) -> bool:
    """Does this error mean another process of the job died or stopped answering?"""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    return isinstance(exc, RuntimeError) and any(s in str(exc).lower() for s in _LOST)


@contextlib.contextmanager
def fail_together(where: Callable[[], str] = lambda: "", resume: str = "") -> Iterator[None]:
    """Turn a lost peer into one clear line (every surviving rank says it) instead of a traceback."""
    try:
        yield
    except RuntimeError as exc:
        if not launched() or not is_lost_peer(exc):
            raise
        tag = f"rank {os.environ.get('RANK', '?')} of {os.environ.get('WORLD_SIZE', '?')}"
        advice = f"; {resume}" if resume else ""
        raise PeerLost(f"{tag} lost contact with the other processes{where()} ({short_cause(exc)}): one "
                       f"was killed, crashed or hangs, so the job stops{advice}") from None


def short_cause(exc: BaseException) -> str:
    """The cause in a few words: gloo's "[.../pair.cc:553] Connection closed by peer [addr]:port. ..." ->
    "Connection closed by peer [addr]:port"."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^\[[^\]]*\.(?:cc|cpp|h):\d+\]\s*", "", text)
    return text.split(". ")[0][:200]


def check_job(config: TrainConfig) -> None:
    """Refuse, in one line, what a job of several processes cannot run."""
    if world_size() > 1 and (config.gp_lambda or config.update_scheme == "simultaneous"):
        raise ConfigError("--gp-lambda and --update-scheme simultaneous take gradients DDP cannot "
                          "average across processes: run them on one process")
    if world_size() > 1 and config.lr_decay != "none" and config.time_budget is not None:
        raise ConfigError("--lr-decay over a --time-budget follows each process's own clock, and the "
                          "ranks' rates would part: give --steps or --epochs under torchrun")
