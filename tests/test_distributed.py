"""One loop on one or many processes: torchrun jobs of 2 CPU processes (gloo, 127.0.0.1) against
one-process runs of the same config, a killed rank, resumes across world sizes, rank 0 as the one
writer; and, in-process, the pieces: batch and noise shards, seeds, devices for sweeps, the spread
evaluation, and the GPU path's switches (bf16 autocast, torch.compile, TF32) on CPU.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from minigan import cli
from minigan.data.batches import DeviceBatches
from minigan.errors import ConfigError
from minigan.models import build_discriminator, build_generator
from minigan.presets import get_config
from minigan.run import checkpoint
from minigan.sampling import TrainedGenerator
from minigan.training import Trainer, parallel, reporting, state, wrappers

REPO = Path(__file__).resolve().parents[1]
# minimal has neither batchnorm nor dropout: 2 processes at batch 16 must end where 1 process ends.
MINIMAL = ["--preset", "minimal", "--batch-size", "16", "--log-every", "4", "--checkpoint-every", "8",
           "--sample-every", "8", "--grid-size", "2", "--threads", "1", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(mnist_dir) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "MINIGAN_DATA_DIR": str(mnist_dir),
            "OMP_NUM_THREADS": "1"}


def _torchrun_command(nproc: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--nnodes", "1",
            "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), *args]


def _torchrun(mnist_dir, nproc: int, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    done = subprocess.run(_torchrun_command(nproc, *args), capture_output=True, text=True,
                          env=_env(mnist_dir), timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _job(mnist_dir, dump: Path, *minigan_args: str) -> dict:
    """A 2-process job of the real CLI; returns each rank's final networks (tests/dist_worker.py)."""
    dump.mkdir(parents=True, exist_ok=True)
    _torchrun(mnist_dir, 2, str(REPO / "tests" / "dist_worker.py"), str(dump), *minigan_args)
    return {r: torch.load(dump / f"rank{r}.pt", weights_only=True) for r in (0, 1)}


@pytest.fixture(scope="module")
def in_process(mnist_dir):
    """Run the CLI in this process (it sets 1 thread, as the jobs' processes have); threads restored."""
    threads = torch.get_num_threads()
    os.environ["MINIGAN_DATA_DIR"] = str(mnist_dir)

    def run(*args: str) -> None:
        assert cli.main(list(args)) == 0

    yield run
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, in_process):
    out = tmp_path_factory.mktemp("one") / "run"
    in_process("train", *MINIMAL, "--steps", "16", "--out", str(out))
    return out


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, mnist_dir):
    root = tmp_path_factory.mktemp("two")
    ranks = _job(mnist_dir, root / "dump", "train", *MINIMAL, "--steps", "16", "--out", str(root / "run"))
    return root / "run", ranks


def _state(run: Path, step: int) -> dict:
    return checkpoint.load_checkpoint(run / "checkpoints" / checkpoint.checkpoint_name(step))


def _assert_same_training(a: dict, b: dict, tol: float) -> None:
    """Weights and Adam moments within float tolerance; data position and noise stream exactly."""
    for net in ("G", "D"):
        for key, value in a[net].items():
            torch.testing.assert_close(b[net][key], value, rtol=tol, atol=tol, msg=f"{net}.{key}")
    for opt in ("opt_G", "opt_D"):
        for index, moments in a[opt]["state"].items():
            for name in ("exp_avg", "exp_avg_sq"):
                torch.testing.assert_close(b[opt]["state"][index][name], moments[name], rtol=tol, atol=tol)
    assert (a["step"], a["batches_seen"]) == (b["step"], b["batches_seen"])
    assert torch.equal(a["rng_noise"], b["rng_noise"])


def _records(run: Path, name: str) -> list[dict]:
    path = run / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def _files(run: Path) -> set[str]:
    return {str(p.relative_to(run)) for p in run.rglob("*")}


# ------------------------------------------------------------------ jobs of two processes


@pytest.mark.slow
def test_two_processes_end_where_one_process_ends(one_process, two_processes):
    two, ranks = two_processes
    for step in (8, 16):
        _assert_same_training(_state(one_process, step), _state(two, step), tol=1e-5)
    # the ranks hold one model: DDP's averaged gradients are bit-identical on both
    for net in ("G", "D"):
        for key, value in ranks[0][net].items():
            torch.testing.assert_close(ranks[1][net][key], value, rtol=0, atol=0, msg=f"{net}.{key}")
    one_stats, two_stats = ([json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
                            for run in (one_process, two))
    assert [r["step"] for r in two_stats] == [4, 8, 12, 16]
    for a, b in zip(one_stats, two_stats, strict=True):  # logged over the whole batch, not rank 0's half
        for key in ("loss_d", "loss_g", "d_real", "d_fake"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key


@pytest.mark.slow
def test_only_rank_zero_writes_and_writes_what_one_process_writes(one_process, two_processes):
    two, _ = two_processes
    assert _files(two) == _files(one_process)
    assert "checkpoints/step-000000016.pt" in _files(two) and "progress/step-000000008.png" in _files(two)
    config_one, config_two = (json.loads((run / "config.json").read_text()) for run in (one_process, two))
    assert config_one == config_two
    assert _records(one_process, "events.jsonl") == _records(two, "events.jsonl")
    assert (two / ".lock").read_text().strip().isdigit()  # held by one process: rank 0


@pytest.mark.slow
def test_lazy_r1_on_two_processes_ends_where_one_process_ends(tmp_path, mnist_dir, in_process):
    # R1 leaves D's output bias without a gradient: the reg phase bypasses DDP and averages by hand
    r1 = ["--r1-gamma", "1", "--reg-interval", "4", "--steps", "8"]
    one = tmp_path / "one"
    in_process("train", *MINIMAL, *r1, "--out", str(one))
    ranks = _job(mnist_dir, tmp_path / "dump", "train", *MINIMAL, *r1, "--out", str(tmp_path / "two"))
    one_state, two_state = _state(one, 8), _state(tmp_path / "two", 8)
    _assert_same_training(one_state, two_state, tol=1e-5)
    penalties = [[r["loss_penalty"] for r in _records(run, "stats.jsonl")] for run in (one, tmp_path / "two")]
    assert len(penalties[0]) == 2 and min(penalties[0]) > 0  # R1 ran, at steps 0 and 4
    np.testing.assert_allclose(penalties[1], penalties[0], rtol=1e-4)  # over the whole batch, not a half
    for key, value in ranks[0]["D"].items():
        torch.testing.assert_close(ranks[1]["D"][key], value, rtol=0, atol=0, msg=f"D.{key}")


@pytest.mark.slow
def test_summed_losses_give_the_one_process_gradient_on_two_processes(tmp_path, mnist_dir, in_process):
    """`--loss-reduction sum` once scaled by each rank's half batch: two ranks took half the step.
    Adam hides a gradient's scale except through epsilon, so a large epsilon shows it."""
    summed = ["--loss-reduction", "sum", "--adam-eps", "1", "--adam-eps-style", "torch", "--steps", "8"]
    one = tmp_path / "one"
    in_process("train", *MINIMAL, *summed, "--out", str(one))
    _torchrun(mnist_dir, 2, "-m", "minigan", "train", *MINIMAL, *summed, "--out", str(tmp_path / "two"))
    _assert_same_training(_state(one, 8), _state(tmp_path / "two", 8), tol=1e-5)


@pytest.mark.slow
def test_the_class_head_on_two_processes_ends_where_one_process_ends(tmp_path, mnist_dir, in_process):
    """The class head's parameters take gradients only through D's main phase (DDP averages them);
    each rank's cross-entropy is a mean over its half batch, as the GAN loss is."""
    head = ["--conditional", "--aux-class-weight", "1", "--steps", "8"]
    one = tmp_path / "one"
    in_process("train", *MINIMAL, *head, "--out", str(one))
    _torchrun(mnist_dir, 2, "-m", "minigan", "train", *MINIMAL, *head, "--out", str(tmp_path / "two"))
    one_state, two_state = _state(one, 8), _state(tmp_path / "two", 8)
    assert "classifier.weight" in one_state["D"]
    _assert_same_training(one_state, two_state, tol=1e-5)


@pytest.mark.slow
def test_a_short_last_batch_is_split_over_two_processes(tmp_path, mnist_dir):
    """mlp4 keeps an epoch's short last batch; 96 images at batch 64 end each epoch on 32, which
    once left rank 1 no rows: the mean of nothing is NaN, and the run died as 'diverged'."""
    run = tmp_path / "run"
    _torchrun(mnist_dir, 2, "-m", "minigan", "train", "--preset", "mlp4", "--train-holdout", "59904",
              "--steps", "6", "--log-every", "2", "--device", "cpu", "--threads", "1", "--quiet",
              "--out", str(run))
    records = _records(run, "stats.jsonl")
    assert [r["step"] for r in records] == [2, 4, 6] and all(r["epoch"] >= 0 for r in records)
    assert _state(run, 6)["batches_seen"] == 6  # three epochs of (64, 32)


@pytest.mark.slow
def test_a_batchnorm_preset_trains_on_two_processes(tmp_path, mnist_dir):
    run = tmp_path / "run"
    ranks = _job(mnist_dir, tmp_path / "dump", "train", "--preset", "fast", "--batch-size", "16",
                 "--steps", "30", "--log-every", "10", "--checkpoint-every", "30", "--sample-every", "1000",
                 "--grid-size", "2", "--eval-every", "30", "--eval-num", "100", "--threads", "1", "--quiet",
                 "--out", str(run))
    for part in ("G", "D", "G_ema"):  # weights agree; so does the EMA, batchnorm statistics included
        for key, value in ranks[0][part].items():
            if part == "G" and "running" in key:
                continue
            torch.testing.assert_close(ranks[1][part][key], value, rtol=0, atol=0, msg=f"{part}.{key}")
    # G's own batchnorm statistics are each rank's (buffers are not re-broadcast): they differ
    running = [k for k in ranks[0]["G"] if k.endswith("running_mean")]
    assert running and any(not torch.equal(ranks[0]["G"][k], ranks[1]["G"][k]) for k in running)
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in stats] == [10, 20, 30]
    assert all(np.isfinite([r["loss_d"], r["loss_g"]]).all() for r in stats)
    assert stats[-1]["d_real"] > stats[-1]["d_fake"] + 0.2  # D learned to tell digits from G's samples
    (record,) = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert record["step"] == 30 and record["num"] == 100 and 0 < record["fid"] < 1e4
    best = checkpoint.load_checkpoint(run / "checkpoints" / "best.pt")
    assert json.loads(best["metrics"])["fid"] == record["fid"] and len(best["rng_ranks"]) == 1


@pytest.mark.slow
@pytest.mark.parametrize("on_nan", ["abort", "rollback"])
def test_a_nan_one_rank_sees_is_handled_by_every_rank_alike(tmp_path, mnist_dir, on_nan):
    run, dump = tmp_path / "run", tmp_path / "dump"
    dump.mkdir()
    command = _torchrun_command(2, str(REPO / "tests" / "dist_worker.py"), str(dump), "train", *MINIMAL,
                                "--steps", "12", "--checkpoint-every", "4", "--on-nan", on_nan,
                                "--out", str(run))
    done = subprocess.run(command, capture_output=True, text=True, timeout=240,
                          env={**_env(mnist_dir), "DIST_WORKER_NAN": "1:6"})  # rank 1, step 6: logged at 8
    errors = [x for x in done.stderr.splitlines() if x.startswith("minigan: error:")]
    if on_nan == "abort":  # both ranks stop at the same step with the same line
        assert done.returncode != 0
        assert len(errors) == 2 and errors[0] == errors[1], errors
        assert errors[0].startswith("minigan: error: training diverged at step 8: a loss or weight became")
        assert checkpoint.load_latest(run / "checkpoints")[0]["step"] == 4
        return
    assert done.returncode == 0 and errors == [], done.stderr[-3000:]
    (rollback,) = [e for e in _records(run, "events.jsonl") if e["event"] == "rollback"]
    assert rollback["step"] == 4 and "rolled back to step-000000004.pt" in rollback["message"]
    final = _state(run, 12)
    assert final["lr_scale"] == 0.5 and final["rollbacks"] == 1
    ranks = {r: torch.load(dump / f"rank{r}.pt", weights_only=True) for r in (0, 1)}
    for net in ("G", "D"):  # both rolled back to the same checkpoint and trained on together
        for key, value in ranks[0][net].items():
            torch.testing.assert_close(ranks[1][net][key], value, rtol=0, atol=0, msg=f"{net}.{key}")
            torch.testing.assert_close(final[net][key], value, rtol=0, atol=0)


@pytest.mark.slow
def test_the_cuda_switches_train_under_ddp(tmp_path, mnist_dir):
    """bf16 autocast and torch.compile around DDP-wrapped G and D: the CUDA path's code, on CPU."""
    dump, run = tmp_path / "dump", tmp_path / "run"
    dump.mkdir()
    command = _torchrun_command(2, str(REPO / "tests" / "dist_worker.py"), str(dump), "train", *MINIMAL,
                                "--steps", "8", "--precision", "bf16", "--compile", "--out", str(run))
    done = subprocess.run(command, capture_output=True, text=True, timeout=240,
                          env={**_env(mnist_dir), "DIST_WORKER_CPU_SWITCHES": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = {r: torch.load(dump / f"rank{r}.pt", weights_only=True) for r in (0, 1)}
    G_train, D_train, D_frozen = ranks[0]["wrappers"]
    # compiled after DDP wrapping: DDPOptimizer splits the graphs at the buckets (overlapped all-reduces)
    assert G_train == ["Autocast", "OptimizedModule", "DistributedDataParallel", "MLPGenerator"]
    assert D_train == ["Autocast", "OptimizedModule", "DistributedDataParallel", "MLPDiscriminator"]
    assert D_frozen == ["Autocast", "OptimizedModule", "MLPDiscriminator"]  # G's phase: no DDP
    for net in ("G", "D"):
        for key, value in ranks[0][net].items():
            torch.testing.assert_close(ranks[1][net][key], value, rtol=0, atol=0, msg=f"{net}.{key}")
    state = _state(run, 8)
    assert set(state["G"]) == set(ranks[0]["G"])  # plain keys: no `module.` or `_orig_mod.` prefix
    stats = _records(run, "stats.jsonl")
    assert [r["step"] for r in stats] == [4, 8] and all(np.isfinite(r["loss_d"]) for r in stats)


def _worker_pid(agent: int, rank: int) -> int | None:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            environ = (stat.parent / "environ").read_bytes().split(b"\0") if ppid == agent else []
            if f"RANK={rank}".encode() in environ:
                return int(stat.parent.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


@pytest.mark.slow
def test_a_killed_rank_stops_the_job_and_resume_completes_it(tmp_path, mnist_dir, in_process):
    run = tmp_path / "run"
    args = ["--preset", "minimal", "--steps", "1500", "--log-every", "50", "--checkpoint-every", "100",
            "--threads", "1", "--quiet", "--out", str(run)]
    job = subprocess.Popen(_torchrun_command(2, "-m", "minigan", "train", *args), env=_env(mnist_dir),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "step-000000200.pt.sha256").is_file():
            assert job.poll() is None and time.monotonic() < deadline, "the job ended before step 200"
            time.sleep(0.2)
        victim = _worker_pid(job.pid, rank=1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        _, stderr = job.communicate(timeout=90)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    # torchrun's own log lines may share the line the error is written on
    line = next((x for x in stderr.splitlines() if "minigan: error:" in x), None)
    assert line is not None, f"no one-line error; stderr ended with:\n{stderr[-3000:]}"
    assert "rank 0 of 2 lost contact with the other processes at step" in line
    assert f"resume with `minigan resume {run}`" in line
    state, _ = checkpoint.load_latest(run / "checkpoints")  # intact, written before the kill
    assert 200 <= state["step"] < 1500
    in_process("resume", str(run), "--quiet")  # on one process
    assert checkpoint.load_latest(run / "checkpoints")[0]["step"] == 1500
    steps = [json.loads(x)["step"] for x in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == list(range(50, 1501, 50))


@pytest.mark.slow
def test_a_two_process_run_resumes_on_one_process(tmp_path, one_process, two_processes, in_process):
    run = tmp_path / "run"
    shutil.copytree(two_processes[0], run)  # as if the job had died after its step-8 checkpoint
    checkpoint.remove(run / "checkpoints" / "step-000000016.pt")
    in_process("resume", str(run), "--quiet")
    _assert_same_training(_state(one_process, 16), _state(run, 16), tol=1e-5)


@pytest.mark.slow
def test_a_one_process_run_resumes_on_two_processes(tmp_path, mnist_dir, one_process, in_process):
    run = tmp_path / "run"
    in_process("train", *MINIMAL, "--steps", "8", "--out", str(run))
    _torchrun(mnist_dir, 2, "-m", "minigan", "resume", str(run), "--steps", "16", "--quiet")
    resumed = _state(run, 16)
    _assert_same_training(_state(one_process, 16), resumed, tol=1e-5)
    assert len(resumed["rng_ranks"]) == 1  # rank 1's own streams, for the next resume on 2


@pytest.mark.slow
def test_the_gpu_benchmark_runs_on_cpu_over_gloo(tmp_path, mnist_dir):
    """Timed by steps after the warm-up; a failing run is a row with its error and the sweep goes on."""
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--presets",
                           "nonesuch,minimal", "--procs", "1,2", "--steps", "20", "--warmup-steps", "10",
                           "--log-every", "10", "--sync-check", "--json", str(out)],
                          capture_output=True, text=True, env=_env(mnist_dir), timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    failed, _, one, two = report["throughput"]
    assert failed == {"preset": "nonesuch", "variant": "fp32", "processes": 1,
                      "error": "KeyError: 'nonesuch'"}
    assert (one["processes"], two["processes"]) == (1, 2) and one["batch_size"] == two["batch_size"] == 16
    assert one["windows"] == two["windows"] == 2 and one["steps"] == two["steps"] == 20  # after step 10
    assert one["img_per_s"] > 0 and two["img_per_s"] > 0
    assert two["speedup"] == pytest.approx(two["img_per_s"] / one["img_per_s"])
    assert two["efficiency"] == pytest.approx(two["speedup"] / 2) and one["speedup"] == 1.0
    assert report["sync"][1] == {"preset": "minimal", "device": "cpu (stand-in)", "steps": 20,
                                 "host_syncs": 0, "per_step": [0] * 20, "first": []}
    table = done.stdout.splitlines()
    assert table[0].startswith("| preset | variant | processes | global batch | img/s")
    assert table[2] == "| nonesuch | fp32 | 1 |  | failed: KeyError: 'nonesuch' | | | |"
    assert table[5].startswith(f"| minimal | fp32 | 2 | 16 | {two['img_per_s']:,.0f} |")


@pytest.mark.slow
def test_a_two_process_run_with_dropout_resumes_bit_exactly_on_two_processes(tmp_path, mnist_dir):
    """mlp4's dropout draws from each rank's own stream: rank 1's must come back from the checkpoint."""
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    args = ["--preset", "mlp4", "--batch-size", "16", "--steps", "12", "--log-every", "4",
            "--checkpoint-every", "8", "--sample-every", "1000", "--grid-size", "2", "--threads", "1",
            "--quiet"]
    _torchrun(mnist_dir, 2, "-m", "minigan", "train", *args, "--out", str(whole))
    shutil.copytree(whole, resumed)  # as if the job had died after its step-8 checkpoint
    checkpoint.remove(resumed / "checkpoints" / "step-000000012.pt")
    _torchrun(mnist_dir, 2, "-m", "minigan", "resume", str(resumed), "--quiet")
    a, b = _state(whole, 12), _state(resumed, 12)
    _assert_same_training(a, b, tol=0)
    assert torch.equal(a["rng_cpu"], b["rng_cpu"])
    assert torch.equal(a["rng_ranks"][0]["cpu"], b["rng_ranks"][0]["cpu"])
    assert not torch.equal(a["rng_cpu"], a["rng_ranks"][0]["cpu"])  # the ranks' own streams differ


# ------------------------------------------------------------------ the pieces, in this process


def test_the_ranks_shares_of_a_batch_and_its_noise_make_the_one_process_batch():
    images = torch.randint(0, 256, (100, 28, 28), dtype=torch.uint8)
    labels = torch.arange(100) % 10
    config = get_config("fast-cond", batch_size=12, seed=3)
    whole = DeviceBatches(images, labels, config, torch.device("cpu"))
    shards = [DeviceBatches(images, labels, config, torch.device("cpu"), r, 3) for r in range(3)]
    for index in (0, 7, 8, 9):  # 8 batches per epoch: the last two come from epoch 1's permutation
        real, y = whole.get(index)
        parts = [s.get(index) for s in shards]
        assert all(len(p[0]) == 4 for p in parts)
        torch.testing.assert_close(torch.cat([p[0] for p in parts]), real, rtol=0, atol=0)
        torch.testing.assert_close(torch.cat([p[1] for p in parts]), y, rtol=0, atol=0)
        torch.testing.assert_close(torch.cat([s.noise() for s in shards]), whole.noise(), rtol=0, atol=0)
    assert not torch.equal(shards[0].get(0)[0], shards[1].get(0)[0])


def test_a_short_batch_is_shared_as_evenly_as_it_goes():
    images = torch.randint(0, 256, (100, 28, 28), dtype=torch.uint8)
    config = get_config("mlp4", batch_size=63)  # shuffle_keep_last: batches of 63 and 37
    whole = DeviceBatches(images, None, config, torch.device("cpu"))
    shards = [DeviceBatches(images, None, config, torch.device("cpu"), r, 3) for r in range(3)]
    for index, sizes in ((0, [21, 21, 21]), (1, [13, 12, 12]), (3, [13, 12, 12])):
        parts = [s.get(index)[0] for s in shards]
        assert [len(p) for p in parts] == sizes
        torch.testing.assert_close(torch.cat(parts), whole.get(index)[0], rtol=0, atol=0)


def test_a_global_batch_that_does_not_split_is_refused():
    config = get_config("minimal", batch_size=15, train_holdout=0)
    with pytest.raises(ConfigError, match="batch_size 15 .* does not split evenly over 2 processes; use a "
                                          "multiple of 2"):
        DeviceBatches(torch.zeros(100, 28, 28, dtype=torch.uint8), None, config, torch.device("cpu"), 1, 2)


def test_rank_seeds_are_the_run_seed_on_rank_zero_and_distinct_elsewhere():
    assert state.rank_seed(7, 0) == 7
    seeds = {state.rank_seed(7, r) for r in range(1, 64)} | {state.rank_seed(8, 1)}
    assert len(seeds) == 64 and all(0 <= s < 2**32 for s in seeds)
    assert state.rank_seed(7, 1, step=100) != state.rank_seed(7, 1)
    assert state.rank_seed(7, 3) == state.rank_seed(7, 3)


def test_one_process_helpers_give_the_one_process_answers():
    assert not parallel.launched() and parallel.world_size() == 1 and parallel.is_main()
    t = torch.tensor([1.0, 2.0])
    assert parallel.mean(t) is t and parallel.average_(t) is t
    assert parallel.any_rank(True) and not parallel.any_rank(False)
    assert parallel.all_ranks(True) and not parallel.all_ranks(False)
    assert parallel.broadcast({"a": 1}) == {"a": 1} and parallel.all_gather(3) == [3]
    module = torch.nn.Linear(2, 2)
    assert wrappers.ddp(module, torch.device("cpu")) is module and not parallel.active()
    assert parallel.setup(torch.device("cpu")) == torch.device("cpu")
    parallel.check_agree(5, "anything")  # one rank always agrees
    with parallel.fail_together():  # not a job: errors pass through untouched
        pass
    with pytest.raises(RuntimeError, match="Connection closed by peer"), parallel.fail_together():
        raise RuntimeError("Connection closed by peer")


def test_at_exit_the_ranks_meet_before_the_group_is_destroyed_even_when_a_peer_is_gone(monkeypatch):
    calls = []

    def barrier(group=None, timeout=None):
        calls.append(("barrier", group, timeout.total_seconds()))
        if len(calls) > 2:
            raise RuntimeError("Connection closed by peer [127.0.0.1]:8069")

    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "monitored_barrier", barrier)
    monkeypatch.setattr(torch.distributed, "destroy_process_group", lambda: calls.append(("destroy",)))
    monkeypatch.setattr(parallel, "_exit_group", None)  # a CPU job: its default group is gloo
    parallel._shutdown()
    assert calls == [("barrier", None, parallel.EXIT_WAIT_S), ("destroy",)]
    parallel._shutdown()  # the barrier fails (a peer died): the group is destroyed all the same
    assert calls[2:] == [("barrier", None, parallel.EXIT_WAIT_S), ("destroy",)]
    monkeypatch.setattr(parallel, "_exit_group", "gloo group")  # "cpu:gloo,cuda:nccl": its own gloo group
    parallel._shutdown()
    assert calls[4:] == [("barrier", "gloo group", parallel.EXIT_WAIT_S), ("destroy",)]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_cuda_job_makes_a_gloo_group_to_meet_in_at_exit(device, monkeypatch):
    """monitored_barrier is gloo's alone: under "cpu:gloo,cuda:nccl" the ranks meet in a gloo group."""
    made = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend, **kw: made.append(backend))
    monkeypatch.setattr(torch.distributed, "new_group", lambda backend: made.append(backend) or "gloo group")
    monkeypatch.setattr(parallel.atexit, "register", lambda function: made.append(function.__name__))
    monkeypatch.setattr(parallel, "_exit_group", None)
    assert parallel.setup(torch.device(device)).type == device
    if device == "cuda":
        assert made == ["cpu:gloo,cuda:nccl", "gloo", "_shutdown"] and parallel._exit_group == "gloo group"
    else:
        assert made == ["gloo", "_shutdown"] and parallel._exit_group is None


def test_lost_peers_are_recognised_by_their_errors():
    gloo = RuntimeError("[/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection closed by "
                        "peer [127.0.0.1]:8069. This is typically caused by a remote worker crashing.")
    assert parallel.is_lost_peer(gloo)
    assert parallel.short_cause(gloo) == "Connection closed by peer [127.0.0.1]:8069"
    assert parallel.is_lost_peer(torch.distributed.DistBackendError("NCCL error"))
    assert not parallel.is_lost_peer(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


@pytest.mark.parametrize("preset", ["fast", "fast-cond"])
def test_the_spread_evaluation_renders_the_samples_of_one_process(preset):
    config = get_config(preset)
    torch.manual_seed(0)
    generator = TrainedGenerator(config, build_generator(config).state_dict())
    images, labels = generator.sample(101, seed=5)
    parts = [reporting.sample_share(generator, 101, 5, r, 3, batch_size=16) for r in range(3)]
    assert [len(p[0]) for p in parts] == [34, 34, 33]
    spread = np.concatenate([p[0] for p in parts]).astype(int)
    # different batch sizes may round a pixel differently: at most one level, rarely
    assert np.abs(spread - images).max() <= 1 and (spread != images).mean() < 1e-3
    if labels is None:
        assert all(p[1] is None for p in parts)
    else:
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), labels)
    assert reporting.sample_share(generator, 2, 5, 2, 3)[0].shape == (0, 28, 28)


def test_compile_and_emulated_bf16_are_refused_on_cpu_in_one_line(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(wrappers, "native_cpu_bf16", lambda: False)
    for overrides, match in (({"compile": True}, "--compile pays only on CUDA"),
                             ({"precision": "bf16"}, "--precision bf16 needs CUDA or a CPU with native")):
        config = get_config("minimal", data_dir=str(mnist_dir), device="cpu", **overrides)
        with pytest.raises(ConfigError, match=match) as caught:
            Trainer(config, tmp_path / "run", progress=False)
        assert "\n" not in str(caught.value)
    assert cli.main(["train", "--preset", "minimal", "--compile", "--device", "cpu", "--data-dir",
                     str(mnist_dir), "--out", str(tmp_path / "cli")]) == 2


def test_bf16_trains_on_a_cpu_with_native_bf16(mnist_dir, tmp_path, monkeypatch):
    """Where the CPU computes bfloat16 itself (AMX, AVX512-BF16) the forward passes run under autocast:
    fast's G and D pass in about 0.56x fp32's time on such a CPU (benchmarks/README.md)."""
    monkeypatch.setattr(wrappers, "native_cpu_bf16", lambda: True)
    config = get_config("fast", data_dir=str(mnist_dir), device="cpu", precision="bf16", batch_size=8,
                        clusters=0, steps=2, log_every=1, checkpoint_every=2, sample_every=2, grid_size=2,
                        tensorboard=False)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    assert all(isinstance(f, wrappers.Autocast) for f in (trainer.G_train, trainer.D_train, trainer.D_frozen))
    assert trainer.fit().step == 2
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in trainer.G.parameters())


@pytest.mark.parametrize("native", [True, False])
def test_precision_auto_takes_bf16_where_the_cpu_has_it_and_records_the_choice(native, mnist_dir, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(wrappers, "native_cpu_bf16", lambda: native)
    config = get_config("minimal", data_dir=str(mnist_dir), device="cpu", precision="auto", steps=1,
                        checkpoint_every=1, sample_every=1, grid_size=2, tensorboard=False)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    assert trainer.config.precision == ("bf16" if native else "fp32")
    assert isinstance(trainer.G_train, wrappers.Autocast) == native
    trainer.fit()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["precision"] == trainer.config.precision


def test_the_cuda_switches_build_the_same_networks_on_cpu():
    """bf16 autocast and torch.compile take the CUDA path's code here (device type aside)."""
    config = get_config("fast-cond", clusters=0)
    torch.manual_seed(0)
    G, D = build_generator(config), build_discriminator(config)
    z, y = torch.randn(8, config.z_dim), torch.nn.functional.one_hot(torch.arange(8) % 10, 10).float()
    with torch.no_grad():
        plain_fake, plain_logits = G(z, y), D(G(z, y), y)
    for overrides in ({"precision": "bf16"}, {"compile": True}, {"precision": "bf16", "compile": True}):
        variant = get_config("fast-cond", clusters=0, **overrides)
        G_train, D_train, D_frozen = wrappers.build(G, D, variant, torch.device("cpu"),
                                                    compile_backend="eager")
        with torch.no_grad():
            fake = G_train(z, y)
            logits, frozen = D_train(fake, y), D_frozen(fake, y)
        assert fake.dtype == logits.dtype == torch.float32
        # fp32 through a compiled graph may take other oneDNN conv kernels (other summation orders):
        # CI once saw 5e-5; a wrong network is off by orders of magnitude more.
        tol = 0.05 if variant.precision == "bf16" else 2e-4
        torch.testing.assert_close(fake, plain_fake, rtol=tol, atol=tol)
        torch.testing.assert_close(logits, plain_logits, rtol=tol, atol=tol)
        torch.testing.assert_close(frozen, logits, rtol=0, atol=0)
    G_train, D_train, D_frozen = wrappers.build(G, D, config, torch.device("cpu"))
    assert G_train is G and D_train is D and D_frozen is D  # one process, defaults: the networks


def test_tf32_is_switched_on_for_cuda_only():
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision
    try:
        matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision = "ieee"
        wrappers.choose_kernels(torch.device("cpu"))
        assert matmul.fp32_precision == "ieee"
        wrappers.choose_kernels(torch.device("cuda", 0))  # sets flags only: no GPU needed
        assert matmul.fp32_precision == torch.backends.cudnn.conv.fp32_precision == "tf32"
    finally:
        matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = before


def _host_reads(monkeypatch, run) -> list[str]:
    """The tensor-to-Python reads (each a device sync on CUDA) made while `run()` runs."""
    reads = []
    for name in ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__"):
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _name=name, _original=original):
            reads.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, name, spy)
    try:
        run()
    finally:
        monkeypatch.undo()
    return reads


def test_a_training_step_reads_nothing_back_from_the_device(mnist_dir, tmp_path, monkeypatch):
    """The CPU stand-in for 'no per-step host sync on CUDA': no tensor value reaches Python in a step
    (balance off), so a GPU stream never waits for the host between log intervals."""
    for balance, expected in ((False, []), (True, ["__float__"] * 3)):  # balance: D's error, once a step
        config = get_config("fast-cond", data_dir=str(mnist_dir), batch_size=8, balance=balance,
                            log_every=1000, sample_every=1000, tensorboard=False, grid_size=2)
        trainer = Trainer(config, tmp_path / f"run-{balance}", progress=False)
        trainer.reporter = reporting.SilentReporter()  # balance switches are reported as events
        trainer.train_step()  # the first step builds lazy state (Adam's, the epoch's permutation)
        assert _host_reads(monkeypatch, lambda t=trainer: [t.train_step() for _ in range(3)]) == expected


@pytest.mark.parametrize("preset", ["minimal", "vanilla"])
def test_tf_adams_epsilon_reads_nothing_back_either(mnist_dir, tmp_path, monkeypatch, preset):
    """The write-ups' TF epsilon once read fused Adam's step counter (a device tensor) every step;
    the steps are counted in Python now (training/fidelity.py: OptimiserStep)."""
    config = get_config(preset, data_dir=str(mnist_dir), log_every=1000, sample_every=1000,
                        tensorboard=False, grid_size=2)
    assert config.adam_eps_style == "tf"
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.train_step()
    assert _host_reads(monkeypatch, lambda: [trainer.train_step() for _ in range(3)]) == []
    first_weight = trainer.opt_D.param_groups[0]["params"][0]
    assert trainer.iteration.step_D.taken == int(trainer.opt_D.state[first_weight]["step"]) == 4
