"""`minigan` under torchrun, keeping every rank's final networks for the tests to compare.

    python -m torch.distributed.run --nproc-per-node 2 tests/dist_worker.py DUMP_DIR train --preset ...

Runs the real CLI in every rank; after `Trainer.fit` returns, each rank saves its G, D and G_ema
state dicts to DUMP_DIR/rank<r>.pt (outside the run folder, so the folder stays the CLI's own).
"""

import os
import sys
from pathlib import Path

import torch

from minigan import cli
from minigan.training import loop


def main() -> int:
    dump, argv = Path(sys.argv[1]), sys.argv[2:]
    fit = loop.Trainer.fit

    def fit_and_dump(trainer):
        result = fit(trainer)
        ema = None if trainer.G_ema is None else trainer.G_ema.state_dict()
        torch.save({"G": trainer.G.state_dict(), "D": trainer.D.state_dict(), "G_ema": ema,
                    "world_size": int(os.environ.get("WORLD_SIZE", 1))},
                   dump / f"rank{os.environ.get('RANK', 0)}.pt")
        return result

    loop.Trainer.fit = fit_and_dump
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
