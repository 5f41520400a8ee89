// A small line chart on a canvas: series of [x, y] points, shared axes, a legend. No libraries.
const PAD = { left: 52, right: 12, top: 26, bottom: 28 };

function ticks(low, high, count = 5) {
  const span = high - low || 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => span / s <= count) ?? raw;
  const out = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) out.push(v);
  return out;
}

const fmt = (v) => (Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(Math.abs(v) >= 10000 ? 0 : 1)}k` : `${+v.toPrecision(3)}`);

export function plot(canvas, series, empty = "no records yet") {
  // Draw at the canvas's displayed size times the pixel ratio, so text stays sharp.
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = Math.round(width * 0.43);
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "12px system-ui, sans-serif";
  const points = series.flatMap((s) => s.points);
  if (!points.length) {
    ctx.fillStyle = "#98a1b1";
    ctx.textAlign = "center";
    ctx.fillText(empty, width / 2, height / 2);
    return;
  }
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const margin = (y1 - y0) * 0.06;
  y0 -= margin; y1 += margin;
  const px = (x) => PAD.left + ((x - x0) / (x1 - x0)) * (width - PAD.left - PAD.right);
  const py = (y) => height - PAD.bottom - ((y - y0) / (y1 - y0)) * (height - PAD.top - PAD.bottom);
  ctx.strokeStyle = "#2c313d";
  ctx.fillStyle = "#98a1b1";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  for (const y of ticks(y0, y1)) {
    ctx.beginPath(); ctx.moveTo(PAD.left, py(y)); ctx.lineTo(width - PAD.right, py(y)); ctx.stroke();
    ctx.fillText(fmt(y), PAD.left - 6, py(y) + 4);
  }
  ctx.textAlign = "center";
  for (const x of ticks(x0, x1, 6)) ctx.fillText(fmt(x), px(x), height - 8);
  let legend = PAD.left;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
    ctx.stroke();
    if (s.points.length === 1) { ctx.fillStyle = s.color; ctx.fillRect(px(s.points[0][0]) - 2, py(s.points[0][1]) - 2, 4, 4); }
    ctx.fillStyle = s.color;
    ctx.textAlign = "left";
    ctx.fillText(`— ${s.name}`, legend, 16);
    legend += ctx.measureText(`— ${s.name}`).width + 16;
  }
}
