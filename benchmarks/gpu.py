"""The GPU path, measured: each preset's training throughput on 1..N processes and its time to quality,
through the real `minigan train` (plain for 1 process, under torchrun for more). Runs on CPU too
(gloo), as a smoke check of the same code path.

    PYTHONPATH=src python benchmarks/gpu.py --presets fast,minimal --procs 1,2 --threads 1   # CPU
    PYTHONPATH=src python benchmarks/gpu.py --device cuda --presets fast,dcgan,mlp4 --procs 1,2,4,8 \\
        --variants fp32,bf16,bf16+compile --ttq-fid 30 --ttq-budget 600 --json gpu.json

Throughput: a run of --seconds training seconds per (preset, variant, processes); img/s is the median
of its stats.jsonl windows (real images D consumes per second, the whole job's), leaving out the first
window (warm-up, compiling) and the last (partial). The global batch is the preset's (strong scaling)
unless --scaling weak multiplies it by the number of processes. Time to quality (--ttq-fid): a run with
--eval-every, the first training second at which FID-MNIST (2k samples) reached the target. On CUDA,
--sync-check counts host syncs inside training steps (torch.cuda.set_sync_debug_mode).
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

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
                   "--batch-size", str(batch), "--time-budget", str(args.seconds), "--log-every",
                   str(args.log_every), "--checkpoint-every", str(10**9), "--sample-every", str(10**9),
                   "--grid-size", "2", "--quiet", "--out", str(out), *VARIANTS[variant]],
           args.threads, args.timeout)
    stats = _records(out / "stats.jsonl")
    windows = stats[1:-1] if len(stats) > 3 else stats
    return {"preset": preset, "variant": variant, "processes": nproc, "batch_size": batch,
            "windows": len(windows), "steps": stats[-1]["step"] if stats else 0,
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


def sync_check(preset: str, args: argparse.Namespace) -> dict:
    """CUDA: host syncs in 20 training steps (balance off), from torch's sync debug mode."""
    from minigan.presets import get_config
    from minigan.training import Trainer

    config = get_config(preset, device=args.device, log_every=10**6, sample_every=10**6, tensorboard=False)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, out, progress=False)
        for _ in range(3):
            trainer.train_step()
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            for _ in range(20):
                trainer.train_step()
            torch.cuda.set_sync_debug_mode("default")
    syncs = [str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message)]
    return {"preset": preset, "steps": 20, "host_syncs": len(syncs), "first": syncs[:3]}


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
        lines.append(f"| {r['preset']} | {r['variant']} | {r['processes']} | {r['batch_size']} | "
                     f"{r['img_per_s']:,.0f} | {r['ms_per_step']:.2f} | {r['speedup']:.2f}x | "
                     f"{r['efficiency']:.0%} |")
    if report["ttq"]:
        target = report["ttq"][0]["target_fid"]
        lines += ["", f"| preset | variant | processes | s to FID-MNIST <= {target:g} | step | best FID |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in report["ttq"]:
            seconds = "not reached" if r["seconds_to_target"] is None else f"{r['seconds_to_target']:.0f}"
            best = "" if r["best_fid"] is None else f"{r['best_fid']:.2f}"
            lines.append(f"| {r['preset']} | {r['variant']} | {r['processes']} | {seconds} | "
                         f"{r['step_at_target'] or ''} | {best} |")
    for r in report["sync"]:
        lines.append(f"\n{r['preset']}: {r['host_syncs']} host syncs in {r['steps']} training steps")
    m = report["machine"]
    lines.append(f"\n{m['device']} ({m['gpus']} GPUs, {m['cpus']} CPUs), torch {m['torch']}, {m['threads']} "
                 f"thread(s) per process, {m['date']}, load average {m['loadavg'][0]:.1f} at start")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--presets", default="fast,minimal", help="comma-separated presets")
    parser.add_argument("--procs", default="1,2", help="process counts, e.g. 1,2,4,8 (one GPU each on CUDA)")
    parser.add_argument("--variants", default="fp32", help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (each process: cuda:LOCAL_RANK)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--seconds", type=float, default=20.0, help="training seconds per throughput run")
    parser.add_argument("--log-every", type=int, default=25, help="steps per stats window")
    parser.add_argument("--batch-size", type=int, help="global batch of all presets (default: each its own)")
    parser.add_argument("--scaling", choices=("strong", "weak"), default="strong",
                        help="strong: the global batch stays; weak: it grows with the processes")
    parser.add_argument("--ttq-fid", type=float, help="time-to-quality target FID-MNIST (default: skip)")
    parser.add_argument("--ttq-budget", type=float, default=600.0, help="training seconds per TTQ run")
    parser.add_argument("--eval-every", type=int, default=500, help="steps between FID evaluations (TTQ)")
    parser.add_argument("--eval-num", type=int, default=2000, help="samples per evaluation (TTQ)")
    parser.add_argument("--sync-check", action="store_true", help="CUDA: count host syncs in training steps")
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
    with tempfile.TemporaryDirectory(prefix="minigan-gpu-") as tmp:
        root = args.out or Path(tmp)
        for preset in args.preset_list:
            for variant in args.variant_list:
                rows = [throughput(preset, variant, n, args, root) for n in args.proc_list]
                for r in rows:
                    r["speedup"] = r["img_per_s"] / rows[0]["img_per_s"]
                    r["efficiency"] = r["speedup"] / (r["processes"] / rows[0]["processes"])
                    print(f"{preset} {variant} x{r['processes']}: {r['img_per_s']:,.0f} img/s",
                          file=sys.stderr)
                report["throughput"] += rows
                if args.ttq_fid is not None:
                    report["ttq"] += [time_to_quality(preset, variant, n, args, root) for n in args.proc_list]
            if args.sync_check and torch.cuda.is_available():
                report["sync"].append(sync_check(preset, args))
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return report


if __name__ == "__main__":
    main()
