"""The prepared GPU check (benchmarks/gpu_check.sh) runs its CPU-checkable parts on the CPU, so the
script a lent GPU will run cannot rot: every check's row is there, and ok (or skipped, saying why)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from minigan.presets import preset_names
from minigan.training.wrappers import native_cpu_bf16

REPO = Path(__file__).resolve().parents[1]
SKIPPED = {  # what only a GPU runs, and the reason the dry run gives (bf16 runs on a CPU that has it)
    "train fast bf16": "--precision bf16 is refused on a CPU without native bf16",
    "train fast compile": "--compile is refused on CPU",
    "train dcgan compile": "--compile is refused on CPU",
}
if native_cpu_bf16():
    del SKIPPED["train fast bf16"]
BF16_COMPILE = ["train fast bf16", "train fast compile", "train dcgan compile"]
CHECKS = ["resume bit-exact", "resume cpu -> device", "minigan sample", "minigan eval",
          "torchrun 2 processes", "host syncs per step"]


def test_the_gpu_check_dry_run_passes_on_cpu(mnist_dir, tmp_path):
    env = {**os.environ, "MINIGAN_DATA_DIR": str(mnist_dir), "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    command = ["bash", "benchmarks/gpu_check.sh", "--cpu-dry-run", "--out", str(tmp_path / "check")]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("check ")))
    rows = [re.split(r"\s{2,}", line.strip(), maxsplit=3) for line in lines[start + 1:-1]]
    assert [row[0] for row in rows] == [f"train {p}" for p in preset_names()] + BF16_COMPILE + CHECKS
    for name, result, seconds, figure in rows:
        if name in SKIPPED:
            assert result == "skip" and figure.startswith(SKIPPED[name]), (name, result, figure)
        else:
            assert result == "ok", (name, result, figure)
        assert float(seconds) >= 0
    figures = {row[0]: row[3] for row in rows}
    assert figures["resume bit-exact"] == "fast 2+2 = 4 steps: G, D and generator file bit-exact"
    assert figures["resume cpu -> device"] == "cpu 4 -> cpu 8 steps, same type: no reseed"
    assert figures["host syncs per step"] == "0 per step in 3 steps of 7 presets (cpu (stand-in))"
    assert figures["torchrun 2 processes"].startswith("2 x cpu gloo, 4 steps")
    assert lines[-1].startswith(f"{len(rows)} of {len(rows)} checks did not fail")
