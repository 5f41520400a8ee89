"""Experiments over many runs: `sweep` trains a grid of overrides x seeds as parallel workers
(grid.py parses the grid, sweeping.py plans and resumes, workers.py runs the subprocesses), `compare`
reads run folders into one summary table and a FID-over-training-time plot (summary.py, plot.py).
commands.py holds their two CLI subcommands."""

from .grid import device_for_worker, parse_grid, parse_seeds, run_name
from .summary import RunRecord, Summary, compare, read_run, summarise, write_summary
from .sweeping import SweepResult, SweepRun, sweep

__all__ = ["sweep", "SweepResult", "SweepRun", "compare", "summarise", "write_summary", "read_run",
           "RunRecord", "Summary", "parse_grid", "parse_seeds", "run_name", "device_for_worker"]
