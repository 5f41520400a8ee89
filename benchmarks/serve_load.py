"""Bounded load test of the playground: N requests from C concurrent clients, samples.png and GIFs.

Starts `minigan serve RUN --port 0` on 127.0.0.1 in a subprocess, fires the requests (each its own
seed, so nothing is cached), and reports failures, median / p95 / max latency (per endpoint too),
throughput, the server's resident memory before and at its peak (Linux /proc), and how long a
trivial request (GET /api/runs, polled every 100 ms during the load) waited: what a busy event loop
costs everyone. A benchmark, not a timed assertion.

With --gif-every K every K-th request is a GIF at the largest size the API allows, alternating the
interpolation (64 steps, scale 8) and, for conditional MNIST runs, the 0..9 clock loop (600 frames,
scale 8): the server's memory peak.

    PYTHONPATH=src .venv/bin/python benchmarks/serve_load.py --run runs/fast-cond
    PYTHONPATH=src .venv/bin/python benchmarks/serve_load.py --run runs/fast-cond --gif-every 4
    PYTHONPATH=src .venv/bin/python benchmarks/serve_load.py --data-dir ../shared/data/mnist  # tiny run
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rss_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak so far) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def start_server(run: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    server = subprocess.Popen([sys.executable, "-m", "minigan", "serve", str(run), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in server.stdout], daemon=True).start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if "serving" in line and "http://" in line:
            return server, "http://" + line.split("http://")[1].split()[0].rstrip("/")
    server.kill()
    raise SystemExit("the server did not start")


def fetch(url: str) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = 0
    return status, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def request_urls(base: str, run: dict, count: int, grid: int, gif_every: int) -> list[tuple[str, str]]:
    """(kind, url) for each request: samples.png, with every gif_every-th a largest-size GIF."""
    gifs = ["interpolate.gif?steps=64&scale=8&from={seed}&to={next}"]
    if run["digits"]:
        gifs.append("clock.gif?frames=60&scale=8&seed={seed}")
    urls = []
    for seed in range(1, count + 1):
        if gif_every and seed % gif_every == 0:
            tail = gifs[(seed // gif_every) % len(gifs)]
            tail = tail.format(seed=seed % 10 if run["conditional"] else seed, next=(seed + 1) % 10)
        else:
            tail = f"samples.png?grid={grid}&seed={seed}"
        urls.append((tail.split("?")[0], f"{base}/api/runs/{run['id']}/{tail}"))
    return urls


def summary(latencies: list[float]) -> dict:
    return {"n": len(latencies), "median_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * percentile(latencies, 0.95), "max_ms": 1000 * max(latencies)}


def poll(url: str, stop: threading.Event, into: list[float]) -> None:
    while not stop.wait(0.1):
        into.append(fetch(url)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="run folder to serve (default: train a 30-step fast run)")
    parser.add_argument("--data-dir", help="MNIST folder for the default tiny run ($MINIGAN_DATA_DIR)")
    parser.add_argument("--requests", type=int, default=200, help="requests in all (default 200)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--grid", type=int, default=8, help="samples.png grid side (8: 64 images a request)")
    parser.add_argument("--gif-every", type=int, default=0, metavar="K",
                        help="make every K-th request a largest-size GIF (default 0: samples.png only)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="minigan-load-") as scratch:
        run = args.run
        if run is None:
            import minigan

            run = Path(scratch) / "fast-cond"
            minigan.train("fast-cond", out=run, steps=30, data_dir=args.data_dir, progress=False, threads=1,
                          log_every=10, checkpoint_every=30)
        server, base = start_server(run)
        try:
            info = json.loads(urllib.request.urlopen(f"{base}/api/runs").read())["runs"][0]
            urls = request_urls(base, info, args.requests, args.grid, args.gif_every)
            assert fetch(f"{base}/api/runs/{info['id']}/samples.png?grid={args.grid}")[0] == 200, \
                "the warm-up request failed"
            rss_before = rss_mb(server.pid, "VmRSS")
            stop, probes = threading.Event(), []
            prober = threading.Thread(target=poll, args=(f"{base}/api/runs", stop, probes))
            prober.start()
            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(fetch, [url for _, url in urls]))
            wall = time.perf_counter() - started
            stop.set()
            prober.join()
            rss_peak, rss_after = rss_mb(server.pid, "VmHWM"), rss_mb(server.pid, "VmRSS")
        finally:
            server.terminate()
            server.wait(timeout=30)

    latencies = [seconds for _, seconds in results]
    failed = sum(status != 200 for status, _ in results)
    kinds = sorted({kind for kind, _ in urls})
    figures = {
        "requests": args.requests, "clients": args.clients, "grid": args.grid, "gif_every": args.gif_every,
        "failed": failed, **summary(latencies), "requests_per_s": args.requests / wall, "wall_s": wall,
        "by_endpoint": {kind: summary([t for (k, _), (_, t) in zip(urls, results, strict=True) if k == kind])
                        for kind in kinds},
        "probe": summary(probes) if probes else None,
        "rss_before_mb": rss_before, "rss_peak_mb": rss_peak, "rss_after_mb": rss_after,
        "cpus": os.cpu_count(), "run": str(run if args.run else "30-step fast-cond run"),
    }
    gifs = f", every {args.gif_every}th a largest-size GIF" if args.gif_every else ""
    print(f"{args.requests} requests, {args.clients} concurrent clients, samples.png grid {args.grid} "
          f"({args.grid ** 2} images each){gifs} on 127.0.0.1")
    print(f"failed {failed} · median {figures['median_ms']:.0f} ms · p95 {figures['p95_ms']:.0f} ms · "
          f"max {figures['max_ms']:.0f} ms · {figures['requests_per_s']:.1f} req/s")
    for kind, kind_figures in figures["by_endpoint"].items():
        print(f"  {kind}: {kind_figures['n']} requests, median {kind_figures['median_ms']:.0f} ms, "
              f"p95 {kind_figures['p95_ms']:.0f} ms")
    if probes:
        print(f"GET /api/runs during the load: median {figures['probe']['median_ms']:.0f} ms, "
              f"p95 {figures['probe']['p95_ms']:.0f} ms ({len(probes)} polls)")
    print(f"server RSS: {rss_before:.0f} MB after warm-up, peak {rss_peak:.0f} MB, {rss_after:.0f} MB after")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
