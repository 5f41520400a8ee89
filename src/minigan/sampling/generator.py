"""Load a trained generator and draw reproducible samples from it.

Every sample is a function of its seed: `latents(num, seed)` draws from the model's prior with a
private torch.Generator, so the same seed gives the same digits on any run of the same weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from ..config import TrainConfig
from ..config.limits import MAX_SAMPLES, check_count, check_sample_memory
from ..data import to_uint8
from ..errors import CheckpointError, ConfigError, MiniganError
from ..fileio import atomic_path
from ..models import Generator, build_generator, one_hot
from ..run.checkpoint import list_checkpoints, load_checkpoint, load_latest, tensor_digest
from ..run.folder import RunFolder
from ..runtime import resolve_device

GENERATOR_FORMAT = "minigan-generator"


def sample_latents(
    num: int, z_dim: int, prior: str, device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(num, z_dim) noise from N(0,1) or U(-1,1)."""
    if prior == "uniform":
        return torch.rand(num, z_dim, device=device, generator=generator) * 2 - 1
    return torch.randn(num, z_dim, device=device, generator=generator)


def crop_padding(images: torch.Tensor, pad: int) -> torch.Tensor:
    """(B, 1, S, S) -> (B, 1, S - 2 pad, S - 2 pad): undo the zero border of padded recipes (dcgan)."""
    return images[..., pad:images.shape[-2] - pad, pad:images.shape[-1] - pad] if pad else images


def save_generator(generator: Generator, config: TrainConfig, step: int, path: str | Path) -> Path:
    """The small sharing artefact: G's weights in safetensors, the config and a checksum in its metadata."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    metadata = {"format": GENERATOR_FORMAT, "config": config.to_json(), "step": str(step),
                "sha256": tensor_digest(tensors)}
    data = save(tensors, metadata=metadata)  # in memory: a full disk then raises OSError
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def check_weights(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse weights with NaN or infinity: they sample blank or garbage images without a word."""
    bad = [name for name, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(f"{path} holds non-finite weights (NaN or infinity in {bad[0]}); use an "
                              "earlier checkpoint of the run, or retrain")


def _embedded_config(values: object, path: Path) -> TrainConfig:
    if not isinstance(values, dict):
        raise CheckpointError(f"{path} is damaged: its embedded config is not a JSON object")
    try:
        return TrainConfig.from_dict(values)
    except (MiniganError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} holds an unusable config ({exc})") from None


class TrainedGenerator:
    """A generator ready for sampling: eval mode, inference mode, uint8 outputs of the data's size."""

    def __init__(self, config: TrainConfig, state_dict: dict[str, torch.Tensor],
                 device: torch.device | str = "cpu", step: int = 0) -> None:
        self.config = config
        self.step = step
        self.device = torch.device(device)
        self.module = build_generator(config)
        try:
            self.module.load_state_dict(state_dict)
        except (RuntimeError, TypeError, AttributeError) as exc:
            detail = " ".join(str(exc).split())[:300]
            raise CheckpointError(f"generator weights do not match their config: {detail}") from None
        self.module.to(self.device).eval()

    z_dim = property(lambda self: self.config.z_dim)
    conditional = property(lambda self: self.config.conditional)
    num_classes = property(lambda self: self.config.num_classes if self.config.conditional else 0)

    def latents(self, num: int, seed: int) -> torch.Tensor:
        rng = torch.Generator().manual_seed(seed)
        return sample_latents(num, self.z_dim, self.config.z_prior, generator=rng)

    def _label_vectors(self, labels: torch.Tensor | np.ndarray | None, batch: int) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if labels is None:
            raise ConfigError("this generator is conditional: give labels (digits) to sample")
        labels = torch.as_tensor(labels)
        if labels.ndim == 1:
            if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ConfigError(f"labels must be in 0..{self.num_classes - 1}")
            labels = one_hot(labels, self.num_classes)
        if labels.shape != (batch, self.num_classes):
            raise ConfigError(f"labels must have shape ({batch},) or ({batch}, {self.num_classes})")
        return labels.float().to(self.device)

    @torch.inference_mode()
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, z_dim) [+ labels (B,) ids or (B, C) vectors] -> uint8 (B, S, S) on the CPU."""
        y = self._label_vectors(labels, z.shape[0])
        images = self.module(z.to(self.device), y)
        return to_uint8(crop_padding(images, self.config.pad), self.config.pixel_range)[:, 0].cpu()

    def sample(self, num: int, seed: int = 0, labels=None, batch_size: int = 1000
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """`num` images (uint8, (num, S, S)) and the labels asked for (conditional models).

        A conditional model with no labels given draws a balanced set: digit i % num_classes.
        """
        check_count("--num", num, MAX_SAMPLES, "100 times the samples of a standard FID")
        check_sample_memory(num, self.z_dim, self.config.data_size)
        if self.conditional:
            labels = np.arange(num) % self.num_classes if labels is None else np.asarray(labels)
            if labels.shape[0] != num:
                raise ConfigError(f"got {labels.shape[0]} labels for {num} samples")
        z = self.latents(num, seed)
        chunks = [
            self.generate(z[i:i + batch_size],
                          None if labels is None else torch.as_tensor(labels[i:i + batch_size]))
            for i in range(0, num, batch_size)
        ]
        images = torch.cat(chunks).numpy()
        return images, (None if labels is None else np.asarray(labels, dtype=np.int64))


def _from_safetensors(path: Path, device) -> TrainedGenerator:
    """Old files without a checksum (minigan before 0.3) still load; a file with one must match it."""
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable generator file: {exc}") from None
    if metadata.get("format") != GENERATOR_FORMAT:
        raise CheckpointError(f"{path} is not a minigan generator file")
    if "sha256" in metadata and metadata["sha256"] != tensor_digest(tensors):
        raise CheckpointError(f"{path} is damaged (checksum mismatch): copy it again from the run "
                              "or sample from the run's checkpoints/")
    try:
        values, step = json.loads(metadata["config"]), int(metadata.get("step", "0"))
    except (KeyError, ValueError):  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path} is damaged: its embedded config or step is missing or "
                              "unreadable") from None
    check_weights(tensors, path)
    return TrainedGenerator(_embedded_config(values, path), tensors, device, step)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> TrainedGenerator:
    """A run folder, a generator .safetensors file, or a checkpoint .pt -> TrainedGenerator."""
    path = Path(path)
    device = resolve_device(str(device))
    if path.is_dir():
        run = RunFolder(path)
        if run.generator_path.is_file():
            return _from_safetensors(run.generator_path, device)
        if not list_checkpoints(run.checkpoint_dir):
            raise CheckpointError(f"{path} holds no trained generator (not a minigan run folder?)")
        state, path = load_latest(run.checkpoint_dir)
    elif path.suffix == ".safetensors":
        return _from_safetensors(path, device)
    elif path.is_file():
        state = load_checkpoint(path)
    else:
        raise CheckpointError(f"{path} does not exist; give a run folder, .safetensors or .pt file")
    try:
        config, step = _embedded_config(state["config"], path), int(state["step"])
        weights = state["G"] if state.get("G_ema") is None else state["G_ema"]
        check_weights(weights, path)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise CheckpointError(f"{path} is damaged: it lacks the generator's weights, config or "
                              "step") from None
    return TrainedGenerator(config, weights, device, step)


def save_samples(path: str | Path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """The samples format: `images` uint8 (N, S, S), and `labels` int64 (N,) when conditional."""
    arrays = {"images": images.astype(np.uint8)}
    if labels is not None:
        arrays["labels"] = labels.astype(np.int64)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    return path
