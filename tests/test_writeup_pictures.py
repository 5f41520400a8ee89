"""cgan's write-up (seed 004) as `--literal` runs it: its length, and its pictures drawn its way.

Unit tests use test_explore's FakeGenerator, whose pictures encode the noise and labels it was
given; the CLI tests train a real --literal cgan run for two steps.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from test_explore import FakeGenerator

from minigan import TrainConfig, get_config
from minigan.cli import main
from minigan.errors import ConfigError
from minigan.presets import fidelity_markdown
from minigan.sampling import clock, explore


def literal_cgan() -> FakeGenerator:
    gen = FakeGenerator(z_dim=2)
    gen.config = SimpleNamespace(literal=True, preset="cgan", dataset="mnist")
    return gen


def default_cgan() -> FakeGenerator:
    gen = FakeGenerator(z_dim=2)
    gen.config = SimpleNamespace(literal=False, preset="cgan", dataset="mnist")
    return gen


# ---- 1: the write-up's length, and a record of --literal ---------------------------------------


def test_literal_cgan_trains_the_write_ups_million_and_one_steps(capsys):
    config = get_config("cgan", literal=True)
    assert (config.steps, config.epochs, config.time_budget, config.literal) == (1_000_001, None, None, True)
    assert get_config("cgan").steps is None and get_config("cgan").literal is False
    assert main(["train", "--preset", "cgan", "--literal", "--dry-run"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["steps"], shown["literal"]) == (1_000_001, True)
    assert main(["presets", "--fidelity", "cgan"]) == 0
    assert "| `--steps` | 1000001 | none | budget only:" in capsys.readouterr().out
    assert "| `--steps` | 1000001 | none |" in fidelity_markdown(["cgan"])


def test_configs_written_before_the_literal_field_still_load():
    saved = get_config("cgan").to_dict()
    del saved["literal"]
    assert TrainConfig.from_dict(saved).literal is False
    with pytest.raises(ConfigError, match="literal: cannot read 'maybe' as bool"):
        TrainConfig.from_dict({**saved, "literal": "maybe"})


# ---- 2: the digit clock -----------------------------------------------------------------------


def test_clock_noise_zero_random_and_the_literal_runs_default():
    for gen, noise, expected in [(literal_cgan(), None, torch.zeros(1, 2)),
                                 (default_cgan(), None, FakeGenerator(z_dim=2).latents(1, 3)),
                                 (default_cgan(), "zero", torch.zeros(1, 2)),
                                 (literal_cgan(), "random", FakeGenerator(z_dim=2).latents(1, 3))]:
        frames = clock.clock_frames(gen, frames_per_digit=2, seed=3, noise=noise)
        z, _ = gen.inputs()
        assert len(frames) == 20
        torch.testing.assert_close(z, expected.repeat(20, 1), rtol=0, atol=0)
    gen = literal_cgan()
    clock.clock_face_frames(gen, "12:34", frames=2)
    torch.testing.assert_close(gen.inputs()[0], torch.zeros(8, 2), rtol=0, atol=0)
    with pytest.raises(ConfigError, match="noise must be one of zero, random, got 'seed'"):
        clock.clock_frames(literal_cgan(), frames_per_digit=1, noise="seed")


def test_clock_fps_is_the_write_ups_60_where_the_format_plays_it():
    assert clock.clock_fps(literal_cgan(), "c.mp4") == (60, None)
    fps, note = clock.clock_fps(literal_cgan(), "c.gif")
    assert (fps, note) == (50, "60 fps needs an .mp4 path: a GIF plays at most 50 fps (its frame delays are "
                               "whole centiseconds)")
    assert clock.clock_fps(default_cgan(), "c.gif") == (30, None)
    assert clock.clock_fps(literal_cgan(), "c.gif", 12) == (12, None)


def test_literal_clock_gif_plays_at_50_fps_and_refuses_more(tmp_path):
    path = clock.save_clock(literal_cgan(), tmp_path / "clock.gif", frames_per_digit=2, scale=1)
    with Image.open(path) as im:
        assert im.n_frames == 20 and im.info["duration"] == 20  # 2 cs: 50 fps
    with pytest.raises(ConfigError, match=r"GIF fps must be in \(0, 50\], got 60"):
        clock.save_clock(literal_cgan(), tmp_path / "fast.gif", fps=60, frames_per_digit=2)


def test_literal_clock_mp4_plays_at_60_fps(tmp_path):
    ffmpeg = pytest.importorskip("imageio_ffmpeg")
    path = clock.save_clock(literal_cgan(), tmp_path / "clock.mp4", frames_per_digit=6, scale=2)
    reader = ffmpeg.read_frames(str(path))
    meta = next(reader)
    assert meta["fps"] == 60 and meta["size"] == (56, 56)
    assert sum(1 for _ in reader) == 60


# ---- 3-5: interpolation noise, amplitude range, class-grid noise --------------------------------


def test_interpolation_noise_scale_and_the_literal_runs_half():
    for gen, scale, factor in [(literal_cgan(), None, 0.5), (default_cgan(), None, 1.0),
                               (default_cgan(), 0.25, 0.25), (literal_cgan(), 1.0, 1.0)]:
        explore.interpolate(gen, start=7, end=9, steps=3, rows=2, seed=5, noise_scale=scale)
        z, _ = gen.inputs()
        expected = FakeGenerator(z_dim=2).latents(2, 5) * factor
        torch.testing.assert_close(z, expected.repeat_interleave(3, dim=0), rtol=0, atol=0)
    gen = FakeGenerator(num_classes=0)
    explore.interpolate(gen, start=1, end=2, steps=2, noise_scale=0.5)
    ends = torch.cat([FakeGenerator().latents(1, 1), FakeGenerator().latents(1, 2)]) * 0.5
    torch.testing.assert_close(gen.inputs()[0], ends, rtol=0, atol=0)
    for bad in (-1.0, float("nan"), "half"):
        with pytest.raises(ConfigError, match="noise_scale must be a finite number >= 0"):
            explore.interpolate(default_cgan(), start=7, end=9, noise_scale=bad)


def test_amplitude_range_and_count_and_the_literal_runs_quarters():
    cases = [(literal_cgan(), {}, [n / 4 for n in range(10)]),
             (default_cgan(), {}, np.linspace(0, 1.5, 11)),
             (default_cgan(), dict(low=0.5, high=1.0, count=3), [0.5, 0.75, 1.0]),
             (literal_cgan(), dict(count=4), [0, 0.75, 1.5, 2.25])]
    for gen, kwargs, amplitudes in cases:
        explore.amplitude_sweep(gen, 4, rows=1, **kwargs)
        _, labels = gen.inputs()
        expected = torch.zeros(len(amplitudes), 10, dtype=torch.float64)
        expected[:, 4] = torch.as_tensor(amplitudes, dtype=torch.float64)
        torch.testing.assert_close(labels, expected.float(), rtol=0, atol=0)
    with pytest.raises(ConfigError, match="either amplitudes or low/high/count"):
        explore.amplitude_sweep(default_cgan(), 4, amplitudes=[1.0], count=3)
    with pytest.raises(ConfigError, match="count must be an integer >= 1, got 0"):
        explore.amplitude_sweep(default_cgan(), 4, count=0)
    with pytest.raises(ConfigError, match="high must be a finite number"):
        explore.amplitude_sweep(default_cgan(), 4, high=float("inf"))


def test_class_grid_per_image_gives_every_digit_its_own_noise():
    rows, seed = 3, 2
    for gen, noise in [(default_cgan(), "per-image"), (literal_cgan(), None)]:
        explore.class_grid(gen, rows=rows, seed=seed, noise=noise)
        z, labels = gen.inputs()
        torch.testing.assert_close(z, FakeGenerator(z_dim=2).latents(rows * 10, seed), rtol=0, atol=0)
        torch.testing.assert_close(labels, torch.eye(10).repeat(rows, 1), rtol=0, atol=0)
    gen = default_cgan()
    explore.class_grid(gen, rows=rows, seed=seed)  # minigan's default: a row shares one noise
    z, _ = gen.inputs()
    torch.testing.assert_close(z, FakeGenerator(z_dim=2).latents(rows, seed).repeat_interleave(10, 0),
                               rtol=0, atol=0)
    with pytest.raises(ConfigError, match="noise must be one of per-row, per-image, got 'column'"):
        explore.class_grid(default_cgan(), noise="column")


# ---- the commands on a real --literal cgan run ---------------------------------------------------


@pytest.fixture(scope="module")
def literal_run(mnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cgan-literal"
    assert main(["train", "--preset", "cgan", "--literal", "--data-dir", str(mnist_dir), "--steps", "2",
                 "--threads", "1", "--no-tensorboard", "--quiet", "--out", str(out)]) == 0
    return out


def test_a_literal_run_records_it_and_its_pictures_follow_the_write_up(literal_run, tmp_path, capsys):
    config = json.loads((literal_run / "config.json").read_text())
    assert (config["literal"], config["steps"]) == (True, 2)
    run = str(literal_run)
    assert main(["clock", run, "--frames-per-digit", "2", "--out", str(tmp_path / "c.gif")]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"wrote {tmp_path / 'c.gif'} at 50 fps; 60 fps needs an .mp4 path: a GIF plays")
    with Image.open(tmp_path / "c.gif") as im:
        assert im.n_frames == 20 and im.info["duration"] == 20
    assert main(["amplitude", run, "--digit", "4", "--rows", "2", "--out", str(tmp_path / "a.png")]) == 0
    with Image.open(tmp_path / "a.png") as im:  # 10 strengths (n / 4) by 2 rows
        assert im.size == (2 + 10 * 30, 2 + 2 * 30)
    assert main(["amplitude", run, "--digit", "4", "--rows", "1", "--low", "0", "--high", "1",
                 "--count", "3", "--out", str(tmp_path / "b.png")]) == 0
    with Image.open(tmp_path / "b.png") as im:
        assert im.size == (2 + 3 * 30, 2 + 30)
    for extra, name in (([], "default.png"), (["--noise-scale", "0.5"], "half.png"),
                        (["--noise-scale", "1"], "whole.png")):
        assert main(["interpolate", run, "--from", "7", "--to", "9", "--rows", "3", *extra,
                     "--out", str(tmp_path / name)]) == 0
    half = _pixels(tmp_path / "half.png")
    assert _pixels(tmp_path / "default.png") == half != _pixels(tmp_path / "whole.png")
    for extra, name in (([], "default.png"), (["--class-grid-noise", "per-image"], "image.png"),
                        (["--class-grid-noise", "per-row"], "row.png")):
        assert main(["sample", run, "--class-grid", str(tmp_path / f"grid-{name}"), *extra]) == 0
    assert _pixels(tmp_path / "grid-default.png") == _pixels(tmp_path / "grid-image.png")
    assert _pixels(tmp_path / "grid-default.png") != _pixels(tmp_path / "grid-row.png")


def _pixels(path):
    with Image.open(path) as im:
        return im.tobytes()


def test_the_new_options_refuse_bad_values_in_one_line(literal_run, tmp_path, capsys):
    run = str(literal_run)
    cases = [(["clock", run, "--noise", "seed", "--out", str(tmp_path / "c.gif")], "invalid choice: 'seed'"),
             (["clock", run, "--fps", "60", "--out", str(tmp_path / "c.gif")], "GIF fps must be in (0, 50]"),
             (["interpolate", run, "--from", "7", "--to", "9", "--noise-scale", "-1", "--out",
               str(tmp_path / "i.png")], "noise_scale must be a finite number >= 0"),
             (["amplitude", run, "--digit", "4", "--count", "0", "--out", str(tmp_path / "a.png")],
              "count must be an integer >= 1"),
             (["sample", run, "--class-grid", str(tmp_path / "g.png"), "--class-grid-noise", "x"],
              "invalid choice: 'x'")]
    for argv, message in cases:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("minigan: error:") and err.count("\n") == 1, argv
        assert message in err, err
    assert not any(tmp_path.iterdir())
