"""The weight table: the largest absolute value of every weight tensor of G and D in a checkpoint.

cgan's write-up prints it by hand after restoring a checkpoint (`W_conv1:0 => 0.149732`, ...): a
health check, since weights that grow without bound show a run going wrong before NaNs do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import TrainConfig
from ..errors import CheckpointError
from ..models import build_discriminator, build_generator
from .checkpoint import load_checkpoint, load_latest
from .folder import RunFolder


@dataclass(frozen=True)
class WeightRow:
    network: str  # G, D, or G_ema (the average of G that samples are drawn from)
    name: str  # the parameter's name in the network's state dict
    shape: tuple[int, ...]
    max_abs: float


@dataclass(frozen=True)
class WeightTable:
    source: Path  # the checkpoint read
    step: int
    rows: list[WeightRow]


def weight_table(path: str | os.PathLike[str]) -> WeightTable:
    """The table of a checkpoint .pt, or of a run folder's newest intact checkpoint.

    Parameters only (not batchnorm's running statistics), in each network's own order.
    """
    path = Path(path)
    if path.is_dir():
        found = load_latest(RunFolder(path).checkpoint_dir)
        if found is None:
            raise CheckpointError(f"{path} holds no checkpoint (not a minigan run folder?)")
        state, path = found
    elif path.suffix == ".safetensors":
        raise CheckpointError(f"{path} is a generator file and holds no D: give the run folder or a "
                              "checkpoint .pt")
    else:
        state = load_checkpoint(path)
    config = TrainConfig.from_dict(state["config"])
    parameters = {"G": build_generator(config), "D": build_discriminator(config)}
    rows = []
    for network in ("G", "D", "G_ema"):
        weights = state.get(network)
        if weights is None:
            continue
        module = parameters["D" if network == "D" else "G"]
        for name, _ in module.named_parameters():
            if name not in weights:
                raise CheckpointError(f"{path}: {network} has no tensor {name}, which its config's network "
                                      "has; the checkpoint does not match its config")
            tensor = weights[name]
            rows.append(WeightRow(network, name, tuple(tensor.shape), float(tensor.abs().max())))
    return WeightTable(path, int(state["step"]), rows)


def format_weights(table: WeightTable) -> str:
    """One line per tensor, like the write-up's `name => max`, aligned in columns."""
    width = max(len(f"{row.network}.{row.name}") for row in table.rows)
    lines = [f"{table.source} (step {table.step}): largest |w| of each weight tensor"]
    for row in table.rows:
        shape = "x".join(str(n) for n in row.shape) or "scalar"
        lines.append(f"{row.network + '.' + row.name:<{width}}  {shape:>14}  {row.max_abs:.6f}")
    return "\n".join(lines)


__all__ = ["WeightRow", "WeightTable", "format_weights", "weight_table"]
