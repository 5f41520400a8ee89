"""The MNIST feature network behind every metric: a small LeNet-style CNN.

Its 128-d penultimate layer plays the role Inception-v3's pool3 plays for FID on ImageNet, and
its softmax the role of Inception's logits for the Inception score (as in TF-GAN's
``mnist_score`` / ``mnist_frechet_distance``). The trained weights ship with the package
(``mnist_classifier.safetensors``, safetensors only, never pickle) together with their test
accuracy and a fingerprint, so every number minigan reports names the network that made it.

Retrain (deterministic on CPU, a few minutes), then replace the shipped file with the result::

    python -m minigan.metrics.classifier --data-dir ~/mnist --out mnist_classifier.safetensors
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from minigan.errors import CheckpointError

SHIPPED_CLASSIFIER = Path(__file__).with_name("mnist_classifier.safetensors")
FEATURE_DIM = 128
NUM_CLASSES = 10
# The usual MNIST pixel statistics; applied inside the net so callers always pass uint8.
_MEAN, _STD = 0.1307, 0.3081


class MnistClassifier(nn.Module):
    """conv16-pool-conv32-pool-conv64-pool -> fc128 (features) -> fc10 (logits); ~98k weights.

    Narrow early layers keep CPU training to about half a minute per epoch.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 3 * 3, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, NUM_CLASSES)
        self.dropout = nn.Dropout(0.3)

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images (N, 28, 28) -> (features (N, 128), logits (N, 10)).

        The features are fc1's pre-activations. After the ReLU every degenerate input (blank,
        noise) maps to the all-zero vector, which lies inside the k-NN balls of faint real
        digits, so precision and density would reward garbage; before it, how far an input is
        from every digit is kept.
        """
        x = (images.float().unsqueeze(1) / 255.0 - _MEAN) / _STD  # (N, 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 16, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 32, 7, 7)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)  # (N, 64, 3, 3)
        feats = self.fc1(x.flatten(1))  # (N, 128)
        return feats, self.fc2(self.dropout(F.relu(feats)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(images)[1]


def fingerprint(state: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def save_classifier(model: MnistClassifier, path: str | Path, test_accuracy: float) -> str:
    """Write fp32 weights plus metadata (accuracy, fingerprint); returns the fingerprint."""
    state = {k: v.detach().cpu().contiguous().float() for k, v in model.state_dict().items()}
    fp = fingerprint(state)
    meta = {
        "format": "minigan-mnist-classifier-v1",
        "test_accuracy": f"{test_accuracy:.4f}",
        "fingerprint": fp,
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return fp


def classifier_metadata(path: str | Path = SHIPPED_CLASSIFIER) -> dict[str, str]:
    """The string metadata stored with the weights (test_accuracy, fingerprint, format)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            f"cannot read classifier weights {path}: {e}; retrain with "
            "`python -m minigan.metrics.classifier`"
        ) from e


def load_classifier(path: str | Path = SHIPPED_CLASSIFIER, device: str = "cpu") -> MnistClassifier:
    """Load weights (safetensors, no pickle) into an eval-mode classifier on ``device``."""
    path = Path(path)
    meta = classifier_metadata(path)
    state = load_file(str(path))
    if meta.get("fingerprint") != fingerprint(state):
        raise CheckpointError(
            f"classifier weights {path} do not match their stored fingerprint; the file is "
            "damaged: reinstall minigan or retrain with `python -m minigan.metrics.classifier`"
        )
    model = MnistClassifier()
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{path} is not a minigan MNIST classifier: {e}") from e
    return model.eval().to(device)


@lru_cache(maxsize=4)
def shipped_classifier(device: str = "cpu") -> MnistClassifier:
    """The packaged classifier, loaded once per process and device."""
    return load_classifier(SHIPPED_CLASSIFIER, device)


@torch.no_grad()
def predict_features(
    model: MnistClassifier, images: np.ndarray | torch.Tensor, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, 28, 28) -> (float32 features (N, 128), softmax probs (N, 10)) on CPU."""
    images = torch.as_tensor(images)
    device = next(model.parameters()).device
    feats, probs = [], []
    for start in range(0, len(images), batch_size):
        f, logits = model.features_and_logits(images[start : start + batch_size].to(device))
        feats.append(f.float().cpu())
        probs.append(logits.float().softmax(dim=1).cpu())
    if not feats:
        return torch.zeros(0, FEATURE_DIM), torch.zeros(0, NUM_CLASSES)
    return torch.cat(feats), torch.cat(probs)


def accuracy(model: MnistClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    _, probs = predict_features(model, images)
    return (probs.argmax(1) == torch.as_tensor(labels)).float().mean().item()


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
    prev = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(prev[0])
        torch.use_deterministic_algorithms(prev[1])


def train_classifier(
    data_dir: str | Path,
    out_path: str | Path,
    seed: int = 0,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 2e-3,
    outliers: int = 16,
    limit: int | None = None,
    threads: int = 1,
    verbose: bool = False,
) -> dict[str, float | str]:
    """Train on the MNIST training set, write safetensors weights, return accuracy/fingerprint.

    Each batch also holds ``outliers`` noise images trained towards a uniform softmax (outlier
    exposure, Hendrycks et al. 2019), so noise-like samples, as a GAN makes early on, land away
    from every digit in feature space instead of among the 8s, which lets the k-NN metrics
    reject them. Deterministic on one machine: fixed seed, a seeded data order and augmentation, one thread
    and ``torch.use_deterministic_algorithms``. ``limit`` keeps only the first N images of each
    split (quick tests).
    """
    from minigan.data import load_dataset

    train, test = load_dataset(data_dir, split="train"), load_dataset(data_dir, split="test")
    x, y, test_x, test_y = train.images, train.labels, test.images, test.labels
    if limit is not None:
        x, y, test_x, test_y = x[:limit], y[:limit], test_x[:limit], test_y[:limit]
    t0 = time.perf_counter()
    with _deterministic(threads):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = MnistClassifier()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * -(-len(x) // batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        model.train()
        for epoch in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                digits = _random_shift(x[idx], 2, gen)
                logits = model(torch.cat([digits, _random_outliers(outliers, gen)]))
                loss = F.cross_entropy(logits[: len(idx)], y[idx])
                if outliers:  # cross-entropy to the uniform distribution on non-digits
                    loss = loss - 0.5 * F.log_softmax(logits[len(idx) :], dim=1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            if verbose:
                print(f"epoch {epoch + 1}/{epochs} loss {loss.item():.4f}", flush=True)
        model.eval()
        acc = accuracy(model, test_x, test_y)
    fp = save_classifier(model, out_path, acc)
    return {"test_accuracy": acc, "fingerprint": fp, "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m minigan.metrics.classifier",
        description="Train minigan's MNIST feature classifier (deterministic, CPU).",
        epilog="example: python -m minigan.metrics.classifier --data-dir shared/data/mnist "
        "--out src/minigan/metrics/mnist_classifier.safetensors",
    )
    parser.add_argument("--data-dir", required=True, help="folder with the MNIST IDX files")
    parser.add_argument("--out", required=True, help="where to write the .safetensors weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    result = train_classifier(
        args.data_dir,
        args.out,
        seed=args.seed,
        epochs=args.epochs,
        threads=args.threads,
        verbose=True,
    )
    print(
        f"test accuracy {result['test_accuracy']:.4f}  fingerprint {result['fingerprint'][:16]}  "
        f"{result['seconds']:.0f} s -> {args.out}"
    )


if __name__ == "__main__":
    main()
