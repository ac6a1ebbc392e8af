// Drawing the two canvases from the state: the camera frame with the floor grid and the pairs' markers, and the
// floor plan with the bird's-eye preview, zones, lines, the shape being drawn and the pairs' markers.

import { pixelsPerCssPixel } from "./coords.js";
import { currentFit, isSelected } from "./state.js";

const KIND_COLOURS = { area: "#1f6feb", queue: "#e67700", entrance: "#2b8a3e", staff: "#862e9c" };
const UNKNOWN_KIND_COLOUR = "#333";
const PAIR_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];
const BAD_COLOUR = "#d32f2f";
const LINE_COLOUR = "#c2185b";

export function kindColour(kind) {
  return KIND_COLOURS[kind] || UNKNOWN_KIND_COLOUR;
}

export function redraw(app, ui) {
  if (!app.info) return;
  drawFrame(app, ui);
  drawPlan(app, ui);
}

function pairColour(app, index) {
  const fit = currentFit(app);
  if (fit && fit.bad[index]) return BAD_COLOUR;
  return PAIR_COLOURS[index % PAIR_COLOURS.length];
}

function drawMarker(g, p, label, colour, k, { hollow = false, selected = false } = {}) {
  const r = 6 * k;
  g.save();
  g.lineWidth = 2 * k;
  if (selected) {
    g.beginPath();
    g.arc(p[0], p[1], r + 4 * k, 0, 2 * Math.PI);
    g.strokeStyle = "#ffd400";
    g.lineWidth = 3 * k;
    g.stroke();
    g.lineWidth = 2 * k;
  }
  g.beginPath();
  g.arc(p[0], p[1], r, 0, 2 * Math.PI);
  g.fillStyle = hollow ? "rgba(255,255,255,0.4)" : colour;
  g.fill();
  g.strokeStyle = hollow ? colour : "#fff";
  g.stroke();
  g.font = `bold ${12 * k}px system-ui, sans-serif`;
  g.lineWidth = 3 * k;
  g.strokeStyle = "#fff";
  g.strokeText(String(label), p[0] + r + 2 * k, p[1] - r);
  g.fillStyle = colour;
  g.fillText(String(label), p[0] + r + 2 * k, p[1] - r);
  g.restore();
}

/** The pairs' markers on one side ("uv" on the frame, "plan" on the plan), and the half-made pair's. */
function drawPairs(g, app, side, k) {
  const key = side === "frame" ? "uv" : "plan";
  app.pairs.forEach((pair, i) =>
    drawMarker(g, pair[key], i + 1, pairColour(app, i), k, { selected: isSelected(app, "pair", i) }),
  );
  if (app.pending && app.pending.side === side) {
    drawMarker(g, app.pending.p, app.pairs.length + 1, "#000", k, { hollow: true });
  }
}

function drawFrame(app, ui) {
  const canvas = ui.frame;
  const g = canvas.getContext("2d");
  const k = pixelsPerCssPixel(canvas);
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (app.frameImg) g.drawImage(app.frameImg, 0, 0);
  if (ui.showGrid.checked && app.grid) {
    g.save();
    g.lineWidth = 1.2 * k;
    for (const line of app.grid.lines) {
      const major = Math.abs(line.value_m) < 1e-9;
      g.strokeStyle = major ? "rgba(255, 220, 0, 0.95)" : "rgba(0, 230, 255, 0.75)";
      g.beginPath();
      line.points.forEach((p, i) => (i ? g.lineTo(p[0], p[1]) : g.moveTo(p[0], p[1])));
      g.stroke();
    }
    g.restore();
  }
  drawPairs(g, app, "frame", k);
}

function polygonCentroid(points) {
  const sum = points.reduce((acc, p) => [acc[0] + p[0], acc[1] + p[1]], [0, 0]);
  return [sum[0] / points.length, sum[1] / points.length];
}

function label(g, text, p, k, colour, align = "center", ny = 0) {
  g.save();
  g.font = `600 ${12 * k}px system-ui, sans-serif`;
  g.textAlign = align;
  g.textBaseline = align !== "center" ? "middle" : ny > 0 ? "bottom" : ny < 0 ? "top" : "middle";
  g.lineWidth = 3 * k;
  g.strokeStyle = "#fff";
  g.strokeText(text, p[0], p[1]);
  g.fillStyle = colour;
  g.fillText(text, p[0], p[1]);
  g.restore();
}

function drawHandle(g, p, k, colour) {
  const h = 4 * k;
  g.fillStyle = "#fff";
  g.strokeStyle = colour;
  g.lineWidth = 1.5 * k;
  g.fillRect(p[0] - h, p[1] - h, 2 * h, 2 * h);
  g.strokeRect(p[0] - h, p[1] - h, 2 * h, 2 * h);
}

function inSideNormal(line) {
  // "left" of a→b is the side (-(b-a).y, (b-a).x) points to, in floor metres and so in plan pixels.
  const d = [line.b[0] - line.a[0], line.b[1] - line.a[1]];
  const length = Math.hypot(d[0], d[1]) || 1;
  const left = [-d[1] / length, d[0] / length];
  return line.in_side === "left" ? left : [-left[0], -left[1]];
}

function drawArrow(g, from, to, k) {
  const angle = Math.atan2(to[1] - from[1], to[0] - from[0]);
  const head = 8 * k;
  g.beginPath();
  g.moveTo(from[0], from[1]);
  g.lineTo(to[0], to[1]);
  g.moveTo(to[0] - head * Math.cos(angle - 0.45), to[1] - head * Math.sin(angle - 0.45));
  g.lineTo(to[0], to[1]);
  g.lineTo(to[0] - head * Math.cos(angle + 0.45), to[1] - head * Math.sin(angle + 0.45));
  g.stroke();
}

function drawZone(g, zone, k, { selected, editing }) {
  const colour = kindColour(zone.kind);
  g.save();
  g.beginPath();
  zone.polygon.forEach((p, j) => (j ? g.lineTo(p[0], p[1]) : g.moveTo(p[0], p[1])));
  g.closePath();
  g.fillStyle = colour + (selected ? "55" : "30");
  g.fill();
  g.strokeStyle = colour;
  g.lineWidth = (selected ? 3 : 2) * k;
  g.stroke();
  if (editing || selected) zone.polygon.forEach((p) => drawHandle(g, p, k, colour));
  g.restore();
  label(g, `${zone.name} (${zone.kind})`, polygonCentroid(zone.polygon), k, colour);
}

function drawLine(g, line, k, { selected, editing }) {
  const colour = LINE_COLOUR;
  g.save();
  g.strokeStyle = colour;
  g.lineWidth = (selected ? 4 : 3) * k;
  g.beginPath();
  g.moveTo(line.a[0], line.a[1]);
  g.lineTo(line.b[0], line.b[1]);
  g.stroke();
  const middle = [(line.a[0] + line.b[0]) / 2, (line.a[1] + line.b[1]) / 2];
  const n = inSideNormal(line);
  const tip = [middle[0] + n[0] * 28 * k, middle[1] + n[1] * 28 * k];
  g.lineWidth = 2.5 * k;
  drawArrow(g, middle, tip, k);
  if (editing || selected) [line.a, line.b].forEach((p) => drawHandle(g, p, k, colour));
  g.restore();
  label(g, "in", [tip[0] + n[0] * 10 * k, tip[1] + n[1] * 10 * k], k, colour);
  // The name on the out side, reading away from the line.
  const anchor = [middle[0] - n[0] * 8 * k, middle[1] - n[1] * 8 * k];
  label(g, line.name, anchor, k, colour, n[0] > 0.3 ? "right" : n[0] < -0.3 ? "left" : "center", n[1]);
}

function drawDraft(g, app, k) {
  g.save();
  g.setLineDash([6 * k, 4 * k]);
  g.strokeStyle = "#000";
  g.lineWidth = 2 * k;
  g.beginPath();
  app.draft.forEach((p, j) => (j ? g.lineTo(p[0], p[1]) : g.moveTo(p[0], p[1])));
  if (app.draftCursor) g.lineTo(app.draftCursor[0], app.draftCursor[1]);
  g.stroke();
  g.setLineDash([]);
  app.draft.forEach((p) => drawHandle(g, p, k, "#000"));
  g.restore();
}

function drawPlan(app, ui) {
  const canvas = ui.plan;
  const g = canvas.getContext("2d");
  const k = pixelsPerCssPixel(canvas);
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (app.planImg) g.drawImage(app.planImg, 0, 0);
  if (ui.showPreview.checked && app.previewImg) {
    g.save();
    g.globalAlpha = Number(ui.previewOpacity.value) / 100;
    g.drawImage(app.previewImg, 0, 0);
    g.restore();
  }
  const editing = app.tool !== "points";
  app.zones.forEach((zone, i) => drawZone(g, zone, k, { selected: isSelected(app, "zone", i), editing }));
  app.lines.forEach((line, i) => drawLine(g, line, k, { selected: isSelected(app, "line", i), editing }));
  if (app.draft) drawDraft(g, app, k);
  drawPairs(g, app, "plan", k);
}
