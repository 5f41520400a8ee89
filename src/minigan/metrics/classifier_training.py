"""Train a dataset's feature classifier: deterministic, CPU, a few minutes (`minigan classifier train`).

The recipe is the one the shipped MNIST classifier was made with (Adam + one-cycle, ±2 px shifts,
outlier exposure); only the class count and the data change from one dataset to the next, so
``train_classifier(mnist_dir, out)`` still reproduces the shipped MNIST weights on one machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

from minigan.config.limits import CAPS, check_count
from minigan.errors import DataError
from minigan.metrics.classifier import Classifier, accuracy, save_classifier


def _random_outliers(n: int, gen: torch.Generator) -> torch.Tensor:
    """n uint8 non-digit images (n, 28, 28): uniform noise at a random brightness and density."""
    noise = torch.randint(0, 256, (n, 28, 28), generator=gen).float()
    brightness, density = torch.rand(2, n, 1, 1, generator=gen)
    keep = torch.rand(n, 28, 28, generator=gen) < 0.1 + 0.9 * density
    return (noise * (0.3 + 0.7 * brightness) * keep).to(torch.uint8)


def _random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each uint8 image (N, 28, 28) by up to ``max_shift`` px, filling with zeros."""
    n, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)  # (N, 28 + 2s, 28 + 2s)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None]  # (N, 28, 1)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :]  # (N, 1, 28)
    return padded[torch.arange(n)[:, None, None], rows, cols]


@contextlib.contextmanager
def _deterministic(threads: int) -> Iterator[None]:
    check_count("--threads", threads, CAPS["threads"][0], CAPS["threads"][1])
    prev = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(prev[0])
        torch.use_deterministic_algorithms(prev[1])


def _load_splits(data_dir: str | Path | None, dataset: str):
    from minigan.data import load_dataset

    train, test = (load_dataset(data_dir, split=s, dataset=dataset) for s in ("train", "test"))
    for ds in (train, test):
        if ds.labels is None:
            raise DataError(f"{ds.source} has no labels file; a classifier is trained on labelled images")
        if ds.image_shape != (28, 28):
            raise DataError(f"{ds.source} holds {ds.image_shape} images; the classifier reads 28x28 ones")
    return train, test


def train_classifier(
    data_dir: str | Path | None,
    out_path: str | Path,
    seed: int = 0,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 2e-3,
    outliers: int = 16,
    limit: int | None = None,
    threads: int = 1,
    verbose: bool = False,
    *,
    dataset: str = "mnist",
) -> dict[str, float | str]:
    """Train on a dataset's training split, write safetensors weights, return accuracy/fingerprint.

    Each batch also holds ``outliers`` noise images trained towards a uniform softmax (outlier
    exposure, Hendrycks et al. 2019), so noise-like samples, as a GAN makes early on, land away
    from every class in feature space instead of among real ones, which lets the k-NN metrics
    reject them. Deterministic on one machine: fixed seed, a seeded data order and augmentation,
    one thread and ``torch.use_deterministic_algorithms``. ``limit`` keeps only the first N
    images of each split (quick tests). ``dataset="idx"`` trains on any labelled IDX folder.
    """
    train, test = _load_splits(data_dir, dataset)
    num_classes = max(train.num_classes, test.num_classes)
    x, y, test_x, test_y = train.images, train.labels, test.images, test.labels
    if limit is not None:
        x, y, test_x, test_y = x[:limit], y[:limit], test_x[:limit], test_y[:limit]
    t0 = time.perf_counter()
    with _deterministic(threads):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = Classifier(num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * -(-len(x) // batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        model.train()
        for epoch in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                images = _random_shift(x[idx], 2, gen)
                logits = model(torch.cat([images, _random_outliers(outliers, gen)]))
                loss = F.cross_entropy(logits[: len(idx)], y[idx])
                if outliers:  # cross-entropy to the uniform distribution on non-images
                    loss = loss - 0.5 * F.log_softmax(logits[len(idx) :], dim=1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            if verbose:
                print(f"epoch {epoch + 1}/{epochs} loss {loss.item():.4f}", flush=True)
        model.eval()
        acc = accuracy(model, test_x, test_y)
    # The test images' MD5 names the data an IDX-folder classifier belongs to.
    extra = {"test_images_md5": hashlib.md5(test.images.numpy().tobytes(), usedforsecurity=False).hexdigest()}
    fp = save_classifier(model, out_path, acc, dataset, extra)
    return {"test_accuracy": acc, "fingerprint": fp, "seconds": time.perf_counter() - t0,
            "num_classes": num_classes}
