"""Which images make batch k of a run: the write-ups' orders, each a pure function of (seed, k).

Being a function of the batch number alone (no hidden iterator state), every order resumes
exactly: batch k after a restart is batch k of the uninterrupted run.

- shuffle: a fresh permutation per epoch, the incomplete last batch dropped (minigan's default).
- shuffle_keep_last: PyTorch DataLoader(shuffle=True, drop_last=False): the last batch of an
  epoch is short (60000 % 64 = 32 images for mlp4).
- file: file order, the same every epoch (no shuffling at all).
- fixed: one seeded permutation, the same every epoch: tf.data without .shuffle() over the
  record order tfds fixed at preparation time (dcgan; tfds' exact order is not reproducible here).
- replacement: B indices drawn uniformly with replacement, independently per batch
  (`images[np.random.choice(range(len(images)), batch_size)]`, vanilla).
- tf_next_batch: TF >= 1.2 `DataSet.next_batch`: shuffled from the first epoch, and a batch that
  crosses the end of an epoch takes the rest of it plus the start of the next permutation.
- tf_next_batch_legacy: TF <= 1.1 `next_batch`: the first epoch in file order, the remainder of
  each epoch dropped, a fresh permutation from the second epoch on (cgan, a Python 2 / TF 0.x
  notebook).
"""

from __future__ import annotations

from typing import get_args

import torch

from ..config.choices import BatchOrder

BATCH_ORDERS: tuple[str, ...] = get_args(BatchOrder)


class BatchOrderSampler:
    def __init__(self, num_images: int, batch_size: int, order: BatchOrder = "shuffle",
                 seed: int = 0, device: torch.device | str = "cpu") -> None:
        if order not in BATCH_ORDERS:
            raise ValueError(f"unknown batch order {order!r}; choose one of: {', '.join(BATCH_ORDERS)}")
        if not 0 < batch_size <= num_images:
            raise ValueError(f"batch_size must be in 1..{num_images} (the dataset), got {batch_size}")
        self.n, self.batch_size, self.order, self.seed = num_images, batch_size, order, seed
        self.device = torch.device(device)  # each permutation is copied there once, not every batch
        self._cache: dict[int, torch.Tensor] = {}

    @property
    def batches_per_epoch(self) -> float:
        """Batches in one pass over the data (fractional for the wrap-around TF order)."""
        if self.order == "shuffle_keep_last":
            return float(-(-self.n // self.batch_size))
        if self.order in ("tf_next_batch", "replacement"):
            return self.n / self.batch_size
        return float(self.n // self.batch_size)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if self.order == "file" or (self.order == "tf_next_batch_legacy" and epoch == 0):
            epoch = -1  # file order: one cached arange
        if self.order == "fixed":
            epoch = 0
        if epoch not in self._cache:
            if len(self._cache) > 2:  # batches move forward; keep the last two epochs only
                self._cache.pop(min(self._cache))
            if epoch == -1:
                order = torch.arange(self.n)
            else:
                rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                order = torch.randperm(self.n, generator=rng)
            self._cache[epoch] = order.to(self.device)
        return self._cache[epoch]

    def indices(self, k: int) -> torch.Tensor:
        """(B,) int64 image indices of batch number k (0-based) of the run; shorter only for the
        last batch of an epoch under shuffle_keep_last."""
        if k < 0:
            raise ValueError(f"batch number must be >= 0, got {k}")
        B = self.batch_size
        if self.order == "replacement":
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + k)
            return torch.randint(0, self.n, (B,), generator=rng).to(self.device, non_blocking=True)
        if self.order == "tf_next_batch":
            start = k * B
            epoch, offset = divmod(start, self.n)
            first = self._permutation(epoch)[offset:offset + B]
            if len(first) == B:
                return first
            return torch.cat([first, self._permutation(epoch + 1)[:B - len(first)]])
        per_epoch = int(self.batches_per_epoch)
        epoch, position = divmod(k, per_epoch)
        return self._permutation(epoch)[position * B:(position + 1) * B]


__all__ = ["BatchOrder", "BATCH_ORDERS", "BatchOrderSampler"]
