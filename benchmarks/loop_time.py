"""Where a time-budgeted run's seconds go: the steps, and the loop's own work between them.

Trains one preset under `--time-budget` exactly as `minigan train` does (Trainer.fit) and times
each part the loop calls, by wrapping the trainer's methods on the instance (no src/ edits):
the clustering before the first step (counted in the budget), the training steps, the stats
records every `log_every` steps, the progress grid each epoch (EMA batchnorm refresh, snapshot,
PNG) and the checkpoints. Prints a markdown table; `--json` writes it.

    PYTHONPATH=src python benchmarks/loop_time.py --preset fast --time-budget 300 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
from bench_train import DEFAULT_DATA, minigan_trainer

from minigan.training import loop, reporting

PARTS = {  # the loop's calls, named as the table shows them
    "train_step": "training steps",
    "log_stats": "stats records (every log_every steps)",
    "snapshot": "snapshots for the progress grid (EMA BN refresh, generator copy)",
    "progress_grid": "progress grid PNG and progress.gif",
    "save_checkpoint": "checkpoints and generator.safetensors",
}


def timed(function: Callable, calls: list[tuple[float, float]]) -> Callable:
    """`function`, appending (start, seconds) of each call to `calls`."""
    def wrapper(*args, **kwargs):
        start = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            calls.append((start, time.monotonic() - start))
    return wrapper


def measure(preset: str, data_dir: str, time_budget: float, threads: int, seed: int, **overrides) -> dict:
    """Train `preset` for `time_budget` seconds; each part's calls and seconds within the budget.
    `overrides` are config fields (the tests set log_every, sample_every, checkpoint_every)."""
    torch.set_num_threads(threads)
    calls: dict[str, list[tuple[float, float]]] = {name: [] for name in PARTS}
    with tempfile.TemporaryDirectory() as out:
        trainer = minigan_trainer(preset, data_dir, threads, "auto", out, time_budget=time_budget, seed=seed,
                                  **overrides)
        setup = trainer.progress.elapsed  # the clustering's seconds, which the budget counts
        for name in ("train_step", "log_stats", "snapshot", "save_checkpoint"):
            setattr(trainer, name, timed(getattr(trainer, name), calls[name]))

        def timed_reporter(*args, **kwargs):
            made = reporting.reporter(*args, **kwargs)
            made.progress_grid = timed(made.progress_grid, calls["progress_grid"])
            return made

        loop.reporter, before = timed_reporter, loop.reporter
        try:
            result = trainer.fit()
        finally:
            loop.reporter = before
    # What runs after the budget's clock ran out (the final stats record, checkpoint and pictures)
    # does not count against the budget.
    clock = trainer.clock
    deadline = clock.started + time_budget - clock.base + clock.excluded_s
    seconds = {name: [s for begun, s in calls[name] if begun < deadline] for name in PARTS}
    steps = result.step
    step_ms = [1000 * s for s in seconds["train_step"]]
    parts = {name: {"seconds": sum(seconds[name]), "calls": len(seconds[name]),
                    "share": sum(seconds[name]) / time_budget} for name in PARTS}
    return {"preset": preset, "time_budget": time_budget, "threads": threads, "seed": seed,
            "precision": trainer.config.precision, "steps": steps, "setup_seconds": setup,
            "ms_per_step_of_budget": 1000 * time_budget / steps,
            "step_ms_median": statistics.median(step_ms), "step_ms_mean": statistics.fmean(step_ms),
            "parts": parts}


def markdown(report: dict) -> str:
    budget, threads = report["time_budget"], report["threads"]
    lines = [f"{report['preset']} ({report['precision']}), {budget:g} s on {threads} thread"
             f"{'s' * (threads != 1)}: "
             f"{report['steps']} steps, {report['ms_per_step_of_budget']:.2f} ms of budget a step; "
             f"a step {report['step_ms_median']:.2f} ms median, {report['step_ms_mean']:.2f} mean",
             "", "| part | calls | seconds | share of the budget |", "|---|---:|---:|---:|",
             f"| clustering before the first step | 1 | {report['setup_seconds']:.2f} | "
             f"{report['setup_seconds'] / budget:.1%} |"]
    for name, label in PARTS.items():
        part = report["parts"][name]
        lines.append(f"| {label} | {part['calls']} | {part['seconds']:.2f} | {part['share']:.1%} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast", help="the preset to train (default fast)")
    parser.add_argument("--time-budget", type=float, default=300.0, help="seconds of training, as "
                        "`minigan train --time-budget` (default 300)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    parser.add_argument("--data-dir", default=DEFAULT_DATA, help=f"MNIST IDX folder (default {DEFAULT_DATA})")
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    report = measure(args.preset, args.data_dir, args.time_budget, args.threads, args.seed)
    print(markdown(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
