// The digit clock, live: HH:MM in the generator's handwriting, cross-fading into each new minute;
// and the label-amplitude slider (label = a * one_hot(digit)).
import { $, fillDigits, getImage, guarded, intValue, latest, loadImage, runUrl, setImage } from "./api.js";

const FRAMES = 30;  // faces per minute change; also the GIF's frame count
const FPS = 20;
let run = null;
let shownFor = null;
let ticker = null;
let face = null;  // {time, sprite}: the current minute's faces, frame 0 = now, last = the next minute
let playing = false;

const pad = (n) => String(n).padStart(2, "0");
const hhmm = (date) => `${pad(date.getHours())}:${pad(date.getMinutes())}`;

function nextMinute(time) {
  const [h, m] = time.split(":").map(Number);
  const total = (h * 60 + m + 1) % (24 * 60);
  return `${pad(Math.floor(total / 60))}:${pad(total % 60)}`;
}

function drawFace(index) {
  const canvas = $("clock-face");
  const context = canvas.getContext("2d");
  const height = face.sprite.naturalHeight / FRAMES;
  canvas.width = face.sprite.naturalWidth * 4;
  canvas.height = height * 4;
  context.imageSmoothingEnabled = false;
  context.drawImage(face.sprite, 0, index * height, face.sprite.naturalWidth, height, 0, 0, canvas.width, canvas.height);
}

async function loadFace(time) {
  const seed = intValue($("clock-seed"));
  const picture = await getImage(runUrl(run, "clock.png", { time, frames: FRAMES, fps: FPS, seed }));
  face = { time, sprite: await loadImage(picture.url), seed };
  $("clock-command").textContent = picture.command;
  $("clock-gif").href = runUrl(run, "clock.gif", { time, frames: FRAMES, fps: FPS, seed });
  $("clock-loop-gif").href = runUrl(run, "clock.gif", { frames: 12, fps: FPS, seed });
  $("clock-time").textContent = `showing ${time}; the next minute cross-fades in when it comes`;
}

// Play the loaded face from now into the next minute, ~1.5 s.
function playTurnover() {
  return new Promise((resolve) => {
    playing = true;
    let frame = 0;
    const step = () => {
      drawFace(frame);
      if (++frame < FRAMES) setTimeout(step, 1000 / FPS);
      else { playing = false; resolve(); }
    };
    step();
  });
}

const tick = latest(() => guarded("clock", async () => {
  const now = hhmm(new Date());
  if (playing || (face && face.time === now && face.seed === intValue($("clock-seed")))) return;
  if (face && face.seed === intValue($("clock-seed")) && nextMinute(face.time) === now) {
    await playTurnover();  // the minute just changed: fade into it
  }
  await loadFace(now);
  drawFace(0);
}));

const amplitude = latest(() => guarded("clock", async () => {
  const a = Number($("amp-slider").value);
  $("amp-value").textContent = a.toFixed(2);
  $("amp-caption").textContent = `label = ${a.toFixed(2)} × one_hot(${$("amp-digit").value})`;
  const base = { digit: $("amp-digit").value, seed: intValue($("clock-seed")) };
  const picture = await getImage(runUrl(run, "amplitude.png", { ...base, amplitude: a }));
  await setImage($("amp-img"), picture.url);
}));

const sweep = latest(() => guarded("clock", async () => {
  const base = { digit: $("amp-digit").value, seed: intValue($("clock-seed")) };
  const picture = await getImage(runUrl(run, "amplitude.png", base));
  await setImage($("amp-strip"), picture.url);
  $("amp-strip").style.width = `${2 * $("amp-strip").naturalWidth}px`;
  $("amp-command").textContent = picture.command;
}));

export function init() {
  $("clock-seed").addEventListener("change", () => { tick(); amplitude(); sweep(); });
  $("clock-preview").addEventListener("click", () => guarded("clock", async () => {
    if (!face || playing) return;
    await playTurnover();
    setTimeout(() => { if (!playing) drawFace(0); }, 1200);
  }));
  $("amp-slider").addEventListener("input", amplitude);
  $("amp-digit").addEventListener("change", () => { amplitude(); sweep(); });
}

export function show(current) {
  run = current;
  const ok = run.digits;
  $("clock-body").hidden = !ok;
  $("clock-unavailable").hidden = ok;
  for (const id of ["clock-preview", "amp-slider", "amp-digit", "clock-seed"]) $(id).disabled = !ok;
  if (!ok) {
    $("clock-unavailable").textContent = `The digit clock needs a class-conditional run trained on MNIST digits; ` +
      `${run.id} is ${run.conditional ? `conditional on ${run.dataset}` : "unconditional"}. ` +
      "Train one with: minigan train --preset fast-cond --time-budget 300";
    return;
  }
  if (shownFor !== run) {
    shownFor = run;
    face = null;
    fillDigits($("amp-digit"), run.num_classes);
    amplitude();
    sweep();
  }
  tick();
  clearInterval(ticker);
  ticker = setInterval(tick, 1000);
}

export function hide() {
  clearInterval(ticker);
  ticker = null;
}
