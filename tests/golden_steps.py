"""Golden outputs: every preset (default and --literal) trained 50 seeded steps on CPU, its G and D
weights reduced to a fingerprint per tensor.

Every case trains in fp32 (`--precision auto` would take bf16 on a CPU with AMX, and bf16 kernels
differ between CPUs): the goldens hold a recipe's math, not the arithmetic a machine picks for it.

A fingerprint is (sum, sum of squares, a dot product with a fixed random vector, size) in float64: any
change of the math moves the dot product far beyond the kernels' rounding, and the file stays a few
kilobytes. `python tests/golden_steps.py --record` rewrites tests/goldens/presets.json; a recipe
change re-records its preset in the same commit as the measurement that justifies it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

GOLDEN_FILE = Path(__file__).resolve().parent / "goldens" / "presets.json"
STEPS = 50
CASES = [(preset, literal) for preset in ("minimal", "vanilla", "mlp4", "dcgan", "cgan", "fast", "fast-cond",
                                           "best", "best-cond") for literal in (False, True)
         if not (literal and preset.startswith(("fast", "best")))]


def case_name(preset: str, literal: bool) -> str:
    return preset + (" --literal" if literal else "")


def fingerprint(state: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    prints = {}
    for name, tensor in sorted(state.items()):
        if not tensor.is_floating_point():
            continue
        flat = tensor.detach().double().flatten()
        probe = torch.randn(flat.numel(), generator=torch.Generator().manual_seed(flat.numel()),
                            dtype=torch.float64)
        prints[name] = [float(flat.sum()), float(flat.square().sum()), float(flat @ probe), flat.numel()]
    return prints


def train_case(preset: str, literal: bool, data_dir: Path) -> dict[str, dict[str, list[float]]]:
    """G's and D's weights after STEPS seeded steps, as fingerprints."""
    from minigan import train
    from minigan.run import checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        train(preset, Path(tmp) / "run", literal=literal, progress=False, steps=STEPS, seed=0, threads=1,
              device="cpu", precision="fp32", data_dir=str(data_dir), checkpoint_every=10_000,
              sample_every=10_000, eval_every=0)
        state, _ = checkpoint.load_latest(Path(tmp) / "run" / "checkpoints", torch.device("cpu"))
    return {"G": fingerprint(state["G"]), "D": fingerprint(state["D"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnist"))
    parser.add_argument("--record", action="store_true", help="rewrite the golden file")
    parser.add_argument("--only", default="", help="comma-separated case names to (re)record")
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    goldens = json.loads(GOLDEN_FILE.read_text()) if GOLDEN_FILE.exists() else {}
    for preset, literal in CASES:
        name = case_name(preset, literal)
        if only and name not in only:
            continue
        goldens[name] = train_case(preset, literal, Path(args.data_dir))
        print(name, "done", file=sys.stderr)
    if args.record:
        GOLDEN_FILE.parent.mkdir(exist_ok=True)
        GOLDEN_FILE.write_text(json.dumps(goldens, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
