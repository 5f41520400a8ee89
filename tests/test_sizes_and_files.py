"""Sizes no machine could hold and damaged weight files: one line each, never an allocator or
parser traceback. Generator files carry a checksum of their tensors and refuse NaN weights."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from run_files import error_line
from safetensors.torch import load_file, save, save_file

from minigan.config import limits
from minigan.errors import CheckpointError, ConfigError
from minigan.models import build_generator
from minigan.models.registry import parameter_signature
from minigan.presets import get_config
from minigan.sampling import load_generator, save_generator

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generator_file(tmp_path_factory) -> Path:
    config = get_config("minimal")
    path = tmp_path_factory.mktemp("gen") / "generator.safetensors"
    save_generator(build_generator(config), config, 7, path)
    return path


def _rewrite(source: Path, target: Path, tensors=None, **metadata_changes) -> Path:
    """A copy of a generator file with its metadata changed (None deletes a key)."""
    from safetensors import safe_open

    with safe_open(str(source), "pt") as handle:
        metadata = dict(handle.metadata())
    for key, value in metadata_changes.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    target.write_bytes(save(tensors if tensors is not None else load_file(source), metadata=metadata))
    return target


# ------------------------------------------------------------------ sizes


@pytest.mark.parametrize("flags, words", [
    (["--grid-size", "100000"], "--grid-size 100000 is above the limit 100"),
    (["--fixed-noise", "100000000"], "--fixed-noise 100000000 is above the limit 65,536"),
    (["--z-dim", "100000000"], "--z-dim 100000000 is above the limit 65,536"),
    (["--g-hidden", "100000,100000"], "--g-hidden width 100000 is above the limit 65,536"),
    (["--d-hidden", ",".join(["8"] * 65)], "--d-hidden has 65 layers, above the limit 64"),
    (["--batch-size", "10000000"], "--batch-size 10000000 is above the limit"),
    (["--g-hidden", ",".join(["65536"] * 20)], "GiB (weights, gradients and Adam's moments) and this "),
])
def test_sizes_beyond_any_machine_are_refused_by_dry_run(flags, words, capsys):
    line = error_line(["train", "--preset", "minimal", *flags, "--dry-run"], capsys)
    assert words in line, line


def test_memory_bound_follows_this_machine(monkeypatch):
    """4096x4096 hidden layers: 17 M parameters of G, 270 MiB to train, over a 256 MiB machine."""
    monkeypatch.setattr(limits, "machine_memory", lambda: 256 * 2**20)
    with pytest.raises(ConfigError, match=r"parameters: training them needs about 3\d\d MiB .* has 256 MiB"):
        get_config("minimal", g_hidden="4096,4096")
    monkeypatch.setattr(limits, "machine_memory", lambda: 2**30)
    assert get_config("minimal", g_hidden="4096,4096").g_hidden == (4096, 4096)


def test_real_presets_are_far_below_the_bounds():
    for preset in ("minimal", "mlp4", "dcgan", "cgan", "fast", "best-cond"):
        shapes = parameter_signature(get_config(preset)).values()
        assert sum(math.prod(shape) for shape in shapes) * 16 < 2**30


@pytest.mark.parametrize("argv, words", [
    (["sample", "GEN", "--num", "100000000"], "--num 100000000 is above the limit 1,000,000"),
    (["sample", "GEN", "--grid-size", "100000", "--grid", "OUT/g.png"], "--grid-size 100000 is above"),
    (["sample", "GEN", "--grid-size", "0", "--grid", "OUT/g.png"], "--grid-size must be positive"),
    (["interpolate", "GEN", "--from", "1", "--to", "2", "--steps", "100000000", "--out", "OUT/i.png"],
     "steps must be an integer in 2..1000"),
])
def test_sampling_sizes_are_bounded(generator_file, tmp_path, argv, words, capsys):
    argv = [a.replace("GEN", str(generator_file)).replace("OUT", str(tmp_path)) for a in argv]
    assert words in error_line(argv, capsys)


def test_sample_memory_bound_follows_this_machine(generator_file, monkeypatch):
    """1000 samples of z_dim 10: 1000 * (40 + 784) bytes, over half of an 1 MiB machine."""
    gen = load_generator(generator_file)
    monkeypatch.setattr(limits, "machine_memory", lambda: 2**20)
    with pytest.raises(ConfigError, match="--num 1000 samples need about 1 MiB at once, more than half of "
                       "this machine's 1 MiB"):
        gen.sample(1000)
    assert gen.sample(500)[0].shape == (500, 28, 28)


def test_clock_frames_are_bounded(tmp_path, capsys):
    config = get_config("minimal", conditional=True)
    path = save_generator(build_generator(config), config, 0, tmp_path / "c.safetensors")
    line = error_line(["clock", str(path), "--frames-per-digit", "1000", "--scale", "64",
                        "--out", str(tmp_path / "c.gif")], capsys)
    assert "10000 frames at scale 64 would hold" in line
    assert "scale must be an integer in 1..64" in error_line(
        ["clock", str(path), "--scale", "100000", "--out", str(tmp_path / "c.gif")], capsys)


# ------------------------------------------------------------------ damaged generator files


@pytest.mark.parametrize("changes, words", [
    (dict(config="{not json"), "its embedded config or step is missing or unreadable"),
    (dict(config=None), "its embedded config or step is missing or unreadable"),
    (dict(config="[1, 2]"), "its embedded config is not a JSON object"),
    (dict(config='{"z_dim": "many"}'), "holds an unusable config (z_dim: cannot read 'many' as int)"),
    (dict(config='{"no_such_field": 1}'), "holds an unusable config (unknown config field"),
    (dict(config='{"g_hidden": 5}'), "holds an unusable config"),
    (dict(step="seven"), "its embedded config or step is missing or unreadable"),
])
def test_damaged_generator_metadata_is_one_line_naming_the_file(generator_file, tmp_path, changes, words,
                                                                 capsys):
    bad = _rewrite(generator_file, tmp_path / "bad.safetensors", sha256=None, **changes)
    line = error_line(["sample", str(bad), "--out", str(tmp_path / "s.npz")], capsys)
    assert str(bad) in line and words in line, line


def test_flipped_bits_in_generator_weights_fail_the_checksum(generator_file, tmp_path, capsys):
    data = bytearray(generator_file.read_bytes())
    data[-5] ^= 0x10  # a bit of the last tensor's bytes
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(data))
    line = error_line(["sample", str(bad), "--out", str(tmp_path / "s.npz")], capsys)
    assert f"{bad} is damaged (checksum mismatch)" in line
    assert not (tmp_path / "s.npz").exists()


def test_nan_weights_are_refused(generator_file, tmp_path):
    tensors = load_file(generator_file)
    name = next(n for n, t in tensors.items() if t.is_floating_point())
    tensors[name][0] = float("nan")
    bad = _rewrite(generator_file, tmp_path / "nan.safetensors", tensors=tensors, sha256=None)
    with pytest.raises(CheckpointError, match=rf"holds non-finite weights \(NaN or infinity in {name}\)"):
        load_generator(bad)


def test_generator_files_without_a_checksum_still_load(generator_file, tmp_path):
    """Files written before the checksum existed have no sha256 key: they load as before."""
    old = _rewrite(generator_file, tmp_path / "old.safetensors", sha256=None)
    images, _ = load_generator(old).sample(5, seed=3)
    expected, _ = load_generator(generator_file).sample(5, seed=3)
    np.testing.assert_array_equal(images, expected)
    assert load_generator(old).step == 7


def test_real_process_prints_one_line_for_a_damaged_generator(generator_file, tmp_path):
    bad = _rewrite(generator_file, tmp_path / "bad.safetensors", config="{oops")
    argv = [sys.executable, "-m", "minigan", "sample", str(bad), "--out", str(tmp_path / "s.npz")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": ""})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr


# ------------------------------------------------------------------ damaged classifier files


@pytest.mark.parametrize("content", [b"\x00" * 64, b"garbage that is no safetensors header",
                                     b"\xff\xff\xff\xff\xff\xff\xff\x7f{}"])
def test_damaged_classifier_is_one_line_naming_the_file(tmp_path, content, capsys):
    samples = tmp_path / "s.npz"
    np.savez(samples, images=np.zeros((20, 28, 28), np.uint8))
    bad = tmp_path / "clf.safetensors"
    bad.write_bytes(content)
    line = error_line(["eval", str(samples), "--classifier", str(bad), "--no-floor"], capsys)
    assert f"cannot read classifier weights {bad}" in line


def test_classifier_with_damaged_tensors_is_one_line(tmp_path, capsys):
    samples = tmp_path / "s.npz"
    np.savez(samples, images=np.zeros((20, 28, 28), np.uint8))
    bad = tmp_path / "clf.safetensors"
    save_file({"w": torch.zeros(3)}, str(bad), metadata={"format": "minigan-classifier-v2",
                                                         "fingerprint": "0" * 64, "num_classes": "10"})
    data = bytearray(bad.read_bytes())
    bad.write_bytes(bytes(data[:-4]))  # the tensor bytes cut short
    line = error_line(["eval", str(samples), "--classifier", str(bad), "--no-floor"], capsys)
    assert str(bad) in line
    json.dumps(line)  # printable as it is
