"""How fast do I get good digits? Train presets under a wall-clock budget and record FID over time.

    PYTHONPATH=src python benchmarks/time_to_quality.py --presets fast,mlp4 --budget 300 --eval-every 500

Each preset trains with `--eval-every` (evaluation time is not counted in the budget); the curve of
FID-MNIST (on --eval-num samples) against training seconds comes from the run's metrics.jsonl, and
the final generator is scored on 10,000 samples beside the real-data floor. Prints a markdown table
per preset and a summary; --json writes everything.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import minigan
from minigan import metrics
from minigan.run.folder import read_jsonl


def run_preset(preset: str, args: argparse.Namespace) -> dict:
    out = Path(args.out) / preset
    result = minigan.train(preset, out=out, time_budget=args.budget, eval_every=args.eval_every,
                           eval_num=args.eval_num, data_dir=args.data_dir, threads=args.threads,
                           progress=False, tensorboard=False)
    curve = read_jsonl(out / "metrics.jsonl") if (out / "metrics.jsonl").is_file() else []
    final = metrics.evaluate_run(out, num=10000, data_dir=args.data_dir)
    return {"preset": preset, "steps": result.step,
            "curve": [{k: r[k] for k in ("step", "elapsed", "fid", "label_accuracy")} for r in curve],
            "final": {k: final[k] for k in ("fid", "precision", "recall", "label_accuracy")}}


def markdown(report: dict, floor: dict) -> str:
    lines = [f"### {report['preset']} ({report['steps']} steps)", "",
             "| training s | step | FID-MNIST (eval-num) | label acc. |", "|---:|---:|---:|---:|"]
    for r in report["curve"]:
        acc = "" if r["label_accuracy"] is None else f"{r['label_accuracy']:.3f}"
        lines.append(f"| {r['elapsed']:.0f} | {r['step']} | {r['fid']:.2f} | {acc} |")
    final = report["final"]
    acc = "" if final["label_accuracy"] is None else f", label accuracy {final['label_accuracy']:.3f}"
    lines += ["", f"final, 10k samples: FID-MNIST {final['fid']:.2f} (real-data floor {floor['fid']:.2f}, "
              f"ratio {final['fid'] / floor['fid']:.1f}x){acc}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="fast,fast-cond")
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds per preset")
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--eval-num", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=f"runs/ttq-{time.strftime('%Y%m%d-%H%M%S')}")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    floor = metrics.real_floor(args.data_dir, num=10000)
    reports = [run_preset(p, args) for p in args.presets.split(",")]
    for report in reports:
        print(markdown(report, floor))
    print(f"{platform.processor() or platform.machine()}, torch threads {args.threads or 'default'}, "
          f"budget {args.budget:.0f} s, {time.strftime('%Y-%m-%d')}")
    everything = {"floor": floor, "reports": reports, "args": vars(args)}
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2, default=str))
    return everything


if __name__ == "__main__":
    main()
