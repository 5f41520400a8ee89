"""The playground's API through Starlette's test client: every endpoint, good and bad input.

Pictures are checked against the Python API and against the CLI command each response names, pixel
for pixel; errors must be one-line JSON with a 4xx status.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shlex
import shutil
import sys
import threading

import numpy as np
import pytest
import torch

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install 'minigan[serve]'")
pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install 'minigan[serve]'")
from PIL import Image  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from serve_runs import tiny_runs  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

import minigan  # noqa: E402
from minigan import visual  # noqa: E402
from minigan.cli import main  # noqa: E402
from minigan.run.checkpoint import tensor_digest  # noqa: E402
from minigan.sampling import clock, explore  # noqa: E402
from minigan.serve import app as app_module  # noqa: E402
from minigan.serve import create_app, params, registry  # noqa: E402
from minigan.serve.latent import DIRECTION_SAMPLES, DIRECTION_SEED, cached_directions, pixels_01  # noqa: E402
from minigan.serve.projection import PNG_MAGIC, mnist_frame  # noqa: E402


@pytest.fixture(scope="session")
def runs(tmp_path_factory, mnist_dir):
    return tiny_runs(tmp_path_factory, mnist_dir)


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app([runs])) as test_client:
        yield test_client


def pixels(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def run_command(response, tmp_path) -> np.ndarray:
    """Run the CLI command a response names (its output path put in tmp_path); the picture it wrote."""
    words = shlex.split(response.headers["x-minigan-command"])
    assert words[0] == "minigan"
    out = tmp_path / words[-1]
    assert main([*words[1:-1], str(out)]) == 0
    return np.asarray(Image.open(out)) if out.suffix == ".png" else out.read_bytes()


def error(response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert message and "\n" not in message
    return message


def test_runs_are_listed_with_their_facts(client):
    data = client.get("/api/runs").json()
    by_id = {run["id"]: run for run in data["runs"]}
    assert set(by_id) == {"fast", "fast-cond", "tiny-2d"}
    assert by_id["fast"]["preset"] == "fast" and by_id["fast"]["step"] == 30 and by_id["fast"]["ready"]
    assert by_id["fast-cond"]["conditional"] and by_id["fast-cond"]["num_classes"] == 10
    assert by_id["fast-cond"]["digits"] and not by_id["fast"]["digits"]
    assert by_id["tiny-2d"]["z_dim"] == 2 and by_id["fast"]["fid"] is None
    assert data["limits"]["max_grid"] == params.MAX_GRID
    one = client.get("/api/runs/fast").json()
    assert one["config"]["preset"] == "fast" and one["config"]["z_dim"] == 64


def test_last_fid_comes_from_eval_then_training_evals(runs, tmp_path):
    run = tmp_path / "r"
    shutil.copytree(runs / "fast", run)
    (run / "metrics.jsonl").write_text('{"step": 10, "fid": 300.5}\n{"step": 20, "fid": 250.25}\n{"step": 3')
    table = registry.RunTable([run])
    assert table.get("r").last_fid() == {"fid": 250.25, "num": None, "source": "training eval at step 20"}
    (run / "metrics.json").write_text(json.dumps({"metrics": {"fid": 99.5, "num_images": 10000}}))
    assert table.get("r").last_fid() == {"fid": 99.5, "num": 10000, "source": "minigan eval"}


def test_samples_are_the_cli_picture_and_follow_the_seed(client, runs, tmp_path):
    response = client.get("/api/runs/fast/samples.png?seed=5&grid=3")
    grid = pixels(response)
    assert grid.shape == (2 + 3 * 30, 2 + 3 * 30)
    assert response.headers["x-minigan-command"] == (
        f"minigan sample {runs / 'fast'} --num 9 --seed 5 --grid seed0005.png")
    np.testing.assert_array_equal(grid, run_command(response, tmp_path))
    gen = minigan.load_generator(runs / "fast")
    np.testing.assert_array_equal(grid, visual.make_grid(gen.sample(9, 5)[0], nrow=3))
    np.testing.assert_array_equal(grid, pixels(client.get("/api/runs/fast/samples.png?seed=5&grid=3")))
    assert not np.array_equal(grid, pixels(client.get("/api/runs/fast/samples.png?seed=6&grid=3")))


def test_conditional_samples_one_class_and_the_class_grid(client, tmp_path):
    response = client.get("/api/runs/fast-cond/samples.png?seed=2&grid=2&digit=7")
    assert "--digit 7 --num 4 --seed 2" in response.headers["x-minigan-command"]
    np.testing.assert_array_equal(pixels(response), run_command(response, tmp_path))
    response = client.get("/api/runs/fast-cond/samples.png?seed=3&classes=1")
    assert pixels(response).shape == (2 + 10 * 30, 2 + 10 * 30)
    assert "--class-grid class_grid-seed0003.png" in response.headers["x-minigan-command"]
    np.testing.assert_array_equal(pixels(response), run_command(response, tmp_path))


def test_interpolation_png_is_the_cli_strip_and_the_gif_has_every_step(client, runs, tmp_path):
    for run, ends in (("fast", (4, 9)), ("fast-cond", (1, 7))):
        url = f"/api/runs/{run}/interpolate.png?from={ends[0]}&to={ends[1]}&steps=6&method=slerp&seed=3"
        response = client.get(url)
        strip = pixels(response)
        assert strip.shape == (32, 2 + 6 * 30)
        np.testing.assert_array_equal(strip, run_command(response, tmp_path))
    gen = minigan.load_generator(runs / "fast")
    gif = client.get("/api/runs/fast/interpolate.gif?from=4&to=9&steps=6&scale=2&fps=10")
    assert gif.headers["content-type"] == "image/gif"
    with Image.open(io.BytesIO(gif.content)) as image:
        assert image.size == (56, 56) and image.n_frames == 6
        image.seek(5)
        last = np.asarray(image.convert("L"))
    expected = explore.interpolate(gen, start=4, end=9, steps=6)[-1]
    np.testing.assert_array_equal(last, np.repeat(np.repeat(expected, 2, 0), 2, 1))


def test_clock_sprite_and_gif(client, runs, tmp_path):
    gen = minigan.load_generator(runs / "fast-cond")
    sprite = pixels(client.get("/api/runs/fast-cond/clock.png?time=09:59&frames=3&seed=4"))
    faces = clock.clock_face_frames(gen, "09:59", frames=3, seed=4)
    np.testing.assert_array_equal(sprite, np.concatenate(faces, axis=0))
    response = client.get("/api/runs/fast-cond/clock.gif?time=23:59&frames=4&fps=10&seed=1&scale=1")
    assert response.headers["content-type"] == "image/gif"
    assert response.content == run_command(response, tmp_path)  # the CLI writes the same bytes
    loop = client.get("/api/runs/fast-cond/clock.gif?frames=2&scale=1")
    with Image.open(io.BytesIO(loop.content)) as image:
        assert image.n_frames == 20
    assert "conditional MNIST" in error(client.get("/api/runs/fast/clock.png?time=10:00"), 400)
    assert "24-hour" in error(client.get("/api/runs/fast-cond/clock.png?time=24:00"), 400)
    assert "required" in error(client.get("/api/runs/fast-cond/clock.png"), 400)


def test_amplitude_slider_and_sweep(client, runs, tmp_path):
    gen = minigan.load_generator(runs / "fast-cond")
    one = pixels(client.get("/api/runs/fast-cond/amplitude.png?digit=4&amplitude=0.35&seed=2"))
    expected = explore.amplitude_sweep(gen, 4, amplitudes=[0.35], rows=1, seed=2)[0]
    np.testing.assert_array_equal(one, expected)
    response = client.get("/api/runs/fast-cond/amplitude.png?digit=4&seed=2&rows=2")
    np.testing.assert_array_equal(pixels(response), run_command(response, tmp_path))
    assert "unconditional" in error(client.get("/api/runs/fast/amplitude.png?digit=1"), 400)
    assert "required" in error(client.get("/api/runs/fast-cond/amplitude.png"), 400)


def test_principal_directions_are_orthonormal_and_measure_output_change(client, runs):
    info = client.get("/api/runs/fast/directions").json()
    assert info["mode"] == "principal" and info["count"] == 8 and info["z_dim"] == 64
    rms = info["rms"]
    assert all(a >= b for a, b in zip(rms, rms[1:], strict=False)) and rms[-1] > 0
    table = registry.RunTable([runs / "fast"])
    gen = table.get("fast").generator()
    directions, values = cached_directions(table.get("fast"), gen)
    torch.testing.assert_close(directions @ directions.T, torch.eye(8), atol=1e-5, rtol=0)
    # the reported RMS is the mean pixel change per unit move: check it by central differences
    z = gen.latents(DIRECTION_SAMPLES, DIRECTION_SEED)
    h = 1e-2
    with torch.no_grad():
        up = pixels_01(gen, gen.module(z + h * directions[0], None))
        down = pixels_01(gen, gen.module(z - h * directions[0], None))
    measured = ((up - down) / (2 * h)).pow(2).mean().sqrt()
    torch.testing.assert_close(measured, values[0], rtol=2e-2, atol=0)
    assert rms[0] == pytest.approx(float(values[0]), abs=1e-5)


def test_latent_sliders_move_along_the_directions(client, runs):
    table = registry.RunTable([runs / "fast"])
    entry = table.get("fast")
    gen = entry.generator()
    directions, _ = cached_directions(entry, gen)
    still = pixels(client.get("/api/runs/fast/latent.png?seed=3"))
    np.testing.assert_array_equal(still, gen.generate(gen.latents(1, 3))[0].numpy())
    moved = pixels(client.get("/api/runs/fast/latent.png?seed=3&move=1.5,0,-2"))
    z = gen.latents(1, 3) + 1.5 * directions[0] - 2 * directions[2]
    np.testing.assert_array_equal(moved, gen.generate(z)[0].numpy())
    assert not np.array_equal(still, moved)
    atlas = pixels(client.get("/api/runs/fast/directions.png?seed=3&span=2&columns=5"))
    assert atlas.shape == (2 + 8 * 30, 2 + 5 * 30)
    row, column = 6, 4  # direction 7 at +2
    cell = atlas[2 + row * 30: 30 + row * 30, 2 + column * 30: 30 + column * 30]
    np.testing.assert_array_equal(cell, gen.generate(gen.latents(1, 3) + 2.0 * directions[6])[0].numpy())
    assert "no principal directions" in error(client.get("/api/runs/tiny-2d/directions.png"), 400)
    assert "at most 8" in error(client.get("/api/runs/fast/latent.png?move=" + ",".join(["0"] * 9)), 400)
    assert "not both" in error(client.get("/api/runs/fast/latent.png?move=1&z=1"), 400)


def test_two_d_latent_raw_coordinates_and_map(client, runs):
    gen = minigan.load_generator(runs / "tiny-2d")
    assert client.get("/api/runs/tiny-2d/directions").json()["mode"] == "raw"
    z = client.get("/api/runs/tiny-2d/z?seed=8").json()["z"]
    torch.testing.assert_close(torch.tensor(z), gen.latents(1, 8)[0], rtol=0, atol=0)
    at = pixels(client.get("/api/runs/tiny-2d/latent.png?z=0.5,-1.25"))
    np.testing.assert_array_equal(at, gen.generate(torch.tensor([[0.5, -1.25]]))[0].numpy())
    grid = pixels(client.get("/api/runs/tiny-2d/map.png?size=5&span=2"))
    expected = explore.latent_grid(gen, size=5, span=2.0)
    np.testing.assert_array_equal(grid, visual.make_grid(expected, nrow=5, padding=0))
    assert "2 comma-separated" in error(client.get("/api/runs/tiny-2d/latent.png?z=1,2,3"), 400)
    assert "z_dim 64" in error(client.get("/api/runs/fast/map.png"), 400)


def png_of(array: np.ndarray, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode if array.ndim == 2 else None).save(buffer, format="PNG")
    return buffer.getvalue()


def a_drawing(side: int = 280) -> np.ndarray:
    image = np.zeros((side, side), np.uint8)
    image[side // 5: side * 4 // 5, side * 2 // 5: side * 3 // 5] = 255  # a thick "1"
    return image


def test_drawings_are_framed_like_mnist():
    frame = mnist_frame(a_drawing().astype(np.float32) / 255)
    rows, cols = np.nonzero(frame > 0.5)
    assert frame.shape == (28, 28) and rows.max() - rows.min() + 1 == 20  # the long side fits 20 px
    ys, xs = np.indices(frame.shape)
    centre = ((ys * frame).sum() / frame.sum(), (xs * frame).sum() / frame.sum())
    np.testing.assert_allclose(centre, (13.5, 13.5), atol=0.6)


def test_project_finds_a_latent_that_reproduces_its_picture(client, runs):
    gen = minigan.load_generator(runs / "fast-cond")
    body = png_of(a_drawing())
    quick = client.post("/api/runs/fast-cond/project?steps=1", content=body).json()
    found = client.post("/api/runs/fast-cond/project?steps=40&seed=1", content=body).json()
    assert found["steps"] == 40 and 0 <= found["digit"] <= 9 and len(found["z"]) == 64
    assert found["mse"] < quick["mse"]
    assert set(found["class_mse"]) == {str(d) for d in range(10)}
    assert found["mse"] == pytest.approx(min(found["class_mse"].values()), rel=1e-6)
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(found["image"].split(",")[1]))))
    again = gen.generate(torch.tensor([found["z"]]), torch.tensor([found["digit"]]))[0].numpy()
    np.testing.assert_array_equal(image, again)
    fixed = client.post("/api/runs/fast-cond/project?steps=5&digit=3", content=body).json()
    assert fixed["digit"] == 3 and "class_mse" not in fixed
    plain = client.post("/api/runs/fast/project?steps=5", content=body).json()
    assert plain["digit"] is None


def test_project_is_bounded_in_time(client):
    body = png_of(a_drawing())
    found = client.post("/api/runs/fast-cond/project?steps=1000&seconds=0.2", content=body).json()
    assert found["steps"] < 1000 and 0.2 <= found["seconds"] < 2.0


def test_light_backgrounds_and_alpha_are_read_as_ink_on_black(client):
    inverted = client.post("/api/runs/fast/project?steps=1", content=png_of(255 - a_drawing())).json()
    plain = client.post("/api/runs/fast/project?steps=1", content=png_of(a_drawing())).json()
    assert inverted["target"] == plain["target"]
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 255, a_drawing()  # white ink, transparent elsewhere
    alpha = client.post("/api/runs/fast/project?steps=1", content=png_of(rgba)).json()
    assert alpha["target"] == plain["target"]


def test_bad_drawings_are_refused(client):
    url = "/api/runs/fast/project?steps=1"
    assert "PNG" in error(client.post(url, content=b"GIF89a...."), 415)
    jpeg = io.BytesIO()
    Image.fromarray(a_drawing()).save(jpeg, format="JPEG")
    error(client.post(url, content=jpeg.getvalue()), 415)
    assert "readable" in error(client.post(url, content=PNG_MAGIC + b"garbage"), 400)
    assert "empty" in error(client.post(url, content=png_of(np.zeros((50, 50), np.uint8))), 400)
    assert "per side" in error(client.post(url, content=png_of(np.zeros((1, 1100), np.uint8))), 413)
    big = png_of(np.random.default_rng(0).integers(0, 256, (1000, 1000), dtype=np.uint8))  # ~1 MB
    assert len(big) > params.MAX_UPLOAD
    assert "limit" in error(client.post(url, content=big), 413)  # refused on its Content-Length
    chunks = [big[i:i + 65536] for i in range(0, len(big), 65536)]
    assert "limit" in error(client.post(url, content=iter(chunks)), 413)  # chunked: counted as it comes
    drawing = png_of(a_drawing())
    assert "steps" in error(client.post("/api/runs/fast/project?steps=1001", content=drawing), 400)
    assert "seconds" in error(client.post("/api/runs/fast/project?seconds=11", content=drawing), 400)


def test_morph_goes_from_the_projection_to_a_seed(client, runs):
    gen = minigan.load_generator(runs / "fast-cond")
    start = gen.latents(1, 11)[0]
    body = {"z": start.tolist(), "digit": 2, "to_seed": 5, "to_digit": 8, "steps": 4}
    strip = pixels(client.post("/api/runs/fast-cond/morph.png", json=body))
    first = gen.generate(start[None], torch.tensor([2]))[0].numpy()
    last = gen.generate(gen.latents(1, 5), torch.tensor([8]))[0].numpy()
    np.testing.assert_array_equal(strip[2:30, 2:30], first)
    np.testing.assert_array_equal(strip[2:30, 2 + 3 * 30: 30 + 3 * 30], last)
    url = "/api/runs/fast-cond/morph.png"
    assert "64 numbers" in error(client.post(url, json={**body, "z": [0.0] * 3}), 400)
    assert "unknown field" in error(client.post(url, json={**body, "zz": 1}), 400)
    assert "JSON object" in error(client.post(url, content=b"[1, 2"), 400)
    assert "steps" in error(client.post(url, json={**body, "steps": 65}), 400)
    assert "to_digit" in error(client.post(url, json={**body, "to_digit": 10}), 400)
    assert "z must be" in error(client.post(url, content=json.dumps({**body, "z": [float("nan")] * 64})), 400)
    assert "limit" in error(client.post(url, content=b" " * (params.MAX_JSON + 1)), 413)


def test_watching_reads_stats_metrics_and_the_newest_progress_grid(client, runs):
    data = client.get("/api/runs/fast/training").json()
    assert [r["step"] for r in data["stats"]] == [10, 20, 30]
    assert set(data["stats"][0]) == {"step", "loss_d", "loss_g", "d_real", "d_fake"}
    assert data["metrics"] == [] and data["progress_step"] == 30 and data["last_step"] == 30
    progress = client.get("/api/runs/fast/progress.png")
    assert progress.content == (runs / "fast" / "progress" / "step-000000030.png").read_bytes()
    assert "no progress grid" in error(client.get("/api/runs/fast-cond/progress.png"), 404)


def test_a_lone_generator_file_is_served_but_not_watched(runs):
    with TestClient(create_app([runs / "fast" / "generator.safetensors"])) as lone:
        assert pixels(lone.get("/api/runs/generator/samples.png?grid=1")).shape == (32, 32)
        assert "not a run folder" in error(lone.get("/api/runs/generator/training"), 400)


@pytest.mark.parametrize("path", [
    "/api/runs/../../etc/passwd", "/api/runs/..%2F..%2Fetc%2Fpasswd", "/api/runs/%2E%2E/samples.png",
    "/api/runs/..%2F..%2Fetc%2Fpasswd/samples.png", "/api/runs/fast%2F..%2Ffast-cond/samples.png",
    "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/api/runs/etc/passwd",
])
def test_path_traversal_reaches_no_file(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "root:" not in response.text and response.json()["error"]


def test_only_named_runs_are_served(runs, tmp_path):
    shutil.copytree(runs / "fast", tmp_path / "secret")
    with TestClient(create_app([runs / "fast"])) as one:
        assert "unknown run 'secret'" in error(one.get("/api/runs/secret/samples.png"), 404)
        assert [r["id"] for r in one.get("/api/runs").json()["runs"]] == ["fast"]


@pytest.mark.parametrize("url, fragment", [
    ("/api/runs/fast/samples.png?grid=17", "grid must be an integer in 1..16"),
    ("/api/runs/fast/samples.png?grid=0", "grid must be"),
    ("/api/runs/fast/samples.png?seed=-1", "seed must be"),
    ("/api/runs/fast/samples.png?seed=4294967296", "seed must be"),
    ("/api/runs/fast/samples.png?seed=1e3", "seed must be"),
    ("/api/runs/fast/samples.png?seed=" + "9" * 5000, "seed must be"),
    ("/api/runs/fast/samples.png?sed=1", "unknown parameter 'sed'"),
    ("/api/runs/fast/samples.png?seed=1&seed=2", "more than once"),
    ("/api/runs/fast/samples.png?digit=3", "unconditional"),
    ("/api/runs/fast/samples.png?classes=1", "conditional"),
    ("/api/runs/fast-cond/samples.png?digit=10", "digit must be an integer in 0..9"),
    ("/api/runs/fast/interpolate.png?steps=65", "steps must be"),
    ("/api/runs/fast/interpolate.png?steps=1", "steps must be"),
    ("/api/runs/fast/interpolate.png?method=cubic", "method must be one of linear, slerp"),
    ("/api/runs/fast-cond/interpolate.png?from=12", "from must be"),
    ("/api/runs/fast/interpolate.gif?scale=9", "scale must be"),
    ("/api/runs/fast/interpolate.gif?fps=nan", "fps must be a number"),
    ("/api/runs/fast-cond/clock.png?time=10:00&frames=121", "frames must be"),
    ("/api/runs/fast-cond/clock.gif?frames=61", "frames must be"),
    ("/api/runs/fast/latent.png?move=6", "move must be a number in -5..5"),
    ("/api/runs/fast/latent.png?move=inf", "move must be"),
    ("/api/runs/tiny-2d/map.png?size=33", "size must be"),
    ("/api/runs/tiny-2d/map.png?span=0", "span must be"),
    ("/api/runs/fast-cond/amplitude.png?digit=1&amplitude=3.5", "amplitude must be"),
    ("/api/runs/nope/samples.png", "unknown run 'nope'"),
    ("/api/runs/fast/nothing", "no such page"),
])
def test_bad_input_is_a_one_line_json_4xx(client, url, fragment):
    response = client.get(url)
    assert 400 <= response.status_code < 500
    assert fragment in error(response, response.status_code)


def test_wrong_method_is_405(client):
    assert "not allowed" in error(client.get("/api/runs/fast/project"), 405)
    assert "not allowed" in error(client.post("/api/runs/fast/samples.png"), 405)


def test_generator_is_reloaded_when_its_file_changes(runs, tmp_path, capsys):
    run = tmp_path / "live"
    shutil.copytree(runs / "fast", run)
    path = run / "generator.safetensors"
    with TestClient(create_app([run])) as live:
        before = pixels(live.get("/api/runs/live/samples.png?grid=2"))
        assert live.get("/api/runs/live").json()["step"] == 30
        tensors = load_file(str(path))
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata()
        tensors = {k: v + 0.5 * torch.randn_like(v) if v.is_floating_point() else v
                   for k, v in tensors.items()}
        save_file(tensors, str(tmp_path / "new.safetensors"),
                  metadata={**metadata, "step": "31", "sha256": tensor_digest(tensors)})
        os.replace(tmp_path / "new.safetensors", path)  # as training writes it: atomically
        after = pixels(live.get("/api/runs/live/samples.png?grid=2"))
        assert not np.array_equal(before, after)
        assert live.get("/api/runs/live").json()["step"] == 31
        np.testing.assert_array_equal(after, pixels(live.get("/api/runs/live/samples.png?grid=2")))
        path.write_bytes(b"not a generator")  # a damaged file: keep serving the last good weights
        np.testing.assert_array_equal(after, pixels(live.get("/api/runs/live/samples.png?grid=2")))
    assert "keeping the last generator" in capsys.readouterr().err


def test_a_run_without_a_generator_yet_is_listed_but_answers_409(runs, tmp_path):
    run = tmp_path / "starting"
    run.mkdir()
    shutil.copy(runs / "fast" / "config.json", run / "config.json")
    with TestClient(create_app([run])) as starting:
        info = starting.get("/api/runs").json()["runs"][0]
        assert not info["ready"] and info["preset"] == "fast" and "first checkpoint" in info["error"]
        assert "no generator yet" in error(starting.get("/api/runs/starting/samples.png"), 409)


def test_generator_calls_are_serialised_and_a_full_queue_is_503(runs, monkeypatch):
    app = create_app([runs / "fast"])
    with TestClient(app) as c:
        generator_class = type(minigan.load_generator(runs / "fast"))
        active, peak, lock = [0], [0], threading.Lock()
        original = generator_class.generate

        def counting(self, z, labels=None):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            try:
                return original(self, z, labels)
            finally:
                with lock:
                    active[0] -= 1

        monkeypatch.setattr(generator_class, "generate", counting)
        results = []
        threads = [threading.Thread(target=lambda s=s: results.append(
            c.get(f"/api/runs/fast/samples.png?seed={s}&grid=4").status_code)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200] * 8 and peak[0] == 1
        monkeypatch.setattr(registry, "MAX_WAITING", 0)
        assert "busy" in error(c.get("/api/runs/fast/samples.png"), 503)


def test_page_and_assets_are_local(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    static = app_module.STATIC
    for asset in [p for p in static.rglob("*") if p.is_file()]:
        text = asset.read_text()
        assert "http://" not in text and "https://" not in text and "@import" not in text, asset
        relative = asset.relative_to(static).as_posix()
        assert client.get(f"/static/{relative}").status_code == 200
    for name in ("main.js", "samples.js", "latent.js", "interpolate.js", "clock.js", "draw.js", "watch.js"):
        assert (static / "js" / name).is_file()


def test_host_header_is_checked_when_serving_loopback(runs):
    app = app_module.create_app(registry.RunTable([runs / "fast"]), app_module.LOOPBACK_NAMES)
    with TestClient(app, base_url="http://127.0.0.1:8000") as good:
        assert good.get("/api/runs").status_code == 200
    with TestClient(app, base_url="http://attacker.example") as bad:
        assert bad.get("/api/runs").status_code == 400


def test_cli_serve_errors_are_one_line(runs, tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    assert main(["serve", str(tmp_path)]) == 2
    assert "holds none" in capsys.readouterr().err
    assert main(["serve", str(runs / "fast"), "--port", "70000"]) == 2
    assert "--port must be in 0..65535" in capsys.readouterr().err
    # a non-loopback address warns first; this one (TEST-NET-1) cannot be bound, so nothing listens
    assert main(["serve", str(runs / "fast"), "--host", "192.0.2.1", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "is not loopback" in err and "cannot listen on 192.0.2.1" in err


def test_cli_serve_without_the_extra_names_it(runs, monkeypatch, capsys):
    import minigan.serve

    monkeypatch.setitem(sys.modules, "starlette", None)  # `import starlette` now raises ImportError
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    monkeypatch.delitem(sys.modules, "minigan.serve.app")
    monkeypatch.delattr(minigan.serve, "app")
    assert main(["serve", str(runs / "fast")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'minigan[serve]'" in err
