"""Nothing lost, nothing trusted blindly: kills, damaged or unsafe files, locks, full disks.

The kill and signal tests run the real CLI in a subprocess; the rest drive the Python API on tiny
runs of the `minimal` preset on real MNIST.
"""

import errno
import json
import os
import pickle
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

import minigan
from minigan import cli, fileio, sampling
from minigan.errors import CheckpointError, DataError, MiniganError
from minigan.presets import get_config
from minigan.run import checkpoint
from minigan.run.lock import RunLock
from minigan.training import Trainer

REPO = Path(__file__).resolve().parents[1]
FAST = dict(log_every=2, checkpoint_every=2, sample_every=4, grid_size=4, tensorboard=False,
            device="cpu")


def _config(mnist_dir, **overrides):
    return get_config("minimal", data_dir=str(mnist_dir), **{**FAST, **overrides})


@pytest.fixture
def minigan_process():
    """Start `python -m minigan ARGS...`; whatever still runs when the test ends is killed."""
    started: list[subprocess.Popen] = []

    def start(*args: str, cwd: Path) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        started.append(subprocess.Popen([sys.executable, "-m", "minigan", *args], cwd=cwd, env=env,
                                        text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _temp_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.tmp-*"))


def _latest_step(run: Path) -> int:
    found = checkpoint.list_checkpoints(run / "checkpoints")
    return found[0][0] if found else -1


def _stats_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines()]


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigan: error:"), err
    assert "Traceback" not in err
    return lines[0]


def _assert_equal_tree(a, b, where: str = "") -> None:
    """Exact equality of nested dicts/lists of tensors and primitives."""
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{where} differs")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_equal_tree(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_equal_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def trained_run(mnist_dir, tmp_path_factory) -> Path:
    """A finished 8-step run: checkpoints at steps 4, 6, 8 (keep 3; step 2 rotated away)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    Trainer(_config(mnist_dir, steps=8, keep_checkpoints=3), out, progress=False).fit()
    return out


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


# ------------------------------------------------------------------ 1. kill -9 and SIGTERM


KILL_STEPS = 40
KILL_FLAGS = ["--preset", "minimal", "--steps", str(KILL_STEPS), "--checkpoint-every", "1",
              "--keep-checkpoints", "2", "--log-every", "4", "--sample-every", "16",
              "--grid-size", "4", "--seed", "5", "--no-tensorboard", "--device", "cpu",
              "--threads", "1", "--quiet"]
# Where each SIGKILL lands. "loop": a random pause after a new checkpoint; "write": as soon as a
# checkpoint's temporary file exists; "resume": just after the process took the run's lock (while it
# cleans up, loads the checkpoint, truncates the logs); "startup": during imports. The first kill
# comes after a checkpoint: a folder with no config.json yet is not a run to resume.
KILL_MODES = ["loop", "write", "resume", "startup", "write"]


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Poll `condition` every ~2 ms; False when the process exits first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the training process made no progress"
        time.sleep(0.002)
    return True


def _holds_lock(run: Path, pid: int) -> bool:
    try:
        return (run / ".lock").read_text().strip() == str(pid)
    except OSError:
        return False


def _kill_at(mode: str, proc: subprocess.Popen, run: Path, rng: random.Random) -> bool:
    """SIGKILL `proc` at a moment chosen by `mode`; False when it finished before."""
    before = _latest_step(run)
    if mode == "startup":
        time.sleep(rng.uniform(0.1, 1.0))
    elif mode == "resume":
        if not _wait_for(lambda: _holds_lock(run, proc.pid), proc):
            return False
        time.sleep(rng.uniform(0.0, 0.05))
    elif not _wait_for(lambda: _latest_step(run) > before, proc):
        return False
    elif mode == "loop":
        time.sleep(rng.uniform(0.0, 0.15))
    elif not _wait_for(lambda: bool(_temp_files(run / "checkpoints")), proc):  # "write"
        return False
    if proc.poll() is not None:
        return False
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return True


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_equals_uninterrupted_run(mnist_dir, tmp_path,
                                                                        minigan_process):
    run = tmp_path / "killed"
    rng = random.Random(20240613)
    proc = minigan_process("train", *KILL_FLAGS, "--data-dir", str(mnist_dir), "--out", str(run),
                           cwd=tmp_path)
    landed = []
    for mode in KILL_MODES:
        killed = _kill_at(mode, proc, run, rng)
        assert killed, f"the run ended before kill {len(landed) + 1} ({mode}); so far: {landed}"
        landed.append((mode, _latest_step(run), [p.name for p in _temp_files(run)]))
        proc = minigan_process("resume", str(run), "--quiet", cwd=tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err

    # at least one kill hit a checkpoint mid-write (its temporary file was left behind) ...
    assert any(mode == "write" and temps for mode, _, temps in landed), landed
    # ... and the next run that took the lock deleted such leftovers
    assert _temp_files(run) == []

    # the run is complete and consistent
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        f"step-{s:09d}.pt{ext}" for s in (KILL_STEPS - 1, KILL_STEPS) for ext in ("", ".sha256")]
    assert _stats_steps(run) == list(range(4, KILL_STEPS + 1, 4))
    assert (run / "samples.png").is_file()
    killed_state = checkpoint.load_checkpoint(run / "checkpoints" / f"step-{KILL_STEPS:09d}.pt")
    assert killed_state["step"] == KILL_STEPS
    assert minigan.load_generator(run).step == KILL_STEPS

    # and bit for bit what an uninterrupted run with the same seed computes
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # as the CLI's --threads 1 does for the killed run
        reference = Trainer(_config(mnist_dir, steps=KILL_STEPS, seed=5, threads=1, log_every=4,
                                    checkpoint_every=KILL_STEPS, sample_every=16),
                            tmp_path / "reference", progress=False).fit()
    finally:
        torch.set_num_threads(threads)
    ref_state, _ = checkpoint.load_latest(reference.run_dir / "checkpoints")
    for key in ("step", "batches_seen", "G", "D", "opt_G", "opt_D", "rng_cpu", "fixed_z"):
        _assert_equal_tree(ref_state[key], killed_state[key], key)
    _assert_equal_tree(load_file(reference.run_dir / "generator.safetensors"),
                       load_file(run / "generator.safetensors"), "generator.safetensors")


@pytest.mark.slow
def test_sigterm_saves_at_the_step_it_stopped_and_says_how_to_resume(mnist_dir, tmp_path,
                                                                      minigan_process):
    run = tmp_path / "run"
    proc = minigan_process("train", "--preset", "minimal", "--steps", "1000000",
                           "--checkpoint-every", "100000", "--log-every", "3", "--sample-every",
                           "100000", "--grid-size", "4", "--no-tensorboard", "--device", "cpu",
                           "--quiet", "--data-dir", str(mnist_dir), "--out", str(run), cwd=tmp_path)
    # a stats record means the loop runs (the signal handlers are installed before it starts)
    stats = run / "stats.jsonl"
    ready = _wait_for(lambda: stats.is_file() and stats.stat().st_size > 0, proc)
    assert ready, proc.communicate()[1]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    match = re.search(r"stopped at step (\d+); resume with: minigan resume (\S+)", out)
    assert match, out
    step = int(match[1])
    assert Path(match[2]) == run
    assert [s for s, _ in checkpoint.list_checkpoints(run / "checkpoints")] == [step]
    assert checkpoint.load_checkpoint(run / "checkpoints" / f"step-{step:09d}.pt")["step"] == step
    assert minigan.load_generator(run).step == step

    # the command it printed works (with a budget that ends two steps later)
    command = shlex.split(match[0].split("resume with: minigan ")[1])
    resumed = minigan_process(*command, "--steps", str(step + 2), "--quiet", cwd=tmp_path)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert f"resumed {run} at step {step}" in out
    assert _latest_step(run) == step + 2


# ------------------------------------------------------------------ 2. damaged checkpoints


def _fabricate(folder: Path, steps=(2, 4, 6)) -> None:
    for step in steps:
        state = {"step": step, "w": torch.full((4096,), float(step))}  # most of the file
        checkpoint.save_checkpoint(state, folder / checkpoint.checkpoint_name(step))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_one_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x04  # inside the tensor data: torch itself does not notice
    path.write_bytes(bytes(data))


def _truncate_without_sidecar(path: Path) -> None:
    _truncate(path)
    path.with_name(path.name + ".sha256").unlink()


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_truncate, _flip_one_bit, _truncate_without_sidecar, _empty],
                         ids=lambda f: f.__name__.strip("_"))
def test_damaged_latest_falls_back_to_newest_intact_with_one_line_warning(tmp_path, damage):
    _fabricate(tmp_path)
    damage(tmp_path / checkpoint.checkpoint_name(6))
    warnings: list[str] = []
    state, path = checkpoint.load_latest(tmp_path, warn=warnings.append)
    assert state["step"] == 4 and path.name == checkpoint.checkpoint_name(4)
    torch.testing.assert_close(state["w"], torch.full((4096,), 4.0), rtol=0, atol=0)
    assert len(warnings) == 1 and "\n" not in warnings[0], warnings
    assert warnings[0].startswith("warning: ") and checkpoint.checkpoint_name(6) in warnings[0]


def test_bit_flip_without_sidecar_would_go_unnoticed(tmp_path):
    """Why the sidecar matters: torch loads a flipped tensor without complaint."""
    _fabricate(tmp_path, steps=(6,))
    path = tmp_path / checkpoint.checkpoint_name(6)
    _flip_one_bit(path)
    path.with_name(path.name + ".sha256").unlink()
    assert not torch.equal(checkpoint.load_checkpoint(path)["w"], torch.full((4096,), 6.0))


def test_no_intact_checkpoint_is_a_clear_error(tmp_path):
    _fabricate(tmp_path)
    for step in (2, 4, 6):
        _truncate(tmp_path / checkpoint.checkpoint_name(step))
    warnings: list[str] = []
    with pytest.raises(CheckpointError, match=r"no intact checkpoint in .* \(3 damaged\)"):
        checkpoint.load_latest(tmp_path, warn=warnings.append)
    assert len(warnings) == 3


def test_resume_skips_damaged_latest_and_retrains_its_steps(run_copy, capsys):
    _truncate(run_copy / "checkpoints" / checkpoint.checkpoint_name(8))
    result = minigan.resume(run_copy, steps=10, progress=False)
    out = capsys.readouterr().out
    warnings = [ln for ln in out.splitlines() if "warning" in ln and "step-000000008.pt" in ln]
    assert len(warnings) == 1, out
    assert f"resumed {run_copy} at step 6 from step-000000006.pt" in out
    assert result.step == 10 and _latest_step(run_copy) == 10
    assert _stats_steps(run_copy) == [2, 4, 6, 8, 10]  # the records after step 6 were redone once


def test_resume_with_every_checkpoint_damaged_fails_in_one_line(run_copy, capsys):
    for _, path in checkpoint.list_checkpoints(run_copy / "checkpoints"):
        _flip_one_bit(path)
    assert cli.main(["resume", str(run_copy), "--quiet"]) == 2
    assert "no intact checkpoint" in _one_error_line(capsys.readouterr().err)


def test_rotation_keeps_the_newest_and_their_sidecars_only(trained_run, tmp_path):
    assert sorted(p.name for p in (trained_run / "checkpoints").iterdir()) == [
        f"step-{s:09d}.pt{ext}" for s in (4, 6, 8) for ext in ("", ".sha256")]
    _fabricate(tmp_path, steps=(1, 2, 3, 4, 5))
    (tmp_path / "step-000000009.pt.sha256").write_text("orphan\n")  # its checkpoint was deleted
    (tmp_path / "notes.txt").write_text("mine")
    checkpoint.rotate(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.txt", "step-000000004.pt", "step-000000004.pt.sha256",
        "step-000000005.pt", "step-000000005.pt.sha256"]


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_leftover_temp_file_is_never_a_checkpoint_and_is_cleaned_under_the_lock(tmp_path):
    run = tmp_path / "run"
    folder = run / "checkpoints"
    _fabricate(folder, steps=(2, 4))
    # a complete, valid, newer checkpoint that a killed writer never renamed into place
    _fabricate(tmp_path, steps=(9,))
    dead = fileio.temp_path_for(folder / checkpoint.checkpoint_name(9), pid=_dead_pid())
    shutil.copy(tmp_path / checkpoint.checkpoint_name(9), dead)
    assert [s for s, _ in checkpoint.list_checkpoints(folder)] == [4, 2]
    assert checkpoint.load_latest(folder)[0]["step"] == 4

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = fileio.temp_path_for(folder / checkpoint.checkpoint_name(10), pid=sleeper.pid)
        live.write_bytes(b"being written")
        stale_grid = fileio.temp_path_for(run / "progress" / "step-000000004.png", pid=_dead_pid())
        stale_grid.parent.mkdir()
        stale_grid.write_bytes(b"half a png")
        with RunLock(run):
            pass
        assert not dead.exists() and not stale_grid.exists()
        assert live.exists()  # its writer still runs: it may rename it any moment
    finally:
        sleeper.kill()
        sleeper.wait()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_damaged_checkpoint_bytes(tmp_path_factory, data):
    """Any damage: with a sidecar a CheckpointError; without, a dict or a CheckpointError."""
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / checkpoint.checkpoint_name(1)
    checkpoint.save_checkpoint({"step": 1, "w": torch.arange(50.0), "config": {"a": [1, 2]}}, path)
    original = path.read_bytes()
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(0, 4))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] ^= data.draw(st.integers(1, 255))
    damaged = damaged[: data.draw(st.integers(0, len(damaged)))]
    if bytes(damaged) == original:
        return
    path.write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError):
        checkpoint.load_checkpoint(path)
    path.with_name(path.name + ".sha256").unlink()
    try:
        checkpoint.load_checkpoint(path)
    except CheckpointError as exc:
        assert "\n" not in str(exc)


# ------------------------------------------------------------------ 3. safe loading


class _Payload:
    """Unpickling this runs a shell command: what a malicious checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def _evil_checkpoint(path: Path, marker: Path, zip_format: bool = True) -> Path:
    state = {"format": checkpoint.FORMAT, "version": 1, "step": 1, "config": {},
             "G": _Payload(marker)}
    if zip_format:
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state))
    # a matching checksum: the refusal must come from the loader, not from the sidecar
    path.with_name(path.name + ".sha256").write_text(checkpoint._sha256(path) + "\n")
    return path


@pytest.mark.parametrize("zip_format", [True, False], ids=["torch-zip", "raw-pickle"])
def test_pickle_payload_in_checkpoint_is_refused_and_never_runs(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    evil = _evil_checkpoint(tmp_path / "step-000000001.pt", marker, zip_format)
    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load_checkpoint(evil)
    with pytest.raises(CheckpointError, match="refused"):
        sampling.load_generator(evil)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(evil, run / "checkpoints" / evil.name)
    shutil.copy(evil.with_name(evil.name + ".sha256"), run / "checkpoints")
    with pytest.raises(CheckpointError, match="no intact checkpoint"):
        sampling.load_generator(run)
    assert not marker.exists()
    # the payload is live: an unsafe loader would have run it
    if zip_format:
        torch.load(evil, weights_only=False)
    else:
        pickle.loads(evil.read_bytes())
    assert marker.exists()


def test_cli_sample_refuses_pickle_payload_in_one_line(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = _evil_checkpoint(tmp_path / "model.pt", marker, zip_format=False)
    assert cli.main(["sample", str(evil), "--out", str(tmp_path / "s.npz")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "refused" in line and "weights_only" not in line  # no advice to load it unsafely
    assert not marker.exists() and not (tmp_path / "s.npz").exists()


def test_object_array_in_samples_npz_is_refused_and_never_runs(tmp_path, capsys):
    metrics = pytest.importorskip("minigan.metrics")
    marker = tmp_path / "pwned"
    evil = tmp_path / "samples.npz"
    np.savez(evil, images=np.array([_Payload(marker)], dtype=object))
    with pytest.raises(DataError, match="pickle"):
        metrics.load_samples_npz(evil)
    with pytest.raises(DataError, match="pickle"):
        metrics.evaluate_npz(evil)
    assert cli.main(["eval", str(evil), "--no-floor"]) == 2
    assert "pickle" in _one_error_line(capsys.readouterr().err)
    assert not marker.exists()
    np.load(evil, allow_pickle=True)["images"]  # the payload is live
    assert marker.exists()


# ------------------------------------------------------------------ 4. run-folder integrity


def test_locked_run_folder_refuses_a_second_writer_naming_the_holder(mnist_dir, tmp_path, capsys):
    run = tmp_path / "run"
    code = ("import sys, time; from minigan.run.lock import RunLock; "
            "held = RunLock(sys.argv[1]); held.acquire(); print('locked', flush=True); "
            "time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CheckpointError, match=f"in use by process {holder.pid}"):
            Trainer(_config(mnist_dir, steps=2), run, progress=False).fit()
        argv = ["train", "--preset", "minimal", "--steps", "2", "--data-dir", str(mnist_dir),
                "--out", str(run), "--quiet", "--no-tensorboard"]
        assert cli.main(argv) == 2
        assert f"in use by process {holder.pid}" in _one_error_line(capsys.readouterr().err)
        assert not (run / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(run):  # the OS released the dead holder's lock
        pass


def test_a_run_that_finished_first_is_not_overwritten_by_an_earlier_trainer(mnist_dir, tmp_path):
    run = tmp_path / "run"
    first = Trainer(_config(mnist_dir, steps=4), run, progress=False)
    second = Trainer(_config(mnist_dir, steps=4, seed=1), run, progress=False)
    first.fit()
    saved = checkpoint.load_latest(run / "checkpoints")[0]
    with pytest.raises(MiniganError, match="already holds a run"):
        second.fit()
    _assert_equal_tree(saved["G"], checkpoint.load_latest(run / "checkpoints")[0]["G"], "G")


@pytest.mark.parametrize("overrides, field", [
    (dict(lr_g=5e-4), "lr_g"), (dict(preset="mlp4"), "preset"), (dict(d_loss="hinge"), "d_loss"),
])
def test_resume_with_a_different_setup_is_refused(trained_run, overrides, field):
    before = sorted(p.name for p in trained_run.rglob("*"))
    with pytest.raises(CheckpointError, match=rf"{field}: .* --force"):
        minigan.resume(trained_run, progress=False, **overrides)
    assert sorted(p.name for p in trained_run.rglob("*")) == before


@pytest.mark.parametrize("overrides", [
    dict(z_dim=5), dict(g_hidden="32"), dict(d_dropout=0.3)])
def test_resume_with_different_networks_is_refused_even_with_force(trained_run, overrides):
    with pytest.raises(CheckpointError, match="even with --force"):
        minigan.resume(trained_run, force=True, progress=False, **overrides)


def test_cli_resume_refusals_are_one_line(trained_run, capsys):
    assert cli.main(["resume", str(trained_run), "--lr-d", "0.1", "--quiet"]) == 2
    assert "--force" in _one_error_line(capsys.readouterr().err)
    assert cli.main(["train", "--resume", str(trained_run), "--preset", "mlp4", "--quiet"]) == 2
    assert "preset: 'minimal' -> 'mlp4'" in _one_error_line(capsys.readouterr().err)


def test_resume_with_force_accepts_a_new_learning_rate(run_copy):
    result = minigan.resume(run_copy, force=True, steps=10, lr_g=5e-4, progress=False)
    assert result.step == 10
    assert json.loads((run_copy / "config.json").read_text())["lr_g"] == 5e-4


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_afresh(trained_run, run_copy):
    shutil.rmtree(run_copy / "checkpoints")
    (run_copy / "generator.safetensors").unlink()
    (run_copy / "stats.jsonl").write_text('{"step": 2}\n{"step": 4, "loss_d": 0.')  # cut mid-line
    result = minigan.resume(run_copy, progress=False)
    assert result.step == 8 and _stats_steps(run_copy) == [2, 4, 6, 8]
    _assert_equal_tree(load_file(trained_run / "generator.safetensors"),
                       load_file(run_copy / "generator.safetensors"), "generator")


# ------------------------------------------------------------------ 5. disk full


class _FullDisk:
    """A file whose writes fail with ENOSPC once `room` bytes are written (after writing them)."""

    def __init__(self, handle, room: int) -> None:
        self.handle, self.room = handle, room

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self.room:
            self.handle.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


def test_disk_full_while_checkpointing_keeps_the_previous_one_and_frees_the_run(
        mnist_dir, tmp_path, monkeypatch):
    opened = []

    def full_after_first_checkpoint(path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)
        if "w" in mode and Path(path).name.startswith(".step-"):
            opened.append(path)
            if len(opened) > 1:
                return _FullDisk(handle, room=1000)
        return handle

    monkeypatch.setattr(checkpoint, "open", full_after_first_checkpoint, raising=False)
    run = tmp_path / "run"
    with pytest.raises(CheckpointError, match="disk is full; the previous checkpoint is") as e:
        Trainer(_config(mnist_dir, steps=8), run, progress=False).fit()
    assert "\n" not in str(e.value) and checkpoint.checkpoint_name(4) in str(e.value)
    assert [s for s, _ in checkpoint.list_checkpoints(run / "checkpoints")] == [2]
    assert checkpoint.load_checkpoint(run / "checkpoints" / "step-000000002.pt")["step"] == 2
    assert _temp_files(run) == []
    with RunLock(run):  # the lock was released
        pass

    monkeypatch.undo()  # space freed: the run resumes and finishes
    result = minigan.resume(run, progress=False)
    assert result.step == 8 and _latest_step(run) == 8


def test_disk_full_while_writing_the_generator_is_one_line_and_resumable(
        mnist_dir, tmp_path, monkeypatch, capsys):
    real_write_bytes = Path.write_bytes

    def write_bytes(self, data):
        if not self.name.startswith(".generator.safetensors.tmp-"):
            return real_write_bytes(self, data)
        real_write_bytes(self, data[:100])  # what fitted before the disk filled up
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    run = tmp_path / "run"
    argv = ["train", "--preset", "minimal", "--steps", "4", "--checkpoint-every", "2",
            "--log-every", "2", "--data-dir", str(mnist_dir), "--out", str(run), "--quiet",
            "--no-tensorboard", "--device", "cpu"]
    assert cli.main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "No space left on device" in line and f"minigan resume {run}" in line
    assert _temp_files(run) == [] and not (run / "generator.safetensors").exists()
    assert checkpoint.load_checkpoint(run / "checkpoints" / "step-000000002.pt")["step"] == 2
    monkeypatch.undo()
    assert cli.main(["resume", str(run), "--quiet"]) == 0
    assert minigan.load_generator(run).step == 4
