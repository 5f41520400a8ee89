import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from minigan import visual
from minigan.errors import CheckpointError, ConfigError
from minigan.run.folder import read_jsonl


def _tiles(n: int, h: int = 2, w: int = 3) -> np.ndarray:
    """n constant images with values 10, 20, ... so each cell is recognisable."""
    return np.stack([np.full((h, w), 10 * (i + 1), np.uint8) for i in range(n)])


def _gif_frames(path):
    with Image.open(path) as im:
        frames, durations = [], []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.array(im.convert("L")))
            durations.append(im.info["duration"])
        return frames, durations, im.info.get("loop")


# ---- make_grid ---------------------------------------------------------------------------


def test_make_grid_layout_with_padding_and_empty_cells():
    grid = visual.make_grid(_tiles(3), nrow=2, padding=1, pad_value=7)
    expected = np.full((1 + 2 * (2 + 1), 1 + 2 * (3 + 1)), 7, np.uint8)
    expected[1:3, 1:4] = 10  # (row 0, col 0)
    expected[1:3, 5:8] = 20  # (row 0, col 1)
    expected[4:6, 1:4] = 30  # (row 1, col 0); (row 1, col 1) stays padding
    np.testing.assert_array_equal(grid, expected)
    assert grid.dtype == np.uint8


def test_make_grid_default_nrow_is_ceil_sqrt_and_no_padding():
    grid = visual.make_grid(_tiles(5), padding=0)
    assert grid.shape == (2 * 2, 3 * 3)  # 3 per row -> 2 rows
    assert grid[0, 0] == 10 and grid[0, 6] == 30 and grid[2, 3] == 50 and grid[2, 6] == 0


def test_make_grid_accepts_torch_channel_dim_and_floats():
    tiles = _tiles(4)
    reference = visual.make_grid(tiles, nrow=2)
    np.testing.assert_array_equal(visual.make_grid(torch.from_numpy(tiles), nrow=2), reference)
    np.testing.assert_array_equal(visual.make_grid(tiles[:, None], nrow=2), reference)
    floats = tiles.astype(np.float32) + 0.4
    floats[0, 0, 0] = 300.0  # clipped to 255
    grid = visual.make_grid(floats, nrow=2, padding=0)
    assert grid[0, 0] == 255 and grid[0, 1] == 10 and grid.dtype == np.uint8


@pytest.mark.parametrize(
    "images, kwargs",
    [
        (np.zeros((0, 2, 2), np.uint8), {}),
        (np.zeros((2, 2), np.uint8), {}),
        (np.zeros((2, 3, 2, 2), np.uint8), {}),
        (np.zeros((2, 2, 2), np.uint8), {"nrow": 0}),
        (np.zeros((2, 2, 2), np.uint8), {"padding": -1}),
        (np.zeros((2, 2, 2), np.uint8), {"pad_value": 256}),
    ],
)
def test_make_grid_rejects_bad_input(images, kwargs):
    with pytest.raises(ConfigError):
        visual.make_grid(images, **kwargs)


# ---- save_grid ---------------------------------------------------------------------------


def test_save_grid_round_trips_and_scales(tmp_path):
    tiles = _tiles(4)
    path = visual.save_grid(tiles, tmp_path / "a" / "b" / "grid.png", nrow=2, scale=3)
    assert path == tmp_path / "a" / "b" / "grid.png"
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "L"
        pixels = np.array(im)
    grid = visual.make_grid(tiles, nrow=2)
    np.testing.assert_array_equal(pixels, np.repeat(np.repeat(grid, 3, 0), 3, 1))


def test_save_grid_replaces_existing_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "grid.png"
    path.write_bytes(b"old")
    visual.save_grid(_tiles(2), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]


def test_save_grid_failure_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "grid.png"
    path.write_bytes(b"old")

    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        visual.save_grid(_tiles(2), path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]


def test_save_grid_rejects_bad_scale(tmp_path):
    with pytest.raises(ConfigError, match="scale"):
        visual.save_grid(_tiles(2), tmp_path / "g.png", scale=0)


# ---- GIF / video -------------------------------------------------------------------------


def test_save_gif_frames_duration_loop(tmp_path):
    frames = [np.full((4, 5), 40 * i, np.uint8) for i in range(5)]
    frames[2][1, 1] = 255
    path = visual.save_gif(frames, tmp_path / "x.gif", fps=10, loop=0, scale=2)
    read, durations, loop = _gif_frames(path)
    assert len(read) == 5 and durations == [100] * 5 and loop == 0
    for got, want in zip(read, frames, strict=True):
        np.testing.assert_array_equal(got, np.repeat(np.repeat(want, 2, 0), 2, 1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gif"]


def test_gif_durations_keep_the_average_frame_rate(tmp_path):
    assert visual.gif_durations(3, 30) == [30, 40, 30]
    assert sum(visual.gif_durations(30, 30)) == 1000
    assert visual.gif_durations(4, 50) == [20] * 4
    frames = [np.full((3, 3), i, np.uint8) for i in range(30)]
    _, durations, _ = _gif_frames(visual.save_gif(frames, tmp_path / "y.gif", fps=30))
    assert len(durations) == 30 and sum(durations) == 1000 and set(durations) == {30, 40}


def test_save_gif_single_frame_and_torch_frames(tmp_path):
    path = visual.save_gif([torch.full((3, 3), 9, dtype=torch.uint8)], tmp_path / "one.gif", fps=4)
    read, durations, _ = _gif_frames(path)
    assert len(read) == 1 and durations == [250] and read[0][0, 0] == 9


@pytest.mark.parametrize(
    "frames, fps",
    [
        ([], 10),
        ([np.zeros((3, 3), np.uint8), np.zeros((3, 4), np.uint8)], 10),
        ([np.zeros((1, 3, 3), np.uint8)], 10),
        ([np.zeros((3, 3), np.uint8)], 0),
        ([np.zeros((3, 3), np.uint8)], 60),
    ],
)
def test_save_gif_rejects_bad_input(tmp_path, frames, fps):
    with pytest.raises(ConfigError):
        visual.save_gif(frames, tmp_path / "bad.gif", fps=fps)
    assert not (tmp_path / "bad.gif").exists()


def test_save_video_without_extra_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import raises ImportError
    with pytest.raises(ConfigError, match=r"pip install minigan\[video\]"):
        visual.save_video([np.zeros((4, 4), np.uint8)], tmp_path / "v.mp4")


def test_save_video_writes_mp4_with_odd_sides(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    frames = [np.full((7, 9), 20 * i, np.uint8) for i in range(6)]
    path = visual.save_video(frames, tmp_path / "v.mp4", fps=12)
    assert path.read_bytes()[4:8] == b"ftyp"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


# ---- stats -------------------------------------------------------------------------------


def _stats(n: int = 20, with_d: bool = True) -> list[dict]:
    rows = []
    for step in range(n):
        row = {"step": step * 10, "loss_d": 1.3 - 0.01 * step, "loss_g": 0.7 + 0.02 * step}
        if with_d:
            row |= {"d_real": 0.6, "d_fake": 0.4}
        rows.append(row)
    return rows


def test_plot_curves_two_panels_when_d_outputs_logged(tmp_path):
    path = visual.plot_curves(_stats(), tmp_path / "plots" / "curves.png", title="run 1")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        assert im.size == (700, 600)
    assert sorted(p.name for p in path.parent.iterdir()) == ["curves.png"]


def test_plot_curves_one_panel_and_missing_keys_skipped(tmp_path):
    path = visual.plot_curves(_stats(with_d=False), tmp_path / "c.png", keys=("loss_d", "nope"))
    with Image.open(path) as im:
        assert im.size == (700, 300)


def test_plot_curves_nothing_to_plot(tmp_path):
    with pytest.raises(ConfigError, match="nothing to plot"):
        visual.plot_curves([{"step": 1, "fid": 3.0}], tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_read_jsonl_drops_truncated_last_line(tmp_path):
    path = tmp_path / "stats.jsonl"
    lines = [json.dumps(r) for r in _stats(3)]
    path.write_text("\n".join(lines) + "\n" + lines[0][:15])
    assert read_jsonl(path) == _stats(3)
    path.write_text("\n".join(lines))  # complete last line without newline is kept
    assert read_jsonl(path) == _stats(3)
    path.write_text("\n" + lines[0] + "\n\n" + lines[1] + "\n")
    assert read_jsonl(path) == _stats(2)


def test_read_jsonl_warns_on_damaged_middle_line(tmp_path):
    path = tmp_path / "stats.jsonl"
    lines = [json.dumps(r) for r in _stats(3)]
    path.write_text(lines[0] + "\n" + lines[1][:10] + lines[2] + "\n" + lines[2] + "\n")
    with pytest.warns(UserWarning, match=r"damaged lines \[2\]"):
        assert read_jsonl(path) == [_stats(3)[0], _stats(3)[2]]


def test_read_jsonl_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_jsonl(tmp_path / "missing.jsonl")
