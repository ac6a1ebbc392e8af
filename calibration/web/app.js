// footfall calibrate: the page. Point pairs, zones and lines are edited here in picture pixels (camera frame and
// floor plan); the server (calibration/server.py) fits, renders the previews and saves, in floor metres.
"use strict";

const KIND_COLOURS = { area: "#1f6feb", queue: "#e67700", entrance: "#2b8a3e", staff: "#862e9c" };
const PAIR_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];
const BAD_COLOUR = "#d32f2f";
const HIT_CSS_PX = 9;
const SAME_CLICK_CSS_PX = 3;

const ui = {
  frame: document.getElementById("frame"),
  plan: document.getElementById("plan"),
  frameCursor: document.getElementById("frame-cursor"),
  planCursor: document.getElementById("plan-cursor"),
  source: document.getElementById("source"),
  hint: document.getElementById("hint"),
  showPreview: document.getElementById("show-preview"),
  previewOpacity: document.getElementById("preview-opacity"),
  showGrid: document.getElementById("show-grid"),
  save: document.getElementById("save"),
  saveStatus: document.getElementById("save-status"),
  fitStatus: document.getElementById("fit-status"),
  pairsBody: document.querySelector("#pairs tbody"),
  zones: document.getElementById("zones"),
  lines: document.getElementById("lines"),
  notes: document.getElementById("notes"),
};

const app = {
  info: null,
  frameImg: null,
  planImg: null,
  previewImg: null,
  grid: null,
  pairs: [], // {uv: [u, v] camera pixels, plan: [col, row] plan pixels}
  pending: null, // half a pair: {side: "frame" | "plan", p: [x, y]}
  fit: null,
  fitMessage: "",
  fitSeq: 0,
  zones: [], // {name, kind, polygon: [[col, row], …], cameras?}
  lines: [], // {name, a: [col, row], b: [col, row], in_side, cameras?}
  draft: null, // the zone or line being drawn: [[col, row], …]
  selected: null, // {type: "pair" | "zone" | "line", index}
  drag: null,
  tool: "points",
};

const HINTS = {
  points:
    "Click a spot on the camera frame, then the same spot on the floor plan: that makes a numbered pair. " +
    "Mark at least 4, spread over the floor. Drag a marker to move it; select a pair and press Delete to remove it.",
  zone:
    "Click the zone's corners on the floor plan in order; double-click or press Enter to close it, Escape to cancel. " +
    "Drag corners to move them. Name it and pick its kind in the list below.",
  line:
    "Click the counting line's two ends on the floor plan. The arrow points to its in side (switch it in the list " +
    "below). Drag the ends to move them.",
};

// ---------------------------------------------------------------------------------------------------------------
// Coordinates

function planToFloor(p) {
  const s = app.info.metres_per_pixel;
  return [app.info.origin[0] + p[0] * s, app.info.origin[1] + p[1] * s];
}

function floorToPlan(p) {
  const s = app.info.metres_per_pixel;
  return [(p[0] - app.info.origin[0]) / s, (p[1] - app.info.origin[1]) / s];
}

function canvasPoint(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
  const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
  return [Math.min(Math.max(x, 0), canvas.width), Math.min(Math.max(y, 0), canvas.height)];
}

function pixelsPerCssPixel(canvas) {
  const rect = canvas.getBoundingClientRect();
  return rect.width > 0 ? canvas.width / rect.width : 1;
}

function distance(a, b) {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

function round(value, digits) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

// ---------------------------------------------------------------------------------------------------------------
// Server

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    return { error: "the calibration server does not answer; is footfall calibrate still running?" };
  }
  let document;
  try {
    document = await response.json();
  } catch (error) {
    return { error: `the server answered ${response.status} ${response.statusText}` };
  }
  if (!response.ok && !document.error) {
    return { error: `the server answered ${response.status} ${response.statusText}` };
  }
  return document;
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`cannot load ${src}`));
    image.src = src;
  });
}

function pointRows() {
  return app.pairs.map((pair) => [...pair.uv, ...planToFloor(pair.plan)]);
}

async function refit() {
  const seq = ++app.fitSeq;
  ui.fitStatus.textContent = "fitting…";
  const result = await api("POST", "/api/fit", { points: pointRows() });
  if (seq !== app.fitSeq) return;
  if (result.error) {
    app.fit = null;
    app.fitMessage = result.error;
    app.grid = null;
    app.previewImg = null;
  } else {
    app.fit = result;
    app.fitMessage = "";
    loadOverlays(seq);
  }
  renderTable();
  redraw();
}

async function loadOverlays(seq) {
  const [grid, preview] = await Promise.all([
    api("GET", "/api/grid.json"),
    loadImage(`/api/preview.png?fit=${seq}`).catch(() => null),
  ]);
  if (seq !== app.fitSeq) return;
  app.grid = grid.error ? null : grid;
  app.previewImg = preview;
  redraw();
}

async function save() {
  ui.saveStatus.dataset.state = "saving";
  ui.saveStatus.textContent = "saving…";
  const body = {
    points: pointRows(),
    zones: app.zones.map((zone) => ({ ...zone, polygon: zone.polygon.map(planToFloor).map(roundPoint) })),
    lines: app.lines.map((line) => ({ ...line, a: roundPoint(planToFloor(line.a)), b: roundPoint(planToFloor(line.b)) })),
  };
  const result = await api("POST", "/api/save", body);
  if (result.error) {
    ui.saveStatus.dataset.state = "error";
    ui.saveStatus.textContent = `Not saved: ${result.error}`;
    return;
  }
  ui.saveStatus.dataset.state = "ok";
  const notes = result.notes.length ? ` ${result.notes.join("; ")}.` : "";
  ui.saveStatus.textContent = `Saved ${result.saved.join(", ")} (RMS ${result.rms_m.toFixed(3)} m).${notes}`;
}

function roundPoint(p) {
  return [round(p[0], 4), round(p[1], 4)];
}

// ---------------------------------------------------------------------------------------------------------------
// Drawing

function redraw() {
  if (!app.info) return;
  drawFrame();
  drawPlan();
}

function pairColour(index) {
  if (app.fit && app.fit.bad[index] && app.fit.pairs === app.pairs.length) return BAD_COLOUR;
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

function drawFrame() {
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
  app.pairs.forEach((pair, i) =>
    drawMarker(g, pair.uv, i + 1, pairColour(i), k, { selected: isSelected("pair", i) }),
  );
  if (app.pending && app.pending.side === "frame") {
    drawMarker(g, app.pending.p, app.pairs.length + 1, "#000", k, { hollow: true });
  }
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

function drawArrow(g, from, to, k, colour) {
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

function drawPlan() {
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
  app.zones.forEach((zone, i) => {
    const colour = KIND_COLOURS[zone.kind] || "#333";
    const selected = isSelected("zone", i);
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
  });
  app.lines.forEach((line, i) => {
    const colour = "#c2185b";
    const selected = isSelected("line", i);
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
    drawArrow(g, middle, tip, k, colour);
    if (editing || selected) [line.a, line.b].forEach((p) => drawHandle(g, p, k, colour));
    g.restore();
    label(g, "in", [tip[0] + n[0] * 10 * k, tip[1] + n[1] * 10 * k], k, colour);
    // The name on the out side, reading away from the line.
    const anchor = [middle[0] - n[0] * 8 * k, middle[1] - n[1] * 8 * k];
    label(g, line.name, anchor, k, colour, n[0] > 0.3 ? "right" : n[0] < -0.3 ? "left" : "center", n[1]);
  });
  if (app.draft) {
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
  app.pairs.forEach((pair, i) =>
    drawMarker(g, pair.plan, i + 1, pairColour(i), k, { selected: isSelected("pair", i) }),
  );
  if (app.pending && app.pending.side === "plan") {
    drawMarker(g, app.pending.p, app.pairs.length + 1, "#000", k, { hollow: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Lists

function isSelected(type, index) {
  return app.selected !== null && app.selected.type === type && app.selected.index === index;
}

function select(type, index) {
  app.selected = type === null ? null : { type, index };
  renderAll();
}

function fmt(value, digits) {
  return Number(value).toFixed(digits);
}

function renderTable() {
  const body = ui.pairsBody;
  body.replaceChildren();
  const fit = app.fit && app.fit.pairs === app.pairs.length ? app.fit : null;
  app.pairs.forEach((pair, i) => {
    const row = document.createElement("tr");
    const floor = planToFloor(pair.plan);
    const value = fit ? fit.errors_m[i] : null;
    const error = fit ? (value === null ? "∞" : fmt(value, 3)) + (fit.inlier[i] ? "" : " (outlier)") : "–";
    if (fit && fit.bad[i]) row.classList.add("bad");
    if (isSelected("pair", i)) row.classList.add("selected");
    for (const text of [
      String(i + 1),
      `${fmt(pair.uv[0], 1)}, ${fmt(pair.uv[1], 1)}`,
      `${fmt(floor[0], 2)}, ${fmt(floor[1], 2)}`,
      error,
    ]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const cell = document.createElement("td");
    cell.append(deleteButton(`Delete pair ${i + 1}`, () => deletePair(i)));
    row.append(cell);
    row.addEventListener("click", () => select("pair", i));
    body.append(row);
  });

  ui.fitStatus.replaceChildren();
  ui.fitStatus.classList.toggle("error", !fit);
  if (fit) {
    const bad = fit.bad.filter(Boolean).length;
    const rms = document.createElement("strong");
    rms.id = "rms";
    rms.dataset.rmsM = String(fit.rms_m);
    rms.textContent = `RMS ${fmt(fit.rms_m, 3)} m`;
    const text = ` over ${fit.inliers} of ${fit.pairs} pairs` + (bad ? `; ${bad} bad (red): move or delete them` : "");
    const lens = document.createElement("div");
    lens.className = "lens";
    lens.textContent = fit.lens || "";
    ui.fitStatus.append(rms, document.createTextNode(text), lens);
  } else {
    ui.fitStatus.textContent = app.fitMessage || `Mark at least ${app.info ? app.info.min_pairs : 4} point pairs.`;
  }
  if (app.pending) {
    const other = app.pending.side === "frame" ? "floor plan" : "camera frame";
    ui.fitStatus.append(document.createTextNode(` — pair ${app.pairs.length + 1}: now click the same spot on the ${other}.`));
  }
}

function deleteButton(title, action) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "delete";
  button.title = title;
  button.textContent = "×";
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    action();
  });
  return button;
}

function renderZones() {
  ui.zones.replaceChildren();
  if (!app.zones.length) ui.zones.append(emptyItem("No zones yet: pick the Zone tool and click corners on the plan."));
  app.zones.forEach((zone, i) => {
    const item = document.createElement("li");
    if (isSelected("zone", i)) item.classList.add("selected");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = KIND_COLOURS[zone.kind] || "#333";
    const name = textInput(zone.name, `Name of zone ${i + 1}`, (value) => (zone.name = value));
    const kind = document.createElement("select");
    kind.title = `Kind of zone ${zone.name}`;
    for (const option of ["area", "queue", "entrance", "staff"]) kind.add(new Option(option, option, false, option === zone.kind));
    kind.addEventListener("change", () => {
      zone.kind = kind.value;
      renderAll();
    });
    const size = document.createElement("span");
    size.className = "help";
    size.textContent = `${zone.polygon.length} corners`;
    item.append(swatch, name, kind, size, deleteButton(`Delete zone ${zone.name}`, () => deleteItem("zone", i)));
    item.addEventListener("click", (event) => {
      if (event.target === item || event.target === swatch || event.target === size) select("zone", i);
    });
    ui.zones.append(item);
  });

  ui.lines.replaceChildren();
  if (!app.lines.length) ui.lines.append(emptyItem("No lines yet: pick the Line tool and click two ends on the plan."));
  app.lines.forEach((line, i) => {
    const item = document.createElement("li");
    if (isSelected("line", i)) item.classList.add("selected");
    const name = textInput(line.name, `Name of line ${i + 1}`, (value) => (line.name = value));
    const side = document.createElement("select");
    side.title = `In side of line ${line.name}`;
    for (const option of ["left", "right"]) side.add(new Option(`in: ${option}`, option, false, option === line.in_side));
    side.addEventListener("change", () => {
      line.in_side = side.value;
      renderAll();
    });
    item.append(name, side, deleteButton(`Delete line ${line.name}`, () => deleteItem("line", i)));
    item.addEventListener("click", (event) => {
      if (event.target === item) select("line", i);
    });
    ui.lines.append(item);
  });
}

function emptyItem(text) {
  const item = document.createElement("li");
  item.className = "empty";
  item.textContent = text;
  return item;
}

function textInput(value, title, onChange) {
  const input = document.createElement("input");
  input.type = "text";
  input.value = value;
  input.title = title;
  input.addEventListener("input", () => {
    onChange(input.value);
    redraw();
  });
  return input;
}

function renderAll() {
  renderTable();
  renderZones();
  redraw();
}

// ---------------------------------------------------------------------------------------------------------------
// Editing

function freeName(prefix) {
  const used = new Set([...app.zones, ...app.lines].map((item) => item.name));
  let n = 1;
  while (used.has(`${prefix}${n}`)) n += 1;
  return `${prefix}${n}`;
}

function deletePair(index) {
  app.pairs.splice(index, 1);
  app.selected = null;
  renderAll();
  refit();
}

function deleteItem(type, index) {
  (type === "zone" ? app.zones : app.lines).splice(index, 1);
  app.selected = null;
  renderAll();
}

function deleteSelected() {
  if (!app.selected) return;
  if (app.selected.type === "pair") deletePair(app.selected.index);
  else deleteItem(app.selected.type, app.selected.index);
}

function closeZone() {
  const corners = app.draft.filter((p, i, all) => i === 0 || distance(p, all[i - 1]) > 0.5);
  if (corners.length < 3) return false;
  app.zones.push({ name: freeName("zone"), kind: "area", polygon: corners });
  app.draft = null;
  app.draftCursor = null;
  select("zone", app.zones.length - 1);
  return true;
}

function cancelDraft() {
  app.draft = null;
  app.draftCursor = null;
  app.pending = null;
  renderAll();
}

function addPointClick(side, p) {
  if (app.pending && app.pending.side !== side) {
    const pair = side === "plan" ? { uv: app.pending.p, plan: p } : { uv: p, plan: app.pending.p };
    app.pairs.push(pair);
    app.pending = null;
    app.selected = { type: "pair", index: app.pairs.length - 1 };
    renderAll();
    refit();
    return;
  }
  app.pending = { side, p };
  renderAll();
}

function hitTest(side, p, k) {
  const radius = HIT_CSS_PX * k;
  const pairHit = () => {
    for (let i = app.pairs.length - 1; i >= 0; i -= 1) {
      const q = side === "frame" ? app.pairs[i].uv : app.pairs[i].plan;
      if (distance(p, q) <= radius) return { type: "pair", index: i };
    }
    return null;
  };
  if (side === "frame") return pairHit();
  const shapeHit = () => {
    for (let i = app.lines.length - 1; i >= 0; i -= 1) {
      for (const end of ["a", "b"]) if (distance(p, app.lines[i][end]) <= radius) return { type: "line", index: i, end };
    }
    for (let i = app.zones.length - 1; i >= 0; i -= 1) {
      const corner = app.zones[i].polygon.findIndex((q) => distance(p, q) <= radius);
      if (corner >= 0) return { type: "zone", index: i, corner };
    }
    return null;
  };
  return app.tool === "points" ? pairHit() || shapeHit() : shapeHit() || pairHit();
}

function onPointerDown(side, event) {
  if (event.button !== 0 || !app.info) return;
  const canvas = side === "frame" ? ui.frame : ui.plan;
  const p = canvasPoint(canvas, event);
  const k = pixelsPerCssPixel(canvas);
  event.preventDefault();
  // Leave a name being typed (it is kept as typed) so that Enter, Escape and Delete work on the drawing again.
  if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();

  if (app.draft && side === "plan") {
    const last = app.draft[app.draft.length - 1];
    if (distance(p, last) <= SAME_CLICK_CSS_PX * k) return; // the second click of a double-click
    if (app.tool === "zone") {
      if (app.draft.length >= 3 && distance(p, app.draft[0]) <= HIT_CSS_PX * k) closeZone();
      else app.draft.push(p);
      redraw();
      return;
    }
    if (app.tool === "line") {
      app.lines.push({ name: freeName("line"), a: app.draft[0], b: p, in_side: "left" });
      app.draft = null;
      app.draftCursor = null;
      select("line", app.lines.length - 1);
      return;
    }
  }

  const hit = hitTest(side, p, k);
  if (hit) {
    app.drag = { side, hit, moved: false };
    canvas.setPointerCapture(event.pointerId);
    select(hit.type, hit.index);
    return;
  }
  if (app.tool === "points") addPointClick(side, p);
  else if (side === "plan") {
    app.draft = [p];
    redraw();
  }
}

function onPointerMove(side, event) {
  if (!app.info) return;
  const canvas = side === "frame" ? ui.frame : ui.plan;
  const p = canvasPoint(canvas, event);
  showCursor(side, p);
  if (app.draft && side === "plan") {
    app.draftCursor = p;
    redraw();
  }
  if (!app.drag || app.drag.side !== side) return;
  const { hit } = app.drag;
  if (hit.type === "pair") app.pairs[hit.index][side === "frame" ? "uv" : "plan"] = p;
  else if (hit.type === "zone") app.zones[hit.index].polygon[hit.corner] = p;
  else app.lines[hit.index][hit.end] = p;
  app.drag.moved = true;
  redraw();
}

function onPointerUp(side, event) {
  if (!app.drag) return;
  const { hit, moved } = app.drag;
  app.drag = null;
  const canvas = side === "frame" ? ui.frame : ui.plan;
  if (canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
  if (moved && hit.type === "pair") refit();
  renderAll();
}

function showCursor(side, p) {
  if (side === "frame") {
    ui.frameCursor.textContent = `${fmt(p[0], 0)}, ${fmt(p[1], 0)} px`;
  } else {
    const floor = planToFloor(p);
    ui.planCursor.textContent = `${fmt(floor[0], 2)}, ${fmt(floor[1], 2)} m`;
  }
}

function onKeyDown(event) {
  const target = event.target;
  const typing = target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
    (target.tagName === "INPUT" && target.type !== "radio" && target.type !== "checkbox"));
  if (typing) return;
  if (event.key === "Enter" && app.draft && app.tool === "zone") {
    if (closeZone()) event.preventDefault();
  } else if (event.key === "Escape") {
    cancelDraft();
  } else if (event.key === "Delete" || event.key === "Backspace") {
    event.preventDefault();
    deleteSelected();
  }
}

function setTool(tool) {
  app.tool = tool;
  app.draft = null;
  app.draftCursor = null;
  ui.hint.textContent = HINTS[tool];
  redraw();
}

// ---------------------------------------------------------------------------------------------------------------
// Start

function bind() {
  for (const [side, canvas] of [["frame", ui.frame], ["plan", ui.plan]]) {
    canvas.addEventListener("pointerdown", (event) => onPointerDown(side, event));
    canvas.addEventListener("pointermove", (event) => onPointerMove(side, event));
    canvas.addEventListener("pointerup", (event) => onPointerUp(side, event));
    canvas.addEventListener("pointercancel", (event) => onPointerUp(side, event));
  }
  ui.plan.addEventListener("dblclick", (event) => {
    if (app.tool === "zone" && app.draft) {
      event.preventDefault();
      closeZone();
    }
  });
  document.addEventListener("keydown", onKeyDown);
  for (const radio of document.querySelectorAll('input[name="tool"]')) {
    radio.addEventListener("change", () => radio.checked && setTool(radio.value));
  }
  ui.showPreview.addEventListener("change", redraw);
  ui.previewOpacity.addEventListener("input", redraw);
  ui.showGrid.addEventListener("change", redraw);
  ui.save.addEventListener("click", save);
  window.addEventListener("resize", redraw);
}

async function start() {
  bind();
  setTool("points");
  const info = await api("GET", "/api/state");
  if (info.error) {
    ui.fitStatus.textContent = info.error;
    return;
  }
  const [frameImg, planImg] = await Promise.all([loadImage("/api/frame.jpg"), loadImage("/api/plan.png")]);
  app.info = info;
  app.frameImg = frameImg;
  app.planImg = planImg;
  ui.frame.width = info.image_size[0];
  ui.frame.height = info.image_size[1];
  ui.plan.width = info.plan_size[0];
  ui.plan.height = info.plan_size[1];
  ui.source.textContent = `${info.source}${info.camera ? ` (camera ${info.camera})` : ""} → ${info.out}` +
    (info.site ? ` and ${info.site}` : "");
  app.pairs = info.points.map((row) => ({ uv: [row[0], row[1]], plan: floorToPlan([row[2], row[3]]) }));
  app.zones = info.zones.map((zone) => ({ ...zone, polygon: zone.polygon.map(floorToPlan) }));
  app.lines = info.lines.map((line) => ({ ...line, a: floorToPlan(line.a), b: floorToPlan(line.b) }));
  ui.notes.textContent = info.notes.join(" · ");
  document.body.dataset.ready = "true";
  renderAll();
  if (app.pairs.length) refit();
}

start();
