import math
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from minigan.errors import ConfigError
from minigan.sampling import clock, explore


class FakeGenerator:
    """Follows the TrainedGenerator contract; its pictures encode what it was asked for.

    Pixel [0, j] = round(100 * label[j]) (so amplitudes up to 2.55 fit), pixel [1, k] =
    round(128 + 40 * z[k]). Every call's inputs are recorded for exact checks.
    """

    def __init__(self, z_dim: int = 4, num_classes: int = 10) -> None:
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.conditional = num_classes > 0
        self.calls: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def latents(self, num: int, seed: int) -> torch.Tensor:
        return torch.randn(num, self.z_dim, generator=torch.Generator().manual_seed(seed))

    def label_vectors(self, labels):
        if labels is None or labels.dtype.is_floating_point:
            return labels
        return torch.nn.functional.one_hot(labels, self.num_classes).float()

    def render(self, z: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
        images = torch.zeros(z.shape[0], 28, 28, dtype=torch.uint8)
        images[:, 1, : self.z_dim] = (128 + 40 * z).round().clamp(0, 255).to(torch.uint8)
        if labels is not None:
            vectors = self.label_vectors(labels)
            images[:, 0, : self.num_classes] = (100 * vectors).round().clamp(0, 255).byte()
        return images.numpy()

    def generate(self, z, labels=None):
        assert z.ndim == 2 and z.shape[1] == self.z_dim and z.dtype == torch.float32
        if self.conditional:
            assert labels is not None and labels.shape[0] == z.shape[0]
            if labels.dtype.is_floating_point:
                assert labels.dtype == torch.float32 and labels.shape[1] == self.num_classes
            else:
                assert labels.dtype == torch.int64
        else:
            assert labels is None
        self.calls.append((z.clone(), None if labels is None else labels.clone()))
        return torch.from_numpy(self.render(z, labels))

    def inputs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """All recorded (z, label vectors), concatenated over calls."""
        z = torch.cat([c[0] for c in self.calls])
        if self.calls[0][1] is None:
            return z, None
        return z, torch.cat([self.label_vectors(c[1]) for c in self.calls])


def _eye(*digits: int) -> torch.Tensor:
    return torch.eye(10)[list(digits)]


def assert_images_match_inputs(gen: FakeGenerator, images) -> None:
    z, labels = gen.inputs()
    np.testing.assert_array_equal(np.stack(images), gen.render(z, labels))


# ---- lerp / slerp / easing ---------------------------------------------------------------


def test_lerp_endpoints_exact_and_batched_shapes():
    a, b = torch.randn(3, 5), torch.randn(3, 5)
    out = explore.lerp(a, b, torch.tensor([0.0, 0.25, 1.0]))
    assert out.shape == (3, 3, 5)
    assert torch.equal(out[0], a) and torch.equal(out[2], b)
    torch.testing.assert_close(out[1], 0.75 * a + 0.25 * b)
    assert explore.lerp(a, b, 0.5).shape == (3, 5)


def test_slerp_endpoints_exact():
    a, b = torch.randn(5, 16), torch.randn(5, 16)
    out = explore.slerp(a, b, [0.0, 1.0])
    assert torch.equal(out[0], a) and torch.equal(out[1], b)


def test_slerp_keeps_norm_on_orthonormal_vectors_where_lerp_does_not():
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    t = torch.linspace(0, 1, 9)
    torch.testing.assert_close(explore.slerp(a, b, t).norm(dim=-1), torch.ones(9))
    half = torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2)
    torch.testing.assert_close(explore.slerp(a, b, 0.5), half)
    torch.testing.assert_close(explore.lerp(a, b, 0.5).norm(), torch.tensor(math.sqrt(0.5)))


def test_slerp_matches_textbook_formula():
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(4, 8, generator=gen, dtype=torch.float64)
    b = torch.randn(4, 8, generator=gen, dtype=torch.float64)
    omega = torch.arccos((a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)))[:, None]
    t = 0.3
    expected = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    torch.testing.assert_close(explore.slerp(a, b, t), expected)


def test_slerp_nearly_parallel_and_degenerate_vectors_stay_finite():
    a = torch.tensor([3.0, 4.0], dtype=torch.float64)
    b = a + torch.tensor([1e-12, -1e-12], dtype=torch.float64)
    t = torch.linspace(0, 1, 5)
    near = explore.slerp(a, b, t)
    torch.testing.assert_close(near, explore.lerp(a, b, t.double()), rtol=1e-12, atol=1e-12)
    same = explore.slerp(a, a, t)
    torch.testing.assert_close(same, a.expand(5, 2))
    opposite = explore.slerp(a, -a, t)  # no unique great circle: falls back to lerp
    torch.testing.assert_close(opposite, explore.lerp(a, -a, t.double()))
    assert torch.isfinite(explore.slerp(torch.zeros(2), torch.ones(2), t)).all()


def test_ease_cosine_values():
    w = explore.ease_cosine(torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64))
    expected = torch.tensor([0.0, (1 - math.cos(math.pi / 4)) / 2, 0.5, 1.0], dtype=torch.float64)
    torch.testing.assert_close(w, expected)


# ---- class grid / samples ----------------------------------------------------------------


def test_class_grid_fixes_noise_per_row_and_label_per_column():
    gen = FakeGenerator()
    images = explore.class_grid(gen, rows=3, seed=5)
    assert images.shape == (30, 28, 28) and images.dtype == np.uint8
    z, labels = gen.inputs()
    torch.testing.assert_close(labels, torch.eye(10).repeat(3, 1))
    torch.testing.assert_close(z, gen.latents(3, 5).repeat_interleave(10, dim=0))
    assert_images_match_inputs(gen, images)
    np.testing.assert_array_equal(images, explore.class_grid(FakeGenerator(), rows=3, seed=5))
    assert not np.array_equal(images, explore.class_grid(FakeGenerator(), rows=3, seed=6))


def test_class_grid_generates_in_chunks():
    gen = FakeGenerator()
    images = explore.class_grid(gen, rows=60)
    assert [c[0].shape[0] for c in gen.calls] == [512, 88]
    assert_images_match_inputs(gen, images)


def test_class_grid_needs_conditional_generator():
    with pytest.raises(ConfigError, match="conditional"):
        explore.class_grid(FakeGenerator(num_classes=0))


def test_sample_digits_and_validation():
    gen = FakeGenerator()
    images = explore.sample_digits(gen, [3, 1, 4], seed=2)
    assert images.shape == (3, 28, 28)
    z, labels = gen.inputs()
    torch.testing.assert_close(labels, _eye(3, 1, 4))
    torch.testing.assert_close(z, gen.latents(3, 2))
    for bad in ([10], [-1], [True], [1.5], []):
        with pytest.raises(ConfigError):
            explore.sample_digits(gen, bad)


# ---- interpolation -----------------------------------------------------------------------


def test_interpolate_conditional_mixes_labels_with_fixed_noise():
    gen = FakeGenerator()
    images = explore.interpolate(gen, start=2, end=7, steps=5, rows=2, seed=1)
    assert images.shape == (10, 28, 28)
    z, labels = gen.inputs()
    t = torch.linspace(0, 1, 5)[:, None]
    torch.testing.assert_close(labels, ((1 - t) * _eye(2) + t * _eye(7)).repeat(2, 1))
    torch.testing.assert_close(z, gen.latents(2, 1).repeat_interleave(5, dim=0))
    assert list(images[:5, 0, 7]) == [0, 25, 50, 75, 100]
    assert list(images[:5, 0, 2]) == [100, 75, 50, 25, 0]


def test_interpolate_conditional_slerp_uses_quarter_circle_weights():
    gen = FakeGenerator()
    explore.interpolate(gen, start=0, end=1, steps=3, method="slerp")
    _, labels = gen.inputs()
    s = math.sqrt(0.5)
    torch.testing.assert_close(labels[:, :2], torch.tensor([[1.0, 0.0], [s, s], [0.0, 1.0]]))


def test_interpolate_unconditional_goes_between_seed_latents():
    gen = FakeGenerator(z_dim=6, num_classes=0)
    images = explore.interpolate(gen, start=3, end=8, steps=4)
    z, labels = gen.inputs()
    assert labels is None and images.shape == (4, 28, 28)
    z0, z1 = gen.latents(1, 3)[0], gen.latents(1, 8)[0]
    assert torch.equal(z[0], z0) and torch.equal(z[-1], z1)
    torch.testing.assert_close(z[1], (2 * z0 + z1) / 3)
    assert_images_match_inputs(gen, images)

    gen = FakeGenerator(z_dim=6, num_classes=0)
    explore.interpolate(gen, start=3, end=8, steps=4, method="slerp")
    z, _ = gen.inputs()
    assert torch.equal(z[0], z0) and torch.equal(z[-1], z1)
    torch.testing.assert_close(z, explore.slerp(z0, z1, torch.linspace(0, 1, 4)))


@pytest.mark.parametrize(
    "num_classes, kwargs",
    [
        (10, {"start": 0, "end": 10}),
        (10, {"start": 0, "end": 1, "steps": 1}),
        (10, {"start": 0, "end": 1, "method": "cubic"}),
        (0, {"start": 0, "end": 1, "rows": 2}),
        (0, {"start": -1, "end": 1}),
    ],
)
def test_interpolate_rejects_bad_arguments(num_classes, kwargs):
    with pytest.raises(ConfigError):
        explore.interpolate(FakeGenerator(num_classes=num_classes), **kwargs)


# ---- clocks ------------------------------------------------------------------------------


def test_clock_frames_count_easing_and_wrap():
    gen = FakeGenerator()
    frames = clock.clock_frames(gen, frames_per_digit=4, seed=9)
    assert len(frames) == 40
    assert all(f.shape == (28, 28) and f.dtype == np.uint8 for f in frames)
    z, labels = gen.inputs()
    torch.testing.assert_close(z, gen.latents(1, 9).expand(40, -1))
    w = (1 - math.cos(math.pi / 4)) / 2
    for k in range(10):
        a, b = _eye(k)[0], _eye((k + 1) % 10)[0]
        torch.testing.assert_close(labels[4 * k], a)  # t = 0: exactly the digit
        torch.testing.assert_close(labels[4 * k + 1], (1 - w) * a + w * b)
        torch.testing.assert_close(labels[4 * k + 2], 0.5 * a + 0.5 * b)  # t = 0.5
    assert frames[38][0, 9] == 50 and frames[38][0, 0] == 50  # 9 -> 0 wrap
    assert_images_match_inputs(gen, frames)


def test_clock_frames_custom_digits_and_validation():
    gen = FakeGenerator()
    frames = clock.clock_frames(gen, frames_per_digit=2, digits=[3, 1, 4])
    _, labels = gen.inputs()
    assert len(frames) == 6
    torch.testing.assert_close(labels[[0, 2, 4]], _eye(3, 1, 4))
    torch.testing.assert_close(labels[5], 0.5 * _eye(4)[0] + 0.5 * _eye(3)[0])
    for kwargs in ({"digits": []}, {"digits": [11]}, {"frames_per_digit": 0}):
        with pytest.raises(ConfigError):
            clock.clock_frames(gen, **kwargs)


def _face_digits(frame: np.ndarray) -> list[np.ndarray]:
    """Cut the four digit tiles out of a (28, 125) face: 28 + 2 gap + 28 + 9 colon + 28 + 2 + 28."""
    return [frame[:, 0:28], frame[:, 30:58], frame[:, 67:95], frame[:, 97:125]]


@pytest.mark.parametrize(
    "time, now, nxt",
    [("23:59", [2, 3, 5, 9], [0, 0, 0, 0]), ("09:59", [0, 9, 5, 9], [1, 0, 0, 0])],
)
def test_clock_face_turns_over_to_next_minute(time, now, nxt):
    gen = FakeGenerator()
    frames = clock.clock_face_frames(gen, time, frames=3, seed=4)
    assert len(frames) == 3 and all(f.shape == (28, 125) for f in frames)
    z, labels = gen.inputs()
    torch.testing.assert_close(z, gen.latents(1, 4).expand(12, -1))
    torch.testing.assert_close(labels[0:4], _eye(*now))
    torch.testing.assert_close(labels[4:8], 0.5 * _eye(*now) + 0.5 * _eye(*nxt))
    torch.testing.assert_close(labels[8:12], _eye(*nxt))
    tiles = gen.render(z, labels)
    for f, frame in enumerate(frames):
        for p, tile in enumerate(_face_digits(frame)):
            np.testing.assert_array_equal(tile, tiles[4 * f + p])
    colon = frames[0][:, 58:67]
    assert colon.sum() == 2 * 9 * 255  # two 3x3 dots
    assert colon[8:11, 3:6].min() == 255 and colon[17:20, 3:6].min() == 255


def test_clock_face_keeps_unchanged_digits_still():
    frames = clock.clock_face_frames(FakeGenerator(), "12:34", frames=5)
    for p in range(3):
        assert all(np.array_equal(_face_digits(f)[p], _face_digits(frames[0])[p]) for f in frames)
    assert not np.array_equal(_face_digits(frames[0])[3], _face_digits(frames[-1])[3])


@pytest.mark.parametrize("time", ["24:00", "9:59", "12:60", "ab:cd", "12:345", 1234])
def test_clock_face_rejects_bad_time(time):
    with pytest.raises(ConfigError, match="HH:MM"):
        clock.clock_face_frames(FakeGenerator(), time)


# ---- amplitude sweep / latent grid -------------------------------------------------------


def test_amplitude_sweep_scales_the_one_hot_label():
    gen = FakeGenerator()
    images = explore.amplitude_sweep(gen, 6, rows=2, seed=3)
    assert images.shape == (22, 28, 28)
    z, labels = gen.inputs()
    amps = torch.linspace(0, 1.5, 11)
    torch.testing.assert_close(labels, (amps[:, None] * _eye(6)).repeat(2, 1))
    torch.testing.assert_close(z, gen.latents(2, 3).repeat_interleave(11, dim=0))
    assert list(images[:11, 0, 6]) == [0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150]
    with pytest.raises(ConfigError):
        explore.amplitude_sweep(gen, 6, amplitudes=[])
    with pytest.raises(ConfigError):
        explore.amplitude_sweep(gen, 6, amplitudes=[0.0, float("nan")])


def test_latent_grid_corners_and_orientation():
    gen = FakeGenerator(z_dim=2, num_classes=0)
    images = explore.latent_grid(gen, size=3, span=2.0)
    assert images.shape == (9, 28, 28)
    z, _ = gen.inputs()
    torch.testing.assert_close(z[[0, 2, 4, 6, 8]], torch.tensor(
        [[-2.0, 2.0], [2.0, 2.0], [0.0, 0.0], [-2.0, -2.0], [2.0, -2.0]]
    ))
    assert_images_match_inputs(gen, images)


def test_latent_grid_label_rules():
    cond = FakeGenerator(z_dim=2)
    explore.latent_grid(cond, size=2, label=5)
    torch.testing.assert_close(cond.inputs()[1], _eye(5, 5, 5, 5))
    with pytest.raises(ConfigError, match="label"):
        explore.latent_grid(cond, size=2)
    with pytest.raises(ConfigError, match="label"):
        explore.latent_grid(FakeGenerator(z_dim=2, num_classes=0), label=1)
    with pytest.raises(ConfigError, match="z_dim"):
        explore.latent_grid(FakeGenerator(z_dim=3))


# ---- files -------------------------------------------------------------------------------


def test_save_wrappers_write_grids_with_the_right_layout(tmp_path):
    gen = FakeGenerator()
    path = explore.save_class_grid(gen, tmp_path / "classes.png", rows=2)
    with Image.open(path) as im:
        assert im.size == (2 + 10 * 30, 2 + 2 * 30)
    path = explore.save_interpolation(gen, tmp_path / "interp.png", start=1, end=2, steps=4, rows=3)
    with Image.open(path) as im:
        assert im.size == (2 + 4 * 30, 2 + 3 * 30)
    path = explore.save_amplitude_sweep(gen, tmp_path / "amp.png", 3, amplitudes=[0, 1], rows=4)
    with Image.open(path) as im:
        assert im.size == (2 + 2 * 30, 2 + 4 * 30)
    path = explore.save_digits(gen, tmp_path / "digits.png", [1, 2, 3])
    with Image.open(path) as im:
        assert im.size == (2 + 3 * 30, 2 + 30)
    path = explore.save_latent_grid(FakeGenerator(z_dim=2), tmp_path / "z.png", size=3, label=0)
    with Image.open(path) as im:
        assert im.size == (3 * 28, 3 * 28)


def test_save_clock_gif_frames_and_timing(tmp_path):
    path = clock.save_clock(FakeGenerator(), tmp_path / "clock.gif", fps=20, frames_per_digit=4)
    with Image.open(path) as im:
        assert im.n_frames == 40 and im.size == (112, 112) and im.info["duration"] == 50
    path = clock.save_clock(
        FakeGenerator(), tmp_path / "face.gif", frames_per_digit=3, time_hhmm="23:59", scale=1
    )
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.size == (125, 28)


def test_save_clock_rejects_other_formats_and_explains_missing_video_extra(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"\.gif or \.mp4"):
        clock.save_clock(FakeGenerator(), tmp_path / "clock.png", frames_per_digit=2)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(ConfigError, match=r"minigan\[video\]"):
        clock.save_clock(FakeGenerator(), tmp_path / "clock.mp4", frames_per_digit=2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dataset, digits", [("fashion", False), ("emnist-digits", True), ("mnist", True)])
def test_the_clock_is_a_digit_feature(dataset, digits):
    gen = FakeGenerator()
    gen.config = SimpleNamespace(dataset=dataset)
    if digits:
        assert len(clock.clock_frames(gen, frames_per_digit=1)) == 10
        assert len(clock.clock_face_frames(gen, "12:34", frames=2)) == 2
    else:
        for make in (lambda: clock.clock_frames(gen, frames_per_digit=1),
                     lambda: clock.clock_face_frames(gen, "12:34", frames=2)):
            with pytest.raises(ConfigError, match="the digit clock draws digits, and this run learned "
                                                  "Fashion-MNIST's classes"):
                make()
