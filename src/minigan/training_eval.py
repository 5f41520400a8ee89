"""Quality during training (--eval-every): metrics appended to metrics.jsonl, a curve, a best checkpoint."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import checkpoint, visual
from .sampling import TrainedGenerator

if TYPE_CHECKING:
    from .report import RunReporter
    from .train import Trainer

TRACKED = ("fid", "mnist_score", "precision", "recall", "density", "coverage", "modes_covered",
           "kl_uniform", "label_accuracy")


def evaluate_during_training(trainer: Trainer, reporter: RunReporter) -> dict:
    """Score `eval_num` samples of the current (EMA) generator; keep checkpoints/best.pt by FID.

    Uses fewer samples than `minigan eval` (default 2,000 vs 10,000), so its FID runs higher:
    compare runs with `minigan eval`, and use this curve for trends and for picking the best step.
    """
    from .metrics import evaluate_images

    config, run = trainer.config, trainer.run
    generator = TrainedGenerator(config, trainer.sampling_G.state_dict(), trainer.device, trainer.step)
    images, labels = generator.sample(config.eval_num, seed=config.seed)
    results = evaluate_images(images, labels, data_dir=config.data_dir, device=str(trainer.device))
    record = {"step": trainer.step, "elapsed": round(trainer.elapsed, 2), "num": config.eval_num,
              **{k: results[k] for k in TRACKED}}
    path = run.path / "metrics.jsonl"
    history = visual.read_jsonl(path) if path.is_file() else []
    best = min((r["fid"] for r in history), default=float("inf"))
    run.append(path, record)
    visual.plot_curves([*history, record], run.path / "metrics.png", keys=("fid",))
    if record["fid"] < best:
        checkpoint.save_checkpoint({**trainer.state_dict(), "metrics": json.dumps(record)},
                                   run.checkpoint_dir / "best.pt")
    reporter.say(f"step {trainer.step}: FID-MNIST {record['fid']:.2f} (best {min(best, record['fid']):.2f})")
    return record
