"""The `minigan` command as a user runs it: train, sample's file format, errors as one line."""

import json

import numpy as np
import pytest
import torch

from minigan.cli import main


@pytest.fixture(scope="module")
def trained_runs(mnist_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for preset in ("minimal", "cgan"):
        code = main(["train", "--preset", preset, "--data-dir", str(mnist_dir), "--steps", "4",
                     "--log-every", "2", "--checkpoint-every", "4", "--grid-size", "4",
                     "--no-tensorboard", "--quiet", "--out", str(root / preset)])
        assert code == 0
    return root


def test_sample_writes_npz_and_grid(trained_runs, tmp_path, capsys):
    out, grid = tmp_path / "s.npz", tmp_path / "grid.png"
    assert main(["sample", str(trained_runs / "minimal"), "--num", "50", "--out", str(out),
                 "--grid", str(grid)]) == 0
    with np.load(out, allow_pickle=False) as data:
        assert set(data.files) == {"images"}
        assert data["images"].dtype == np.uint8 and data["images"].shape == (50, 28, 28)
    assert grid.is_file() and str(out) in capsys.readouterr().out


def test_sample_is_reproducible_from_its_seed(trained_runs, tmp_path):
    paths = [tmp_path / f"{i}.npz" for i in range(3)]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        main(["sample", str(trained_runs / "minimal"), "--num", "8", "--seed", str(seed), "--out", str(path)])
    a, b, c = (np.load(p)["images"] for p in paths)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_conditional_sample_has_labels_and_digits_on_demand(trained_runs, tmp_path):
    out = tmp_path / "c.npz"
    assert main(["sample", str(trained_runs / "cgan"), "--num", "20", "--out", str(out)]) == 0
    with np.load(out) as data:
        np.testing.assert_array_equal(data["labels"], np.arange(20) % 10)
        assert data["labels"].dtype == np.int64
    assert main(["sample", str(trained_runs / "cgan"), "--digit", "7", "--num", "5", "--out", str(out),
                 "--class-grid", str(tmp_path / "classes.png")]) == 0
    np.testing.assert_array_equal(np.load(out)["labels"], [7] * 5)
    assert (tmp_path / "classes.png").is_file()


def test_tools_write_their_files(trained_runs, tmp_path, capsys):
    run = str(trained_runs / "cgan")
    assert main(["interpolate", run, "--from", "7", "--to", "9", "--steps", "5",
                 "--out", str(tmp_path / "i.png")]) == 0
    assert main(["clock", run, "--frames-per-digit", "3", "--out", str(tmp_path / "c.gif")]) == 0
    assert main(["amplitude", run, "--digit", "4", "--out", str(tmp_path / "a.png")]) == 0
    for name in ("i.png", "c.gif", "a.png"):
        assert (tmp_path / name).is_file()
    printed = capsys.readouterr().out
    assert all(str(tmp_path / n) in printed for n in ("i.png", "c.gif", "a.png"))
    assert main(["interpolate", str(trained_runs / "minimal"), "--from", "1", "--to", "2",
                 "--method", "slerp", "--out", str(tmp_path / "u.png")]) == 0


def test_missing_data_folder_is_one_clear_line(tmp_path, capsys):
    code = main(["train", "--preset", "minimal", "--data-dir", str(tmp_path / "nowhere"), "--steps", "1",
                 "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("minigan: error:") and err.count("\n") == 1
    assert "--data-dir" in err and "MINIGAN_DATA_DIR" in err and "Traceback" not in err


def test_dry_run_prints_resolved_config_and_literal_flag(capsys):
    assert main(["train", "--preset", "mlp4", "--dry-run"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert (config["lr_g"], config["beta1"], config["batch_size"]) == (2e-3, 0.9, 64)  # the write-up's
    assert main(["train", "--preset", "mlp4", "--literal", "--dry-run", "--batch-size", "32"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert (config["lr_g"], config["lr_d"], config["batch_size"]) == (2e-3, 2e-3, 32)


def test_every_command_help_shows_examples(capsys):
    for command in ("train", "resume", "sample", "eval", "interpolate", "clock", "amplitude"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "examples:" in capsys.readouterr().out, command


def test_eval_scores_a_run_and_an_npz_beside_the_real_floor(trained_runs, tmp_path, capsys, mnist_dir):
    run = trained_runs / "cgan"
    assert main(["eval", str(run), "--num", "200", "--data-dir", str(mnist_dir)]) == 0
    table = capsys.readouterr().out
    assert "FID" in table and "label accuracy" in table and str(run / "metrics.json") in table
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["metrics"]["num_images"] == 200 and saved["real_floor"]["num_images"] == 200
    npz = tmp_path / "s.npz"
    main(["sample", str(trained_runs / "minimal"), "--num", "120", "--out", str(npz)])
    capsys.readouterr()
    threads = torch.get_num_threads()
    try:  # one thread, as beside a training run
        assert main(["eval", str(npz), "--json", "--no-floor", "--threads", "1",
                     "--data-dir", str(mnist_dir)]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    printed = json.loads(capsys.readouterr().out)
    assert printed["metrics"]["num_images"] == 120 and printed["real_floor"] is None
    assert (tmp_path / "s.metrics.json").is_file()


def test_train_help_groups_the_flags_by_config_section_with_the_write_ups_apart(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    sections = [line.split(" (")[0] for line in text.splitlines()
                if line.endswith(":") and line[:1].isalpha() and "(" in line]
    assert sections == ["data", "networks", "losses and optimisers", "stabilisers", "adaptive balance",
                        "health", "budgets", "run", "write-up fidelity"]
    stabilisers, fidelity = text.index("\nstabilisers ("), text.index("\nwrite-up fidelity (")
    assert stabilisers < text.index("\n  --r1-gamma") < text.index("\nadaptive balance (")
    assert fidelity < text.index("\n  --update-order") and fidelity < text.index("\n  --adam-eps-style")
