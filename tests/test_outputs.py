"""Nothing a user made is lost to an output: every file a command writes has a format its name says,
never lands on a run's own files, and a run folder never moves into a folder of other files.
Where a file cannot be written, the command says so in one line naming it."""

import json
import os

import pytest
from run_files import digests, error_line

import minigan
from minigan import cli
from minigan.errors import OutputError

# ------------------------------------------------------------------ a run's own files


@pytest.mark.parametrize("flag, target, words", [
    ("--out", "generator.safetensors", ["it writes samples as .npz", "ending .npz"]),
    ("--grid", "checkpoints/step-000000006.pt", ["PNG grid", "ending .png"]),
    ("--grid", "samples.png", ["overwrite run", "own samples.png"]),
    ("--class-grid", "progress/step-000000004.png", ["overwrite run"]),
    ("--out", "checkpoints/x.npz", ["overwrite run"]),
])
def test_sample_never_writes_over_a_run_s_own_files(run_copy, flag, target, words, capsys):
    before = digests(run_copy)
    line = error_line(["sample", str(run_copy), flag, str(run_copy / target)], capsys)
    assert all(w in line for w in words), line
    assert digests(run_copy) == before


@pytest.mark.parametrize("argv, words", [
    (["sample", "RUN", "--out", "OUT/x.png"], ["ending .npz", ".png is written by --grid"]),
    (["sample", "RUN", "--grid", "OUT/x.npz"], ["ending .png", ".npz is written by --out"]),
    (["interpolate", "RUN", "--from", "1", "--to", "2", "--out", "OUT/x.gif"], ["ending .png"]),
    (["amplitude", "RUN", "--digit", "1", "--out", "OUT/x.npz"], ["ending .png"]),
    (["clock", "RUN", "--out", "OUT/x.png"], ["ending .gif or .mp4"]),
    (["eval", "RUN", "--out", "OUT/x.csv"], ["metrics as JSON", "ending .json"]),
    (["eval", "RUN", "--out", "RUN/config.json"], ["overwrite run", "config.json"]),
    (["eval", "RUN", "--out", "RUN/checkpoints/best.json"], ["overwrite run"]),
    (["classifier", "train", "--dataset", "mnist", "--out", "OUT/c.pt"], ["ending .safetensors"]),
    (["classifier", "train", "--dataset", "mnist", "--out", "RUN/generator.safetensors"],
     ["overwrite run", "generator.safetensors"]),
])
def test_every_writer_takes_only_its_own_format(run_copy, tmp_path, argv, words, capsys):
    before = digests(run_copy)
    argv = [a.replace("RUN", str(run_copy)).replace("OUT", str(tmp_path)) for a in argv]
    line = error_line(argv, capsys)
    assert all(w in line for w in words), line
    assert digests(run_copy) == before
    assert not [p for p in tmp_path.iterdir() if p.name != "run"]


# ------------------------------------------------------------------ run folders


def test_train_refuses_a_folder_of_the_user_s_own_files(mnist_dir, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "samples.png").write_bytes(b"my picture")
    (mine / "stats.jsonl").write_text('{"mine": 1}\n')
    line = error_line(["train", "--preset", "minimal", "--steps", "1", "--data-dir", str(mnist_dir),
                        "--out", str(mine), "--quiet"], capsys)
    assert "folder of other files, not a run" in line
    assert sorted(p.name for p in mine.iterdir()) == ["samples.png", "stats.jsonl"]
    assert (mine / "samples.png").read_bytes() == b"my picture"
    with pytest.raises(OutputError, match="not a run"):
        minigan.train("minimal", out=mine, steps=1, data_dir=str(mnist_dir), progress=False)


def test_train_refuses_an_empty_out(mnist_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = error_line(["train", "--preset", "minimal", "--steps", "1", "--data-dir", str(mnist_dir),
                        "--out", "", "--quiet"], capsys)
    assert "needs a folder name for the run" in line
    assert list(tmp_path.iterdir()) == []


def test_train_still_takes_a_new_or_empty_folder(mnist_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new"):
        assert cli.main(["train", "--preset", "minimal", "--steps", "1", "--data-dir", str(mnist_dir),
                         "--out", str(out), "--quiet", "--no-tensorboard", "--threads", "1"]) == 0
        assert (out / "generator.safetensors").is_file()


# ------------------------------------------------------------------ eval's metrics.json


def test_a_smaller_eval_never_replaces_a_larger_one(run_copy, capsys):
    """metrics.json is the run's score (the playground shows it): a 100-sample FID is biased far
    upwards, so it goes beside the 300-sample one instead of over it; a larger one replaces it."""
    argv = ["eval", str(run_copy), "--no-floor", "--json"]
    assert cli.main([*argv, "--num", "300"]) == 0
    larger = (run_copy / "metrics.json").read_bytes()
    assert json.loads(larger)["metrics"]["num_images"] == 300
    capsys.readouterr()
    assert cli.main(["eval", str(run_copy), "--no-floor", "--num", "100"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {run_copy / 'metrics-100.json'} (kept {run_copy / 'metrics.json'}" in out
    assert (run_copy / "metrics.json").read_bytes() == larger
    assert json.loads((run_copy / "metrics-100.json").read_text())["metrics"]["num_images"] == 100
    assert cli.main([*argv, "--num", "400"]) == 0
    assert json.loads((run_copy / "metrics.json").read_text())["metrics"]["num_images"] == 400


# ------------------------------------------------------------------ where nothing can be written


def test_output_whose_parent_is_a_file(run_copy, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    line = error_line(["sample", str(run_copy), "--out", str(tmp_path / "file" / "s.npz")], capsys)
    assert f"cannot write {tmp_path / 'file' / 's.npz'}: {tmp_path / 'file'} is a file" in line


def test_output_that_is_a_folder(run_copy, tmp_path, capsys):
    (tmp_path / "grid.png").mkdir()
    line = error_line(["sample", str(run_copy), "--grid", str(tmp_path / "grid.png")], capsys)
    assert f"cannot write {tmp_path / 'grid.png'}: it is a folder" in line


@pytest.mark.skipif(not os.path.isdir("/sys"),
                    reason="needs /sys, a folder the kernel refuses files in")
def test_output_in_a_folder_that_refuses_writes(run_copy, capsys):
    """/sys refuses new files even to root (tests run as root, so chmod cannot make one)."""
    line = error_line(["sample", str(run_copy), "--out", "/sys/minigan-test.npz"], capsys)
    assert line.startswith("minigan: error: cannot write /sys/minigan-test.npz: ")
    assert not os.path.exists("/sys/minigan-test.npz")


@pytest.mark.parametrize("command, flag, name", [
    (["sample", "--num", "4"], "--out", "s.npz"),
    (["sample", "--num", "4"], "--grid", "g.png"),
    (["interpolate", "--from", "1", "--to", "2", "--steps", "2"], "--out", "i.png"),
    (["eval", "--num", "50", "--no-floor"], "--out", "m.json"),
])
def test_a_write_refused_by_the_system_is_one_line(run_copy, tmp_path, monkeypatch, command, flag, name,
                                                   capsys):
    """The last step of every atomic write is a rename; a PermissionError there names the file."""
    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr(os, "replace", refuse)
    line = error_line([command[0], str(run_copy), *command[1:], flag, str(tmp_path / name)], capsys)
    assert line == f"minigan: error: cannot write {tmp_path / name}: Permission denied"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary file left behind
