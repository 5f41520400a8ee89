// Samples: a grid from a seed; for conditional runs one class or the class grid. PNG + its CLI command.
import { $, getImage, guarded, intValue, latest, randomSeed, runUrl, setImage } from "./api.js";

let run = null;

const refresh = latest(() => guarded("samples", async () => {
  const mode = run.conditional ? $("samples-mode").value : "all";
  const params = { seed: intValue($("samples-seed")), grid: $("samples-grid").value };
  if (mode === "grid") params.classes = 1;
  else if (mode !== "all") params.digit = mode;
  const picture = await getImage(runUrl(run, "samples.png", params));
  await setImage($("samples-img"), picture.url);
  const img = $("samples-img");
  const zoom = Math.max(1, Math.min(4, Math.floor(640 / img.naturalWidth)));
  img.style.width = `${img.naturalWidth * zoom}px`;
  $("samples-command").textContent = picture.command;
  $("samples-download").href = picture.url;
  $("samples-download").download = picture.command.split(" ").pop();  // the file the command writes
  $("samples-grid").disabled = mode === "grid";
}));

export function init(state) {
  for (let side = 1; side <= state.limits.max_grid; side++) {
    $("samples-grid").add(new Option(`${side} × ${side}`, String(side), false, side === 8));
  }
  $("samples-seed").max = state.limits.max_seed;
  $("samples-seed").addEventListener("change", refresh);
  $("samples-grid").addEventListener("change", refresh);
  $("samples-mode").addEventListener("change", refresh);
  $("samples-new-seed").addEventListener("click", () => {
    $("samples-seed").value = randomSeed();
    refresh();
  });
}

export function show(current) {
  run = current;
  if (!run.conditional) return refresh();
  const select = $("samples-mode");
  const keep = select.value;
  select.replaceChildren(new Option("all classes, balanced", "all"),
    new Option("class grid: a column per class", "grid"));
  for (let d = 0; d < run.num_classes; d++) select.add(new Option(`only ${d}`, String(d)));
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
  return refresh();
}
