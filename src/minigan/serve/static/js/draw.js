// Draw a digit: the server fits a latent (and class) to the drawing; then morph the fit elsewhere.
import { $, drawCell, fillDigits, getImage, getJSON, guarded, intValue, loadImage, runUrl, setImage } from "./api.js";

const BRUSH = 22;  // px on the 280 px canvas: about MNIST's stroke width at 28 px
const MORPH_STEPS = 16;
let run = null;
let found = null;  // the last projection: {z, digit, ...}
let morphStrip = null;
let drawing = false;
let inked = false;

function context() {
  const ctx = $("draw-canvas").getContext("2d");
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = BRUSH;
  ctx.strokeStyle = "#fff";
  return ctx;
}

function clear() {
  const ctx = context();
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, $("draw-canvas").width, $("draw-canvas").height);
  inked = false;
}

function point(event) {
  const box = $("draw-canvas").getBoundingClientRect();
  const scale = $("draw-canvas").width / box.width;
  return [(event.clientX - box.left) * scale, (event.clientY - box.top) * scale];
}

function stroke(event) {
  if (!drawing) return;
  const ctx = context();
  ctx.lineTo(...point(event));
  ctx.stroke();
  inked = true;
}

function start(event) {
  drawing = true;
  $("draw-canvas").setPointerCapture?.(event.pointerId);
  const ctx = context();
  ctx.beginPath();
  ctx.moveTo(...point(event));
  ctx.lineTo(...point(event));  // a click leaves a dot
  ctx.stroke();
  inked = true;
}

const project = () => guarded("draw", async () => {
  if (!inked) throw new Error("draw a digit on the black square first");
  const blob = await new Promise((resolve) => $("draw-canvas").toBlob(resolve, "image/png"));
  const digit = run.conditional ? $("draw-digit").value : "";
  $("draw-info").textContent = "searching…";
  const url = runUrl(run, "project", { steps: intValue($("draw-steps"), 300), digit, seconds: 5 });
  found = await getJSON(url, { method: "POST", headers: { "Content-Type": "image/png" }, body: blob });
  $("draw-target").src = found.target;
  $("draw-result").src = found.image;
  const cls = found.digit === null ? "" : `class ${found.digit} · `;
  $("draw-info").textContent = `${cls}pixel MSE ${found.mse.toFixed(4)} · ${found.steps} Adam steps in ${found.seconds.toFixed(2)} s`;
  $("morph-go").disabled = false;
  if (found.digit !== null) $("morph-digit").value = String(found.digit);
});

const morph = () => guarded("draw", async () => {
  if (!found) throw new Error("find a drawing's sample first");
  const body = { z: found.z, digit: found.digit, to_seed: intValue($("morph-seed")), steps: MORPH_STEPS };
  if (run.conditional) body.to_digit = Number($("morph-digit").value);
  const picture = await getImage(runUrl(run, "morph.png"), {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  morphStrip = await loadImage(picture.url);
  await setImage($("morph-strip"), picture.url);
  $("morph-strip").style.width = `${Math.min(2 * morphStrip.naturalWidth, 860)}px`;
  $("morph-box").hidden = false;
  $("morph-scrub").max = MORPH_STEPS - 1;
  $("morph-scrub").value = 0;
  drawCell($("morph-frame"), morphStrip, 0);
});

export function init(state) {
  $("draw-steps").max = state.limits.max_opt_steps;
  const canvas = $("draw-canvas");
  canvas.addEventListener("pointerdown", start);
  canvas.addEventListener("pointermove", stroke);
  for (const name of ["pointerup", "pointerleave", "pointercancel"]) {
    canvas.addEventListener(name, () => { drawing = false; });
  }
  $("draw-clear").addEventListener("click", clear);
  $("draw-go").addEventListener("click", project);
  $("morph-go").addEventListener("click", morph);
  $("morph-scrub").addEventListener("input", () => {
    if (morphStrip) drawCell($("morph-frame"), morphStrip, intValue($("morph-scrub")));
  });
  clear();
}

export function show(current) {
  if (run !== current) {
    found = null;
    $("morph-go").disabled = true;
    $("morph-box").hidden = true;
    $("draw-info").textContent = "";
  }
  run = current;
  if (run.conditional) {
    fillDigits($("draw-digit"), run.num_classes, ["", "any: let it pick"]);
    fillDigits($("morph-digit"), run.num_classes);
  }
}
