"""`minigan compare`: one table and one FID-over-training-time plot for any run and sweep folders.

Each run contributes its config.json, its final metrics (metrics.json from `minigan eval`, else the
last metrics.jsonl record of --eval-every), its steps and training seconds (the last stats.jsonl
record) and its FID curve (metrics.jsonl). The columns are the config fields that differ between
the runs; runs that differ only in their seed form one group, whose row holds the medians.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import config_fields
from ..errors import CheckpointError, ConfigError
from ..fileio import atomic_write_json, atomic_write_text
from ..run.folder import RunFolder, read_jsonl
from .grid import format_value, point_name

FINAL_METRICS = "metrics.json"  # what `minigan eval RUN` writes
SWEEP_FILE = "sweep.json"
PLOT_FILE = "fid_over_time.png"
METRICS = ("fid", "precision", "recall", "density", "coverage", "mnist_score", "modes_covered",
           "kl_uniform", "label_accuracy")
NUMBERS = (*METRICS, "eval_n", "steps", "train_s")
# Fields that change how a run is watched or where it runs, not what it learns: never columns.
_NOT_COMPARED = {"seed", "device", "threads", "tensorboard", "log_every", "sample_every", "checkpoint_every",
                 "keep_checkpoints", "grid_size", "eval_every", "eval_num"}
_FORMATS = {"fid": "{:.2f}", "kl_uniform": "{:.4f}", "label_accuracy": "{:.4f}", "train_s": "{:.1f}",
            "modes_covered": "{:g}", "eval_n": "{:.0f}", "steps": "{:.0f}"}


@dataclass
class RunRecord:
    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any] | None  # fid, precision, ..., num_images
    scored: str | None  # "final" (metrics.json) or "step N" (the last metrics.jsonl record)
    real_floor: dict[str, Any] | None
    steps: int | None
    train_s: float | None  # training seconds (evaluation excluded)
    curve: list[tuple[int, float, float]]  # (step, training seconds, FID) of each --eval-every evaluation


def read_run(path: str | Path) -> RunRecord:
    run = RunFolder(path)
    config = json.loads(json.dumps(run.read_config().to_dict()))  # tuples -> lists, as in JSON
    evaluations = read_jsonl(run.metrics_path) if run.metrics_path.is_file() else []
    curve = [(r.get("step"), float(r["elapsed"]), float(r["fid"])) for r in evaluations
             if isinstance(r.get("elapsed"), (int, float)) and isinstance(r.get("fid"), (int, float))]
    final, metrics, scored, floor = run.path / FINAL_METRICS, None, None, None
    if final.is_file():
        try:
            saved = json.loads(final.read_text())
            metrics, floor = dict(saved["metrics"]), saved.get("real_floor")
            floor = floor and {"fid": floor.get("fid"), "num_images": floor.get("num_images")}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{final} is unreadable ({exc}); rewrite it with "
                                  f"`minigan eval {run.path}`") from None
        scored = "final"
    elif evaluations:
        last = evaluations[-1]
        metrics, scored = {**last, "num_images": last.get("num")}, f"step {last.get('step')}"
    stats = read_jsonl(run.stats_path) if run.stats_path.is_file() else []
    last_stats = stats[-1] if stats else {}
    return RunRecord(run.path, config, metrics, scored, floor, last_stats.get("step"),
                     last_stats.get("elapsed"), curve)


def run_folders(paths: Sequence[str | Path]) -> list[Path]:
    """Run folders as given, the runs of sweep folders (in sweep order), or the run folders in a folder."""
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / "config.json").is_file():
            found.append(path)
        elif (path / SWEEP_FILE).is_file():
            try:
                names = json.loads((path / SWEEP_FILE).read_text())["runs"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path / SWEEP_FILE} is unreadable ({exc})") from None
            found += [path / name for name in names if (path / name / "config.json").is_file()]
        elif path.is_dir() and (inside := sorted(p for p in path.iterdir() if (p / "config.json").is_file())):
            found += inside
        else:
            raise ConfigError(f"{path} is neither a run folder (config.json) nor a sweep folder (sweep.json) "
                              "nor a folder of run folders")
    unique = {p.resolve(): p for p in reversed(found)}  # each run once, at its first mention
    return [p for p in found if unique.get(p.resolve()) is p]


def _comparable(config: dict[str, Any], name: str) -> str:
    value = config.get(name)
    if name == "data_dir" and value:
        value = str(Path(value).resolve())
    return json.dumps(value)


def _median(values: list[Any]) -> Any:
    present = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return statistics.median(present) if present else None


@dataclass
class Summary:
    fields: list[str]  # config fields that differ between the runs
    rows: list[dict[str, Any]]  # median rows (sorted by median FID), then run rows
    records: list[RunRecord]
    groups: list[int]  # each record's group, an index into the median rows
    real_floor: dict[str, Any] | None
    command: str | None = None  # the command that made these runs, shown above the tables

    def markdown(self) -> str:
        medians = [r for r in self.rows if r["kind"] == "median"]
        runs = [r for r in self.rows if r["kind"] == "run"]
        shown = [k for k in NUMBERS if any(r[k] is not None for r in self.rows)]
        first = self.fields or ["name"]
        lines = ["Median over seeds (runs that differ only in their seed), best first", "",
                 *_table(medians, [*first, "seeds", "runs", *shown]), "",
                 "Runs", "", *_table(runs, ["name", *self.fields, "seed", "scored", *shown])]
        if self.command:
            lines = [f"`{self.command}`", "", *lines]
        if self.real_floor and self.real_floor.get("fid") is not None:
            lines += ["", f"real-data floor: FID {self.real_floor['fid']:.2f} on "
                          f"{self.real_floor.get('num_images')} images (the best a generator can reach)"]
        return "\n".join(lines)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in NUMBERS and isinstance(value, (int, float)):
        return _FORMATS.get(key, "{:.3f}").format(value)
    if isinstance(value, list) and key == "seeds":
        return ",".join(map(str, value))
    return format_value(value)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    return lines + ["| " + " | ".join(_cell(c, r.get(c)) for c in columns) + " |" for r in rows]


def summarise(paths: Sequence[str | Path]) -> Summary:
    records = [read_run(path) for path in run_folders(paths)]
    if not records:
        raise ConfigError(f"no runs with a config.json in {', '.join(map(str, paths))}; nothing to compare")
    names = ["preset", *(f.name for f in config_fields() if f.name not in _NOT_COMPARED)]
    fields = [n for n in names if len({_comparable(r.config, n) for r in records}) > 1]
    keys = [json.dumps([_comparable(r.config, n) for n in fields]) for r in records]
    members: dict[str, list[RunRecord]] = {}
    for key, record in zip(keys, records, strict=True):
        members.setdefault(key, []).append(record)

    def run_row(record: RunRecord) -> dict[str, Any]:
        metrics = record.metrics or {}
        return {"kind": "run", "name": record.path.name, **{n: record.config.get(n) for n in fields},
                "seed": record.config["seed"], "seeds": [record.config["seed"]], "runs": int(bool(metrics)),
                "scored": record.scored, **{m: metrics.get(m) for m in METRICS},
                "eval_n": metrics.get("num_images"), "steps": record.steps, "train_s": record.train_s,
                "path": str(record.path)}

    grouped = []
    for group in members.values():
        runs = sorted((run_row(r) for r in group), key=lambda row: (row["seed"], row["name"]))
        first = group[0].config
        median = {"kind": "median", "name": point_name({n: first.get(n) for n in fields}) or "all runs",
                  **{n: first.get(n) for n in fields}, "seed": None,
                  "seeds": sorted({row["seed"] for row in runs}), "runs": sum(row["runs"] for row in runs),
                  "scored": None, **{k: _median([row[k] for row in runs if row["runs"]]) for k in NUMBERS},
                  "path": None}
        grouped.append((median, runs, group))
    grouped.sort(key=lambda g: (g[0]["fid"] is None, g[0]["fid"] or 0.0))
    order = {id(record): index for index, (_, _, group) in enumerate(grouped) for record in group}
    floor = next((r.real_floor for r in records if r.real_floor), None)
    rows = [median for median, _, _ in grouped] + [row for _, runs, _ in grouped for row in runs]
    return Summary(fields, rows, records, [order[id(r)] for r in records], floor)


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list) else "" if v is None else v
                         for k, v in row.items()})
    return buffer.getvalue()


def _final_point(record: RunRecord) -> tuple[float, float] | None:
    """(training seconds, FID) of the final evaluation; at the curve's end when that is the same step."""
    if record.scored != "final" or record.metrics.get("fid") is None:
        return None
    if record.curve and record.curve[-1][0] == record.steps:
        return record.curve[-1][1], record.metrics["fid"]
    return None if record.train_s is None else (record.train_s, record.metrics["fid"])


def write_summary(summary: Summary, out: str | Path) -> list[Path]:
    """summary.md, summary.csv, summary.json and (when some run has a FID) fid_over_time.png in `out`."""
    from .plot import plot_fid_over_time

    out = Path(out)
    table = {"fields": summary.fields, "real_floor": summary.real_floor, "rows": summary.rows}
    written = [atomic_write_text(out / "summary.md", summary.markdown() + "\n"),
               atomic_write_text(out / "summary.csv", _csv(summary.rows)),
               atomic_write_json(out / "summary.json", table)]
    labels = [row["name"] for row in summary.rows if row["kind"] == "median"]
    series = [(group, [(seconds, fid) for _, seconds, fid in record.curve], _final_point(record))
              for record, group in zip(summary.records, summary.groups, strict=True)]
    plot = plot_fid_over_time(series, labels, out / PLOT_FILE)
    return written + ([plot] if plot else [])


def compare(paths: Sequence[str | Path] | str | Path, out: str | Path | None = None) -> list[dict[str, Any]]:
    """The summary rows of run folders and sweep folders (medians first); with `out`, also its files."""
    summary = summarise([paths] if isinstance(paths, (str, Path)) else paths)
    if out is not None:
        write_summary(summary, out)
    return summary.rows
