"""`minigan sweep`: a grid of overrides x seeds, trained as parallel single-thread runs, then compared.

    sweeps/fast-lr/
      sweep.json                       preset, grid, seeds, fixed overrides, run names
      lr_g=1e-3,r1_gamma=0,seed=0/     a run folder (config.json, checkpoints/, ...), plus
        log.txt                        the worker's output, and
        metrics.json                   `minigan eval` at the end: the run is finished when it exists
      summary.md, summary.csv, summary.json, fid_over_time.png

Each run is `python -m minigan train` (or `resume`, when the folder holds a started run) followed by
`python -m minigan eval`, in a worker subprocess with one thread: on a small CPU, two 1-thread runs
beat one 2-thread run by 16-49%. Rerunning the same sweep skips finished runs and resumes the rest.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..fileio import atomic_write_json
from ..presets import get_config
from .grid import (
    cli_args,
    grid_points,
    grid_text,
    parse_grid,
    parse_seeds,
    run_name,
    typed_grid,
    typed_overrides,
)
from .summary import FINAL_METRICS, SWEEP_FILE, read_run, summarise, write_summary
from .workers import Task, child_environment, run_tasks

FINAL_EVAL_NUM = 10000  # samples of the final evaluation, as `minigan eval` (eval_num overrides it)
# Settings a rerun may change without making it another sweep: where and how the runs execute.
_RUNTIME_FIELDS = ("device", "threads", "data_dir")


@dataclass
class SweepRun:
    name: str
    path: Path
    overrides: dict[str, Any]  # grid point + fixed overrides + seed: everything but the preset
    status: str = "pending"  # pending, done (finished before this sweep started), finished, failed, ...
    returncode: int | None = None
    stage: str | None = None  # the worker command that stopped it: train, resume or eval

    @property
    def log(self) -> Path:
        return self.path / "log.txt"

    @property
    def evaluated(self) -> bool:
        return (self.path / FINAL_METRICS).is_file()


@dataclass
class SweepResult:
    out: Path
    runs: list[SweepRun]
    rows: list[dict[str, Any]] = field(default_factory=list)  # the summary table (the rows `compare` returns)
    interrupted: bool = False

    @property
    def failed(self) -> list[SweepRun]:
        return [run for run in self.runs if run.status == "failed"]

    @property
    def exit_code(self) -> int:
        """The CLI's exit status: 130 when interrupted (or a worker was), 1 when a run failed, else 0."""
        stopped = self.interrupted or any(run.status == "interrupted" for run in self.runs)
        return 130 if stopped else 1 if self.failed else 0


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))  # tuples -> lists, as sweep.json holds them


def _default_workers(devices: Sequence[str]) -> int:
    if any(device != "cpu" for device in devices):
        return len(devices)  # one run per accelerator
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _check_devices(devices: str | Sequence[str] | None, fixed: dict[str, Any]) -> list[str]:
    from ..runtime import resolve_device

    if devices is not None and "device" in fixed:
        raise ConfigError("give the devices once: --devices (one run per device), not also --device")
    if devices is None:
        devices = [fixed.pop("device", "cpu")]
    if devices in ("auto", "cuda"):  # every GPU (auto: else the CPU)
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count and devices == "cuda":
            raise ConfigError("--devices cuda: this machine has no GPU; use --devices cpu")
        devices = [f"cuda:{i}" for i in range(count)] or ["cpu"]
    listed = [d.strip() for d in devices.split(",")] if isinstance(devices, str) else list(devices)
    if not listed or any(not d for d in listed):
        raise ConfigError(f"--devices must be comma-separated device names, e.g. cuda:0,cuda:1; "
                          f"got {devices!r}")
    for device in listed:
        resolve_device(device)  # a missing GPU fails here, before any run starts
    return listed


def plan(preset: str, grid: Mapping[str, Sequence[Any]], seeds: Sequence[int], fixed: dict[str, Any],
         out: Path) -> list[SweepRun]:
    """One run per grid point and seed, each config validated now (not after hours of other runs)."""
    if both := sorted(set(grid) & set(fixed)):
        raise ConfigError(f"{', '.join(both)} is set both in the grid and as a fixed override; keep one")
    if "seed" in fixed:
        raise ConfigError("a sweep sets seeds with --seeds 0,1 (Python: seeds=[0, 1]), not --seed")
    get_config(preset)  # an unknown preset: one line naming the presets
    runs, names = [], set()
    for point in grid_points(grid):
        for seed in seeds:
            name = run_name(point, seed)
            if name in names:
                raise ConfigError(f"two grid points share the run name {name}; give values that differ "
                                  "in letters or digits")
            names.add(name)
            overrides = {**point, **fixed, "seed": seed}
            try:
                get_config(preset, **overrides)
            except ConfigError as exc:
                raise ConfigError(f"run {name}: {exc}") from None
            runs.append(SweepRun(name, out / name, overrides))
    return runs


def _check_spec(out: Path, spec: dict[str, Any], force: bool) -> None:
    """Refuse, in one line, a different sweep into a folder that holds one (unless `force`)."""
    if (out / "config.json").is_file():
        raise ConfigError(f"{out} is a run folder, not a sweep folder; choose another --out")
    path = out / SWEEP_FILE
    if not path.is_file() or force:
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc}); delete it or pass --force") from None

    if changed := _differences(old, spec):
        raise ConfigError(f"{out} holds a different sweep ({'; '.join(changed)}); choose another --out, "
                          "or pass --force to run this grid there (finished runs are kept)")


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What makes `new` another sweep than `old`: preset, seeds, the grid (in order), fixed overrides."""
    changed = [f"{key}: {old.get(key)} -> {new.get(key)}" for key in ("preset", "seeds")
               if old.get(key) != new.get(key)]
    if list(old.get("grid", {}).items()) != list(new["grid"].items()):
        changed.append(f"grid: {grid_text(old.get('grid', {})) or '-'} -> {grid_text(new['grid']) or '-'}")
    before, now = old.get("overrides", {}), new["overrides"]
    for name in dict.fromkeys([*before, *now]):
        if name not in _RUNTIME_FIELDS and before.get(name, "unset") != now.get(name, "unset"):
            changed.append(f"{name}: {before.get(name, 'unset')} -> {now.get(name, 'unset')}")
    return changed


def command_line(preset: str, grid: Mapping[str, Sequence[Any]], seeds: Sequence[int],
                 fixed: Mapping[str, Any], out: Path) -> str:
    """The `minigan sweep` command of this sweep (the first line of its summary.md)."""
    words = ["minigan", "sweep", f"--preset={preset}", *([f"--grid={grid_text(grid)}"] if grid else []),
             f"--seeds={','.join(map(str, seeds))}", *cli_args(fixed), f"--out={out}"]
    return shlex.join(words)


def _commands(run: SweepRun, preset: str, threads: int) -> Callable[[str], list[list[str]]]:
    def commands(device: str) -> list[list[str]]:
        python = [sys.executable, "-m", "minigan"]
        common = [f"--threads={threads}", "--quiet", f"--device={device}", *cli_args(run.overrides)]
        if (run.path / "config.json").is_file():  # a started run: its checkpoints make resuming exact
            first = [*python, "resume", str(run.path), *common]
        else:
            first = [*python, "train", f"--preset={preset}", f"--out={run.path}", *common]
        num = run.overrides.get("eval_num", FINAL_EVAL_NUM)
        data = run.overrides.get("data_dir")
        evaluate = [*python, "eval", str(run.path), f"--num={num}", f"--device={device}",
                    *([f"--data-dir={data}"] if data else [])]
        return [first, evaluate]

    return commands


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def sweep(preset: str, grid: Mapping[str, Sequence[Any]] | str | None = None,
          seeds: Sequence[int] | str = (0,), *, out: str | Path, workers: int | None = None,
          devices: Sequence[str] | str | None = None, force: bool = False, dry_run: bool = False,
          progress: bool = True, **overrides: Any) -> SweepResult:
    """Train every grid point x seed of `preset` under `out`, evaluate each run, write the summary.

    `grid` maps config fields to the values to try (or is a `--grid` string); `overrides` are fixed
    for every run. `eval_num` also sets the samples of the final evaluation (default 10000).
    `workers` parallel 1-thread runs (default: one per CPU core; one per device for GPUs), placed
    on `devices` round-robin (default cpu). Rerun the same call to resume an interrupted sweep.
    """
    say: Callable[[str], None] = print if progress else (lambda message: None)
    out = Path(out)
    grid = typed_grid(parse_grid(grid) if isinstance(grid, str) else grid or {})
    seeds = parse_seeds(seeds)
    fixed = typed_overrides(overrides)
    device_list = _check_devices(devices, fixed)
    threads = fixed.pop("threads", 1)
    workers = _default_workers(device_list) if workers is None else workers
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    runs = plan(preset, grid, seeds, fixed, out)
    spec = _jsonable({"preset": preset, "grid": grid, "seeds": seeds, "overrides": fixed,
                      "runs": [run.name for run in runs]})
    _check_spec(out, spec, force)
    for run in runs:
        run.status = "done" if run.evaluated else "pending"
    todo = [run for run in runs if run.status == "pending"]
    say(f"sweep {out}: {len(runs)} runs ({len(runs) - len(todo)} finished), "
        f"{min(workers, max(len(todo), 1))} worker(s) on {', '.join(device_list)}")
    if dry_run:
        for index, run in enumerate(todo):
            for command in _commands(run, preset, threads)(device_list[index % len(device_list)]):
                say("  " + shlex.join(command))
        return SweepResult(out, runs)
    atomic_write_json(out / SWEEP_FILE, spec)

    tasks = {run.name: Task(run.name, run.log, _commands(run, preset, threads)) for run in todo}
    by_name = {run.name: run for run in runs}

    def done(task: Task) -> None:
        run = by_name[task.name]
        run.status, run.returncode, run.stage = task.status, task.returncode, task.stage
        if task.status == "finished":
            fid = (read_run(run.path).metrics or {}).get("fid")
            say(f"finished {run.name} in {task.seconds:.0f} s: FID " + ("-" if fid is None else f"{fid:.2f}"))
        elif task.status == "failed":
            say(f"FAILED {run.name} ({task.stage} exited {task.returncode}): {_last_line(run.log)}; "
                f"log: {run.log}")
        else:
            say(f"interrupted {run.name}; rerun the sweep to resume it")

    interrupted = run_tasks(list(tasks.values()), workers, device_list, child_environment(threads), say, done)
    for task in tasks.values():  # the ones this sweep stopped (a worker stopped by others is reported)
        if task.status == "interrupted" and by_name[task.name].status != "interrupted":
            done(task)
    result = SweepResult(out, runs, interrupted=interrupted)
    if interrupted:
        say(f"sweep interrupted; rerun the same command to resume it (finished runs are kept): {out}")
        return result
    summary = summarise([out])
    summary.command = command_line(preset, grid, seeds, fixed, out)
    written = write_summary(summary, out)
    result.rows = summary.rows
    say(summary.markdown())
    say("wrote " + ", ".join(str(path) for path in written))
    if result.failed:
        say(f"{len(result.failed)} run(s) failed; fix the cause and rerun the same command:")
        for run in result.failed:
            say(f"  {run.name}: {run.stage} exited {run.returncode}; log: {run.log}")
    return result
