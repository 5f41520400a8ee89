"""The `minigan sweep` and `minigan compare` subcommands: their flags and handlers (cli.py registers them)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

SWEEP_EXAMPLES = """examples:
  minigan sweep --preset fast --grid "lr_g=1e-3,2e-3 r1_gamma=0,1" --seeds 0,1 --time-budget 300 \\
      --out sweeps/fast-lr                      # 8 runs, one per core; rerun the same line to resume
  minigan sweep --preset fast --grid "augment=none,translation,[translation,cutout]" --seeds 0,1 \\
      --time-budget 300 --eval-every 1000 --out sweeps/fast-aug   # FID curves every 1000 steps
  minigan sweep --preset fast --grid "r1_gamma=0.1,1" --devices cuda:0,cuda:1 --steps 50000 --out sweeps/gpu

The grid: FIELD=V1,V2 entries separated by spaces (any `minigan train` field); a value holding
commas goes in [..] or quotes. Every other config flag applies to every run; --eval-num also sets
the samples of the final evaluation (default 10000). Each run: RUN/log.txt, RUN/metrics.json.
The sweep folder gets summary.md, summary.csv, summary.json and fid_over_time.png."""

COMPARE_EXAMPLES = """examples:
  minigan compare sweeps/fast-lr                       # the table of a sweep, again
  minigan compare runs/fast runs/fast-cond sweeps/fast-lr --out comparisons/fast"""


def add_commands(command: Callable[[str, str], argparse.ArgumentParser],
                 config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add `sweep` and `compare` through cli.py's `command(name, help)` and its config flags."""
    p = command("sweep", "train a grid of overrides x seeds as parallel 1-thread workers, then compare them")
    p.epilog = SWEEP_EXAMPLES
    p.add_argument("--preset", default="fast", help="the preset every run starts from (default fast)")
    p.add_argument("--grid", default="", help='values to try, e.g. "lr_g=1e-3,2e-3 r1_gamma=0,1" (one run '
                                              "per combination and seed)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds, each grid point runs once per seed "
                                                "(default 0)")
    p.add_argument("--out", type=Path, required=True, help="the sweep folder: one run folder per run inside")
    p.add_argument("--workers", type=int, help="runs in parallel (default: one per CPU core, or one per "
                                               "device with --devices cuda:...)")
    p.add_argument("--devices", help="comma-separated devices, one per worker round-robin, e.g. "
                                     "cuda:0,cuda:1 (default cpu)")
    p.add_argument("--force", action="store_true", help="run a different grid into a folder that holds "
                                                        "another sweep (its finished runs are kept)")
    p.add_argument("--dry-run", action="store_true", help="print the runs' commands and exit")
    config_flags(p)

    p = command("compare", "one summary table and FID-over-time plot for run folders and sweep folders")
    p.epilog = COMPARE_EXAMPLES
    p.add_argument("paths", nargs="+", type=Path, metavar="RUN_OR_SWEEP",
                   help="run folders, sweep folders or folders of run folders")
    p.add_argument("--out", type=Path, help="write summary.md, summary.csv, summary.json and "
                                            "fid_over_time.png into this folder")


def run_sweep(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    from .sweeping import sweep

    result = sweep(args.preset, args.grid, args.seeds, out=args.out, workers=args.workers,
                   devices=args.devices, force=args.force, dry_run=args.dry_run, **overrides)
    return result.exit_code


def run_compare(args: argparse.Namespace) -> int:
    from .summary import summarise, write_summary

    summary = summarise(args.paths)
    print(summary.markdown())
    if args.out:
        print("wrote " + ", ".join(str(path) for path in write_summary(summary, args.out)))
    return 0
