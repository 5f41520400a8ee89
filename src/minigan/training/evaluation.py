"""Quality during training (--eval-every): score a snapshot; the loop keeps metrics.jsonl and best.pt."""

from __future__ import annotations

from .snapshot import Snapshot

TRACKED = ("fid", "mnist_score", "precision", "recall", "density", "coverage", "modes_covered",
           "kl_uniform", "label_accuracy")


def evaluate_snapshot(snapshot: Snapshot) -> dict:
    """Score `eval_num` samples of the snapshot's generator; one metrics.jsonl record.

    Uses fewer samples than `minigan eval` (default 2,000 vs 10,000), so its FID runs higher:
    compare runs with `minigan eval`, and use this curve for trends and for picking the best step.
    """
    from ..metrics import evaluate_images

    config, generator = snapshot.config, snapshot.generator
    images, labels = generator.sample(config.eval_num, seed=config.seed)
    results = evaluate_images(images, labels, dataset=config.dataset, data_dir=config.data_dir,
                              device=str(generator.device))
    return {"step": snapshot.step, "elapsed": round(snapshot.elapsed, 2), "num": config.eval_num,
            **{k: results[k] for k in TRACKED}}
