"""The first GPU run's checks (issue 29) in one command, one row each: check, ok/FAIL/skip, a figure,
seconds. Every check runs on its own (one failing never stops the others); the exit status is 1 when
any failed. Run through benchmarks/gpu_check.sh from the repository root:

    bash benchmarks/gpu_check.sh                 # a CUDA machine: about 5 minutes on one H100
    bash benchmarks/gpu_check.sh --cpu-dry-run   # every CPU-checkable part on the CPU, tiny

On CUDA: every preset trains --steps steps (fp32); fast in bf16, fast and dcgan (simultaneous updates)
compiled; --deterministic resume bit-exactness (N steps straight vs N/2 + resume N/2, weights and
generator file bit for bit); a CPU checkpoint resumed on CUDA (G's noise reseeded, said in one line);
`minigan sample` and `minigan eval --num 2000`; a 2-process torchrun job (NCCL with 2 GPUs, else gloo
on CPU: minigan gives each process its own GPU); host syncs per step (CUDA's sync debug mode).
The dry run trains on the CPU, 2 steps a preset, and skips what only a GPU runs (compile; bf16 on a
CPU without native bf16).
Logs of every check stay in the printed folder. Data: $MINIGAN_DATA_DIR (the .sh: ../shared/data/mnist).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import gpu
import numpy as np
import torch
from safetensors import safe_open

from minigan import cli, resume, train
from minigan.presets import preset_names
from minigan.run import checkpoint
from minigan.training import wrappers

RESEEDED = "G's noise restarts from (seed, images seen)"  # what a resume on another device type says
SYNC_PRESETS = ("fast", "fast-cond", "minimal", "vanilla", "mlp4", "dcgan", "cgan")  # cgan reads every 100


class Skip(Exception):
    """This check cannot run here; the message says why."""


class Plan:
    def __init__(self, args: argparse.Namespace) -> None:
        self.dry = args.cpu_dry_run
        self.device = "cpu" if self.dry else "cuda"
        self.steps = 2 if self.dry else args.steps
        self.resume_steps = 4 if self.dry else 200  # split in two halves
        self.eval_num = 256 if self.dry else 2000
        self.sync_steps = 3 if self.dry else 20
        self.threads = 1 if self.dry else 0
        self.root = Path(args.out or tempfile.mkdtemp(prefix="minigan-gpu-check-"))
        self.data = os.environ.get("MINIGAN_DATA_DIR")

    def settings(self, steps: int, **overrides) -> dict:
        return {"device": self.device, "steps": steps, "log_every": max(1, steps // 4), "grid_size": 4,
                "checkpoint_every": max(1, steps // 2), "sample_every": steps, "threads": self.threads,
                "data_dir": self.data, "progress": False, **overrides}


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def train_check(plan: Plan, preset: str, name: str, **overrides) -> str:
    out = plan.root / name
    result = train(preset, out, **plan.settings(plan.steps, **overrides))
    stats = _records(out / "stats.jsonl")
    if result.step != plan.steps or not stats:
        raise AssertionError(f"stopped at step {result.step} of {plan.steps} ({len(stats)} stats records)")
    last = stats[-1]
    if not (math.isfinite(last["loss_d"]) and math.isfinite(last["loss_g"])):
        raise AssertionError(f"losses not finite at step {last['step']}: {last['loss_d']}, {last['loss_g']}")
    speed = statistics.median(w["img_per_s"] for w in stats[1:] or stats)  # the first window compiles
    return f"{result.step} steps, {speed:,.0f} img/s, loss_d {last['loss_d']:.3f}"


def resume_exact(plan: Plan) -> str:
    """fast with --deterministic: N steps straight against N/2 and a resume to N, bit for bit."""
    n = plan.resume_steps
    settings = plan.settings(n, deterministic=True)
    straight, split = plan.root / "exact-straight", plan.root / "exact-split"
    train("fast", straight, **settings)
    train("fast", split, **{**settings, "steps": n // 2})
    resume(split, steps=n, progress=False)
    a, b = (checkpoint.load_latest(run / "checkpoints")[0] for run in (straight, split))
    if a["step"] != n or b["step"] != n:
        raise AssertionError(f"ended at steps {a['step']} and {b['step']}, not {n}")
    differ = {f"{net}.{key}": float((value - b[net][key]).abs().max()) for net in ("G", "D")
              for key, value in a[net].items() if not torch.equal(value, b[net][key])}
    if differ:
        raise AssertionError(f"{len(differ)} tensors differ (first {next(iter(differ))}, max |diff| "
                             f"{max(differ.values()):.3g})")
    files = [safe_open(run / "generator.safetensors", "pt") for run in (straight, split)]
    if files[0].metadata() != files[1].metadata() or any(  # the header's key order may differ: not bytes
            not torch.equal(files[0].get_tensor(k), files[1].get_tensor(k)) for k in files[0].keys()):
        raise AssertionError("G and D agree but generator.safetensors differs")
    return f"fast {n // 2}+{n // 2} = {n} steps: G, D and generator file bit-exact"


def cpu_to_device(plan: Plan) -> str:
    """A checkpoint written on the CPU resumed on this device: it trains on, reseeded on a new type."""
    run = plan.root / "from-cpu"
    train("minimal", run, **plan.settings(4, device="cpu"))
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        result = resume(run, steps=8, device=plan.device, progress=False)
    reseeded = RESEEDED in said.getvalue()
    if result.step != 8 or reseeded != (plan.device != "cpu"):
        raise AssertionError(f"step {result.step} of 8, reseed said: {reseeded}")
    return f"cpu 4 -> {plan.device} 8 steps, " + ("reseeded, said so" if reseeded else "same type: no reseed")


def sample_check(plan: Plan) -> str:
    run, png, npz = plan.root / "train-fast", plan.root / "samples.png", plan.root / "samples.npz"
    code = cli.main(["sample", str(run), "--num", "64", "--grid", str(png), "--grid-size", "8",
                     "--out", str(npz), "--device", plan.device])
    images = np.load(npz)["images"]
    if code or png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n" or images.shape != (64, 28, 28):
        raise AssertionError(f"exit {code}, images {images.shape}")
    return f"64 samples {images.dtype} {images.shape[1]}x{images.shape[2]}, 8x8 PNG grid"


def eval_check(plan: Plan) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli.main(["eval", str(plan.root / "train-fast"), "--num", str(plan.eval_num), "--device",
                         plan.device, "--json", "--no-floor"])
    metrics = json.loads(printed.getvalue()[printed.getvalue().index("{"):])["metrics"]
    if code or not math.isfinite(metrics["fid"]):
        raise AssertionError(f"exit {code}, FID {metrics.get('fid')}")
    return f"{plan.eval_num} samples: FID-MNIST {metrics['fid']:.1f} (after {plan.steps} steps)"


def two_processes(plan: Plan) -> str:
    device = "cuda" if not plan.dry and torch.cuda.device_count() >= 2 else "cpu"
    steps = 4 if plan.dry else 20
    out = plan.root / "two-processes"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--nnodes", "1",
               "--master-addr", "127.0.0.1", "--master-port", str(gpu._free_port()), "-m", "minigan", "train",
               "--preset", "minimal", "--device", device, "--steps", str(steps), "--log-every", "2",
               "--checkpoint-every", str(steps), "--threads", "1", "--quiet", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    (plan.root / "two-processes.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        lines = done.stderr.splitlines()
        errors = [x for x in lines if "error" in x.lower()] or lines or ["?"]
        raise AssertionError(f"exit {done.returncode}: {errors[-1][:200]}")
    last = _records(out / "stats.jsonl")[-1]
    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cpu" and not plan.dry:
        backend += f" ({torch.cuda.device_count()} GPU; minigan gives each process its own)"
    return f"2 x {device} {backend}, {last['step']} steps, loss_d {last['loss_d']:.3f}"


def host_syncs(plan: Plan) -> str:
    args = argparse.Namespace(device=plan.device)
    counts = {p: gpu.sync_check(p, args, steps=plan.sync_steps) for p in SYNC_PRESETS}
    if busy := {p: r["first"] for p, r in counts.items() if r["host_syncs"]}:
        raise AssertionError(f"syncs in {', '.join(busy)}: {next(iter(busy.values()))}")
    return f"0 per step in {plan.sync_steps} steps of {len(counts)} presets ({counts['fast']['device']})"


def reuse_clusters() -> None:
    """k-means pseudo-labels once per (data, k, seed, classes): every run here reads the same MNIST,
    and the fast and best presets' 5-6 s of clustering on CPU would otherwise come back 9 times."""
    from minigan.data import batches

    computed, original = {}, batches.cluster_ids

    def cluster_ids(images, k, seed=0, classes=None, num_classes=0):
        key = (tuple(images.shape), int(images.sum()), k, seed, classes is None, num_classes)
        if key not in computed:
            computed[key] = original(images, k, seed, classes, num_classes)
        return computed[key].clone()

    batches.cluster_ids = cluster_ids


def checks(plan: Plan) -> list[tuple[str, Callable[[], str], str | None]]:
    """(name, check, why the dry run skips it or None)."""
    compiled = "--compile is refused on CPU; tests/test_cuda_paths.py compiles dcgan there (aot_eager)"
    listed = [(f"train {p}", partial(train_check, plan, p, f"train-{p}"), None) for p in preset_names()]
    return listed + [
        ("train fast bf16", partial(train_check, plan, "fast", "fast-bf16", precision="bf16"),
         None if wrappers.native_cpu_bf16() else "--precision bf16 is refused on a CPU without native bf16"),
        ("train fast compile", partial(train_check, plan, "fast", "fast-compile", compile=True), compiled),
        ("train dcgan compile", partial(train_check, plan, "dcgan", "dcgan-compile", compile=True), compiled),
        ("resume bit-exact", partial(resume_exact, plan), None),
        ("resume cpu -> device", partial(cpu_to_device, plan), None),
        ("minigan sample", partial(sample_check, plan), None),
        ("minigan eval", partial(eval_check, plan), None),
        ("torchrun 2 processes", partial(two_processes, plan), None),
        ("host syncs per step", partial(host_syncs, plan), None),
    ]


def run_check(plan: Plan, name: str, check: Callable[[], str], dry_skip: str | None
              ) -> tuple[str, str, str, float]:
    started, log = time.perf_counter(), io.StringIO()
    try:
        if plan.dry and dry_skip:
            raise Skip(dry_skip)
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            result, figure = "ok", check()
    except Skip as why:
        result, figure = "skip", str(why)
    except Exception as exc:  # noqa: BLE001 - every failure is this check's row
        lines = str(exc).strip().splitlines() or [""]
        result, figure = "FAIL", f"{type(exc).__name__}: {lines[-1]}"[:160]
    (plan.root / "logs").mkdir(parents=True, exist_ok=True)
    (plan.root / "logs" / f"{name.replace(' ', '-').replace('>', '')}.log").write_text(log.getvalue())
    return name, result, figure, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-dry-run", action="store_true", help="the CPU-checkable parts on the CPU, tiny")
    parser.add_argument("--steps", type=int, default=300, help="training steps per preset on CUDA")
    parser.add_argument("--out", type=Path, help="keep the runs and logs here (default: a temporary folder, "
                        "kept when a check failed)")
    args = parser.parse_args(argv)
    plan = Plan(args)
    if not plan.dry and not torch.cuda.is_available():
        parser.error("no CUDA device here; run with --cpu-dry-run for the CPU-checkable parts")
    rows, started = [], time.perf_counter()
    reuse_clusters()
    for name, check, dry_skip in checks(plan):
        rows.append(run_check(plan, name, check, dry_skip))
        print(f"{rows[-1][0]}: {rows[-1][1]}", file=sys.stderr, flush=True)
    where = "cpu dry run" if plan.dry else torch.cuda.get_device_name(0)
    print(f"\nminigan GPU check: {where}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}")
    print(f"{'check':<22} {'result':<6} {'seconds':>7}  figure")
    for name, result, figure, seconds in rows:
        print(f"{name:<22} {result:<6} {seconds:>7.1f}  {figure}")
    failed = sum(r[1] == "FAIL" for r in rows)
    kept = args.out or failed
    print(f"{len(rows) - failed} of {len(rows)} checks did not fail, in {time.perf_counter() - started:.0f} s"
          + (f"; runs and logs in {plan.root}" if kept else ""))
    if not kept:
        shutil.rmtree(plan.root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
