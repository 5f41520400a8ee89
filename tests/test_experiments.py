"""`minigan sweep` and `minigan compare`: the grid, run names, a real tiny sweep of parallel workers,
its summary (medians), resumption, a failing run, Ctrl-C, and compare on the same folders."""

import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import minigan
from minigan import cli
from minigan.cli.parser import overrides as flag_overrides
from minigan.errors import ConfigError
from minigan.experiments import device_for_worker, parse_grid, parse_seeds, run_name
from minigan.experiments.grid import MAX_NAME, cli_args, format_value, grid_points, grid_text, typed_grid
from minigan.experiments.summary import METRICS
from minigan.presets import get_config

# Evaluations at steps 3 and 6 never follow a checkpoint at once: an evaluation consumes torch's global
# RNG (building modules), so a resume from a checkpoint taken just before one would not be exact.
TINY = dict(steps=6, log_every=2, checkpoint_every=2, eval_every=3, eval_num=200)
GRID = {"lr_g": [1e-3, 2e-3]}
NAMES = {f"lr_g={lr},seed={s}" for lr in ("1e-3", "2e-3") for s in (0, 1)}


def _one_line_error(call, *needles):
    with pytest.raises(ConfigError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    return message


# ----------------------------------------------------------------------------------- the grid
def test_grid_reads_values_as_the_fields_types():
    assert parse_grid("lr_g=1e-3,2e-3 r1_gamma=0,1") == {"lr_g": ["1e-3", "2e-3"], "r1_gamma": ["0", "1"]}
    grid = typed_grid(parse_grid("lr-g=1e-3,2e-3  spectral_norm_d=true,no steps=none,100"))
    assert grid == {"lr_g": [0.001, 0.002], "spectral_norm_d": [True, False], "steps": [None, 100]}
    assert [type(v) for v in grid["lr_g"]] == [float, float]


def test_grid_values_holding_commas_are_grouped_by_brackets_or_quotes():
    text = "g_hidden=[64,32],(128,64) augment=none,'translation,cutout',\"cutout, translation\""
    assert parse_grid(text) == {"g_hidden": ["64,32", "128,64"],
                                "augment": ["none", "translation,cutout", "cutout, translation"]}
    assert typed_grid(parse_grid(text))["g_hidden"] == [(64, 32), (128, 64)]
    assert typed_grid({"g_hidden": [(64, 32), [16]]}) == {"g_hidden": [(64, 32), (16,)]}


def test_grid_text_reads_back_as_the_same_grid():
    grid = {"g_hidden": [(64, 32), (16,)], "augment": ["", "translation,cutout"], "lr_g": [1e-3, 1 / 3],
            "spectral_norm_d": [True, False], "steps": [None, 10], "data_dir": ["my data"]}
    assert typed_grid(parse_grid(grid_text(grid))) == grid


@pytest.mark.parametrize("text, needles", [
    ("lr_g", ("FIELD=V1,V2", "lr_g=1e-3,2e-3")),
    ("lr_q=1e-3", ("unknown config field", "did you mean lr_g")),
    ("lr_g=", ("has no values",)),
    ("lr_g=1e-3 lr_g=2e-3", ("twice", "lr_g=a,b")),
    ("g_hidden=[64,32", ("unclosed", "close every bracket")),
    ("g_hidden=64,32]", ("unbalanced", "[a,b]")),
    ("seed=0,1", ("--seeds 0,1",)),
    ("device=cpu,cuda", ("--devices",)),
    ("lr_g=abc", ("lr_g", "cannot read 'abc' as float")),
    ("spectral_norm_d=maybe", ("spectral_norm_d", "cannot read 'maybe' as bool")),
    ("lr_g=1e-3,0.001", ("lr_g lists the value 1e-3 twice",)),
])
def test_a_bad_grid_is_one_line_that_names_the_fix(text, needles):
    _one_line_error(lambda: typed_grid(parse_grid(text)), *needles)


def test_a_python_grid_needs_lists_of_values():
    _one_line_error(lambda: typed_grid({"lr_g": "1e-3,2e-3"}), "must be a list")
    _one_line_error(lambda: typed_grid({"lr_g": []}), "no values")


def test_seeds():
    assert parse_seeds("0, 1,2") == [0, 1, 2] and parse_seeds([3, 4]) == [3, 4]
    _one_line_error(lambda: parse_seeds("0,a"), "--seeds 0,1,2")
    _one_line_error(lambda: parse_seeds("1,1"), "twice")
    _one_line_error(lambda: parse_seeds("-1"), "0..")
    _one_line_error(lambda: parse_seeds(""), "at least one")


def test_grid_points_are_the_product_in_grid_order():
    points = grid_points({"a": [1, 2], "b": ["x", "y", "z"]})
    assert points == [{"a": a, "b": b} for a in (1, 2) for b in ("x", "y", "z")]
    assert grid_points({}) == [{}]


# ----------------------------------------------------------------------------------- run names
def test_run_names_are_readable_and_safe():
    assert run_name({"lr_g": 1e-3, "r1_gamma": 1.0}, 0) == "lr_g=1e-3,r1_gamma=1,seed=0"
    assert run_name({}, 7) == "seed=7"
    assert run_name({"g_hidden": (64, 32), "spectral_norm_d": True, "augment": ""}, 1) == \
        "g_hidden=64-32,spectral_norm_d=true,augment=none,seed=1"
    assert run_name({"augment": "translation,cutout"}, 0) == "augment=translation,cutout,seed=0"
    assert run_name({"data_dir": "/data/my mnist"}, 0) == "data_dir=_data_my_mnist,seed=0"
    long = run_name({"data_dir": "x" * 400}, 0)
    assert len(long) == MAX_NAME and long != run_name({"data_dir": "x" * 401}, 0)


@pytest.mark.parametrize("value", [1e-3, 2e-4, 2.5e-4, 0.5, 10.0, 1 / 3, 1e-10, 123456.0, 0.0, 0.1 + 0.2])
def test_float_names_read_back_exactly(value):
    assert float(format_value(value)) == value


def test_worker_flags_read_back_as_the_same_config():
    overrides = {"lr_g": 1 / 3, "g_hidden": (48, 24), "g_batchnorm": False, "conditional": True,
                 "augment": "", "steps": None, "epochs": 0.5, "data_dir": "-odd", "d_loss": "hinge",
                 "g_loss": "hinge"}
    args = cli._parser().parse_args(["train", *cli_args(overrides)])
    assert get_config("fast", **flag_overrides(args)) == get_config("fast", **overrides)


def test_workers_take_devices_round_robin():
    devices = ["cuda:0", "cuda:1"]
    assert [device_for_worker(i, devices) for i in range(5)] == ["cuda:0", "cuda:1"] * 2 + ["cuda:0"]
    assert device_for_worker(3, ["cpu"]) == "cpu"
    with pytest.raises(ConfigError, match="at least one device"):
        device_for_worker(0, [])  # once a ZeroDivisionError
    with pytest.raises(ConfigError, match="zero or positive"):
        device_for_worker(-1, ["cpu"])


# ----------------------------------------------------------------------------------- a real sweep
def _sweep(out, mnist_dir, **kwargs):
    return minigan.sweep("minimal", grid=GRID, seeds=[0, 1], out=out, workers=2, progress=False,
                         data_dir=str(mnist_dir), **{**TINY, **kwargs})


@pytest.fixture(scope="module")
def tiny_sweep(mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweeps") / "lr"
    result = _sweep(out, mnist_dir)
    assert result.exit_code == 0 and not result.failed
    return out, result


def _json(path):
    return json.loads(Path(path).read_text())


def test_sweep_writes_one_evaluated_run_folder_per_point_and_seed(tiny_sweep):
    out, result = tiny_sweep
    assert {p.name for p in out.iterdir() if p.is_dir()} == NAMES
    assert [run.status for run in result.runs] == ["finished"] * 4
    for run in result.runs:
        config = _json(run.path / "config.json")
        assert (config["lr_g"], config["seed"], config["steps"], config["threads"]) == \
            (run.overrides["lr_g"], run.overrides["seed"], 6, 1)
        metrics = _json(run.path / "metrics.json")
        assert metrics["metrics"]["num_images"] == 200 and metrics["real_floor"]["num_images"] == 200
        assert [r["step"] for r in map(json.loads, (run.path / "metrics.jsonl").read_text().splitlines())] \
            == [3, 6]
        log = (run.path / "log.txt").read_text()
        assert "-m minigan train" in log and "-m minigan eval" in log and "--threads=1" in log
    spec = _json(out / "sweep.json")
    assert (spec["preset"], spec["grid"], spec["seeds"]) == ("minimal", {"lr_g": [0.001, 0.002]}, [0, 1])
    assert spec["overrides"]["steps"] == 6 and set(spec["runs"]) == NAMES
    for name in ("summary.md", "summary.csv", "summary.json"):
        assert (out / name).stat().st_size > 0
    with Image.open(out / "fid_over_time.png") as plot:
        assert plot.format == "PNG" and plot.size[0] > 300


def test_summary_holds_each_run_and_the_median_of_each_grid_point(tiny_sweep):
    out, result = tiny_sweep
    summary = _json(out / "summary.json")
    assert summary["fields"] == ["lr_g"]
    rows = summary["rows"]
    medians, runs = rows[:2], rows[2:]
    assert [r["kind"] for r in rows] == ["median"] * 2 + ["run"] * 4
    assert medians[0]["fid"] <= medians[1]["fid"]  # best first
    assert {r["name"] for r in runs} == NAMES and {m["name"] for m in medians} == {"lr_g=1e-3", "lr_g=2e-3"}
    for run in runs:
        metrics = _json(Path(run["path"]) / "metrics.json")["metrics"]
        assert {m: run[m] for m in METRICS} == {m: metrics[m] for m in METRICS}
        assert (run["steps"], run["scored"], run["eval_n"]) == (6, "final", 200)
    for median in medians:
        members = [r for r in runs if r["lr_g"] == median["lr_g"]]
        assert len(members) == 2 and median["seeds"] == [0, 1] and median["runs"] == 2
        for metric in ("fid", "precision", "recall", "density", "coverage", "mnist_score", "modes_covered",
                       "kl_uniform", "steps", "train_s"):
            assert median[metric] == statistics.median(r[metric] for r in members), metric
        assert median["label_accuracy"] is None
    assert runs[0]["lr_g"] == medians[0]["lr_g"]  # runs follow their grid point's rank
    with open(out / "summary.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["name"] for r in table] == [r["name"] for r in rows]
    assert [float(r["fid"]) for r in table] == [r["fid"] for r in rows]  # full precision
    assert table[0]["seeds"] == "[0, 1]" and table[0]["label_accuracy"] == ""
    markdown = (out / "summary.md").read_text()
    assert markdown.startswith("`minigan sweep --preset=minimal --grid=lr_g=1e-3,2e-3 --seeds=0,1 ")
    assert all(name in markdown for name in NAMES) and f"{medians[0]['fid']:.2f}" in markdown


def test_compare_on_the_sweep_folders_gives_the_same_rows(tiny_sweep, tmp_path, capsys):
    out, result = tiny_sweep
    rows = _json(out / "summary.json")["rows"]
    assert minigan.compare(out) == rows
    assert minigan.compare([out / name for name in sorted(NAMES)]) == rows
    assert cli.main(["compare", str(out), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in NAMES)
    assert _json(tmp_path / "summary.json")["rows"] == rows
    assert (tmp_path / "fid_over_time.png").is_file()


def test_compare_names_the_differing_fields_of_any_runs(tiny_sweep, mnist_dir, tmp_path):
    out, _ = tiny_sweep
    other = minigan.train("minimal", tmp_path / "r1", progress=False, data_dir=str(mnist_dir), steps=4,
                          log_every=2, r1_gamma=1.0, seed=0, threads=1)
    rows = minigan.compare([out / "lr_g=1e-3,seed=0", other.run_dir])
    medians = [r for r in rows if r["kind"] == "median"]
    assert [r["kind"] for r in rows].count("run") == 2
    assert sorted(m["r1_gamma"] for m in medians) == [0.0, 1.0] and "lr_g" not in medians[0]  # equal
    unscored = next(r for r in rows if r["kind"] == "run" and r["r1_gamma"] == 1.0)
    assert unscored["fid"] is None and unscored["scored"] is None and unscored["steps"] == 4
    _one_line_error(lambda: minigan.compare([tmp_path / "nothing"]), "neither a run folder")


def test_a_different_grid_into_the_folder_is_refused(tiny_sweep, mnist_dir):
    out, _ = tiny_sweep
    before = sorted(out.iterdir())
    _one_line_error(lambda: minigan.sweep("minimal", grid={"lr_g": [1e-3, 5e-3]}, seeds=[0, 1], out=out,
                                          progress=False, data_dir=str(mnist_dir), **TINY),
                    "holds a different sweep", "lr_g", "--force")
    _one_line_error(lambda: _sweep(out, mnist_dir, steps=8), "steps: 6 -> 8")
    assert sorted(out.iterdir()) == before


def test_a_rerun_redoes_only_the_run_that_lost_its_metrics_and_checkpoint(tiny_sweep, mnist_dir):
    out, _ = tiny_sweep
    damaged = out / "lr_g=2e-3,seed=1"
    before = _json(damaged / "metrics.json")["metrics"]
    (damaged / "metrics.json").unlink()
    for name in ("step-000000006.pt", "step-000000006.pt.sha256"):
        (damaged / "checkpoints" / name).unlink()
    others = [p for name in NAMES - {damaged.name} for p in (out / name).rglob("*") if p.is_file()]
    stamps = {p: p.stat().st_mtime_ns for p in others}
    result = _sweep(out, mnist_dir)
    assert {run.name: run.status for run in result.runs} == {
        **{name: "done" for name in NAMES}, damaged.name: "finished"}
    assert {p: p.stat().st_mtime_ns for p in others} == stamps
    log = (damaged / "log.txt").read_text()
    assert "-m minigan resume" in log and f"resumed {damaged} at step 4 from step-000000004.pt" in log
    assert _json(damaged / "metrics.json")["metrics"] == before  # resumed from step 4: exactly the same run
    assert result.rows == _json(out / "summary.json")["rows"]


def test_a_failing_run_is_reported_with_its_log_and_the_others_complete(mnist_dir, tmp_path, capsys):
    out, missing = tmp_path / "sweep", tmp_path / "nowhere"
    code = cli.main(["sweep", "--preset", "minimal", "--grid", f"data_dir={mnist_dir},{missing}",
                     "--steps", "2", "--log-every", "1", "--eval-num", "100", "--workers", "2",
                     "--out", str(out)])
    printed = capsys.readouterr().out
    failed = out / run_name({"data_dir": str(missing)}, 0)
    assert code == 1
    assert f"FAILED {failed.name} (train exited 2)" in printed and str(failed / "log.txt") in printed
    assert "minigan: error: data folder" in (failed / "log.txt").read_text()
    good = out / run_name({"data_dir": str(mnist_dir)}, 0)
    assert (good / "metrics.json").is_file() and not (failed / "metrics.json").exists()
    assert [r["name"] for r in _json(out / "summary.json")["rows"] if r["kind"] == "run"] == [good.name]


def test_bad_sweep_input_is_one_line_before_any_run_starts(tmp_path, capsys):
    for argv, needle in [(["--grid", "lr_q=1"], "did you mean lr_g"),
                         (["--grid", "lr_g=-1"], "run lr_g=-1,seed=0: lr_g must be positive"),
                         (["--grid", "lr_g=1e-3", "--lr-g", "2e-3"], "both in the grid"),
                         (["--seed", "3"], "--seeds 0,1"),
                         (["--preset", "fastest"], "unknown preset 'fastest'"),
                         (["--workers", "0"], "--workers must be at least 1"),
                         (["--devices", "tpu"], "tpu")]:
        assert cli.main(["sweep", "--preset", "minimal", "--out", str(tmp_path / "s"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("minigan: error:") and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "s").exists()


def test_dry_run_prints_the_worker_commands_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "s"
    assert cli.main(["sweep", "--preset", "minimal", "--grid", "lr_g=1e-3,2e-3", "--seeds", "0,1",
                     "--steps", "4", "--devices", "cpu,cpu", "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("-m minigan train") == 4 and printed.count("-m minigan eval") == 4
    assert "--threads=1" in printed and "--num=10000" in printed and not out.exists()


def test_stopping_a_sweep_stops_its_workers_and_a_rerun_resumes(mnist_dir, tmp_path):
    out = tmp_path / "sweep"
    run = out / "seed=0"
    argv = [sys.executable, "-m", "minigan", "sweep", "--preset", "minimal", "--steps", "1000",
            "--checkpoint-every", "100", "--log-every", "100", "--eval-num", "100",
            "--data-dir", str(mnist_dir), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(minigan.__file__).parents[1])}
    sweep = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / "step-000000100.pt").is_file():
        assert sweep.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    sweep.send_signal(signal.SIGTERM)  # as Ctrl-C: the sweep stops its workers, which save and exit 130
    printed = sweep.communicate(timeout=120)[0]
    assert sweep.returncode == 130, printed
    assert "rerun the same command to resume" in printed
    assert "stopped at step" in (run / "log.txt").read_text() and not (run / "metrics.json").exists()
    stopped = max(int(p.name[5:14]) for p in (run / "checkpoints").glob("step-*.pt"))
    assert 100 <= stopped < 1000
    result = minigan.sweep("minimal", out=out, progress=False, steps=1000, checkpoint_every=100,
                           log_every=100, eval_num=100, data_dir=str(mnist_dir))
    assert result.exit_code == 0 and result.runs[0].status == "finished"
    assert f"resumed {run} at step {stopped}" in (run / "log.txt").read_text()
    assert [r["step"] for r in map(json.loads, (run / "stats.jsonl").read_text().splitlines())][-1] == 1000
