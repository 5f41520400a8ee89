"""The benchmark harness runs end to end on the tiniest preset and writes a well-formed table and JSON.

Speed is not asserted (the numbers depend on the machine); the structure, the arithmetic that links
the table to the JSON, and the FLOP counts of both steps (known in closed form) are.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _linear(batch: int, fan_in: int, fan_out: int) -> int:
    """FLOPs of one (batch, fan_in) @ (fan_in, fan_out) product."""
    return 2 * batch * fan_in * fan_out


def _minimal_step_flops(batch: int, d_frozen_in_g_phase: bool, fresh_g_noise: bool) -> int:
    # minimal: G 10 -> 64 -> 784, D 784 -> 512 -> 1; z and real images need no input gradient. With
    # fresh noise for G's step (the write-up's; the tutorial reference shares it) G runs forward twice.
    g = _linear(batch, 10, 64) + _linear(batch, 64, 784)
    d_per_image = _linear(1, 784, 512) + _linear(1, 512, 1)
    # D phase on real + fake (2B): forward, weight grads, the hidden layer's grad
    d_phase = 2 * 2 * batch * d_per_image + _linear(2 * batch, 512, 1)
    # G phase through D (B): forward, then input grads down to the fake images
    d_in_g_phase = batch * d_per_image + _linear(batch, 512, 1) + _linear(batch, 784, 512)
    if not d_frozen_in_g_phase:
        d_in_g_phase += batch * d_per_image  # weight grads D's optimiser never uses
    g_phase = g * (1 + fresh_g_noise) + g + _linear(batch, 64, 784)  # fwd(s), weight grads, hidden grad
    return d_phase + d_in_g_phase + g_phase


@pytest.mark.slow
def test_bench_train_writes_table_and_json(mnist_dir, tmp_path):
    out = tmp_path / "bench.json"
    command = [
        sys.executable, str(REPO / "benchmarks" / "bench_train.py"), "--presets", "minimal", "--no-isolate",
        "--windows", "2", "--window-seconds", "0.5", "--warmup-seconds", "0.2", "--min-steps", "1",
        "--sample-num", "64", "--sample-seconds", "0.1", "--peak-size", "256",
        "--data-dir", str(mnist_dir), "--json", str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr

    report = json.loads(out.read_text())
    (result,) = report["results"]
    assert result["preset"] == "minimal" and result["batch_size"] == 16
    for side in ("minigan", "reference"):
        timing = result[side]
        assert timing["windows"] == 2 and timing["steps"] >= 2
        assert timing["ms_per_step_min"] <= timing["ms_per_step"] <= timing["ms_per_step_max"]
    ours = _minimal_step_flops(16, d_frozen_in_g_phase=True, fresh_g_noise=True)
    assert result["flops_per_step"] == ours
    tutorial = _minimal_step_flops(16, d_frozen_in_g_phase=False, fresh_g_noise=False)
    assert result["reference_flops_per_step"] == tutorial
    assert result["sample_img_per_s"] > 0 and result["rss_peak_mb_minigan"] > 0
    machine = report["machine"]
    assert machine["threads"] == 1 and machine["matmul_peak"]["n"] == 256

    lines = done.stdout.splitlines()
    assert lines[0].startswith("| preset | batch | minigan img/s | reference img/s | ratio | ms/step")
    assert set(lines[1]) <= set("|-:")
    cells = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert len(cells) == lines[0].count("|") - 1
    assert cells[:2] == ["minimal", "16"]
    assert cells[4] == f"{result['ratio']:.2f}x"
    assert cells[5] == f"{result['minigan']['ms_per_step']:.2f} / {result['reference']['ms_per_step']:.2f}"
    assert machine["torch"] in done.stdout and machine["cpu"] in done.stdout


@pytest.mark.slow
def test_the_flatten_lead_times_both_layouts_on_each_case(mnist_dir, tmp_path):
    """benchmarks/leads.py --leads flatten: minigan's Flatten and nn.Flatten, side by side, per case."""
    out = tmp_path / "leads.json"
    command = [sys.executable, str(REPO / "benchmarks" / "leads.py"), "--leads", "flatten", "--windows", "1",
               "--window-seconds", "0.2", "--warmup-seconds", "0.1", "--min-steps", "1",
               "--data-dir", str(mnist_dir), "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    variants = [(r["preset"], r["variant"]) for r in rows][-4:]  # a bf16 case first where the CPU has it
    assert variants == [("fast", "Flatten (fp32)"), ("fast", "nn.Flatten"), ("dcgan", "Flatten (preset)"),
                        ("dcgan", "nn.Flatten")]
    assert all(r["ms_per_step"] > 0 for r in rows) and rows[-1]["vs_baseline_pct"] is not None


def test_a_timed_step_counts_as_the_loop_does(mnist_dir, tmp_path, monkeypatch):
    """The benchmarks' step advances the step count like the loop: fast's lazy R1/R2 phase runs
    once per 16 steps, as in training (a step count left at 0 ran it every step: 2.7x the time)."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from bench_train import minigan_step, minigan_trainer

    trainer = minigan_trainer("fast", str(mnist_dir), 1, "cpu", str(tmp_path), batch_size=8, precision="fp32")
    calls = []
    d_reg = trainer.loss.d_reg
    monkeypatch.setattr(trainer.loss, "d_reg", lambda *a: calls.append(trainer.step) or d_reg(*a))
    step = minigan_step(trainer)
    for _ in range(33):
        step()
    assert trainer.step == 33 and calls == [0, 16, 32]


@pytest.mark.slow
def test_loop_time_accounts_for_each_part_within_the_budget(mnist_dir, monkeypatch):
    """benchmarks/loop_time.py: every part the loop calls is counted once per call it made inside
    the time budget, the clustering before it too, and the table shows each part."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from loop_time import PARTS, markdown, measure

    report = measure("fast", str(mnist_dir), 8.0, 1, 0, precision="fp32", batch_size=16, log_every=5,
                     sample_every=10, checkpoint_every=20)
    steps, parts = report["steps"], report["parts"]
    assert steps > 20 and parts["train_step"]["calls"] == steps
    # a part due at the last step may start after the clock ran out (then it is not counted)
    for name, every in (("log_stats", 5), ("snapshot", 10), ("progress_grid", 10), ("save_checkpoint", 20)):
        assert steps // every - 1 <= parts[name]["calls"] <= steps // every, name
    assert 0 < report["setup_seconds"] < 8.0
    accounted = report["setup_seconds"] + sum(part["seconds"] for part in parts.values())
    assert 0.5 * 8.0 < accounted < 1.05 * 8.0
    table = markdown(report)
    assert all(label in table for label in PARTS.values()) and f"{steps} steps" in table
