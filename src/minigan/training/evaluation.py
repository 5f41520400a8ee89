"""Quality during training (--eval-every): score a snapshot; the loop keeps metrics.jsonl and best.pt."""

from __future__ import annotations

from . import distributed
from .multirank import sample_spread
from .snapshot import Snapshot

TRACKED = ("fid", "mnist_score", "precision", "recall", "density", "coverage", "modes_covered",
           "kl_uniform", "label_accuracy")


def evaluate_snapshot(snapshot: Snapshot) -> dict:
    """Score `eval_num` samples of the snapshot's generator; one metrics.jsonl record.

    Uses fewer samples than `minigan eval` (default 2,000 vs 10,000), so its FID runs higher:
    compare runs with `minigan eval`, and use this curve for trends and for picking the best step.
    In a job every rank renders its share of the samples and rank 0 scores them: the same record
    reaches every rank.
    """
    from ..metrics import evaluate_images

    config, generator = snapshot.config, snapshot.generator
    images, labels = sample_spread(generator, config.eval_num, seed=config.seed)
    if not distributed.is_main():
        return distributed.broadcast(None)
    results = evaluate_images(images, labels, dataset=config.dataset, data_dir=config.data_dir,
                              device=str(generator.device))
    return distributed.broadcast({"step": snapshot.step, "elapsed": round(snapshot.elapsed, 2),
                                  "num": config.eval_num, **{k: results[k] for k in TRACKED}})
