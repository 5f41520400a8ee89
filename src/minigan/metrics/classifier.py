"""The feature network behind every metric: a small LeNet-style CNN, one per dataset.

Its 128-d penultimate layer plays the role Inception-v3's pool3 plays for FID on ImageNet, and
its softmax the role of Inception's logits for the Inception score (as in TF-GAN's
``mnist_score`` / ``mnist_frechet_distance``). Trained weights ship with the package
(``<dataset>_classifier.safetensors``, safetensors only, never pickle) together with their test
accuracy and a fingerprint, so every number minigan reports names the network that made it.
MNIST's file keeps its original format (``minigan-mnist-classifier-v1``, 10 classes); the others
also record their dataset and class count (``minigan-classifier-v2``).

Train one (deterministic on CPU, a few minutes), e.g. for Fashion-MNIST or any IDX folder::

    minigan classifier train --dataset fashion --data-dir ~/fashion --out fashion_classifier.safetensors
    minigan classifier train --data-dir DIR --out mine.safetensors        # --dataset idx
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from minigan.errors import CheckpointError
from minigan.fileio import atomic_path
from minigan.run.checkpoint import tensor_digest

SHIPPED_CLASSIFIER = Path(__file__).with_name("mnist_classifier.safetensors")
FEATURE_DIM = 128
NUM_CLASSES = 10  # MNIST's; other datasets' counts come from their weights
# The usual MNIST pixel statistics; applied inside the net so callers always pass uint8.
_MEAN, _STD = 0.1307, 0.3081
_RETRAIN = "retrain with `minigan classifier train`"


def shipped_classifier_path(dataset: str) -> Path:
    """Where the packaged classifier of a named dataset lives (it may not exist)."""
    return Path(__file__).with_name(f"{dataset}_classifier.safetensors")


class Classifier(nn.Module):
    """conv16-pool-conv32-pool-conv64-pool -> fc128 (features) -> fc K (logits); ~98k weights.

    Narrow early layers keep CPU training to about half a minute per epoch.
    """

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 3 * 3, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, num_classes)
        self.dropout = nn.Dropout(0.3)

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images (N, 28, 28) -> (features (N, 128), logits (N, K)).

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


MnistClassifier = Classifier  # the name from the MNIST-only days


def fingerprint(state: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in sorted name order."""
    return tensor_digest(state)


def save_classifier(model: Classifier, path: str | Path, test_accuracy: float, dataset: str = "mnist",
                    extra: dict[str, str] | None = None) -> str:
    """Write fp32 weights plus metadata (accuracy, fingerprint, dataset); returns the fingerprint."""
    state = {k: v.detach().cpu().contiguous().float() for k, v in model.state_dict().items()}
    fp = fingerprint(state)
    meta = {"format": "minigan-mnist-classifier-v1", "test_accuracy": f"{test_accuracy:.4f}",
            "fingerprint": fp}
    if dataset != "mnist":
        meta.update(format="minigan-classifier-v2", dataset=dataset, num_classes=str(model.num_classes),
                    **(extra or {}))
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return fp


def classifier_metadata(path: str | Path = SHIPPED_CLASSIFIER) -> dict[str, str]:
    """The string metadata stored with the weights (test_accuracy, fingerprint, format, dataset)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except (OSError, ValueError, RuntimeError, SafetensorError) as e:
        raise CheckpointError(f"cannot read classifier weights {path}: {e}; {_RETRAIN}") from None
    if meta.get("format") == "minigan-mnist-classifier-v1":
        meta.setdefault("dataset", "mnist")
        meta.setdefault("num_classes", str(NUM_CLASSES))
    elif meta.get("format") != "minigan-classifier-v2":
        raise CheckpointError(f"{path} is not a minigan classifier (format {meta.get('format')!r}); "
                              f"{_RETRAIN}")
    return meta


def load_classifier(path: str | Path = SHIPPED_CLASSIFIER, device: str = "cpu") -> Classifier:
    """Load weights (safetensors, no pickle) into an eval-mode classifier on ``device``."""
    path = Path(path)
    meta = classifier_metadata(path)
    try:
        state = load_file(str(path))
    except (OSError, ValueError, RuntimeError, SafetensorError) as e:
        raise CheckpointError(f"cannot read classifier weights {path}: {e}; {_RETRAIN}") from None
    if meta.get("fingerprint") != fingerprint(state):
        raise CheckpointError(
            f"classifier weights {path} do not match their stored fingerprint; the file is "
            f"damaged: reinstall minigan or {_RETRAIN}"
        )
    try:
        model = Classifier(int(meta["num_classes"]))
        model.load_state_dict(state)
    except (RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path} is not a minigan classifier: {' '.join(str(e).split())}") from None
    return model.eval().to(device)


@lru_cache(maxsize=8)
def cached_classifier(path: str, device: str = "cpu") -> Classifier:
    """A classifier file loaded once per process and device."""
    return load_classifier(path, device)


@torch.no_grad()
def predict_features(
    model: Classifier, images: np.ndarray | torch.Tensor, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, 28, 28) -> (float32 features (N, 128), softmax probs (N, K)) on CPU."""
    images = torch.as_tensor(images)
    device = next(model.parameters()).device
    feats, probs = [], []
    for start in range(0, len(images), batch_size):
        f, logits = model.features_and_logits(images[start : start + batch_size].to(device))
        feats.append(f.float().cpu())
        probs.append(logits.float().softmax(dim=1).cpu())
    if not feats:
        return torch.zeros(0, FEATURE_DIM), torch.zeros(0, model.num_classes)
    return torch.cat(feats), torch.cat(probs)


def accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    _, probs = predict_features(model, images)
    return (probs.argmax(1) == torch.as_tensor(labels)).float().mean().item()
