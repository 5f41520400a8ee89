"""`minigan` under torchrun, keeping every rank's final networks for the tests to compare.

    python -m torch.distributed.run --nproc-per-node 2 tests/dist_worker.py DUMP_DIR train --preset ...

Runs the real CLI in every rank; after `Trainer.fit` returns, each rank saves its G, D and G_ema
state dicts to DUMP_DIR/rank<r>.pt (outside the run folder, so the folder stays the CLI's own).
With DIST_WORKER_NAN=R:S, rank R's loss statistics (not its gradients) turn NaN once, at step S:
a NaN only that rank sees. With DIST_WORKER_CPU_SWITCHES=1, --precision bf16 and --compile are let
through on CPU (compiled with dynamo's eager backend): the CUDA path's wrappers, under DDP, here.
"""

import functools
import os
import sys
from pathlib import Path

import torch

from minigan import cli
from minigan.training import loop, wrappers


def _layers(callable_) -> list[str]:
    """Class names from the outside in: Autocast > OptimizedModule > DistributedDataParallel > net
    (`_orig_mod` first: an OptimizedModule hands on attribute lookups, `.module` too)."""
    names = []
    while callable_ is not None:
        names.append(type(callable_).__name__)
        callable_ = next((getattr(callable_, a) for a in ("inner", "_orig_mod", "module")
                          if isinstance(getattr(callable_, a, None), torch.nn.Module)), None)
    return names


def main() -> int:
    dump, argv = Path(sys.argv[1]), sys.argv[2:]
    fit = loop.Trainer.fit

    def fit_and_dump(trainer):
        result = fit(trainer)
        ema = None if trainer.G_ema is None else trainer.G_ema.state_dict()
        torch.save({"G": trainer.G.state_dict(), "D": trainer.D.state_dict(), "G_ema": ema,
                    "world_size": int(os.environ.get("WORLD_SIZE", 1)),
                    "wrappers": [_layers(f) for f in (trainer.G_train, trainer.D_train, trainer.D_frozen)]},
                   dump / f"rank{os.environ.get('RANK', 0)}.pt")
        return result

    loop.Trainer.fit = fit_and_dump
    if os.environ.get("DIST_WORKER_CPU_SWITCHES"):
        wrappers.check = lambda config, device: None
        wrappers.build = functools.partial(wrappers.build, compile_backend="eager")
    if spec := os.environ.get("DIST_WORKER_NAN"):
        nan_rank, nan_step = (int(v) for v in spec.split(":"))
        step, fired = loop.Trainer.train_step, []

        def step_with_nan(trainer):
            step(trainer)
            if int(os.environ["RANK"]) == nan_rank and trainer.step + 1 == nan_step and not fired:
                fired.append(nan_step)
                trainer.stats.sums[0] = float("nan")

        loop.Trainer.train_step = step_with_nan
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
