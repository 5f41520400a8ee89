"""Notebook-style reference training steps: each preset's recipe written the way tutorials write it.

The point is a fair baseline for bench_train.py. Each reference trains the SAME recipe as the
minigan preset of the same name (layer sizes, activations, losses, batch size, optimiser
settings; the numbers are read from the preset, `recipe()`), but in the plain tutorial style and
independent of minigan's training code:

- a torch DataLoader over a TensorDataset of float images, shuffle=True (epochs restart it);
- `nn.Sequential` networks defined here, sigmoid + `nn.BCELoss` (or BCEWithLogits where the
  recipe's D ends in a logit), separate D calls on the real and on the fake batch;
- `optimizer.zero_grad()`, default Adam (only lr and betas of the recipe), a `.item()` per loss
  per step for logging.

Initialisation does not change the speed, so only the vanilla recipe's N(0, 1/fan_in) init is kept.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minigan.presets import get_config

PRESETS = ("minimal", "vanilla", "mlp4", "dcgan", "cgan")


def read_mnist_train(data_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (60000, 28, 28) and int64 labels, straight from the gzipped IDX files."""
    folder = Path(data_dir)

    def raw(name: str) -> bytes:
        path = folder / name
        return path.read_bytes() if path.is_file() else gzip.open(f"{path}.gz").read()

    images = np.frombuffer(raw("train-images-idx3-ubyte"), np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(raw("train-labels-idx1-ubyte"), np.uint8, offset=8).astype(np.int64)
    return images, labels


# ---------------------------------------------------------------------------------- networks
def _fan_in_normal(model: nn.Module) -> None:
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, layer.in_features**-0.5)
            nn.init.zeros_(layer.bias)


def minimal_nets() -> tuple[nn.Module, nn.Module]:
    G = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 784), nn.Sigmoid())
    D = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 1))  # logit out
    return G, D


def vanilla_nets() -> tuple[nn.Module, nn.Module]:
    G = nn.Sequential(nn.Linear(100, 400), nn.ReLU(), nn.Linear(400, 784), nn.Sigmoid())
    D = nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 1), nn.Sigmoid())
    _fan_in_normal(G)
    _fan_in_normal(D)
    return G, D


def mlp4_nets() -> tuple[nn.Module, nn.Module]:
    G = nn.Sequential(
        nn.Linear(100, 256), nn.LeakyReLU(0.2),
        nn.Linear(256, 512), nn.LeakyReLU(0.2),
        nn.Linear(512, 1024), nn.LeakyReLU(0.2),
        nn.Linear(1024, 784), nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Linear(784, 1024), nn.LeakyReLU(0.2), nn.Dropout(0.3),
        nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),
        nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3),
        nn.Linear(256, 1), nn.Sigmoid(),
    )
    return G, D


def dcgan_nets() -> tuple[nn.Module, nn.Module]:
    G = nn.Sequential(
        nn.Linear(100, 128 * 8 * 8), nn.LeakyReLU(0.001), nn.BatchNorm1d(128 * 8 * 8),
        nn.Unflatten(1, (128, 8, 8)),
        nn.Upsample(scale_factor=2),  # (B, 128, 16, 16)
        nn.Conv2d(128, 64, 5, padding=2), nn.LeakyReLU(0.001), nn.BatchNorm2d(64), nn.Dropout(0.3),
        nn.Upsample(scale_factor=2),  # (B, 64, 32, 32)
        nn.Conv2d(64, 1, 5, padding=2), nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(1, 8, 5, stride=2, padding=2), nn.LeakyReLU(0.001), nn.Dropout(0.3),  # (B, 8, 16, 16)
        nn.Conv2d(8, 64, 5, stride=2, padding=2), nn.LeakyReLU(0.001), nn.Dropout(0.3),  # (B, 64, 8, 8)
        nn.Flatten(), nn.Linear(64 * 8 * 8, 1), nn.Sigmoid(),
    )
    return G, D


class CGANGenerator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 + 10, 7 * 7 * 64), nn.BatchNorm1d(7 * 7 * 64), nn.ReLU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 5, stride=2, padding=2, output_padding=1), nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 5, stride=2, padding=2, output_padding=1), nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, y], 1))


class CGANDiscriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )
        self.fc = nn.Sequential(
            nn.Linear(7 * 7 * 64 + 10, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.cat([self.conv(x), y], 1))


# ---------------------------------------------------------------------------------- recipes
@dataclass
class Recipe:
    nets: object  # () -> (G, D)
    batch_size: int
    lr: float
    betas: tuple[float, float]
    z_dim: int
    uniform_z: bool = False
    tanh: bool = False  # data in [-1, 1] instead of [0, 1]
    image: str = "flat"  # flat: (784,) vectors; 28 / 32: (1, S, S) images (32 zero-padded)
    logits: bool = False  # D ends in a logit: BCEWithLogitsLoss instead of Sigmoid + BCELoss
    conditional: bool = False
    balance: tuple[float, float, float] | None = None  # (low, high, momentum) of the pause rule


NETS = {"minimal": minimal_nets, "vanilla": vanilla_nets, "mlp4": mlp4_nets, "dcgan": dcgan_nets,
        "cgan": lambda: (CGANGenerator(), CGANDiscriminator())}
# How each notebook feeds its nets: flat vectors or images; which D ends in a logit.
LAYOUT = {"minimal": ("flat", True), "vanilla": ("flat", False), "mlp4": ("flat", False),
          "dcgan": ("32", False), "cgan": ("28", False)}


def recipe(name: str) -> Recipe:
    """The reference's numbers come from the preset itself, so the two cannot drift apart."""
    c = get_config(name)
    image, logits = LAYOUT[name]
    return Recipe(NETS[name], c.batch_size, c.lr_d, (c.beta1, c.beta2), c.z_dim,
                  uniform_z=c.z_prior == "uniform", tanh=c.g_output == "tanh", image=image, logits=logits,
                  conditional=c.conditional,
                  balance=(c.balance_low, c.balance_high, c.balance_momentum) if c.balance else None)


RECIPES = {name: recipe(name) for name in PRESETS}


@dataclass
class ReferenceGAN:
    """One recipe, tutorial style. `train_step()` is one D step and one G step on the next batch."""

    name: str
    images: np.ndarray  # uint8 (N, 28, 28)
    labels: np.ndarray
    device: str = "cpu"
    d_losses: list[float] = field(default_factory=list)
    g_losses: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        r = self.recipe = RECIPES[self.name]
        x = torch.from_numpy(self.images.copy()).float() / 255.0
        if r.tanh:
            x = x * 2 - 1
        if r.image == "flat":
            x = x.view(-1, 784)
        else:
            x = x.unsqueeze(1)
            if r.image == "32":
                x = F.pad(x, (2, 2, 2, 2), value=-1.0 if r.tanh else 0.0)  # black border
        dataset = TensorDataset(x, torch.from_numpy(self.labels.copy()))
        self.loader = DataLoader(dataset, batch_size=r.batch_size, shuffle=True)
        self.batches = self._forever()
        G, D = r.nets()
        self.G, self.D = G.to(self.device), D.to(self.device)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=r.lr, betas=r.betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=r.lr, betas=r.betas)
        self.criterion = nn.BCEWithLogitsLoss() if r.logits else nn.BCELoss()
        self.d_error: float | None = None
        self.paused = "none"
        self.images_seen = 0

    def _forever(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:  # for epoch in range(epochs): for real, labels in loader: ...
            yield from self.loader

    def sample_z(self, n: int) -> torch.Tensor:
        if self.recipe.uniform_z:
            return torch.rand(n, self.recipe.z_dim, device=self.device) * 2 - 1
        return torch.randn(n, self.recipe.z_dim, device=self.device)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.G(z, y) if self.recipe.conditional else self.G(z)

    def discriminate(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.D(x, y) if self.recipe.conditional else self.D(x)

    def train_step(self) -> int:
        """One D and one G update; returns the number of real images D saw."""
        real, digits = next(self.batches)
        real = real.to(self.device)
        b = real.size(0)
        y = F.one_hot(digits, 10).float().to(self.device) if self.recipe.conditional else None
        ones = torch.ones(b, 1, device=self.device)
        zeros = torch.zeros(b, 1, device=self.device)

        z = self.sample_z(b)
        fake = self.generate(z, y)

        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
        self.opt_D.zero_grad()
        loss_real = self.criterion(self.discriminate(real, y), ones)
        loss_fake = self.criterion(self.discriminate(fake.detach(), y), zeros)
        loss_d = loss_real + loss_fake
        if self.paused != "d":
            loss_d.backward()
            self.opt_D.step()

        # (2) Update G: maximize log(D(G(z)))
        if self.paused != "g":
            self.opt_G.zero_grad()
            loss_g = self.criterion(self.discriminate(fake, y), ones)
            loss_g.backward()
            self.opt_G.step()
            self.g_losses.append(loss_g.item())
        self.d_losses.append(loss_d.item())

        if self.recipe.balance is not None:  # pause whichever side is winning
            low, high, momentum = self.recipe.balance
            error = 0.5 * self.d_losses[-1]
            self.d_error = error if self.d_error is None else momentum * self.d_error + (1 - momentum) * error
            self.paused = "d" if self.d_error < low else "g" if self.d_error > high else "none"
        self.images_seen += b
        return b


def build(name: str, data_dir: str | Path, device: str = "cpu") -> ReferenceGAN:
    images, labels = read_mnist_train(data_dir)
    return ReferenceGAN(name, images, labels, device)
