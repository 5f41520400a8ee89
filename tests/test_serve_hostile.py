"""The playground under a hostile page or a careless disk: damaged runs, odd bodies, floods, cross-site
requests and half-open connections. Each answer is a one-line JSON error or a closed socket, never a
500, a traceback, or a server that stops answering.

Timings and memory are measured by benchmarks/serve_load.py; these tests check behaviour only.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install 'minigan[serve]'")
pytest.importorskip("uvicorn", reason="the serve extra is not installed: pip install 'minigan[serve]'")
from PIL import Image  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from serve_runs import tiny_runs  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

import minigan  # noqa: E402
from minigan.serve import app as app_module  # noqa: E402
from minigan.serve import create_app, guard, registry  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def runs(tmp_path_factory, mnist_dir):
    return tiny_runs(tmp_path_factory, mnist_dir)


def error(response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert message and "\n" not in message
    return message


def png(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)))


def damage(path, how: str) -> None:
    """Replace a generator file atomically, as a training run would, with a damaged one."""
    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as handle:
        metadata = dict(handle.metadata())
    if how == "config":
        metadata["config"] = "{not json"
    elif how == "tensor":
        tensors.pop(sorted(tensors)[0])
    save_file(tensors, str(path) + ".new", metadata=metadata)
    os.replace(str(path) + ".new", path)


@pytest.mark.parametrize("how", ["config", "tensor"])
def test_a_damaged_generator_is_its_runs_state_and_the_last_good_weights_stay(runs, tmp_path, how, capsys):
    run = tmp_path / "live"
    shutil.copytree(runs / "fast", run)
    with TestClient(create_app([run, runs / "fast-cond"])) as client:
        before = png(client.get("/api/runs/live/samples.png?grid=2"))
        damage(run / "generator.safetensors", how)
        listing = client.get("/api/runs")
        assert listing.status_code == 200, listing.text
        rows = {row["id"]: row for row in listing.json()["runs"]}
        assert rows["live"]["ready"] and rows["live"]["step"] == 30 and rows["live"]["error"] is None
        assert "serving the last good one" in rows["live"]["warning"]
        assert "\n" not in rows["live"]["warning"]
        assert rows["fast-cond"]["ready"] and rows["fast-cond"]["warning"] is None
        np.testing.assert_array_equal(before, png(client.get("/api/runs/live/samples.png?grid=2")))
        assert client.get("/api/runs/live").json()["step"] == 30
    assert "keeping the last generator of live" in capsys.readouterr().err
    # a server started on the damaged run: listed with its reason, its pictures a one-line 409
    with TestClient(create_app([run, runs / "fast-cond"])) as fresh:
        listing = fresh.get("/api/runs")
        assert listing.status_code == 200, listing.text
        row = listing.json()["runs"][0]
        assert not row["ready"] and row["step"] is None and "\n" not in row["error"]
        assert "no usable generator" in error(fresh.get("/api/runs/live/samples.png"), 409)
        assert fresh.get("/api/runs/live").status_code == 200
        assert png(fresh.get("/api/runs/fast-cond/samples.png?grid=1")).shape == (32, 32)


Z = b'"z": [' + b", ".join([b"0"] * 64) + b"]"  # the fast run's z_dim


@pytest.mark.parametrize("body, fragment", [
    (b"[" * 30000, "nested too deeply"),
    (b'{"z": ' + b"[" * 20 + b"0" + b"]" * 20 + b"}", "nested too deeply"),
    (b'{"steps": ' + b"9" * 5000 + b"}", "not valid JSON"),
    (b'{"z": [' + b"9" * 400 + b", 0" * 63 + b"]}", "z must be a number"),  # past float's range
    (b'{"z": [1e999' + b", 0" * 63 + b"]}", "z must be a number"),
    (b"{" + Z + b', "to_seed": ' + b"9" * 400 + b"}", "to_seed must be"),
    (b"{" + Z + b', "steps": -1e999}', "steps must be"),
    (b"\xff\xfe{}", "JSON object"),
])
def test_hostile_json_bodies_are_a_one_line_400(runs, body, fragment, capsys):
    with TestClient(create_app([runs / "fast"])) as client:
        response = client.post("/api/runs/fast/morph.png", content=body)
        assert fragment in error(response, 400)
    assert "Traceback" not in capsys.readouterr().err


def test_image_encoding_never_runs_on_the_event_loop(runs, monkeypatch):
    """Every PNG and GIF the API answers with is encoded in a worker thread, not the loop's."""
    loop_threads, save_threads = set(), []
    original_save = Image.Image.save

    def recording_save(self, *args, **kwargs):
        save_threads.append(threading.get_ident())
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", recording_save)
    app = create_app([runs])

    async def on_loop(scope, receive, send):
        loop_threads.add(threading.get_ident())
        await app(scope, receive, send)

    drawing = np.zeros((56, 56), np.uint8)
    drawing[10:46, 24:32] = 255
    buffer = io.BytesIO()
    original_save(Image.fromarray(drawing), buffer, format="PNG")
    z = minigan.load_generator(runs / "fast-cond").latents(1, 0)[0].tolist()
    with TestClient(on_loop) as client:
        for url in ["fast/samples.png?grid=2", "fast/latent.png?move=1", "fast/directions.png?columns=2",
                    "tiny-2d/map.png?size=2", "fast/interpolate.png?steps=2", "fast/interpolate.gif?steps=2",
                    "fast-cond/clock.png?time=09:59&frames=2", "fast-cond/clock.gif?time=09:59&frames=2",
                    "fast-cond/amplitude.png?digit=1", "fast-cond/samples.png?classes=1"]:
            assert client.get(f"/api/runs/{url}").status_code == 200, url
        drawn = client.post("/api/runs/fast-cond/project?steps=1", content=buffer.getvalue())
        assert drawn.status_code == 200
        assert client.post("/api/runs/fast-cond/morph.png", json={"z": z, "steps": 2}).status_code == 200
    assert len(loop_threads) == 1 and len(save_threads) >= 13
    assert not loop_threads & set(save_threads)


class Served:
    """The real server (uvicorn, h11, our protocol) on 127.0.0.1 in a thread; stopped on exit."""

    def __init__(self, paths) -> None:
        self.sock = app_module._bind("127.0.0.1", 0)
        self.server = app_module.server(registry.RunTable(paths), app_module.LOOPBACK_NAMES)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "the server did not start"
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code


def test_past_max_waiting_costly_requests_get_503_at_once(runs, monkeypatch):
    """MAX_WAITING + 16 requests while the generator is stuck: 16 are refused, the rest are served."""
    release = threading.Event()
    generator_class = type(minigan.load_generator(runs / "fast"))
    original = generator_class.sample

    def stuck(self, *args, **kwargs):
        release.wait(timeout=60)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(generator_class, "sample", stuck)
    extra = 16
    with Served([runs / "fast"]) as address, ThreadPoolExecutor(registry.MAX_WAITING + extra) as pool:
        urls = [f"http://{address}/api/runs/fast/samples.png?grid=1&seed={s}"
                for s in range(registry.MAX_WAITING + extra)]
        futures = [pool.submit(status_of, url) for url in urls]
        deadline = time.monotonic() + 30
        while sum(f.done() for f in futures) < extra and time.monotonic() < deadline:
            time.sleep(0.05)
        refused = [f.result() for f in futures if f.done()]
        release.set()
        statuses = [f.result() for f in futures]
    assert refused == [503] * extra
    assert sorted(statuses) == [200] * registry.MAX_WAITING + [503] * extra


def test_cross_site_requests_are_refused_and_the_own_page_and_scripts_are_served(runs, monkeypatch):
    from minigan.serve import projection

    calls = []
    monkeypatch.setattr(projection, "project", lambda *a, **k: calls.append(a) or {})
    drawing = b"\x89PNG\r\n\x1a\nnot read"  # refused before the body matters
    with TestClient(create_app([runs / "fast"])) as client:
        url = "/api/runs/fast/project?steps=1"
        for headers in ({"Origin": "http://evil.example", "Content-Type": "text/plain"},
                        {"Origin": "null"}, {"Origin": "http://127.0.0.1:9999"},
                        {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                        {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"}):
            refused = client.post(url, content=drawing, headers=headers)
            assert "cross-site request refused" in error(refused, 403)
        assert calls == []
        samples = "/api/runs/fast/samples.png?grid=1"
        assert "cross-site" in error(client.get(samples, headers={"Sec-Fetch-Site": "cross-site"}), 403)
        for headers in ({}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
                        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}):
            assert client.get(samples, headers=headers).status_code == 200, headers
        # a link from elsewhere may open the page itself; only the API is guarded
        assert client.get("/", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_a_request_head_that_never_ends_is_closed(runs, monkeypatch):
    monkeypatch.setattr(guard, "HEADER_SECONDS", 0.5)
    with Served([runs / "fast"]) as address:
        host, port = address.split(":")
        with socket.create_connection((host, int(port)), timeout=10) as half:
            half.sendall(b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            started = time.monotonic()
            assert half.recv(1024) == b""  # closed by the server, not by our 10 s timeout
            assert time.monotonic() - started < 5
        with socket.create_connection((host, int(port)), timeout=10) as silent:
            assert silent.recv(1024) == b""
        with socket.create_connection((host, int(port)), timeout=10) as slow_but_whole:
            slow_but_whole.sendall(b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            time.sleep(0.3)
            slow_but_whole.sendall(b"Connection: close\r\n\r\n")
            answer = b""
            while chunk := slow_but_whole.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["runs"][0]["id"] == "fast"


@pytest.mark.slow
def test_the_load_benchmark_reports_what_the_docs_quote(runs, tmp_path):
    """benchmarks/serve_load.py end to end, tiny: the figures docs/reliability.md quotes are there."""
    out = tmp_path / "load.json"
    command = [sys.executable, str(REPO / "benchmarks" / "serve_load.py"), "--run", str(runs / "fast-cond"),
               "--requests", "8", "--clients", "4", "--gif-every", "4", "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert figures["failed"] == 0 and figures["requests"] == 8
    assert {kind: f["n"] for kind, f in figures["by_endpoint"].items()} == {
        "samples.png": 6, "interpolate.gif": 1, "clock.gif": 1}
    assert figures["median_ms"] <= figures["p95_ms"] <= figures["max_ms"]
    assert figures["rss_before_mb"] <= figures["rss_peak_mb"]
    assert "peak" in done.stdout and "p95" in done.stdout
