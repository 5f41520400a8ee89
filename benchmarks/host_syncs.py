"""A CPU stand-in for CUDA's sync debug mode: which tensor operations would move data between the host
and the GPU, and which of those would make one side wait for the other.

On CPU every tensor is in host memory, so the stand-in keeps the distinction itself, as CUDA would
place each tensor: one a factory made without a `device` (`torch.randperm(n)`, `torch.tensor(x)`), or
computed from such tensors only, is a host tensor; every other one (the networks, the dataset, what
the code made with `device=...`) is on the device. Then, under `HostSyncs()`:

- an upload is `.to(...)`/`.cuda()` naming a device, or `copy_`, from a host tensor into the device,
  or `torch.tensor`/`torch.as_tensor` with a `device`; it blocks the host unless `non_blocking=True`
  (the two factories always block);
- a read is a device tensor's value reaching Python (`.item()`, `.tolist()`, `.numpy()`, `.cpu()`,
  `bool()`, `int()`, `float()`, formatting), `.to(...)` naming a device or `copy_` into the host,
  or an operation whose output size depends on the values (`nonzero`, `masked_select`, `unique`,
  indexing with a boolean mask): the host waits for the GPU's queue to drain.

Conservative where CPU cannot tell: `.to(device)` of a device tensor counts as a read (on CUDA it is
a no-op when it names the tensor's own device) and `.to("cpu")` of a host tensor as an upload.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

Tensor = torch.Tensor
READS = {"item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__", "__complex__",
         "__format__", "__array__", "nonzero", "argwhere", "masked_select", "unique", "unique_consecutive"}
MOVES = {"to", "cuda"}


@dataclass
class Transfer:
    kind: str  # "upload" or "read"
    what: str  # the call: "to", "copy_", "item", "tensor", ...
    blocking: bool  # uploads: non_blocking was not set; reads always block


class HostSyncs(TorchFunctionMode):
    """Records every host-device transfer made inside `with HostSyncs() as syncs:` (this thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.transfers: list[Transfer] = []
        self._host: dict[int, Tensor] = {}  # id -> tensor, kept alive so that ids stay unique

    def counts(self, since: int = 0) -> tuple[int, int, int]:
        """(blocking uploads, non-blocking uploads, reads) among the transfers from number `since` on."""
        kinds = [(t.kind, t.blocking) for t in self.transfers[since:]]
        return kinds.count(("upload", True)), kinds.count(("upload", False)), kinds.count(("read", True))

    def on_host(self, tensor: Tensor) -> bool:
        return id(tensor) in self._host

    def _mark(self, outputs: object) -> None:
        for t in tree_flatten(outputs)[0]:
            if isinstance(t, Tensor):
                self._host[id(t)] = t

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, Tensor)]
        out = func(*args, **kwargs)
        source = args[0] if args and isinstance(args[0], Tensor) else None
        moves = name in MOVES and source is not None and _names_device(name, args[1:], kwargs)
        if out is source and (moves or name == "cpu"):
            out = source.clone()  # a copy, as on CUDA: the source keeps its place
        if moves:
            if self.on_host(source):
                self.transfers.append(Transfer("upload", name, not _non_blocking(args[1:], kwargs)))
            else:
                self.transfers.append(Transfer("read", name, True))
            return out  # the copy is on the device: not marked
        if name == "copy_" and source is not None and isinstance(args[1], Tensor):
            if self.on_host(args[1]) != self.on_host(source):
                upload = self.on_host(args[1])
                self.transfers.append(Transfer("upload" if upload else "read", name,
                                               not upload or not _non_blocking(args[2:], kwargs)))
            return out
        if name == "cpu" or (name == "to" and source is not None and self.on_host(source)):
            if name == "cpu" and not self.on_host(source):
                self.transfers.append(Transfer("read", name, True))
            self._mark(out)
            return out
        if name in READS or (name in ("__getitem__", "__setitem__") and _bool_index(args[1:2])):
            if source is not None and not self.on_host(source):
                self.transfers.append(Transfer("read", name, True))
        if not tensors:  # a factory: on the host unless it names a device
            if kwargs.get("device") is None:
                self._mark(out)
            elif name in ("tensor", "as_tensor"):
                self.transfers.append(Transfer("upload", name, True))
        elif all(self.on_host(t) for t in tensors):
            self._mark(out)
        return out


def _names_device(name: str, args: tuple, kwargs: dict) -> bool:
    """Does `.to(...)`/`.cuda(...)` name a place (a device, a string, another tensor)?"""
    if name == "cuda":
        return True
    return kwargs.get("device") is not None or any(isinstance(a, (torch.device, str, Tensor)) for a in args)


def _non_blocking(args: tuple, kwargs: dict) -> bool:
    return bool(kwargs.get("non_blocking", False) or any(a is True for a in args))


def _bool_index(index: tuple) -> bool:
    flat = tree_flatten(index)[0]
    return any(isinstance(t, Tensor) and t.dtype == torch.bool for t in flat)
