"""What the stabilisers cost: a `fast`-preset D step (and full G+D step) plain vs with lazy R1 and
DiffAugment, in interleaved windows in one process, medians per side.

Sides (all on the `fast` conv D, channels_last, Adam as the trainer builds it, batch B real + B fake
in one D call):
  d_plain    D step: D([real; fake]) -> bce -> backward -> Adam
  d_aug      the same on T([real; fake]), T = DiffAugment(policy) with probability --p
  d_r1       d_plain, plus every --reg-interval-th step a reg phase: interval * R1 on B reals,
             its own backward and Adam step (StyleGAN2's lazy R1)
  d_stab     both: augmentation in the main phase and in the reg phase (R1 through T)
  step_plain / step_stab   a whole loop step: G(z), the D step above, then G's update through
             D (frozen) on the fakes (augmented on the stab side)
Every window runs a multiple of --reg-interval steps, so each holds the same number of reg phases.
Images are uniform noise in [-1, 1]: the work of a conv step does not depend on the pixel values.

Examples:
    PYTHONPATH=src .venv/bin/python benchmarks/bench_stabilisers.py
    PYTHONPATH=src .venv/bin/python benchmarks/bench_stabilisers.py --threads 1 --windows 9 \\
        --window-steps 64 --policy translation,cutout --json stabilisers.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from minigan.fileio import atomic_write_text  # noqa: E402
from minigan.models import build_discriminator, build_generator  # noqa: E402
from minigan.presets import get_config  # noqa: E402
from minigan.runtime import keep_freed_memory_mapped  # noqa: E402
from minigan.sampling import sample_latents  # noqa: E402
from minigan.training.augment import DiffAugment  # noqa: E402
from minigan.training.losses import (  # noqa: E402
    LazyRegulariser,  # noqa: E402
    d_bce,
    g_nonsaturating,
)

Step = Callable[[], None]


class Bench:
    """One G/D pair and optimisers per side, built like the trainer builds them."""

    def __init__(self, preset: str, policy: str, p: float, r1_gamma: float, interval: int, seed: int) -> None:
        torch.manual_seed(seed)
        self.config = config = get_config(preset, clusters=0)  # the stabilisers' cost, not the labels'

        self.B = B = config.batch_size
        size = config.image_size
        self.real = (torch.rand(B, 1, size, size) * 2 - 1).to(memory_format=torch.channels_last)
        self.fake = (torch.rand(B, 1, size, size) * 2 - 1).to(memory_format=torch.channels_last)
        self.augment = DiffAugment.from_policy(policy, config.pixel_range)
        self.p = p
        self.reg = LazyRegulariser(r1_gamma=r1_gamma, interval=interval)
        self.rng = torch.Generator().manual_seed(seed)

    def nets(self):
        config = self.config
        G = build_generator(config).to(memory_format=torch.channels_last)
        D = build_discriminator(config).to(memory_format=torch.channels_last)
        adam = {"betas": (config.beta1, config.beta2), "fused": True}
        return G, D, torch.optim.Adam(G.parameters(), config.lr_g, **adam), \
            torch.optim.Adam(D.parameters(), config.lr_d, **adam)

    def make_step(self, augment: bool, r1: bool, full: bool) -> Step:
        G, D, opt_G, opt_D = self.nets()
        count = [0]
        T = (lambda x: self.augment(x, self.p, self.rng)) if augment else (lambda x: x)

        def D_view(x, labels):  # what the reg phase differentiates: D after T
            return D(T(x), labels)

        def step() -> None:
            B = self.B
            if full:
                fake = G(sample_latents(B, self.config.z_dim, self.config.z_prior))
            else:
                fake = self.fake
            # (1) D main phase: real and fake in one call
            logits = D(T(torch.cat([self.real, fake.detach()])), None)
            loss = d_bce(logits[:B], logits[B:])
            opt_D.zero_grad(set_to_none=True)
            loss.backward()
            opt_D.step()
            # (2) D reg phase, lazily
            if r1 and self.reg.due(count[0]):
                penalty = self.reg.loss(D_view, self.real, fake)
                opt_D.zero_grad(set_to_none=True)
                penalty.backward()
                opt_D.step()
            count[0] += 1
            # (3) G phase through the frozen D
            if full:
                D.requires_grad_(False)
                loss_g = g_nonsaturating(D(T(fake), None))
                opt_G.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_G.step()
                D.requires_grad_(True)

        return step


def timed(step: Step, steps: int) -> tuple[float, float]:
    """(wall ms, process CPU ms) per step over `steps` steps. With one thread, CPU time moves less
    than wall time when other programs share the cores."""
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(steps):
        step()
    return 1000 * (time.perf_counter() - start) / steps, 1000 * (time.process_time() - cpu) / steps


def paired_ratio(side: list[float], plain: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(side, plain, strict=True))


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    keep_freed_memory_mapped()
    bench = Bench(args.preset, args.policy, args.p, args.r1_gamma, args.reg_interval, args.seed)
    sides = {
        "d_plain": bench.make_step(augment=False, r1=False, full=False),
        "d_aug": bench.make_step(augment=True, r1=False, full=False),
        "d_r1": bench.make_step(augment=False, r1=True, full=False),
        "d_stab": bench.make_step(augment=True, r1=True, full=False),
        "step_plain": bench.make_step(augment=False, r1=False, full=True),
        "step_stab": bench.make_step(augment=True, r1=True, full=True),
    }
    steps = args.reg_interval * max(1, round(args.window_steps / args.reg_interval))
    for step in sides.values():
        timed(step, steps)  # warm-up: allocator, oneDNN primitives, one reg phase each
    windows: dict[str, list[float]] = {name: [] for name in sides}
    cpu_windows: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for round_ in range(args.windows):  # each round starts one side later, so no side is always first
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            wall, cpu = timed(sides[name], steps)
            windows[name].append(wall)
            cpu_windows[name].append(cpu)
    medians = {name: statistics.median(ms) for name, ms in windows.items()}
    cpu_medians = {name: statistics.median(ms) for name, ms in cpu_windows.items()}
    # ratios: the median over rounds of (side / its plain side) in the same round, which cancels the
    # load other programs put on the machine better than a ratio of medians does
    base = {"d_aug": "d_plain", "d_r1": "d_plain", "d_stab": "d_plain", "step_stab": "step_plain"}
    ratios = {name: paired_ratio(windows[name], windows[plain]) for name, plain in base.items()}
    cpu_ratios = {name: paired_ratio(cpu_windows[name], cpu_windows[plain]) for name, plain in base.items()}
    return {
        "preset": args.preset, "batch_size": bench.B, "policy": args.policy, "p": args.p,
        "r1_gamma": args.r1_gamma, "reg_interval": args.reg_interval, "steps_per_window": steps,
        "windows": windows, "ms_per_step": medians, "ratios": ratios,
        "cpu_windows": cpu_windows, "cpu_ms_per_step": cpu_medians, "cpu_ratios": cpu_ratios,
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "torch": torch.__version__, "python": platform.python_version(),
                    "date": datetime.date.today().isoformat()},
        "command": " ".join(sys.argv),
    }


def table(result: dict) -> str:
    rows = ["| side | ms/step (median) | min | max | vs plain | CPU ms/step | CPU vs plain |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, ms in result["ms_per_step"].items():
        ratio, cpu_ratio = result["ratios"].get(name), result["cpu_ratios"].get(name)
        spread = result["windows"][name]
        rows.append(f"| {name} | {ms:.2f} | {min(spread):.2f} | {max(spread):.2f} | "
                    f"{'' if ratio is None else f'{ratio:.2f}x'} | {result['cpu_ms_per_step'][name]:.2f} | "
                    f"{'' if cpu_ratio is None else f'{cpu_ratio:.2f}x'} |")
    machine = result["machine"]
    rows.append("")
    rows.append("vs plain: median over rounds of the side's window / its plain side's window in that round.")
    rows.append(f"{result['preset']} (batch {result['batch_size']} real + {result['batch_size']} fake), "
                f"augment {result['policy']!r} p={result['p']}, R1 gamma {result['r1_gamma']} every "
                f"{result['reg_interval']} D steps; {len(next(iter(result['windows'].values())))} windows of "
                f"{result['steps_per_window']} steps per side; {machine['threads']} thread(s), "
                f"torch {machine['torch']}, {machine['cpu']}")
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Examples:" + __doc__.split("Examples:")[1])
    parser.add_argument("--preset", default="fast", help="preset whose D (and G) are timed (default fast)")
    parser.add_argument("--policy", default="translation,cutout", help="DiffAugment policy of the stab sides")
    parser.add_argument("--p", type=float, default=1.0, help="augmentation probability per image (default 1)")
    parser.add_argument("--r1-gamma", type=float, default=1.0, help="R1 weight (cost does not depend on it)")
    parser.add_argument("--reg-interval", type=int, default=16, help="D steps per reg phase (default 16)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--windows", type=int, default=7, help="timed windows per side (default 7)")
    parser.add_argument("--window-steps", type=int, default=64,
                        help="steps per window, rounded to a multiple of --reg-interval (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, images and augmentation")
    parser.add_argument("--json", type=Path, help="also write the full result here")
    args = parser.parse_args(argv)
    if args.windows < 1 or args.window_steps < 1 or args.reg_interval < 1 or args.threads < 1:
        parser.error("--windows, --window-steps, --reg-interval and --threads must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args)
    print(table(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
