// Interpolation between two seeds (lerp/slerp) or two classes; a slider scrubs the strip; GIF export.
import { $, drawCell, getImage, guarded, intValue, latest, loadImage, runUrl, setImage } from "./api.js";

let run = null;
let shownFor = null;
let strip = null;  // the decoded strip, for scrubbing without new requests
let timer = null;

function params() {
  return {
    from: intValue($("interp-from")), to: intValue($("interp-to")), steps: intValue($("interp-steps"), 16),
    method: $("interp-method").value, seed: intValue($("interp-seed")),
  };
}

function drawFrame() {
  if (strip) drawCell($("interp-frame"), strip, intValue($("interp-scrub")));
}

const go = latest(() => guarded("interpolate", async () => {
  const p = params();
  const picture = await getImage(runUrl(run, "interpolate.png", p));
  strip = await loadImage(picture.url);
  await setImage($("interp-strip"), picture.url);
  $("interp-strip").style.width = `${Math.min(2 * strip.naturalWidth, 860)}px`;
  $("interp-scrub").max = p.steps - 1;
  $("interp-scrub").value = Math.min(intValue($("interp-scrub")), p.steps - 1);
  $("interp-gif").href = runUrl(run, "interpolate.gif", { ...p, fps: 12, scale: 4 });
  $("interp-command").textContent = picture.command;
  drawFrame();
}));

function stop() {
  clearInterval(timer);
  timer = null;
  $("interp-play").textContent = "play";
}

function play() {
  if (timer) return stop();
  let direction = 1;
  $("interp-play").textContent = "pause";
  timer = setInterval(() => {
    const scrub = $("interp-scrub");
    let frame = intValue(scrub) + direction;
    if (frame > Number(scrub.max) || frame < 0) { direction = -direction; frame += 2 * direction; }
    scrub.value = frame;
    drawFrame();
  }, 90);
}

export function init(state) {
  $("interp-steps").max = state.limits.max_steps;
  $("interp-scrub").addEventListener("input", drawFrame);
  $("interp-go").addEventListener("click", go);
  for (const id of ["interp-from", "interp-to", "interp-steps", "interp-method", "interp-seed"]) {
    $(id).addEventListener("change", go);
  }
  $("interp-play").addEventListener("click", play);
}

export function show(current) {
  run = current;
  if (shownFor === run) return;
  shownFor = run;
  const what = run.conditional ? "class" : "seed";
  $("interp-from-label").textContent = `from ${what}`;
  $("interp-to-label").textContent = `to ${what}`;
  for (const id of ["interp-from", "interp-to"]) $(id).max = run.conditional ? run.num_classes - 1 : 4294967295;
  $("interp-from").value = run.conditional ? 1 : 0;
  $("interp-to").value = run.conditional ? 7 : 1;
  go();
}

export function hide() {
  stop();
}
