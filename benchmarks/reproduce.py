"""Reproduce a write-up: train a preset for the write-up's own budget, evaluating every N steps.

Resumable: run the same command again after a stop (or on another machine, a GPU one, with the run
folder copied over) and it continues from the last checkpoint. At the end it scores 10,000 samples
and prints FID-MNIST and friends over the run as a markdown table, beside the write-up's claim.

    PYTHONPATH=src python benchmarks/reproduce.py --preset minimal --out runs/repro-minimal \\
        --eval-every 5000 --threads 1 --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import minigan  # noqa: E402
from minigan import metrics  # noqa: E402
from minigan.run.folder import read_jsonl  # noqa: E402
from minigan.runtime import configure_process  # noqa: E402

# The write-ups' own budgets (docs/fidelity.md) and what each says its result looks like.
BUDGETS = {"minimal": {"steps": 50_000}, "vanilla": {"steps": 50_000}, "mlp4": {"epochs": 100},
           "dcgan": {"epochs": 60}, "cgan": {}}
CLAIMS = {
    "minimal": "after 50,000 steps most digits are 9, 7, 1 or 4 (mode collapse)",
    "vanilla": "no result survives in the text",
    "mlp4": "random noisy blobs after epoch 1, realistic-looking digits after 100 epochs",
    "dcgan": "less background noise than the MLP GAN, rounder digits, some ghosts; 7 and 1 harder",
    "cgan": "digits on demand for every label; trained for days (1,000,000 steps)",
}
TRACKED = ("fid", "mnist_score", "precision", "recall", "density", "coverage", "modes_covered",
           "label_accuracy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, choices=sorted(BUDGETS), help="the write-up to reproduce")
    parser.add_argument("--out", type=Path, required=True, help="run folder (resumed when it exists)")
    parser.add_argument("--literal", action="store_true", help="the write-up line by line, not the default")
    parser.add_argument("--steps", type=int, help="override the budget (cgan: required)")
    parser.add_argument("--eval-every", type=int, default=5000, help="steps between evaluations")
    parser.add_argument("--eval-num", type=int, default=2000, help="samples per evaluation during training")
    parser.add_argument("--final-num", type=int, default=10_000, help="samples scored at the end")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 when runs share a machine)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--data-dir", help="MNIST folder (default: $MINIGAN_DATA_DIR or the cache)")
    args = parser.parse_args(argv)

    budget = {"steps": args.steps} if args.steps else BUDGETS[args.preset]
    if not budget:
        parser.error(f"{args.preset}'s write-up trained as long as its author liked: give --steps")
    overrides = dict(eval_every=args.eval_every, eval_num=args.eval_num, threads=args.threads,
                     device=args.device, data_dir=args.data_dir, **budget)
    configure_process(args.threads)
    if (args.out / "config.json").is_file():
        result = minigan.resume(args.out, **overrides)
    else:
        result = minigan.train(args.preset, args.out, literal=args.literal, **overrides)
    final = metrics.evaluate_run(result.run_dir, num=args.final_num, seed=0, data_dir=args.data_dir,
                                 device="cpu")
    curve = read_jsonl(result.run_dir / "metrics.jsonl")
    print(f"| step | training s | {' | '.join(TRACKED)} |")
    print("|---:|---:|" + "---:|" * len(TRACKED))
    for record in curve:
        cells = " | ".join(_cell(record.get(k)) for k in TRACKED)
        print(f"| {record['step']:,} | {record['elapsed']:.0f} | {cells} |")
    cells = " | ".join(_cell(final.get(k)) for k in TRACKED)
    print(f"| {result.step:,} ({args.final_num:,} samples) | | {cells} |")
    print(f"\nwrite-up: {CLAIMS[args.preset]}\ngrids: {result.run_dir / 'samples.png'}, "
          f"{result.run_dir / 'progress.gif'}")
    (result.run_dir / "reproduce.json").write_text(json.dumps({"curve": curve, "final": final}, indent=2))
    return 0


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
