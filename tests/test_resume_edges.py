"""Resume at a run's edges: a run with no checkpoint left is never started over silently, and a
run whose budget is spent says so and is left exactly as it was."""

import json
import shutil
from pathlib import Path

import pytest
from run_files import digests

import minigan
from minigan import cli
from minigan.errors import CheckpointError


def _steps(path: Path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


# ------------------------------------------------------------------ no checkpoint left


def test_resume_without_checkpoints_refuses_to_destroy_the_trained_generator(run_copy, capsys):
    shutil.rmtree(run_copy / "checkpoints")  # pruned by hand
    before = digests(run_copy)
    assert cli.main(["resume", str(run_copy), "--steps", "5", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("minigan: error:"), err
    assert "no checkpoint to continue from" in err and "--restart" in err
    assert "generator.safetensors" in err and "stats.jsonl up to step 6" in err
    assert digests(run_copy) == before
    with pytest.raises(CheckpointError, match="start it over from step 0"):
        minigan.resume(run_copy, steps=5, progress=False)
    assert digests(run_copy) == before


def test_resume_refuses_when_only_the_logs_show_past_training(run_copy, capsys):
    """stats.jsonl past the first checkpoint's step: a checkpoint existed, and its training is gone."""
    shutil.rmtree(run_copy / "checkpoints")
    (run_copy / "generator.safetensors").unlink()
    assert cli.main(["train", "--resume", str(run_copy), "--quiet"]) == 2
    assert "stats.jsonl up to step 6" in capsys.readouterr().err
    assert _steps(run_copy / "stats.jsonl") == [2, 4, 6]


def test_restart_starts_such_a_run_over_when_asked(run_copy, trained_run):
    shutil.rmtree(run_copy / "checkpoints")
    assert cli.main(["resume", str(run_copy), "--restart", "--steps", "4", "--quiet", "--threads", "1"]) == 0
    assert _steps(run_copy / "stats.jsonl") == [2, 4]
    assert sorted(p.name for p in (run_copy / "checkpoints").glob("*.pt")) == [
        "step-000000002.pt", "step-000000004.pt"]


# ------------------------------------------------------------------ nothing left to do


@pytest.mark.parametrize("argv, words", [
    (["--steps", "6"], "is at step 6, and --steps 6 is its total: nothing left to do; raise --steps"),
    (["--steps", "3"], "is at step 6, and --steps 3 is its total: nothing left to do"),
    (["--steps", "100", "--time-budget", "0.001"],
     "and --time-budget 0.001 is its total: nothing left to do; raise --time-budget"),
])
def test_resume_with_a_spent_budget_says_so_and_touches_nothing(run_copy, argv, words, capsys):
    before = digests(run_copy)
    assert cli.main(["resume", str(run_copy), *argv, "--quiet"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"minigan: {run_copy} ") and words in lines[0], lines
    assert captured.err == ""
    assert digests(run_copy) == before


def test_python_resume_with_a_spent_budget_returns_the_run_s_step(run_copy):
    result = minigan.resume(run_copy, steps=4, progress=False)
    assert (result.step, result.status) == (6, "finished")
