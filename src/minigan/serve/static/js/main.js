// The page: run picker, tabs, and the panels (each a module with init, show and optional hide).
import { $, getJSON } from "./api.js";
import * as clock from "./clock.js";
import * as draw from "./draw.js";
import * as interpolate from "./interpolate.js";
import * as latent from "./latent.js";
import * as samples from "./samples.js";
import * as watch from "./watch.js";

const panels = { samples, latent, interpolate, clock, draw, watch };
const state = { runs: [], limits: {}, run: null, tab: "samples" };

const esc = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function facts(run) {
  const parts = [`<b>${esc(run.preset ?? "?")}</b>`, run.step === null ? "no generator yet" : `step ${run.step}`,
    esc(run.dataset ?? ""), `z ${run.z_dim}`, run.conditional ? `conditional, ${run.num_classes} classes` : "unconditional"];
  if (run.fid) parts.push(`FID-MNIST <b>${run.fid.fid.toFixed(2)}</b> (${esc(run.fid.source)})`);
  const text = parts.filter(Boolean).join(" · ");
  const problem = run.error ?? run.warning;
  return problem ? `${text} · <span class="error">${esc(problem)}</span>` : text;
}

function optionText(run) {
  const step = run.step === null ? "not ready" : `step ${run.step}`;
  return `${run.id} — ${run.preset ?? "?"}, ${step}${run.warning ? " (damaged file: last good weights)" : ""}`;
}

function activate(tab) {
  if (state.tab !== tab) panels[state.tab].hide?.();
  state.tab = tab;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("active", button.dataset.tab === tab);
  }
  for (const name of Object.keys(panels)) $(`panel-${name}`).classList.toggle("active", name === tab);
  history.replaceState(null, "", `#${encodeURIComponent(state.run.id)}/${tab}`);
  panels[tab].show(state.run);
}

function choose(runId) {
  state.run = state.runs.find((run) => run.id === runId) ?? state.runs[0];
  $("run-picker").value = state.run.id;
  $("run-facts").innerHTML = facts(state.run);
  document.body.classList.toggle("conditional", state.run.conditional);
  $("tabs").querySelector('[data-tab="watch"]').disabled = !state.run.watchable;
  activate(state.tab === "watch" && !state.run.watchable ? "samples" : state.tab);
}

async function start() {
  try {
    const data = await getJSON("/api/runs");
    state.runs = data.runs;
    state.limits = data.limits;
  } catch (error) {
    $("page-error").textContent = `cannot reach the server: ${error.message}`;
    $("page-error").hidden = false;
    return;
  }
  for (const run of state.runs) $("run-picker").add(new Option(optionText(run), run.id));
  for (const panel of Object.values(panels)) panel.init(state);
  $("run-picker").addEventListener("change", (event) => choose(event.target.value));
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => activate(button.dataset.tab));
  }
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      await navigator.clipboard?.writeText($(button.dataset.copy).textContent).catch(() => {});
      button.textContent = "copied";
      setTimeout(() => { button.textContent = "copy"; }, 1200);
    });
  }
  const [runId, tab] = decodeURIComponent(location.hash.slice(1)).split("/");
  if (tab in panels) state.tab = tab;
  choose(runId);
}

start();
