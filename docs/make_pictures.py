"""The pictures of README and docs/: a sample grid and a class grid of the shipped recipes (two short
training runs), and the time-to-quality plots of docs/results.md from docs/data/curves.json.

    python docs/make_pictures.py --data-dir ../shared/data/mnist --steps 3000 --out docs/images

Each run trains on one thread; the grids are drawn from seed 0, so the same command on the same
machine draws the same pictures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import minigan
from minigan.sampling import explore

CURVES = Path(__file__).with_name("data") / "curves.json"


def grids(out: Path, steps: int, data_dir: str | None) -> None:
    """docs/images/samples.png (fast, 8x8) and class_grid.png (fast-cond, 5 rows x 10 digits)."""
    with tempfile.TemporaryDirectory() as tmp:
        fast = minigan.train("fast", out=Path(tmp) / "fast", steps=steps, threads=1, data_dir=data_dir,
                             progress=False)
        images, _ = minigan.load_generator(fast.run_dir).sample(64, seed=0)
        minigan.save_grid(images, out / "samples.png", nrow=8, scale=2)
        cond = minigan.train("fast-cond", out=Path(tmp) / "fast-cond", steps=steps, threads=1,
                             data_dir=data_dir, progress=False)
        explore.save_class_grid(minigan.load_generator(cond.run_dir), out / "class_grid.png", rows=5, scale=2)


def plots(out: Path) -> None:
    """One PNG per curve group in curves.json: FID-MNIST (2k samples) over training steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for group in json.loads(CURVES.read_text())["plots"]:
        fig, ax = plt.subplots(figsize=(6, 3.4), dpi=80)
        for curve in group["curves"]:
            ax.plot(curve["steps"], curve["fid"], marker="o", markersize=3, label=curve["label"])
        ax.axhline(group["floor"], color="grey", linestyle=":", label=f"real-data floor ({group['floor']})")
        ax.set(xlabel="training step", ylabel="FID-MNIST (2,000 samples)", yscale="log", title=group["title"])
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / group["file"])
        plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="MNIST folder (default: download into the cache)")
    parser.add_argument("--steps", type=int, default=3000, help="training steps of each run (default 3000)")
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="folder for the PNGs")
    parser.add_argument("--plots-only", action="store_true", help="only redraw the plots (no training)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    plots(args.out)
    if not args.plots_only:
        grids(args.out, args.steps, args.data_dir)
    for path in sorted(args.out.glob("*.png")):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
