"""How the networks run on their device: the checks of the device switches (--compile, --precision),
the CUDA kernel flags, and the callables the phases call (G and D, or DDP, torch.compile and bf16
autocast around them)."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

import torch
import torch._functorch.config as functorch_config
from torch import nn

from ..config import TrainConfig
from ..errors import ConfigError
from . import parallel

# Measured on a 2-vCPU AMD EPYC (AVX2, no native bf16), torch 2.13 (benchmarks/README.md, "Leads").
CPU_COMPILE = ("on CPU it made mlp4 47% and fast 5% slower per step, after 30-76 s of compiling "
               "(benchmarks/README.md)")
CPU_BF16 = "bf16 autocast ran mlp4 13x and dcgan 15x slower on a CPU without native bf16"


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bfloat16 itself (AVX512-BF16 or AMX), where oneDNN runs bf16
    convolutions and matmuls natively; elsewhere they are emulated."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def resolve_precision(config: TrainConfig, device: torch.device) -> TrainConfig:
    """`auto` made concrete for this device, as the run's config.json records it: bf16 where the
    device computes it natively (a CUDA GPU with bf16, a CPU with AMX or AVX512-BF16), else fp32."""
    if config.precision != "auto":
        return config
    native = torch.cuda.is_bf16_supported() if device.type == "cuda" else native_cpu_bf16()
    return dataclasses.replace(config, precision="bf16" if native else "fp32")


def check(config: TrainConfig, device: torch.device) -> None:
    """Refuse, in one line, the switches that do not work or do not pay on this device."""
    if device.type != "cuda":
        if config.compile:
            raise ConfigError(f"--compile pays only on CUDA: {CPU_COMPILE}; drop --compile or train with "
                              "--device cuda")
        if config.precision == "bf16" and not native_cpu_bf16():
            raise ConfigError(f"--precision bf16 needs CUDA or a CPU with native bfloat16 (AVX512-BF16, "
                              f"AMX): {CPU_BF16}; drop it or use --device cuda")
    elif config.precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"--precision bf16 needs a GPU with bfloat16 (Ampere or newer); {device} has none: "
                          "use --precision fp32")


def choose_kernels(device: torch.device, deterministic: bool = False) -> None:
    """CUDA only (CPU kernels are deterministic already): fp32 matmuls and convolutions on TF32 tensor
    cores (10-bit mantissa inputs, fp32 sums; metrics turn it off), and cuDNN's deterministic
    algorithms when asked (bit-exact resumes on one GPU type, some cost per step), else
    cudnn.benchmark: a run's shapes are fixed, so only the first steps search for the fastest."""
    if device.type != "cuda":
        return
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    if hasattr(matmul, "fp32_precision"):  # torch >= 2.9; mixing it with allow_tf32 is an error
        matmul.fp32_precision = conv.fp32_precision = "tf32"
    else:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = deterministic, not deterministic


class Autocast(nn.Module):
    """Run `inner` under autocast to `dtype`; hand back float32, so losses and backward stay fp32.
    bf16 keeps fp32's exponent range, so no loss scaling is needed (unlike fp16)."""

    def __init__(self, inner: Callable, device_type: str, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.inner, self.device_type, self.dtype = inner, device_type, dtype

    def forward(self, *args, **kwargs):
        with torch.autocast(self.device_type, dtype=self.dtype):
            out = self.inner(*args, **kwargs)
        return out.float() if isinstance(out, torch.Tensor) else tuple(part.float() for part in out)


def ddp(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel over `module` in a job (the module itself on one process). Buffers are
    not re-broadcast before each forward: G's batchnorm statistics stay each rank's own (every rank
    normalises over its share of the batch), and no collective runs in a forward pass."""
    if not parallel.active():
        return module
    wrapper = torch.nn.parallel.DistributedDataParallel
    no_sync_buffers = ({"forward_sync_buffers": False} if "forward_sync_buffers" in  # torch >= 2.12's name
                       inspect.signature(wrapper).parameters else {"broadcast_buffers": False})
    return wrapper(module, device_ids=[device.index] if device.type == "cuda" else None, **no_sync_buffers)


def build(G: nn.Module, D: nn.Module, config: TrainConfig, device: torch.device,
          compile_backend: str = "inductor") -> tuple[Callable, Callable, Callable]:
    """(G for the D and G phases, D for the D phase, D for the G phase), without checks. D's phase
    goes through DDP (its gradients are averaged over the ranks); G's phase calls D itself, frozen, so
    DDP never waits for D gradients nobody computes. G goes through DDP in both phases."""
    if config.compile and config.update_scheme == "simultaneous":  # Dboth's autograd.grad(retain_graph)
        functorch_config.donated_buffer = False  # runs twice through D's compiled backward: no donation
    G_train, D_train, D_frozen = ddp(G, device), ddp(D, device), D
    if config.compile:  # after DDP, whose DDPOptimizer splits the graphs at its gradient buckets so
        # the all-reduces overlap the backward; one compiled module per callable (1 process: D_train is D)
        compiled = {id(f): torch.compile(f, backend=compile_backend) for f in (G_train, D_train, D_frozen)}
        G_train, D_train, D_frozen = (compiled[id(f)] for f in (G_train, D_train, D_frozen))
    if config.precision == "bf16":
        G_train, D_train, D_frozen = (Autocast(f, device.type) for f in (G_train, D_train, D_frozen))
    return G_train, D_train, D_frozen


def wrap(G: nn.Module, D: nn.Module, config: TrainConfig,
         device: torch.device) -> tuple[Callable, Callable, Callable]:
    """The loop's entry: refuse what does not pay here, the CUDA kernels, then `build`."""
    check(config, device)
    choose_kernels(device, config.deterministic)
    return build(G, D, config, device)
