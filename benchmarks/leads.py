"""Speed leads for minigan's training step, each measured with and without (no src/ edits).

Every lead changes one thing by monkeypatching or by a process setting, and times the changed
step against the unchanged one: interleaved windows in one process where the change can live
beside the baseline, alternating child processes where it cannot (allocator settings, thread
counts, torch.compile under a time limit). Rows report median ms/step.

    malloc         glibc malloc: env MALLOC_* and mallopt() at start-up, dcgan (plus page faults)
    dropout        dropout layers on vs off (mlp4, dcgan)
    threads        1 vs 2 threads in one process; two 1-thread processes vs one 2-thread process
    compile        torch.compile of G and D on CPU (--compile-presets, default mlp4,dcgan,fast), compile
                   time reported apart; the loop's own --compile path (training/wrappers.py)
    channels_last  channels_last G and D (dcgan)
    bf16           --precision bf16 where the CPU has native bf16, else autocast around the step
    adam           fused Adam (minigan) vs foreach vs the for-loop default (minimal, mlp4, dcgan)
    combo          dcgan: default, mallopt, channels_last, both (alternating child processes)
    flatten        D's Flatten handing the gradient back channels_last vs nn.Flatten (fast in bf16
                   where the CPU has it, fast in fp32, dcgan)

Examples:
    PYTHONPATH=src .venv/bin/python benchmarks/leads.py --leads malloc,dropout --json leads.json
    PYTHONPATH=src .venv/bin/python benchmarks/leads.py --leads compile --compile-timeout 300
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_train import DEFAULT_DATA, interleave, minigan_step, minigan_trainer, say, timed_window

from minigan.models import layers
from minigan.training import wrappers

LEADS = ("malloc", "dropout", "threads", "compile", "channels_last", "bf16", "adam", "combo", "flatten")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
MALLOC_VARIANTS = {  # name -> environment of the child; BENCH_MALLOPT: mallopt() calls at start-up
    "default": {},
    "env MMAP_THRESHOLD_=32MiB, TRIM_THRESHOLD_=1GiB": {
        "MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)},
    "env MMAP_MAX_=0, TRIM_THRESHOLD_=1GiB": {
        "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 30)},
    "mallopt MMAP_THRESHOLD=1GiB, TRIM_THRESHOLD=1GiB": {
        "BENCH_MALLOPT": f"{M_MMAP_THRESHOLD}={1 << 30},{M_TRIM_THRESHOLD}={1 << 30}"},
}


def row(lead: str, preset: str, variant: str, result: dict, baseline: dict | None, **extra) -> dict:
    ms = result["ms_per_step"]
    return {"lead": lead, "preset": preset, "variant": variant, "ms_per_step": ms,
            "img_per_s": result["img_per_s"], "cpu_ms_per_step": result.get("cpu_ms_per_step"),
            "vs_baseline_pct": None if baseline is None else 100 * (ms / baseline["ms_per_step"] - 1),
            **extra}


def ab(lead: str, preset: str, args, variants: dict) -> list[dict]:
    """Interleaved windows in one process. variants: name -> (overrides, patch(trainer) -> step)."""
    steps, keep = {}, []
    for name, (overrides, patch) in variants.items():
        out = tempfile.TemporaryDirectory(prefix="minigan-leads-")
        keep.append(out)
        trainer = minigan_trainer(preset, str(args.data_dir), args.threads, "cpu", out.name, **overrides)
        steps[name] = patch(trainer) if patch else minigan_step(trainer)
    say(f"[{lead}] {preset}: {len(steps)} variants x {args.windows} windows of {args.window_seconds:g} s")
    timing = interleave(steps, args.windows, args.window_seconds, args.warmup_seconds,
                        min_steps=args.min_steps)
    for out in keep:
        out.cleanup()
    baseline = next(iter(timing.values()))
    return [row(lead, preset, name, t, None if i == 0 else baseline)
            for i, (name, t) in enumerate(timing.items())]


# ---------------------------------------------------------------------------------- in-process leads
def lead_dropout(args) -> list[dict]:
    off = {"d_dropout": 0.0, "g_dropout": 0.0}
    return [
        *ab("dropout", "mlp4", args, {"d_dropout 0.3 (preset)": ({}, None), "no dropout": (off, None)}),
        *ab("dropout", "dcgan", args, {"g/d_dropout 0.3 (preset)": ({}, None), "no dropout": (off, None)}),
    ]


def lead_channels_last(args) -> list[dict]:
    def patch(trainer):
        trainer.G.to(memory_format=torch.channels_last)
        trainer.D.to(memory_format=torch.channels_last)
        return minigan_step(trainer)

    variants = {"contiguous (preset)": ({}, None), "channels_last": ({}, patch)}
    return ab("channels_last", "dcgan", args, variants)


def lead_bf16(args) -> list[dict]:
    """The loop's own --precision bf16 (autocast forward passes), where the CPU computes bf16 natively;
    elsewhere autocast around the whole step, since the loop refuses emulated bf16."""
    def emulated(trainer):
        step = minigan_step(trainer)

        def autocast_step() -> int:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return step()

        return autocast_step

    variants = {"fp32": ({"precision": "fp32"}, None)}  # fast's preset says auto: bf16 on such a CPU
    if wrappers.native_cpu_bf16():
        variants["--precision bf16"] = ({"precision": "bf16"}, None)
    else:
        variants["autocast bf16 (emulated)"] = ({}, emulated)
    return [r for p in ("mlp4", "dcgan", "fast") for r in ab("bf16", p, args, variants)]


def lead_flatten(args) -> list[dict]:
    """minigan's Flatten against nn.Flatten in D: the same numbers, the gradient's layout differs."""
    def plain_flatten(trainer):
        body = trainer.D.body
        for i, module in enumerate(body):
            if isinstance(module, layers.Flatten):
                body[i] = torch.nn.Flatten()
        return minigan_step(trainer)

    cases = [("fast", {"precision": "fp32"}), ("dcgan", {})]
    if wrappers.native_cpu_bf16():
        cases.insert(0, ("fast", {"precision": "bf16"}))
    rows = []
    for preset, overrides in cases:
        variants = {f"Flatten ({overrides.get('precision', 'preset')})": (overrides, None),
                    "nn.Flatten": (overrides, plain_flatten)}
        rows += ab("flatten", preset, args, variants)
    return rows


def lead_adam(args) -> list[dict]:
    def with_adam(**flags):
        def patch(trainer):
            c, betas = trainer.config, (trainer.config.beta1, trainer.config.beta2)
            trainer.opt_G = torch.optim.Adam(trainer.G.parameters(), lr=c.lr_g, betas=betas, **flags)
            trainer.opt_D = torch.optim.Adam(trainer.D.parameters(), lr=c.lr_d, betas=betas, **flags)
            return minigan_step(trainer)
        return patch

    variants = {"fused=True (preset)": ({}, None), "foreach=True": ({}, with_adam(foreach=True)),
                "for-loop (foreach=False)": ({}, with_adam(foreach=False))}
    return [r for p in ("minimal", "mlp4", "dcgan") for r in ab("adam", p, args, variants)]


def lead_threads_in_process(args) -> list[dict]:
    rows = []
    for preset in ("mlp4", "dcgan"):
        with tempfile.TemporaryDirectory(prefix="minigan-leads-") as out:
            trainer = minigan_trainer(preset, str(args.data_dir), 1, "cpu", out)
            step = minigan_step(trainer)

            def at(n: int, step=step):
                def threaded() -> int:
                    if torch.get_num_threads() != n:
                        torch.set_num_threads(n)
                    return step()
                return threaded

            say(f"[threads] {preset}: 1 vs 2 threads, same process and trainer")
            timing = interleave({"1 thread": at(1), "2 threads": at(2)}, args.windows,
                                args.window_seconds, args.warmup_seconds, min_steps=args.min_steps)
        torch.set_num_threads(args.threads)
        base = timing["1 thread"]
        rows += [row("threads", preset, "1 thread, in process", base, None),
                 row("threads", preset, "2 threads, in process", timing["2 threads"], base)]
    return rows


# ---------------------------------------------------------------------------------- child processes
def child(args, preset: str, threads: int, env: dict | None = None, extra: tuple = ()) -> subprocess.Popen:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--preset", preset,
               "--threads", str(threads), "--windows", str(args.windows), "--data-dir", str(args.data_dir),
               "--window-seconds", str(args.window_seconds), "--warmup-seconds", str(args.warmup_seconds),
               "--min-steps", str(args.min_steps),
               *extra]
    full_env = {**os.environ, "OMP_NUM_THREADS": str(threads), **(env or {})}
    return subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, text=True)


def collect(process: subprocess.Popen, timeout: float | None = None) -> dict | None:
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    if process.returncode != 0:
        return {"error": f"exit status {process.returncode}"}
    return json.loads(stdout.strip().splitlines()[-1])


def merge(results: list[dict]) -> dict:
    """Median over rounds of each round's median."""
    keys = [k for k, v in results[0].items() if isinstance(v, (int, float))]
    return {k: statistics.median(r[k] for r in results) for k in keys}


def lead_malloc(args) -> list[dict]:
    runs: dict[str, list[dict]] = {name: [] for name in MALLOC_VARIANTS}
    for i in range(args.rounds):
        for name, env in MALLOC_VARIANTS.items():
            say(f"[malloc] dcgan round {i + 1}/{args.rounds}: {name}")
            runs[name].append(collect(child(args, "dcgan", args.threads, env)))
    merged = {name: merge(rs) for name, rs in runs.items()}
    base = merged["default"]
    return [row("malloc", "dcgan", name, m, None if name == "default" else base,
                minflt_per_step=m["minflt_per_step"], rss_peak_mb=m["rss_peak_mb"],
                rounds=[r["ms_per_step"] for r in runs[name]]) for name, m in merged.items()]


def lead_combo(args) -> list[dict]:
    mallopt = MALLOC_VARIANTS["mallopt MMAP_THRESHOLD=1GiB, TRIM_THRESHOLD=1GiB"]
    variants = {"default": ({}, ()), "mallopt": (mallopt, ()), "channels_last": ({}, ("--channels-last",)),
                "mallopt + channels_last": (mallopt, ("--channels-last",))}
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for i in range(args.rounds):
        for name, (env, flags) in variants.items():
            say(f"[combo] dcgan round {i + 1}/{args.rounds}: {name}")
            runs[name].append(collect(child(args, "dcgan", args.threads, env, flags)))
    merged = {name: merge(rs) for name, rs in runs.items()}
    base = merged["default"]
    return [row("combo", "dcgan", name, m, None if name == "default" else base,
                minflt_per_step=m["minflt_per_step"], rss_peak_mb=m["rss_peak_mb"],
                rounds=[r["ms_per_step"] for r in runs[name]]) for name, m in merged.items()]


def lead_threads_processes(args) -> list[dict]:
    rows = []
    for preset in ("mlp4", "dcgan"):
        runs: dict[str, list[float]] = {"one 1-thread process": [], "one 2-thread process": [],
                                        "two 1-thread processes (sum)": []}
        for i in range(args.rounds):
            say(f"[threads] {preset} round {i + 1}/{args.rounds}: processes")
            runs["one 1-thread process"].append(collect(child(args, preset, 1))["img_per_s"])
            runs["one 2-thread process"].append(collect(child(args, preset, 2))["img_per_s"])
            pair = [child(args, preset, 1), child(args, preset, 1)]
            runs["two 1-thread processes (sum)"].append(sum(collect(p)["img_per_s"] for p in pair))
        base = statistics.median(runs["one 1-thread process"])
        for name, rates in runs.items():
            rate = statistics.median(rates)
            rows.append({"lead": "threads", "preset": preset, "variant": name, "ms_per_step": None,
                         "img_per_s": rate, "vs_baseline_pct": 100 * (rate / base - 1),
                         "note": "total img/s; vs = throughput gain over one 1-thread process",
                         "rounds": rates})
    return rows


def lead_compile(args) -> list[dict]:
    rows = []
    for preset in args.compile_presets.split(","):
        say(f"[compile] {preset}: child process, time limit {args.compile_timeout:g} s")
        result = collect(child(args, preset, args.threads, extra=("--compile",)), args.compile_timeout)
        if result is None or "error" in result:
            reason = "timed out" if result is None else result["error"]
            rows.append({"lead": "compile", "preset": preset, "variant": f"torch.compile: {reason}",
                         "ms_per_step": None, "img_per_s": None, "vs_baseline_pct": None})
            continue
        base = result["eager"]
        rows += [row("compile", preset, "eager (preset)", base, None),
                 row("compile", preset, "torch.compile(G), torch.compile(D)", result["compiled"], base,
                     compile_seconds=result["compile_seconds"])]
    return rows


def worker(args) -> None:
    """Child process: time one preset (or eager vs compiled) and print one JSON line."""
    if settings := os.environ.get("BENCH_MALLOPT"):
        libc = ctypes.CDLL("libc.so.6")
        for setting in settings.split(","):
            param, value = (int(v) for v in setting.split("="))
            if libc.mallopt(param, value) != 1:
                raise SystemExit(f"mallopt({param}, {value}) failed")
    torch.set_num_threads(args.threads)
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(tempfile.TemporaryDirectory(prefix="minigan-leads-"))
        trainer = minigan_trainer(args.preset, str(args.data_dir), args.threads, "cpu", out)
        if args.channels_last:
            trainer.G.to(memory_format=torch.channels_last)
            trainer.D.to(memory_format=torch.channels_last)
        step = minigan_step(trainer)
        if args.compile:
            out2 = stack.enter_context(tempfile.TemporaryDirectory(prefix="minigan-leads-"))
            compiled = minigan_trainer(args.preset, str(args.data_dir), args.threads, "cpu", out2)
            # what --compile builds (refused on CPU by the CLI, so built here directly)
            compiled.G_train, compiled.D_train, compiled.D_frozen = wrappers.build(
                compiled.G, compiled.D, dataclasses.replace(compiled.config, compile=True), compiled.device)
            start = time.perf_counter()
            for _ in range(3):  # G and D graphs, forward and backward, D frozen and not
                compiled.train_step()
            compile_seconds = time.perf_counter() - start
            timing = interleave({"eager": step, "compiled": minigan_step(compiled)}, args.windows,
                                args.window_seconds, args.warmup_seconds, min_steps=args.min_steps)
            print(json.dumps({**timing, "compile_seconds": compile_seconds}))
            return
        timed_window(step, args.warmup_seconds, lambda: None)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        windows = [timed_window(step, args.window_seconds, lambda: None, args.min_steps)
                   for _ in range(args.windows)]
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    steps = sum(w["steps"] for w in windows)
    print(json.dumps({
        "ms_per_step": statistics.median(w["ms_per_step"] for w in windows),
        "cpu_ms_per_step": statistics.median(w["cpu_ms_per_step"] for w in windows),
        "img_per_s": statistics.median(w["img_per_s"] for w in windows),
        "minflt_per_step": faults / steps,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


# ---------------------------------------------------------------------------------- report
RUNNERS = {
    "malloc": [lead_malloc], "dropout": [lead_dropout],
    "threads": [lead_threads_in_process, lead_threads_processes], "compile": [lead_compile],
    "channels_last": [lead_channels_last], "bf16": [lead_bf16], "adam": [lead_adam], "combo": [lead_combo],
    "flatten": [lead_flatten],
}


def markdown(rows: list[dict]) -> str:
    lines = ["| lead | preset | variant | ms/step | CPU ms/step | img/s | vs first row |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        ms = "" if r["ms_per_step"] is None else f"{r['ms_per_step']:.2f}"
        cpu = "" if r.get("cpu_ms_per_step") is None else f"{r['cpu_ms_per_step']:.2f}"
        rate = "" if r["img_per_s"] is None else f"{r['img_per_s']:,.0f}"
        vs = "" if r["vs_baseline_pct"] is None else f"{r['vs_baseline_pct']:+.1f}%"
        lines.append(f"| {r['lead']} | {r['preset']} | {r['variant']} | {ms} | {cpu} | {rate} | {vs} |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--leads", default=",".join(LEADS), help="comma-separated (default: all)")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("MINIGAN_DATA_DIR", DEFAULT_DATA)))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--window-seconds", type=float, default=1.5)
    parser.add_argument("--min-steps", type=int, default=2, help="steps per window at least")
    parser.add_argument("--warmup-seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of child-process variants")
    parser.add_argument("--compile-timeout", type=float, default=300.0)
    parser.add_argument("--compile-presets", default="mlp4,dcgan,fast", help="presets of the compile lead")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preset", default="dcgan", help=argparse.SUPPRESS)
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--channels-last", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.lead_list = [name.strip() for name in args.leads.split(",") if name.strip()]
    if unknown := sorted(set(args.lead_list) - set(LEADS)):
        parser.error(f"unknown lead(s) {unknown}; choose from {', '.join(LEADS)}")
    return args


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return []
    torch.set_num_threads(args.threads)
    rows = []
    for lead in args.lead_list:
        for runner in RUNNERS[lead]:
            rows += runner(args)
            print(markdown(rows), file=sys.stderr, flush=True)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "loadavg": os.getloadavg()}, indent=2))
    return rows


if __name__ == "__main__":
    main()
