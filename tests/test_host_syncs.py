"""A training step never makes the host wait for the GPU (issue 29, item 4), counted on CPU.

benchmarks/host_syncs.py stands in for CUDA's sync debug mode: it places each tensor where CUDA
would (a factory without `device` on the host, the rest on the device) and records every upload with
its `non_blocking` flag and every read of a device value by the host. Per step, after warm-up:

- no blocking upload and no read, for every preset without adaptive balance;
- vanilla's batches are drawn with replacement on the host: one upload per step, non-blocking;
- the balance rule reads D's error: the running rule once per step (`float` of its mean), the cgan
  write-up's schedule twice per measurement (`float` of each of its two terms; their mean is then a
  host tensor) and never between measurements;
- once per epoch, at its first batch, the epoch's permutation goes to the device in one (blocking)
  copy: those steps are counted apart. Epochs are 8 batches here (64 training images).
"""

import sys
from pathlib import Path

import pytest
import torch

from minigan.presets import get_config
from minigan.training import Trainer, reporting

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from host_syncs import HostSyncs  # noqa: E402

BATCH, IMAGES, WARM_UP, STEPS = 8, 64, 2, 12
CASES = {  # name: (preset, overrides, per-step (blocking uploads, non-blocking uploads, reads))
    "fast": ("fast", {}, (0, 0, 0)),
    "fast-cond": ("fast-cond", {}, (0, 0, 0)),
    "minimal": ("minimal", {}, (0, 0, 0)),
    "vanilla": ("vanilla", {}, (0, 1, 0)),
    "mlp4": ("mlp4", {}, (0, 0, 0)),
    "dcgan": ("dcgan", {}, (0, 0, 0)),
    "fast-cond+balance": ("fast-cond", {"balance": True}, (0, 0, 1)),
    "cgan": ("cgan", {"balance_every": 3}, (0, 0, 0)),  # + 2 reads after steps 3, 6, 9, ...
}
PERMUTED = {"shuffle", "shuffle_keep_last", "tf_next_batch", "tf_next_batch_legacy"}  # a new order per epoch


def _trainer(mnist_dir, tmp_path, preset: str, **overrides) -> Trainer:
    config = get_config(preset, data_dir=str(mnist_dir), device="cpu", batch_size=BATCH,
                        train_holdout=60_000 - IMAGES, log_every=1000, sample_every=1000,
                        checkpoint_every=1000, tensorboard=False, grid_size=2, **overrides)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.reporter = reporting.SilentReporter()  # balance switches are reported as events
    return trainer


def _count_steps(trainer: Trainer, syncs: HostSyncs, steps: int) -> list[tuple[tuple[int, int, int], bool]]:
    """Per step: (blocking uploads, non-blocking uploads, reads), and whether it began an epoch."""
    per_epoch, counted = int(trainer.batches.per_epoch), []
    for _ in range(steps):
        first, before = trainer.feed.batches_seen, len(syncs.transfers)
        with syncs:
            trainer.train_step()
        trainer.progress.step += 1  # as the loop counts it (the balance schedule reads it)
        new_epoch = any(k % per_epoch == 0 for k in range(first, trainer.feed.batches_seen))
        counted.append((syncs.counts(before), new_epoch))
    return counted


@pytest.mark.parametrize("case", list(CASES))
def test_a_training_step_neither_waits_for_nor_reads_from_the_device(mnist_dir, tmp_path, case):
    preset, overrides, expected = CASES[case]
    trainer = _trainer(mnist_dir, tmp_path, preset, **overrides)
    assert trainer.batches.per_epoch == IMAGES // BATCH
    syncs = HostSyncs()  # one for all steps: it knows which tensors earlier steps left on the host
    _count_steps(trainer, syncs, WARM_UP)  # lazy state: Adam's, epoch 0's order
    counted = _count_steps(trainer, syncs, STEPS)
    order, every = trainer.config.batch_order, trainer.config.balance_every
    boundaries = [i for i, (_, new_epoch) in enumerate(counted) if new_epoch]
    assert len(boundaries) >= 1  # at least one epoch begins among the counted steps
    for i, (counts, new_epoch) in enumerate(counted):
        step = WARM_UP + i + 1
        blocking, queued, reads = expected
        if trainer.config.balance and trainer.config.balance_schedule == "every" and step % every == 0:
            reads += 2  # the cgan write-up's measurement: its two error terms
        if new_epoch and order in PERMUTED:
            blocking += 1  # the new epoch's permutation, once
        assert counts == (blocking, queued, reads), f"step {step} of {preset}: {counts}"


def test_the_count_sees_a_blocking_upload_of_each_batch(mnist_dir, tmp_path, monkeypatch):
    """The check itself, on the code before the permutations moved to the device: indices drawn on
    the host and copied with each batch are one blocking upload per step."""
    trainer = _trainer(mnist_dir, tmp_path, "minimal")
    sampler, indices = trainer.batches.order, trainer.batches.order.indices
    monkeypatch.setattr(sampler, "_permutation", lambda epoch: torch.randperm(
        sampler.n, generator=torch.Generator().manual_seed(sampler.seed * 1_000_003 + epoch)))
    monkeypatch.setattr(sampler, "indices", lambda k: indices(k).to(trainer.device))
    syncs = HostSyncs()
    _count_steps(trainer, syncs, WARM_UP)
    assert [counts for counts, _ in _count_steps(trainer, syncs, 3)] == [(1, 0, 0)] * 3
