// Watch a run train: curves from stats.jsonl / metrics.jsonl and the newest progress grid, polled.
import { $, getImage, getJSON, guarded, runUrl, setImage } from "./api.js";
import { plot } from "./plot.js";

const POLL_MS = 2000;
const COLORS = { loss_d: "#5cc8b0", loss_g: "#f0a35e", d_real: "#7aa7ff", d_fake: "#ff7a9c", fid: "#e7e9ee" };
let run = null;
let timer = null;
let progressStep = null;

const series = (records, keys) => keys.map((key) => ({
  name: key, color: COLORS[key], points: records.filter((r) => key in r).map((r) => [r.step, r[key]]),
}));

const poll = () => guarded("watch", async () => {
  if (document.hidden) return;
  const data = await getJSON(runUrl(run, "training"));
  const status = $("watch-status");
  status.className = `status ${data.live ? "live" : "idle"}`;
  status.textContent = data.live ? `training: step ${data.last_step}`
    : data.last_step === null ? "no stats yet" : `not training now (last record: step ${data.last_step})`;
  plot($("chart-loss"), series(data.stats, ["loss_d", "loss_g"]));
  plot($("chart-d"), series(data.stats, ["d_real", "d_fake"]));
  plot($("chart-fid"), series(data.metrics, ["fid"]), "no FID yet: train with --eval-every N");
  if (data.progress_step !== null && data.progress_step !== progressStep) {
    const picture = await getImage(runUrl(run, "progress.png"));
    await setImage($("watch-progress"), picture.url);
    progressStep = data.progress_step;
    $("progress-caption").textContent = `newest progress grid: step ${progressStep}`;
  } else if (data.progress_step === null) {
    $("progress-caption").textContent = "no progress grid yet (set --sample-every to get them during training)";
  }
});

export function init() {}

export function show(current) {
  if (run !== current) progressStep = null;
  run = current;
  poll();
  clearInterval(timer);
  timer = setInterval(poll, POLL_MS);
}

export function hide() {
  clearInterval(timer);
  timer = null;
}
