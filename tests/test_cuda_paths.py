"""The CUDA path's defects found by reading (issue 29), each checked on CPU: checkpoints read onto the
CPU, a resume on another device type, --compile with simultaneous updates, and metrics in full fp32
whatever TF32 flags training set."""

import dataclasses
import functools
import inspect
import json
import math

import pytest
import torch

from minigan.data import load_dataset
from minigan.data.batches import NOISE_SALT
from minigan.models import build_discriminator, build_generator
from minigan.presets import get_config
from minigan.run import checkpoint
from minigan.run.resume import check_resumable
from minigan.training import Trainer, state, wrappers


def _config(mnist_dir, **overrides):
    settings = {"data_dir": str(mnist_dir), "device": "cpu", "batch_size": 16, "steps": 8, "log_every": 4,
                "checkpoint_every": 4, "sample_every": 8, "grid_size": 2, "tensorboard": False,
                **overrides}
    return get_config("minimal", **settings)


@pytest.fixture
def trained(tmp_path, mnist_dir):
    """An 8-step minimal run with checkpoints at steps 4 and 8."""
    config = _config(mnist_dir, on_nan="rollback")
    Trainer(config, tmp_path / "run", progress=False).fit()
    return config, tmp_path / "run"


def test_resume_and_rollback_read_checkpoints_onto_the_cpu(trained, monkeypatch):
    """On CUDA, map_location=device made the RNG states CUDA tensors and torch.set_rng_state raise
    'RNG state must be a torch.ByteTensor': the loader must be asked for the CPU."""
    config, run = trained
    asked, set_states = [], []
    original_load, original_set = checkpoint.load_latest, torch.set_rng_state

    def load_latest(*args, **kwargs):
        asked.append(inspect.signature(original_load).bind(*args, **kwargs).arguments.get("map_location"))
        return original_load(*args, **kwargs)

    def set_rng_state(new_state):
        set_states.append((new_state.device.type, new_state.dtype))
        return original_set(new_state)

    monkeypatch.setattr(checkpoint, "load_latest", load_latest)
    monkeypatch.setattr(torch, "set_rng_state", set_rng_state)
    trainer = Trainer(dataclasses.replace(config, steps=10), run, resume=True, progress=False)
    trainer.reporter = type("Quiet", (), {"say": staticmethod(lambda message: None)})()
    trainer._resume_latest()
    assert trainer.step == 8
    state.roll_back(trainer.run, trainer.state, trainer.progress, 1.0, lambda message: None)
    assert trainer.progress.rollbacks == 1
    assert asked == ["cpu", "cpu"]
    assert set_states == [("cpu", torch.uint8)] * 2
    saved = checkpoint.load_latest(run / "checkpoints")[0]
    for key in ("rng_cpu", "rng_noise"):
        assert saved[key].device.type == "cpu" and saved[key].dtype == torch.uint8
    assert trainer.batches.noise_rng.get_state().dtype == torch.uint8


def test_a_checkpoint_from_another_device_type_resumes_with_a_reseeded_noise_stream(trained, capsys):
    """A CUDA generator's state (16 bytes) does not fit a CPU one (5,056): 'RNG state is wrong size'."""
    config, run = trained
    path = checkpoint.list_checkpoints(run / "checkpoints")[0][1]
    saved = checkpoint.load_checkpoint(path)
    assert saved["device_type"] == "cpu"
    saved.update(device_type="cuda", rng_noise=torch.zeros(16, dtype=torch.uint8),
                 rng_device=torch.zeros(16, dtype=torch.uint8))
    checkpoint.save_checkpoint(saved, path)
    capsys.readouterr()
    trainer = Trainer(dataclasses.replace(config, steps=12), run, resume=True, progress=False)
    assert trainer.fit().step == 12
    captured = capsys.readouterr()
    said = [line for line in (captured.out + captured.err).splitlines() if "device type" in line]
    assert said == ["minigan: the checkpoint was saved on cuda and this run trains on cpu: G's noise "
                    "restarts from (seed, images seen); bit-exact resumes hold on one device type only"]
    # the stream restarts from (seed, images seen): the same on any resume of that checkpoint
    again = Trainer(dataclasses.replace(config, steps=12), run, resume=True, progress=False)
    saved["rng_noise"] = torch.zeros(16, dtype=torch.uint8)
    assert again.state.load_state_dict(saved, again.progress)
    expected = torch.Generator().manual_seed(state.rank_seed(config.seed ^ NOISE_SALT, 0, 8 * 16))
    assert torch.equal(again.batches.noise_rng.get_state(), expected.get_state())


def test_compile_trains_the_simultaneous_update_scheme(tmp_path, mnist_dir, monkeypatch):
    """Dboth takes D's gradient with autograd.grad(..., retain_graph=True) through compiled backwards,
    which refuse donated buffers ('compiled with non-empty donated buffers'): the dcgan preset under
    --compile failed at step 1. aot_eager reaches that code on CPU (eager, the other tests', does not)."""
    monkeypatch.setattr(wrappers, "check", lambda config, device: None)
    import torch._functorch.config as functorch_config

    monkeypatch.setattr(functorch_config, "donated_buffer", functorch_config.donated_buffer)  # restored after
    monkeypatch.setattr(wrappers, "build", functools.partial(wrappers.build, compile_backend="aot_eager"))
    config = get_config("dcgan", data_dir=str(mnist_dir), device="cpu", batch_size=8, steps=2, log_every=1,
                        checkpoint_every=2, sample_every=2, grid_size=2, tensorboard=False, compile=True)
    assert config.update_scheme == "simultaneous"
    trainer = Trainer(config, tmp_path / "run", progress=False)
    assert trainer.fit().step == 2
    losses = [json.loads(line) for line in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses] == [1, 2] and all(math.isfinite(r["loss_d"]) for r in losses)


def test_compile_wraps_ddp_so_the_all_reduces_overlap_the_backward(monkeypatch):
    """Compiled after DDP wrapping, dynamo's DDPOptimizer splits the graph at DDP's gradient buckets,
    so each bucket's all-reduce starts while the backward goes on; a network compiled inside DDP is
    one graph whose gradients are all reduced after its whole backward."""

    class JobDDP(torch.nn.Module):  # what wrappers.ddp gives in a job of several processes
        def __init__(self, module: torch.nn.Module, device: torch.device) -> None:
            super().__init__()
            self.module = module

        def forward(self, *args):
            return self.module(*args)

    monkeypatch.setattr(wrappers, "ddp", JobDDP)
    config = get_config("minimal", compile=True)
    G, D = build_generator(config), build_discriminator(config)
    G_train, D_train, D_frozen = wrappers.build(G, D, config, torch.device("cpu"), compile_backend="eager")
    compiled = type(torch.compile(torch.nn.Identity()))
    assert all(isinstance(f, compiled) for f in (G_train, D_train, D_frozen))
    assert isinstance(G_train._orig_mod, JobDDP) and G_train._orig_mod.module is G
    assert isinstance(D_train._orig_mod, JobDDP) and D_train._orig_mod.module is D
    assert D_frozen._orig_mod is D  # G's phase calls D itself: no DDP
    z = torch.randn(4, config.z_dim)
    torch.testing.assert_close(D_train(G_train(z, None), None), D(G(z, None), None), rtol=0, atol=0)


NEW_FLAGS = hasattr(torch.backends.cuda.matmul, "fp32_precision")  # torch >= 2.9


def _tf32_flags() -> tuple:
    if NEW_FLAGS:
        return torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


def test_metrics_compute_in_full_fp32_whatever_tf32_flags_training_set(mnist_dir, monkeypatch):
    """Training's TF32 (process-wide) must not reach the classifier's convolutions or the k-NN
    distances: scoring turns it off and gives the caller's flags back after."""
    from minigan.metrics import evaluate, scores

    off, tf32 = (("ieee", "ieee"), ("tf32", "tf32")) if NEW_FLAGS else ((False, False), (True, True))
    seen = []
    for function, module in (("prdc", scores), ("predict_features", evaluate)):
        original = getattr(module, function)

        def spy(*args, _original=original, **kwargs):
            seen.append(_tf32_flags())
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, function, spy)
    before = _tf32_flags()
    try:
        wrappers.choose_kernels(torch.device("cuda", 0))  # what training on CUDA sets: flags only, no GPU
        assert _tf32_flags() == tf32
        images = load_dataset(mnist_dir, split="test").images[:40].numpy()
        evaluate.evaluate_images(images, data_dir=mnist_dir)
        assert _tf32_flags() == tf32
    finally:
        _set_tf32_flags(before)
    assert len(seen) >= 2 and all(flags == off for flags in seen)  # features (test set's too), k-NN


def _set_tf32_flags(flags: tuple) -> None:
    if NEW_FLAGS:
        torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = flags
    else:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def test_deterministic_kernels_on_request_the_fastest_otherwise_on_cuda(tmp_path, mnist_dir, monkeypatch):
    for flag in ("deterministic", "benchmark"):
        monkeypatch.setattr(torch.backends.cudnn, flag, getattr(torch.backends.cudnn, flag))  # restored after
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, False
    wrappers.choose_kernels(torch.device("cpu"), True)
    assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == (False, False)
    wrappers.choose_kernels(torch.device("cuda", 0), True)  # flags only: no GPU needed
    assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == (True, False)
    wrappers.choose_kernels(torch.device("cuda", 0), False)
    assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == (False, True)
    chosen = []
    monkeypatch.setattr(wrappers, "choose_kernels", lambda device, deterministic: chosen.append(
        (deterministic, device.type)))
    Trainer(_config(mnist_dir, deterministic=True), tmp_path / "run", progress=False)
    assert chosen == [(True, "cpu")]
    # a runtime switch: a run may resume with it on or off
    assert check_resumable(_config(mnist_dir), _config(mnist_dir, deterministic=True)) == []
