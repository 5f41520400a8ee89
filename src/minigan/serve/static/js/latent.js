// Latent sliders: move one sample along G's principal directions, or (z_dim 2) set z and see the map.
import { $, fillDigits, getImage, getJSON, guarded, intValue, latest, randomSeed, runUrl, setImage } from "./api.js";

const SPAN = 3;  // slider range and map extent, in latent units
const MAP_SIZE = 16;
let run = null;
let shownFor = null;  // the run (object) the sliders were built for
let mode = "principal";

function sliders() {
  return [...$("latent-sliders").querySelectorAll("input")];
}

function digit() {
  return run.conditional ? $("latent-digit").value : null;
}

const render = latest(() => guarded("latent", async () => {
  const values = sliders().map((s) => Number(s.value));
  const params = { seed: intValue($("latent-seed")), digit: digit() };
  if (mode === "raw") params.z = values.join(",");
  else if (values.some((v) => v !== 0)) params.move = values.join(",");
  for (const [i, input] of sliders().entries()) input.previousElementSibling.lastChild.textContent = values[i].toFixed(2);
  const picture = await getImage(runUrl(run, "latent.png", params));
  await setImage($("latent-img"), picture.url);
  if (mode === "raw") placeMarker(values);
}));

// The atlas depends on seed and class only, so it is fetched when those change, not per slider move.
const atlas = latest(() => guarded("latent", async () => {
  if (mode === "raw") return;
  const picture = await getImage(runUrl(run, "directions.png", { seed: intValue($("latent-seed")), digit: digit() }));
  await setImage($("latent-atlas"), picture.url);
  $("latent-atlas").style.width = `${2 * $("latent-atlas").naturalWidth}px`;
}));

function addSlider(label, value, min, max) {
  const box = document.createElement("label");
  const caption = document.createElement("span");
  caption.append(label, document.createElement("output"));
  const input = Object.assign(document.createElement("input"), { type: "range", min, max, step: 0.01, value });
  input.addEventListener("input", render);
  box.append(caption, input);
  $("latent-sliders").append(box);
}

// latent_grid puts cell centres at linspace(-SPAN, SPAN, size); the top row is z[1] = +SPAN.
function placeMarker([x, y]) {
  const img = $("latent-map");
  const cell = (2 * SPAN) / (MAP_SIZE - 1);
  const fx = ((x + SPAN) / cell + 0.5) / MAP_SIZE;
  const fy = ((SPAN - y) / cell + 0.5) / MAP_SIZE;
  $("latent-marker").style.left = `${img.offsetLeft + fx * img.clientWidth}px`;
  $("latent-marker").style.top = `${img.offsetTop + fy * img.clientHeight}px`;
}

function mapClick(event) {
  const img = $("latent-map");
  const cell = (2 * SPAN) / (MAP_SIZE - 1);
  const fx = event.offsetX / img.clientWidth;
  const fy = event.offsetY / img.clientHeight;
  const [sx, sy] = sliders();
  sx.value = Math.max(-SPAN, Math.min(SPAN, (fx * MAP_SIZE - 0.5) * cell - SPAN));
  sy.value = Math.max(-SPAN, Math.min(SPAN, SPAN - (fy * MAP_SIZE - 0.5) * cell));
  render();
}

async function seedLatent() {
  const { z } = await getJSON(runUrl(run, "z", { seed: intValue($("latent-seed")) }));
  for (const [i, input] of sliders().entries()) input.value = Math.max(-SPAN, Math.min(SPAN, z[i]));
}

async function build() {
  $("latent-sliders").replaceChildren();
  const info = await getJSON(runUrl(run, "directions"));
  mode = info.mode;
  $("latent-map-box").hidden = mode !== "raw";
  $("latent-atlas-box").hidden = mode === "raw";
  if (mode === "raw") {
    addSlider("z[0]", 0, -SPAN, SPAN);
    addSlider("z[1]", 0, -SPAN, SPAN);
    $("latent-hint").textContent = "A 2-d latent: the sliders are z itself; the map shows the whole space.";
    await seedLatent();
    const map = await getImage(runUrl(run, "map.png", { size: MAP_SIZE, span: SPAN, digit: digit() }));
    await setImage($("latent-map"), map.url);
  } else {
    info.rms.forEach((rms, k) => addSlider(`direction ${k + 1} · ${(100 * rms).toFixed(1)}% per unit`, 0, -SPAN, SPAN));
    $("latent-hint").textContent = `The ${info.count} directions in z (of ${info.z_dim}) that change G's picture most, ` +
      "strongest first; a unit moves pixels by the RMS shown.";
  }
}

export function init() {
  $("latent-seed").addEventListener("change", () => guarded("latent", async () => {
    if (mode === "raw") await seedLatent();
    render();
    atlas();
  }));
  $("latent-new-seed").addEventListener("click", () => {
    $("latent-seed").value = randomSeed();
    $("latent-seed").dispatchEvent(new Event("change"));
  });
  $("latent-reset").addEventListener("click", () => guarded("latent", async () => {
    if (mode === "raw") await seedLatent();
    else for (const input of sliders()) input.value = 0;
    render();
  }));
  $("latent-digit").addEventListener("change", () => guarded("latent", async () => {
    if (mode === "raw") {
      const map = await getImage(runUrl(run, "map.png", { size: MAP_SIZE, span: SPAN, digit: digit() }));
      await setImage($("latent-map"), map.url);
    }
    render();
    atlas();
  }));
  $("latent-map").addEventListener("click", mapClick);
}

export function show(current) {
  run = current;
  if (run.conditional) fillDigits($("latent-digit"), run.num_classes);
  if (shownFor === run) return;
  shownFor = run;
  guarded("latent", async () => {
    await build();
    render();
    atlas();
  });
}
