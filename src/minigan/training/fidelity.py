"""What each phase is fed, and the write-ups' variants of it (fidelity: `--literal` and its flags).

The main path (pytorch/examples' dcgan step): every D step takes the next real batch and a fresh
noise batch; G then trains on the fakes D's last step judged, their graph kept (no second G
forward). The write-ups differ, and each difference is a flag:

- `update_order g_first`: G steps before D (vanilla, cgan);
- `g_noise fresh`: G draws its own noise instead of D's fakes (every alternating write-up);
- `k_step_batches reuse`: a side's k steps share one real batch and noise draw (minimal);
- `loss_reduction sum`: per-sample losses summed, as TF's `minimize` on a vector (cgan);
- `adam_eps_style tf`: Adam's epsilon added before the bias correction (TF and Keras);
- `update_scheme simultaneous`: Keras' train_step, both gradients from one forward (dcgan), the
  schedule phases.py builds for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import TrainConfig
from ..data.batches import DeviceBatches
from ..models import one_hot
from . import parallel

Tensor = torch.Tensor


@dataclass
class Fakes:
    z: Tensor  # (b, z_dim)
    labels: Tensor | None  # (b, C): the labels G drew them for and D judges them with
    images: Tensor  # (b, C, S, S) or (b, F); carries G's graph when G trains on them


class Feed:
    """The real batches and fakes of one iteration's phases, as the config's write-up asks.

    `begin()` starts an iteration (it draws D's first real batch, whose labels condition G's fakes);
    the phases then ask for their inputs in the order they run.
    """

    def __init__(self, config: TrainConfig, batches: DeviceBatches, G_train: torch.nn.Module,
                 G: torch.nn.Module, batches_seen: int = 0) -> None:
        self.config, self.batches, self.G_train, self.G = config, batches, G_train, G
        self.batches_seen = batches_seen
        self.first: tuple[Tensor, Tensor | None] | None = None
        self.shared: Fakes | None = None  # fakes one side hands to the other's first step
        self.last: Fakes | None = None  # D's last fakes (k-step reuse)

    @property
    def batches_per_iteration(self) -> int:
        config = self.config
        reuse = config.k_step_batches == "reuse" or config.update_scheme == "simultaneous"
        return 1 if reuse else config.d_steps

    def next_batch(self) -> tuple[Tensor, Tensor | None]:
        batch = self.batches.get(self.batches_seen)
        self.batches_seen += 1
        return batch

    def begin(self) -> None:
        self.first, self.shared, self.last = self.next_batch(), None, None

    def reals(self, i: int) -> tuple[Tensor, Tensor | None]:
        """D step i's real batch: the first, then a new one per step (or the first again: reuse)."""
        if i == 0 or self.config.k_step_batches == "reuse":
            return self.first
        return self.next_batch()

    def fakes_for_d(self, i: int, labels: Tensor | None, g_paused: bool) -> Fakes:
        """D step i's fakes: those G's first step trained on (G first, shared noise), the previous
        step's (reuse), or new ones, keeping G's graph only when G trains on them next."""
        reuse = self.config.k_step_batches == "reuse"
        if i == 0 and self.shared is not None:
            fakes = self.shared
        elif i and reuse:
            fakes = self.last
        else:
            last = i == self.config.d_steps - 1
            fakes = self.draw(labels, keep_graph=self.g_takes_d_fakes(g_paused) and (reuse or last))
        self.last = fakes
        return fakes

    def draw(self, labels: Tensor | None, keep_graph: bool = True) -> Fakes:
        """New fakes for the real batch's `labels`: noise, their labels (G makes and D judges the
        same ones), G's images."""
        z = self.batches.noise()
        fake_labels = self.fake_labels(labels, z)
        with torch.set_grad_enabled(keep_graph):
            return Fakes(z, fake_labels, self.G_train(z, fake_labels))

    def g_takes_d_fakes(self, g_paused: bool) -> bool:
        """Does G's first step train on the fakes D's last step judged (main path, D first)?"""
        config = self.config
        return config.update_order == "d_first" and config.g_noise == "shared" and not g_paused

    def fakes_for_g(self, j: int, previous: Fakes | None) -> Fakes:
        """G step j's fakes: D's last ones, graph kept (shared noise), else G's own draw; under
        reuse, G's k steps share one noise draw."""
        if j == 0 and self.shared is not None:
            return self.shared
        if previous is None or self.config.k_step_batches == "fresh":
            return self.draw(self.first[1])
        labels = self.fake_labels(self.first[1], previous.z)
        return Fakes(previous.z, labels, self.G_train(previous.z, labels))

    def after_d(self, fakes: Fakes, g_paused: bool) -> None:
        self.shared = fakes if self.g_takes_d_fakes(g_paused) else None

    def after_g(self, j: int, fakes: Fakes) -> None:
        """G first on shared noise: D's first step judges the fakes G's first step trained on."""
        if j == 0 and self.config.update_order == "g_first" and self.config.g_noise == "shared":
            self.shared = Fakes(fakes.z, fakes.labels, fakes.images.detach())
        elif j == 0:
            self.shared = None

    def fake_labels(self, y: Tensor | None, z: Tensor) -> Tensor | None:
        """The labels the fakes of noise z are drawn for: the real batch's classes (its first
        len(z), or topped up with random classes when it is short); a clustered G adds the clusters
        it picks from z within them."""
        if self.config.clusters:
            classes = self._sized(self.G.class_labels(y), len(z)) if self.config.conditional else None
            return self.G.cluster_labels(z, classes)
        return self._sized(y, len(z))

    def _sized(self, y: Tensor | None, n: int) -> Tensor | None:
        if y is None or len(y) == n:
            return y
        if len(y) > n:
            return y[:n]
        ids = torch.randint(self.config.num_classes, (n - len(y),), device=y.device)
        return torch.cat([y, one_hot(ids, self.config.num_classes)])


def scaled(config: TrainConfig, loss: Tensor, rows: int) -> Tensor:
    """A mean loss over `rows` rows as the config reduces it: the mean, or under `loss_reduction
    sum` the sum over the batch the write-up summed over. Every rank scales by the whole batch (its
    rows x ranks), so the gradient DDP averages is the one-process gradient on any number of ranks."""
    return loss * (rows * parallel.world_size()) if config.loss_reduction == "sum" else loss


class OptimiserStep:
    """`optimizer.step()`, with TF/Keras Adam's epsilon when the config asks for it.

    TF (tf.train.AdamOptimizer, Keras Adam) adds epsilon to sqrt(v) before the bias correction,
    PyTorch after: the updates are equal when eps_torch = eps_tf / sqrt(1 - beta2^t), ~31.6x eps_tf
    at t = 1 for beta2 = 0.999, -> eps_tf. Steps are counted here, in Python (no device read), from
    the optimiser's state once when it is loaded.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig) -> None:
        self.optimizer, self.eps, self.tf = optimizer, config.adam_eps, config.adam_eps_style == "tf"
        self.taken = 0

    def __call__(self) -> None:
        if self.tf:
            for group in self.optimizer.param_groups:
                group["eps"] = tf_adam_eps(self.eps, group["betas"][1], self.taken + 1)
        self.optimizer.step()
        self.taken += 1

    def recount(self) -> None:
        """After the optimiser's state was loaded (resume, rollback): the steps it has taken."""
        state = self.optimizer.state.get(self.optimizer.param_groups[0]["params"][0], {})
        self.taken = int(state["step"]) if "step" in state else 0


def tf_adam_eps(eps: float, beta2: float, step: int) -> float:
    """The PyTorch eps that makes update number `step` (1-based) equal TF Adam's with `eps`."""
    return eps / math.sqrt(1.0 - beta2**step)
