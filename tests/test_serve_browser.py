"""End to end in a real browser: `minigan serve` in a subprocess, headless Chromium via Playwright.

Uses Debian's `chromium` (never `playwright install`, which downloads a browser). Each test clicks
through one panel, checks what appears, and saves screenshots in its temporary folder.
"""

from __future__ import annotations

import base64
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from serve_runs import tiny_runs

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MINIGAN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed: pip install playwright")
pytest.importorskip("starlette", reason="the serve extra is not installed: pip install 'minigan[serve]'")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: apt-get install chromium "
                                                "(or set MINIGAN_CHROMIUM to a Chromium executable)"),
]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def served(tmp_path_factory, mnist_dir):
    """(URL, runs folder, the 'live' run a test plays training into); the server is always stopped."""
    runs = tiny_runs(tmp_path_factory, mnist_dir)
    live = tmp_path_factory.mktemp("live") / "live"
    shutil.copytree(runs / "fast", live)
    before = snapshot(runs)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "-m", "minigan", "serve", str(runs), str(live), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in server.stdout], daemon=True).start()
    try:
        url, seen, deadline = None, [], time.monotonic() + 120
        while url is None and time.monotonic() < deadline and server.poll() is None:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(line)
            if "serving" in line and "http://" in line:
                url = line.split("http://")[1].split()[0].rstrip("/")
        assert url, f"the server did not start: {''.join(seen)}"
        assert url.startswith("127.0.0.1:")
        yield f"http://{url}", runs, live
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert snapshot(runs) == before, "the page wrote into a run folder"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, served):
    """A fresh tab; afterwards, no page error and no request that left the server (no CDN, no font)."""
    # Playwright's waits evaluate strings, which the page's own Content-Security-Policy forbids.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    problems: list[str] = []
    elsewhere: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.on("request", lambda r: None if r.url.startswith((served[0] + "/", "blob:", "data:"))
           else elsewhere.append(r.url))
    yield tab
    context.close()
    assert not problems, f"the page logged errors: {problems}"
    assert not elsewhere, f"the page loaded from elsewhere: {elsewhere}"


def open_panel(page, url: str, run: str, tab: str) -> None:
    page.goto(f"{url}/#{run}/{tab}")
    page.wait_for_selector(f"#panel-{tab}.active")


def natural_width(page, selector: str, width: int) -> None:
    page.wait_for_function(f"document.querySelector('{selector}').naturalWidth === {width}")


def image_bytes(page, selector: str) -> bytes:
    """The bytes behind an <img> (a blob: or data: URL), read from inside the page."""
    text = page.evaluate("""async (selector) => {
        const response = await fetch(document.querySelector(selector).src);
        const bytes = new Uint8Array(await response.arrayBuffer());
        let text = ""; for (const b of bytes) text += String.fromCharCode(b);
        return btoa(text);
    }""", selector)
    return base64.b64decode(text)


def canvas_pixels(page, selector: str) -> str:
    return page.evaluate(f"document.querySelector('{selector}').toDataURL()")


def new_picture(page, selector: str, action) -> bytes:
    """Do `action`, wait until the <img> shows a newly fetched picture, return its bytes."""
    before = page.get_attribute(selector, "src")
    action()
    page.wait_for_function("([selector, before]) => { const img = document.querySelector(selector);"
                           " return img.src !== before && img.complete && img.naturalWidth > 0; }",
                           arg=[selector, before])
    return image_bytes(page, selector)


def set_range(page, selector: str, value: float) -> None:
    page.eval_on_selector(selector, "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }",
                          value)


def test_samples_grid_follows_the_seed_and_names_its_command(page, served, tmp_path):
    url, runs, _ = served
    open_panel(page, url, "fast", "samples")
    natural_width(page, "#samples-img", 2 + 8 * 30)
    page.wait_for_function("document.querySelector('#samples-command').textContent.includes('--seed 0')")
    expected = f"minigan sample {runs / 'fast'} --num 64 --seed 0 --grid seed0000.png"
    assert page.text_content("#samples-command") == expected
    assert page.get_attribute("#samples-download", "download") == "seed0000.png"
    page.select_option("#samples-grid", "4")
    natural_width(page, "#samples-img", 2 + 4 * 30)
    first = image_bytes(page, "#samples-img")
    page.fill("#samples-seed", "7")
    page.dispatch_event("#samples-seed", "change")
    page.wait_for_function("document.querySelector('#samples-command').textContent.includes('--seed 7')")
    assert image_bytes(page, "#samples-img") != first
    page.fill("#samples-seed", "0")
    page.dispatch_event("#samples-seed", "change")
    page.wait_for_function("document.querySelector('#samples-command').textContent.includes('--seed 0')")
    assert image_bytes(page, "#samples-img") == first
    page.click("#samples-new-seed")
    page.wait_for_function("!document.querySelector('#samples-command').textContent.includes('--seed 0 ')")
    page.screenshot(path=tmp_path / "samples.png", full_page=True)

    page.select_option("#run-picker", "fast-cond")
    page.wait_for_selector("#samples-mode", state="visible")
    page.select_option("#samples-mode", "grid")
    natural_width(page, "#samples-img", 2 + 10 * 30)
    assert "--class-grid" in page.text_content("#samples-command")
    page.select_option("#samples-mode", "3")
    page.wait_for_function("document.querySelector('#samples-command').textContent.includes('--digit 3')")
    page.screenshot(path=tmp_path / "samples-conditional.png", full_page=True)


def test_latent_sliders_and_the_2d_map(page, served, tmp_path):
    url, _, _ = served
    open_panel(page, url, "fast", "latent")
    page.wait_for_function("document.querySelectorAll('#latent-sliders input').length === 8")
    natural_width(page, "#latent-img", 28)
    natural_width(page, "#latent-atlas", 2 + 7 * 30)
    before = image_bytes(page, "#latent-img")
    first_slider = "#latent-sliders label:nth-child(1) input"
    after = new_picture(page, "#latent-img", lambda: set_range(page, first_slider, 2.5))
    assert after != before
    page.screenshot(path=tmp_path / "latent.png", full_page=True)

    page.select_option("#run-picker", "tiny-2d")
    page.wait_for_selector("#latent-map-box", state="visible")
    page.wait_for_function("document.querySelectorAll('#latent-sliders input').length === 2")
    natural_width(page, "#latent-map", 16 * 28)
    page.wait_for_function("document.querySelector('#latent-img').naturalWidth === 28")
    before = image_bytes(page, "#latent-img")
    # top left of the map: z near (-3, 3)
    after = new_picture(page, "#latent-img", lambda: page.click("#latent-map", position={"x": 20, "y": 20}))
    assert after != before
    assert float(page.eval_on_selector("#latent-sliders input", "el => el.value")) < -2.5
    page.screenshot(path=tmp_path / "latent-2d.png", full_page=True)


def test_interpolation_scrubs_and_exports_a_gif(page, served, tmp_path):
    url, _, _ = served
    open_panel(page, url, "fast", "interpolate")
    natural_width(page, "#interp-strip", 2 + 16 * 30)
    assert page.text_content("#interp-command").startswith("minigan interpolate")
    start = canvas_pixels(page, "#interp-frame")
    set_range(page, "#interp-scrub", 15)
    assert canvas_pixels(page, "#interp-frame") != start
    page.fill("#interp-steps", "6")
    page.select_option("#interp-method", "slerp")
    natural_width(page, "#interp-strip", 2 + 6 * 30)
    gif = page.evaluate("async () => { const r = await fetch(document.querySelector('#interp-gif').href);"
                        " return [r.status, r.headers.get('content-type')]; }")
    assert gif == [200, "image/gif"]
    page.click("#interp-play")
    page.wait_for_timeout(400)
    page.click("#interp-play")
    page.screenshot(path=tmp_path / "interpolation.png", full_page=True)


def test_digit_clock_and_label_amplitude(page, served, tmp_path):
    url, _, _ = served
    open_panel(page, url, "fast", "clock")
    page.wait_for_selector("#clock-unavailable", state="visible")
    assert "conditional" in page.text_content("#clock-unavailable")
    page.select_option("#run-picker", "fast-cond")
    page.wait_for_function("document.querySelector('#clock-face').width === 125 * 4")
    page.wait_for_function("document.querySelector('#clock-command').textContent.includes('minigan clock')")
    face = canvas_pixels(page, "#clock-face")
    page.click("#clock-preview")
    page.wait_for_timeout(1000)  # the turnover plays 30 frames at 20 fps
    assert canvas_pixels(page, "#clock-face") != face
    natural_width(page, "#amp-img", 28)
    before = image_bytes(page, "#amp-img")
    assert new_picture(page, "#amp-img", lambda: set_range(page, "#amp-slider", 0.2)) != before
    assert "0.20" in page.text_content("#amp-caption")
    natural_width(page, "#amp-strip", 2 + 11 * 30)
    page.screenshot(path=tmp_path / "clock.png", full_page=True)


def test_draw_a_digit_then_morph_it(page, served, tmp_path):
    url, _, _ = served
    open_panel(page, url, "fast-cond", "draw")
    box = page.locator("#draw-canvas").bounding_box()
    page.mouse.move(box["x"] + 80, box["y"] + 60)
    page.mouse.down()
    for x, y in [(200, 60), (180, 120), (150, 180), (130, 230)]:  # a "7"
        page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
    page.mouse.up()
    page.fill("#draw-steps", "60")
    page.click("#draw-go")
    page.wait_for_function("document.querySelector('#draw-info').textContent.includes('Adam steps')")
    assert "class" in page.text_content("#draw-info")
    natural_width(page, "#draw-target", 28)
    natural_width(page, "#draw-result", 28)
    page.wait_for_selector("#morph-go:not([disabled])")
    page.fill("#morph-seed", "3")
    page.click("#morph-go")
    page.wait_for_selector("#morph-box", state="visible")
    natural_width(page, "#morph-strip", 2 + 16 * 30)
    start = canvas_pixels(page, "#morph-frame")
    set_range(page, "#morph-scrub", 15)
    assert canvas_pixels(page, "#morph-frame") != start
    page.screenshot(path=tmp_path / "draw.png", full_page=True)
    page.click("#draw-clear")
    page.click("#draw-go")
    page.wait_for_selector("#panel-draw .output > .error:not([hidden])")
    assert "draw a digit" in page.text_content("#panel-draw .output > .error")


def test_watch_a_run_train_updates_by_itself(page, served, tmp_path):
    url, runs, live = served
    open_panel(page, url, "live", "watch")
    page.wait_for_function("document.querySelector('#watch-status').textContent.includes('step 30')")
    page.wait_for_function("document.querySelector('#watch-progress').naturalWidth > 0")
    newest = runs / "fast" / "progress" / "step-000000030.png"
    assert image_bytes(page, "#watch-progress") == newest.read_bytes()
    page.wait_for_function("document.querySelector('#chart-loss').width > 0")
    # play a training run: a new stats record, an evaluation and a newer progress grid
    with open(live / "stats.jsonl", "a") as handle:
        handle.write('{"step": 40, "loss_d": 1.0, "loss_g": 2.0, "d_real": 0.6, "d_fake": 0.3}\n')
    (live / "metrics.jsonl").write_text('{"step": 40, "fid": 123.0}\n')
    shutil.copy(live / "progress" / "step-000000010.png", live / "progress" / "step-000000040.png")
    page.wait_for_function("document.querySelector('#watch-status').textContent === 'training: step 40'")
    page.wait_for_function("document.querySelector('#progress-caption').textContent.includes('step 40')")
    assert image_bytes(page, "#watch-progress") == (live / "progress" / "step-000000010.png").read_bytes()
    page.screenshot(path=tmp_path / "watch.png", full_page=True)


LOAD_IMAGE = """(src) => new Promise((resolve) => {
    const img = new Image(); img.onload = () => resolve("loaded"); img.onerror = () => resolve("refused");
    img.src = src; })"""


def test_another_sites_page_cannot_make_the_server_compute(browser, served):
    """A page on another site (http://localhost:PORT is not 127.0.0.1's site) embeds a costly picture:
    Chromium marks it cross-site and the API refuses it; the playground's own page still loads it.

    Chromium's Local Network Access would block this request itself; it is turned off here to stand
    for the browsers that send it (Firefox, Safari, older Chromes, or a user who allowed it).
    """
    url, _, _ = served
    port = url.rsplit(":", 1)[1]
    target = f"{url}/api/runs/fast/samples.png?grid=16"
    chromium = browser.browser_type.launch(  # a second Chromium from the same Playwright
        executable_path=CHROMIUM, headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-features=LocalNetworkAccessChecks"])
    try:
        tab = chromium.new_context().new_page()
        elsewhere = f"http://localhost:{port}/elsewhere.html"
        tab.route(elsewhere, lambda route: route.fulfill(content_type="text/html", body="<p>elsewhere"))
        tab.goto(elsewhere)
        assert tab.evaluate(LOAD_IMAGE, target) == "refused"
        own = chromium.new_context().new_page()
        own.goto(f"{url}/")
        assert own.evaluate(LOAD_IMAGE, target) == "loaded"
    finally:
        chromium.close()


def test_a_damaged_generator_shows_in_the_picker_and_the_last_weights_serve(page, served):
    """Last in this file: it damages the live run's generator file."""
    url, _, live = served
    open_panel(page, url, "live", "samples")
    natural_width(page, "#samples-img", 2 + 8 * 30)
    first = image_bytes(page, "#samples-img")
    path = live / "generator.safetensors"
    path.write_bytes(path.read_bytes()[:100])  # cut short: not a generator any more
    page.reload()
    page.wait_for_selector("#panel-samples.active")
    page.wait_for_function("document.querySelector('#run-picker').selectedOptions[0]?.textContent"
                           ".includes('last good weights')")  # no option yet right after the reload
    assert "serving the last good one" in page.text_content("#run-facts")
    natural_width(page, "#samples-img", 2 + 8 * 30)
    assert image_bytes(page, "#samples-img") == first
