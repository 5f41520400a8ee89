"""The GPU path, measured: each preset's training throughput on 1..N processes and its time to quality,
through the real `minigan train` (plain for 1 process, under torchrun for more). Runs on CPU too
(gloo), as a smoke check of the same code path.

    PYTHONPATH=src python benchmarks/gpu.py --presets fast,minimal --procs 1,2 --threads 1   # CPU
    PYTHONPATH=src python benchmarks/gpu.py --device cuda --presets fast,dcgan,mlp4 --procs 1,2,4,8 \\
        --variants fp32,bf16,bf16+compile --ttq-fid 30 --ttq-budget 600 --json gpu.json

Throughput: a run of --warmup-steps + --steps steps per (preset, variant, processes); img/s is the
median of its stats.jsonl windows after the warm-up (real images D consumes per second, the whole
job's), so k-means setup and compiling never count. The global batch is the preset's (strong scaling)
unless --scaling weak multiplies it by the number of processes. Time to quality (--ttq-fid): a run with
--eval-every, the first training second at which FID-MNIST (2k samples) reached the target. A run that
fails gives a row with its error line and the sweep goes on; --json is rewritten after every row.
--sync-check counts host syncs per training step: torch.cuda.set_sync_debug_mode on CUDA, the CPU
stand-in benchmarks/host_syncs.py on CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"fp32": [], "bf16": ["--precision", "bf16"], "fp32+compile": ["--compile"],
            "bf16+compile": ["--precision", "bf16", "--compile"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(nproc: int, args: list[str], threads: int, timeout: float) -> subprocess.CompletedProcess:
    """`minigan train ARGS` on `nproc` processes of this machine (plain python for one)."""
    head = [sys.executable, "-m"]
    if nproc > 1:
        head += ["torch.distributed.run", "--nproc-per-node", str(nproc), "--nnodes", "1",
                 "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), "-m"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([*head, "minigan", "train", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if done.returncode != 0:
        errors = [x for x in done.stderr.splitlines() if x.startswith("minigan: error")]
        last = (errors or done.stderr.splitlines() or ["?"])[-1]
        raise RuntimeError(f"minigan train failed on {nproc} process(es): {last}")
    return done


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def throughput(preset: str, variant: str, nproc: int, args: argparse.Namespace, root: Path) -> dict:
    out = root / f"{preset}-{variant}-{nproc}"
    batch = args.batch_size or _preset_batch(preset)
    if args.scaling == "weak":
        batch *= nproc
    launch(nproc, ["--preset", preset, "--device", args.device, "--threads", str(args.threads),
                   "--batch-size", str(batch), "--steps", str(args.warmup_steps + args.steps), "--log-every",
                   str(args.log_every), "--checkpoint-every", str(10**9), "--sample-every", str(10**9),
                   "--grid-size", "2", "--quiet", "--out", str(out), *VARIANTS[variant]],
           args.threads, args.timeout)
    stats = _records(out / "stats.jsonl")
    # windows that began after the warm-up (k-means, compiling, cuDNN's search and lazy state before it)
    starts = [0] + [w["step"] for w in stats[:-1]]  # a window spans (the previous record's step, its step]
    windows = [w for w, start in zip(stats, starts, strict=True) if start >= args.warmup_steps]
    if not windows:
        raise RuntimeError(f"no stats window after step {args.warmup_steps} (of {len(stats)} windows)")
    return {"preset": preset, "variant": variant, "processes": nproc, "batch_size": batch,
            "windows": len(windows), "steps": windows[-1]["step"] - args.warmup_steps,
            "img_per_s": statistics.median(w["img_per_s"] for w in windows),
            "ms_per_step": statistics.median(w["ms_per_step"] for w in windows)}


def time_to_quality(preset: str, variant: str, nproc: int, args: argparse.Namespace, root: Path) -> dict:
    out = root / f"ttq-{preset}-{variant}-{nproc}"
    launch(nproc, ["--preset", preset, "--device", args.device, "--threads", str(args.threads),
                   "--time-budget", str(args.ttq_budget), "--eval-every", str(args.eval_every),
                   "--eval-num", str(args.eval_num), "--checkpoint-every", str(10**9), "--quiet",
                   "--out", str(out), *VARIANTS[variant]], args.threads, args.timeout + args.ttq_budget * 3)
    curve = _records(out / "metrics.jsonl")
    reached = next((r for r in curve if r["fid"] <= args.ttq_fid), None)
    return {"preset": preset, "variant": variant, "processes": nproc, "target_fid": args.ttq_fid,
            "seconds_to_target": None if reached is None else reached["elapsed"],
            "step_at_target": None if reached is None else reached["step"],
            "best_fid": min((r["fid"] for r in curve), default=None),
            "curve": [{k: r[k] for k in ("step", "elapsed", "fid")} for r in curve]}


def sync_check(preset: str, args: argparse.Namespace, steps: int = 20) -> dict:
    """Host syncs per training step after 3 warm-up steps, balance as the preset has it: CUDA's sync
    debug mode counts them on a GPU, benchmarks/host_syncs.py (blocking uploads + reads) on CPU."""
    from host_syncs import HostSyncs

    from minigan.presets import get_config
    from minigan.runtime import resolve_device
    from minigan.training import Trainer, reporting

    config = get_config(preset, device=str(resolve_device(args.device)), log_every=10**6, sample_every=10**6,
                        checkpoint_every=10**6, tensorboard=False, grid_size=2)
    cuda, per_step, first = torch.device(config.device).type == "cuda", [], []
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, out, progress=False)
        trainer.reporter = reporting.SilentReporter()  # the balance rule reports its switches
        stand_in = HostSyncs()
        recorder = contextlib.nullcontext() if cuda else stand_in
        for i in range(3 + steps):
            with warnings.catch_warnings(record=True) as caught, recorder:
                warnings.simplefilter("always")
                before = len(stand_in.transfers)
                if cuda:
                    torch.cuda.synchronize()
                    torch.cuda.set_sync_debug_mode("warn")
                try:
                    trainer.train_step()
                finally:
                    if cuda:
                        torch.cuda.set_sync_debug_mode("default")
            trainer.progress.step += 1  # as the loop counts (the balance schedule reads it)
            syncs = ([str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message)]
                     if cuda else [f"{t.kind} {t.what}" for t in stand_in.transfers[before:] if t.blocking])
            if i >= 3:
                per_step.append(len(syncs))
                first += syncs[:3 - len(first)]
    return {"preset": preset, "device": "cuda" if cuda else "cpu (stand-in)", "steps": steps,
            "host_syncs": sum(per_step), "per_step": per_step, "first": first}


def _preset_batch(preset: str) -> int:
    from minigan.presets import PRESETS

    return PRESETS[preset].config.batch_size


def machine(args: argparse.Namespace) -> dict:
    cuda = args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available())
    name = torch.cuda.get_device_name(0) if cuda else (platform.processor() or platform.machine())
    return {"device": name, "gpus": torch.cuda.device_count() if cuda else 0, "cpus": os.cpu_count(),
            "torch": torch.__version__, "python": platform.python_version(), "threads": args.threads,
            "date": time.strftime("%Y-%m-%d"), "loadavg": os.getloadavg()}


def markdown(report: dict) -> str:
    lines = ["| preset | variant | processes | global batch | img/s | ms/step | speedup | efficiency |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in report["throughput"]:
        lines.append(_row(r))
    if report["ttq"]:
        target = report["ttq"][0]["target_fid"]
        lines += ["", f"| preset | variant | processes | s to FID-MNIST <= {target:g} | step | best FID |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in report["ttq"]:
            if "error" in r:
                lines.append(f"| {r['preset']} | {r['variant']} | {r['processes']} | failed: {r['error']} "
                             "| | |")
                continue
            seconds = "not reached" if r["seconds_to_target"] is None else f"{r['seconds_to_target']:.0f}"
            best = "" if r["best_fid"] is None else f"{r['best_fid']:.2f}"
            lines.append(f"| {r['preset']} | {r['variant']} | {r['processes']} | {seconds} | "
                         f"{r['step_at_target'] or ''} | {best} |")
    for r in report["sync"]:
        lines.append(f"\n{r['preset']}: " + (f"sync check failed: {r['error']}" if "error" in r else
                     f"{r['host_syncs']} host syncs in {r['steps']} training steps ({r['device']})"))
    m = report["machine"]
    lines.append(f"\n{m['device']} ({m['gpus']} GPUs, {m['cpus']} CPUs), torch {m['torch']}, {m['threads']} "
                 f"thread(s) per process, {m['date']}, load average {m['loadavg'][0]:.1f} at start")
    return "\n".join(lines)


def _row(r: dict) -> str:
    head = f"| {r['preset']} | {r['variant']} | {r['processes']} | "
    if "error" in r:
        return head + f"{r.get('batch_size', '')} | failed: {r['error']} | | | |"
    return head + (f"{r['batch_size']} | {r['img_per_s']:,.0f} | {r['ms_per_step']:.2f} | "
                   f"{r['speedup']:.2f}x | {r['efficiency']:.0%} |")


def attempt(run: Callable[[], dict], **row: Any) -> dict:
    """run()'s row, or `row` with the error's last line: one failing run never ends the sweep."""
    try:
        return run()
    except Exception as exc:  # noqa: BLE001 - any failure is one row's result
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        return {**row, "error": f"{type(exc).__name__}: {lines[-1]}"[:300]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--presets", default="fast,minimal", help="comma-separated presets")
    parser.add_argument("--procs", default="1,2", help="process counts, e.g. 1,2,4,8 (one GPU each on CUDA)")
    parser.add_argument("--variants", default="fp32", help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (each process: cuda:LOCAL_RANK)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--steps", type=int, default=200, help="timed training steps per throughput run")
    parser.add_argument("--warmup-steps", type=int, default=50,
                        help="untimed steps first (k-means, compiling, cuDNN's search); a multiple of "
                        "--log-every")
    parser.add_argument("--log-every", type=int, default=25, help="steps per stats window")
    parser.add_argument("--batch-size", type=int, help="global batch of all presets (default: each its own)")
    parser.add_argument("--scaling", choices=("strong", "weak"), default="strong",
                        help="strong: the global batch stays; weak: it grows with the processes")
    parser.add_argument("--ttq-fid", type=float, help="time-to-quality target FID-MNIST (default: skip)")
    parser.add_argument("--ttq-budget", type=float, default=600.0, help="training seconds per TTQ run")
    parser.add_argument("--eval-every", type=int, default=500, help="steps between FID evaluations (TTQ)")
    parser.add_argument("--eval-num", type=int, default=2000, help="samples per evaluation (TTQ)")
    parser.add_argument("--sync-check", action="store_true",
                        help="count host syncs per training step (CUDA's sync debug mode; on CPU a stand-in)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a run counts as hung")
    parser.add_argument("--out", type=Path, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write everything as JSON")
    args = parser.parse_args(argv)
    args.preset_list = [p for p in args.presets.split(",") if p]
    args.proc_list = sorted({int(n) for n in args.procs.split(",") if n})
    args.variant_list = [v for v in args.variants.split(",") if v]
    if unknown := sorted(set(args.variant_list) - set(VARIANTS)):
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    report = {"machine": machine(args), "throughput": [], "ttq": [], "sync": [], "args": vars(args)}

    def done(part: str, row: dict, line: str) -> None:  # print the row and rewrite the JSON at once
        report[part].append(row)
        print(line, file=sys.stderr, flush=True)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2, default=str))

    with tempfile.TemporaryDirectory(prefix="minigan-gpu-") as tmp:
        root = args.out or Path(tmp)
        for preset in args.preset_list:
            for variant in args.variant_list:
                base = None  # the fewest processes' row that worked: speedups are against it
                for n in args.proc_list:
                    key = {"preset": preset, "variant": variant, "processes": n}
                    row = attempt(partial(throughput, preset, variant, n, args, root), **key)
                    if "error" not in row:
                        base = base or row
                        row["speedup"] = row["img_per_s"] / base["img_per_s"]
                        row["efficiency"] = row["speedup"] / (n / base["processes"])
                    done("throughput", row, _row(row))
                    if args.ttq_fid is not None:
                        ttq = attempt(partial(time_to_quality, preset, variant, n, args, root), **key)
                        done("ttq", ttq, f"{preset} {variant} x{n}: time to quality {ttq}")
            if args.sync_check:
                sync = attempt(partial(sync_check, preset, args), preset=preset)
                done("sync", sync, f"{preset}: host syncs {sync}")
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
