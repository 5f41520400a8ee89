// Shared helpers: API calls whose errors are the server's one-line message, images, small DOM tools.

export const $ = (id) => document.getElementById(id);

async function failure(response) {
  const body = await response.json().catch(() => ({}));
  return new Error(body.error || `${response.status} ${response.statusText}`);
}

export async function getJSON(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) throw await failure(response);
  return response.json();
}

// A picture endpoint -> {url: blob URL, command: the CLI command that writes the same picture}.
export async function getImage(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) throw await failure(response);
  const header = response.headers.get("X-Minigan-Command");
  return { url: URL.createObjectURL(await response.blob()), command: header ? decodeURIComponent(header) : "" };
}

export function runUrl(run, endpoint, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, value);
  }
  const tail = query.toString();
  return `/api/runs/${encodeURIComponent(run.id)}/${endpoint}${tail ? "?" + tail : ""}`;
}

// Show a blob URL in an <img>, freeing the one it showed before; resolves once it has loaded.
export function setImage(img, url) {
  const old = img.dataset.blob;
  img.dataset.blob = url;
  const loaded = new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; });
  img.src = url;
  if (old && old !== url) URL.revokeObjectURL(old);
  return loaded;
}

export function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("the picture did not decode"));
    image.src = url;
  });
}

// Collapse a burst of calls (a dragged slider) into: the one running now, then the latest one.
export function latest(fn) {
  let running = false;
  let again = false;
  return async function run() {
    if (running) { again = true; return; }
    running = true;
    try {
      do { again = false; await fn(); } while (again);
    } finally {
      running = false;
    }
  };
}

export function panelError(panel, error) {
  const box = $(`panel-${panel}`).querySelector(".output > .error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

// Run `work` for a panel: errors land in the panel's error line, the output dims while it runs.
export async function guarded(panel, work) {
  const output = $(`panel-${panel}`).querySelector(".output");
  output.classList.add("busy");
  try {
    await work();
    panelError(panel, null);
  } catch (error) {
    panelError(panel, error);
  } finally {
    output.classList.remove("busy");
  }
}

export function intValue(input, fallback = 0) {
  const value = Number.parseInt(input.value, 10);
  return Number.isFinite(value) ? value : fallback;
}

export function randomSeed() {
  return Math.floor(Math.random() * 100000);
}

export function fillDigits(select, count, first = null) {
  const keep = select.value;
  select.replaceChildren();
  if (first) select.add(new Option(first[1], first[0]));
  for (let d = 0; d < count; d++) select.add(new Option(String(d), String(d)));
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

// Draw frame `index` of a strip made by make_grid (padding 2, 28x28 cells) onto a canvas, unsmoothed.
export function drawCell(canvas, strip, index, size = 28, padding = 2) {
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.fillStyle = "#000";
  context.fillRect(0, 0, canvas.width, canvas.height);
  const x = padding + index * (size + padding);
  context.drawImage(strip, x, padding, size, size, 0, 0, canvas.width, canvas.height);
}
