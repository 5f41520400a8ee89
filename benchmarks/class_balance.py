"""How much FID-MNIST moves with class proportions alone: real images, skewed class shares.

Draws N real training images with class shares tilted by each weight vector (a multinomial draw of
the counts, then images without replacement within each class) and scores them like samples. A
generator's FID can be no better than the score of real digits in its class proportions; this
prints that score next to the KL of the proportions from uniform, the `kl_uniform` of `minigan eval`.

    PYTHONPATH=src python benchmarks/class_balance.py --data-dir ../shared/data/mnist --num 5000
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from minigan.data import load_dataset
from minigan.metrics import evaluate_images

TILTS = {
    "balanced": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    "mild": [1.3, 1, 1, 0.8, 1, 0.7, 1, 1.2, 0.9, 1.1],
    "strong": [2, 1, 1, 0.5, 1, 0.4, 1, 1.5, 0.7, 1.2],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: the cache)")
    parser.add_argument("--num", type=int, default=5000, help="images per score")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.data_dir, "train", progress=False)
    images, labels = data.images.numpy(), data.labels.numpy()
    rng = np.random.default_rng(args.seed)
    print("| class shares | KL(classes || uniform) | FID-MNIST | precision | recall |")
    print("|---|---:|---:|---:|---:|")
    for name, weights in TILTS.items():
        shares = np.asarray(weights, np.float64) / np.sum(weights)
        counts = rng.multinomial(args.num, shares)
        rows = np.concatenate([rng.choice(np.flatnonzero(labels == c), n, replace=False)
                               for c, n in enumerate(counts)])
        r = evaluate_images(images[rows], None, data_dir=args.data_dir)
        print(f"| {name} | {r['kl_uniform']:.4f} | {r['fid']:.2f} | {r['precision']:.3f} "
              f"| {r['recall']:.3f} |")


if __name__ == "__main__":
    main()
