"""`minigan weights` (cgan's write-up's table of each tensor's largest |w|) and `minigan data --grid`
(mlp4's write-up's figure of real digits), in Python and on the command line."""

import struct

import numpy as np
import pytest
from PIL import Image

from minigan.cli import main
from minigan.data import load_dataset, real_grid, save_real_grid
from minigan.errors import CheckpointError, ConfigError, DataError
from minigan.models import build_discriminator, build_generator
from minigan.run.checkpoint import load_checkpoint
from minigan.run.weights import format_weights, weight_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(mnist_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    trains = {"cgan": ["--literal"], "minimal": [], "fast": ["--clusters", "0"]}  # fast: an EMA of G
    for preset, extra in trains.items():
        assert main(["train", "--preset", preset, *extra, "--data-dir", str(mnist_dir), "--steps", "2",
                     "--checkpoint-every", "1", "--threads", "1", "--no-tensorboard", "--quiet",
                     "--out", str(root / preset)]) == 0
    return root


@pytest.mark.parametrize("preset", ["cgan", "minimal", "fast"])
def test_weight_table_has_every_parameter_of_g_and_d_with_its_largest_magnitude(runs, preset):
    table = weight_table(runs / preset)
    assert table.source.name == "step-000000002.pt" and table.step == 2
    state = load_checkpoint(table.source)
    from minigan import TrainConfig

    config = TrainConfig.from_dict(state["config"])
    networks = ["G", "D"] + (["G_ema"] if state.get("G_ema") is not None else [])
    assert ("G_ema" in networks) == (preset == "fast")
    expected = []
    for network in networks:
        module = build_discriminator(config) if network == "D" else build_generator(config)
        for name, param in module.named_parameters():
            tensor = state[network][name]
            expected.append((network, name, tuple(param.shape), float(np.abs(tensor.numpy()).max())))
    assert [(r.network, r.name, r.shape, r.max_abs) for r in table.rows] == expected
    assert not any("running_" in r.name for r in table.rows)  # batchnorm statistics are not weights


def test_weights_command_prints_one_line_per_tensor(runs, capsys):
    run = runs / "cgan"
    assert main(["weights", str(run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = weight_table(run)
    assert lines[0] == f"{table.source} (step 2): largest |w| of each weight tensor"
    assert lines[1:] == format_weights(table).splitlines()[1:] and len(lines) == 1 + len(table.rows)
    first = table.rows[0]
    assert lines[1].split() == [f"G.{first.name}", "x".join(map(str, first.shape)), f"{first.max_abs:.6f}"]
    older = run / "checkpoints" / "step-000000001.pt"
    assert main(["weights", str(older)]) == 0
    assert capsys.readouterr().out.startswith(f"{older} (step 1):")


def test_weights_refuses_what_holds_no_checkpoint_in_one_line(runs, tmp_path, capsys):
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        weight_table(tmp_path)
    with pytest.raises(CheckpointError, match="holds no D: give the run folder or a checkpoint .pt"):
        weight_table(runs / "cgan" / "generator.safetensors")
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    assert main(["weights", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"minigan: error: checkpoint {tmp_path / 'x.pt'} ") and err.count("\n") == 1


def _labels_of(images: np.ndarray, mnist_dir) -> list[int]:
    """Each image's label, found by its bytes in the training set."""
    data = load_dataset(mnist_dir, "train")
    pairs = zip(data.images.numpy(), data.labels.numpy(), strict=True)
    index = {img.tobytes(): int(lab) for img, lab in pairs}
    return [index[img.tobytes()] for img in images]


def test_real_grid_draws_each_class_in_its_column_reproducibly(mnist_dir):
    grid = real_grid("mnist", mnist_dir, num=35, seed=4)
    assert grid.columns == 10 and grid.images.shape == (30, 28, 28) and grid.images.dtype == np.uint8
    assert grid.class_names == tuple(str(d) for d in range(10))
    assert _labels_of(grid.images, mnist_dir) == list(range(10)) * 3
    assert len({img.tobytes() for img in grid.images}) == 30
    np.testing.assert_array_equal(grid.images, real_grid("mnist", mnist_dir, num=35, seed=4).images)
    assert not np.array_equal(grid.images, real_grid("mnist", mnist_dir, num=35, seed=5).images)
    assert real_grid("mnist", mnist_dir, num=3).images.shape == (10, 28, 28)  # at least one row


def _write_idx(folder, images, labels=None):
    folder.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (folder / "train-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, h, w) + images.tobytes())
    if labels is not None:
        (folder / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())


def test_real_grid_of_idx_folders_with_and_without_labels(tmp_path):
    images = np.arange(12 * 16 * 16, dtype=np.uint32).reshape(12, 16, 16).astype(np.uint8)
    images[:, 0, 0] = np.arange(12)  # each image identifiable
    labels = np.array([0, 1, 2] * 4, dtype=np.uint8)
    _write_idx(tmp_path / "labelled", images, labels)
    grid = real_grid("idx", tmp_path / "labelled", num=100, seed=0)
    assert grid.columns == 3 and grid.images.shape == (12, 16, 16)  # rows: the rarest class's 4
    assert [int(img[0, 0]) % 3 for img in grid.images] == [0, 1, 2] * 4
    assert grid.class_names == ("0", "1", "2")
    _write_idx(tmp_path / "plain", images)
    grid = real_grid("idx", tmp_path / "plain", num=5, seed=0)
    assert grid.columns == 3 and grid.images.shape == (5, 16, 16) and grid.class_names == ()
    assert len({int(img[0, 0]) for img in grid.images}) == 5


def test_data_command_writes_a_real_png(mnist_dir, tmp_path, capsys):
    out = tmp_path / "real.png"
    assert main(["data", "--grid", str(out), "--data-dir", str(mnist_dir), "--num", "20"]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "L" and im.size == (2 + 10 * 30, 2 + 2 * 30)
    assert capsys.readouterr().out.strip() == (
        f"wrote {out}: 20 mnist train images, 2 rows (one column per class: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)")
    path = tmp_path / "scaled.png"
    save_real_grid(path, "mnist", mnist_dir, split="test", num=10, scale=2)
    with Image.open(path) as im:
        assert im.size == (2 * (2 + 10 * 30), 2 * 32)


def test_data_command_refuses_bad_input_in_one_line(mnist_dir, tmp_path, capsys):
    with pytest.raises(ConfigError, match="num must be a positive integer, got 0"):
        real_grid("mnist", mnist_dir, num=0)
    with pytest.raises(DataError):
        real_grid("idx", tmp_path / "nowhere")
    mnist, png = ["--data-dir", str(mnist_dir)], str(tmp_path / "r.png")
    for argv, message in [([*mnist, "--grid", str(tmp_path / "r.jpg")], "the grid is a PNG"),
                          ([*mnist, "--grid", png, "--num", "-3"], "num must be a positive integer"),
                          (["--grid", png, "--dataset", "idx", "--data-dir", str(tmp_path / "nowhere")],
                           "does not exist")]:
        assert main(["data", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("minigan: error:") and err.count("\n") == 1 and message in err, err
    assert not any(tmp_path.iterdir())


def test_both_commands_show_runnable_examples_in_their_help(capsys):
    examples = {"weights": "minigan weights runs/cgan", "data": "minigan data --grid real.png"}
    for command, example in examples.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "examples:" in out and example in out, command
