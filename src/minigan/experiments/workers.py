"""Run tasks as parallel subprocesses, `workers` at a time, each task a few commands in a row.

Each worker slot has a device (round-robin over `devices`); a task's commands all run on the
device of the slot that took it. Output goes to the task's log file. Ctrl-C (or SIGTERM to this
process) sends SIGTERM to every running command: minigan saves a checkpoint and exits 130, so the
interrupted tasks can be resumed.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .grid import device_for_worker

Status = Literal["pending", "running", "finished", "failed", "interrupted"]
POLL_S = 0.1
STOP_WAIT_S = 120.0  # how long a stopped command may take to save its checkpoint before it is killed
_STOPPED = {130, -signal.SIGINT, -signal.SIGTERM}


@dataclass
class Task:
    name: str
    log: Path
    commands: Callable[[str], list[list[str]]]  # device -> the commands to run, in order
    status: Status = "pending"
    returncode: int | None = None
    seconds: float = 0.0
    device: str | None = None
    stage: str | None = None  # the command running or last run: train, resume or eval
    _queue: list[list[str]] = field(default_factory=list, repr=False)
    _started: float = 0.0


def child_environment(threads: int) -> dict[str, str]:
    """The environment of every command: this minigan's source first, `threads` threads, no buffering."""
    env = dict(os.environ)
    source = str(Path(__file__).resolve().parents[2])  # src/, where the package `minigan` lives
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # `minigan eval` has no --threads
        if threads:
            env[name] = str(threads)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """A SIGTERM to the sweep stops it like Ctrl-C does (only the main thread can take signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _start(task: Task, env: dict[str, str]) -> subprocess.Popen:
    command = task._queue.pop(0)
    task.log.parent.mkdir(parents=True, exist_ok=True)
    with open(task.log, "ab") as log:
        log.write(f"$ {shlex.join(command)}\n".encode())
        log.flush()
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env)


def _word(command: list[str]) -> str:
    return command[3] if len(command) > 3 else command[-1]  # python -m minigan WORD ...


def run_tasks(tasks: list[Task], workers: int, devices: list[str], env: dict[str, str],
              say: Callable[[str], None], on_done: Callable[[Task], None] | None = None) -> bool:
    """Run every task; return True when interrupted (Ctrl-C / SIGTERM), False when all ended."""
    pending = list(tasks)
    running: dict[int, tuple[Task, subprocess.Popen]] = {}  # worker slot -> its task and process
    total, started = len(tasks), 0
    with _sigterm_interrupts():
        try:
            while pending or running:
                for slot in range(workers):
                    if slot in running or not pending:
                        continue
                    task = pending.pop(0)
                    task.device = device_for_worker(slot, devices)
                    task._queue = task.commands(task.device)
                    task.status, task._started = "running", time.monotonic()
                    started += 1
                    task.stage = _word(task._queue[0])
                    say(f"[{started}/{total}] {task.name}: {task.stage} on {task.device} (log {task.log})")
                    running[slot] = (task, _start(task, env))
                for slot, (task, process) in list(running.items()):
                    code = process.poll()
                    if code is None:
                        continue
                    if code == 0 and task._queue:
                        task.stage = _word(task._queue[0])
                        running[slot] = (task, _start(task, env))
                        continue
                    del running[slot]
                    task.returncode, task.seconds = code, time.monotonic() - task._started
                    task.status = "finished" if code == 0 else "interrupted" if code in _STOPPED else "failed"
                    if on_done is not None:
                        on_done(task)
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            _stop(list(running.values()), say)
            return True
    return False


def _stop(running: list[tuple[Task, subprocess.Popen]], say: Callable[[str], None]) -> None:
    say(f"interrupted: stopping {len(running)} running worker(s); they save a checkpoint first")
    for _, process in running:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    for task, process in running:
        try:
            task.returncode = process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            task.returncode = process.wait()
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, kill what is left
            for _, other in running:
                with contextlib.suppress(ProcessLookupError):
                    other.kill()
            raise
        task.status = "interrupted"
