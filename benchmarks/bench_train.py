"""Training throughput of minigan's loop against a notebook-style reference of the same recipe.

For each preset, minigan's `Trainer.train_step()` and the reference step (reference.py) run in the
same process, in alternating timed windows (minigan, reference, minigan, ...) after a warm-up, so
machine noise hits both sides alike; each side is reported as the MEDIAN over its windows. Every
preset runs in a fresh child process (unless --no-isolate) so peak RSS, allocator state and thread
pools do not leak from one preset into the next.

Also measured: sampling throughput (`TrainedGenerator.sample`), peak RSS, and the achieved GFLOP/s
of minigan's step (matmul/conv FLOPs of one step, counted by FlopCounterMode) against the fp32
matmul peak measured here at the same thread count.

Examples:
    PYTHONPATH=src .venv/bin/python benchmarks/bench_train.py
    PYTHONPATH=src .venv/bin/python benchmarks/bench_train.py --presets mlp4,dcgan --threads 2 \\
        --windows 7 --window-seconds 3 --json bench.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent / "src"))

import reference  # noqa: E402

from minigan.presets import get_config  # noqa: E402
from minigan.runtime import configure_process  # noqa: E402
from minigan.sampling import TrainedGenerator  # noqa: E402
from minigan.training import Trainer  # noqa: E402

DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "mnist"
Step = Callable[[], int]  # one training step; returns the real images D consumed


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- timing
def sync_for(device: str) -> Callable[[], None]:
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def timed_window(step: Step, seconds: float, sync: Callable[[], None], min_steps: int = 1) -> dict:
    """Run `step` for at least `seconds` and `min_steps` steps: steps, images, elapsed."""
    steps = images = 0
    sync()
    cpu_start, start = time.process_time(), time.perf_counter()
    while True:
        images += step()
        steps += 1
        if steps >= min_steps and time.perf_counter() - start >= seconds:
            break
    sync()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"steps": steps, "images": images, "seconds": elapsed, "ms_per_step": 1000 * elapsed / steps,
            "img_per_s": images / elapsed, "cpu_ms_per_step": 1000 * cpu / steps}


def interleave(sides: dict[str, Step], windows: int, window_seconds: float, warmup_seconds: float,
               sync: Callable[[], None] = lambda: None, min_steps: int = 1) -> dict[str, dict]:
    """Warm every side up, then time windows A, B, ..., A, B, ...; medians per side."""
    for step in sides.values():
        timed_window(step, warmup_seconds, sync)
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for _ in range(windows):
        for name, step in sides.items():
            runs[name].append(timed_window(step, window_seconds, sync, min_steps))
    return {name: summarize(rows) for name, rows in runs.items()}


def summarize(rows: list[dict]) -> dict:
    ms = [r["ms_per_step"] for r in rows]
    return {
        "ms_per_step": statistics.median(ms),
        "img_per_s": statistics.median(r["img_per_s"] for r in rows),
        # CPU seconds of this process per step: less sensitive to other processes taking the cores
        "cpu_ms_per_step": statistics.median(r["cpu_ms_per_step"] for r in rows),
        "ms_per_step_min": min(ms), "ms_per_step_max": max(ms),
        "steps": sum(r["steps"] for r in rows), "windows": len(rows),
    }


def matmul_peak(threads: int, n: int = 2048, reps: int = 5) -> dict:
    """fp32 GFLOP/s of an n x n torch.mm at this thread count: best and median of `reps`."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b)
        rates.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
    return {"n": n, "threads": threads, "gflops_best": max(rates), "gflops_median": statistics.median(rates)}


def count_flops(step: Step) -> int:
    """matmul and convolution FLOPs (forward + backward) of one call of `step`."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ---------------------------------------------------------------------------------- sides
def minigan_trainer(preset: str, data_dir: str, threads: int, device: str, out: str, **overrides) -> Trainer:
    config = get_config(preset, data_dir=data_dir, threads=threads, device=device, **overrides)
    return Trainer(config, out, progress=False)


def minigan_step(trainer: Trainer) -> Step:
    images = trainer.config.batch_size * trainer.config.d_steps

    def step() -> int:
        trainer.train_step()
        trainer.progress.step += 1  # as the loop counts: lazy R1/R2 run every reg_interval steps, not each
        return images

    return step


def sampling_rate(trainer: Trainer, num: int, seconds: float) -> float:
    """Median images/s of `TrainedGenerator.sample(num)` over calls filling `seconds` (>= 2 calls)."""
    generator = TrainedGenerator(trainer.config, trainer.G.state_dict(), trainer.device)
    generator.sample(min(num, 64), seed=0)  # warm-up
    rates, start, seed = [], time.perf_counter(), 1
    while len(rates) < 2 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        generator.sample(num, seed=seed)
        rates.append(num / (time.perf_counter() - t0))
        seed += 1
    return statistics.median(rates)


def bench_preset(preset: str, args: argparse.Namespace) -> dict:
    configure_process(args.threads)  # as `minigan train` does: threads and the allocator
    sync = sync_for(args.device)
    with tempfile.TemporaryDirectory(prefix="minigan-bench-") as out:
        say(f"[{preset}] minigan: building, warming up, counting FLOPs, sampling")
        trainer = minigan_trainer(preset, str(args.data_dir), args.threads, args.device, out)
        ours = minigan_step(trainer)
        timed_window(ours, args.warmup_seconds, sync)
        flops = count_flops(ours)
        sample_rate = sampling_rate(trainer, args.sample_num, args.sample_seconds)
        rss_minigan = peak_rss_mb()

        say(f"[{preset}] reference: building")
        ref = reference.build(preset, args.data_dir, args.device)
        timed_window(ref.train_step, args.warmup_seconds, sync)
        ref_flops = count_flops(ref.train_step)

        say(f"[{preset}] timing {args.windows} x 2 windows of {args.window_seconds:g} s")
        timing = interleave({"minigan": ours, "reference": ref.train_step}, args.windows,
                            args.window_seconds, 0.0, sync, args.min_steps)
    ours_t, ref_t = timing["minigan"], timing["reference"]
    return {
        "preset": preset, "batch_size": trainer.config.batch_size, "d_steps": trainer.config.d_steps,
        "minigan": ours_t, "reference": ref_t,
        "ratio": ours_t["img_per_s"] / ref_t["img_per_s"],
        "flops_per_step": flops, "reference_flops_per_step": ref_flops,
        "gflops": flops / (ours_t["ms_per_step"] / 1000) / 1e9,
        "sample_img_per_s": sample_rate, "sample_num": args.sample_num,
        "rss_peak_mb_minigan": rss_minigan, "rss_peak_mb_process": peak_rss_mb(),
    }


def bench_in_child(preset: str, args: argparse.Namespace) -> dict:
    """Run one preset in a fresh interpreter and read back its JSON."""
    with tempfile.TemporaryDirectory(prefix="minigan-bench-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--presets", preset, "--child",
                   "--json", str(out), *passthrough(args)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())["results"][0]


def passthrough(args: argparse.Namespace) -> list[str]:
    names = ("data_dir", "threads", "windows", "window_seconds", "min_steps", "warmup_seconds", "device",
             "sample_num", "sample_seconds")
    return [part for name in names for part in (f"--{name.replace('_', '-')}", str(getattr(args, name)))]


# ---------------------------------------------------------------------------------- report
def machine_info(threads: int) -> dict:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model, "cpus": os.cpu_count(), "threads": threads, "torch": torch.__version__,
        "python": platform.python_version(), "date": datetime.date.today().isoformat(),
        "loadavg_at_start": os.getloadavg()[0], "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def markdown(results: list[dict], machine: dict) -> str:
    peak = machine["matmul_peak"]["gflops_best"]
    lines = [
        "| preset | batch | minigan img/s | reference img/s | ratio | ms/step (minigan / ref) "
        "| GFLOP/s | % of peak | sample img/s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['preset']} | {r['batch_size']} | {r['minigan']['img_per_s']:,.0f} "
            f"| {r['reference']['img_per_s']:,.0f} | {r['ratio']:.2f}x "
            f"| {r['minigan']['ms_per_step']:.2f} / {r['reference']['ms_per_step']:.2f} "
            f"| {r['gflops']:.1f} | {100 * r['gflops'] / peak:.0f}% "
            f"| {r['sample_img_per_s']:,.0f} | {r['rss_peak_mb_minigan']:.0f} |"
        )
    lines += [
        "",
        f"{machine['cpu']} ({machine['cpus']} CPUs, {machine['cpu_capability']}), "
        f"{machine['threads']} thread(s), torch {machine['torch']}, Python {machine['python']}, "
        f"{machine['date']}; load average {machine['loadavg_at_start']:.2f} at start. "
        f"fp32 matmul peak {peak:.1f} GFLOP/s (torch.mm, n={machine['matmul_peak']['n']}, best of 5). "
        "img/s: real images consumed by D per second; medians of alternating windows. "
        "GFLOP/s counts matmul/conv FLOPs (forward + backward) only.",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: PYTHONPATH=src .venv/bin/python benchmarks/bench_train.py --presets mlp4,dcgan",
    )
    parser.add_argument("--presets", default=",".join(reference.PRESETS),
                        help="comma-separated presets (default: all)")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("MINIGAN_DATA_DIR", DEFAULT_DATA)))
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--windows", type=int, default=5, help="timed windows per side (default 5)")
    parser.add_argument("--window-seconds", type=float, default=2.0)
    parser.add_argument("--min-steps", type=int, default=3,
                        help="steps per window at least, however long they take (default 3)")
    parser.add_argument("--warmup-seconds", type=float, default=1.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sample-num", type=int, default=500, help="images per sample() call")
    parser.add_argument("--sample-seconds", type=float, default=1.0)
    parser.add_argument("--peak-size", type=int, default=2048, help="n of the n x n matmul peak test")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--no-isolate", action="store_true", help="run every preset in this process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one preset, JSON only
    args = parser.parse_args(argv)
    args.preset_list = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = sorted(set(args.preset_list) - set(reference.PRESETS))
    if unknown or not args.preset_list:
        parser.error(f"unknown preset(s) {unknown}; choose from {', '.join(reference.PRESETS)}")
    if args.threads < 1 or args.windows < 1 or args.window_seconds <= 0:
        parser.error("--threads and --windows must be >= 1, --window-seconds > 0")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    machine = machine_info(args.threads)
    run = bench_preset if args.no_isolate or args.child else bench_in_child
    results = [run(preset, args) for preset in args.preset_list]
    if args.child:
        args.json.write_text(json.dumps({"results": results}))
        return {"results": results}
    machine["matmul_peak"] = matmul_peak(args.threads, args.peak_size)
    report = {"machine": machine, "results": results,
              "args": {k: str(v) for k, v in vars(args).items()}}
    for r in results:
        r["pct_of_peak"] = 100 * r["gflops"] / machine["matmul_peak"]["gflops_best"]
    print(markdown(results, machine))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
