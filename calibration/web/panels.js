// The panels under the pictures and the page's status text: the pairs table with each pair's error and the fit's
// RMS, the zones and lines lists, the tool hint, the pointer's position, the fitting and saving status. What the
// lists' buttons and inputs do comes in `actions` ({select, deletePair, deleteItem, redraw, renderAll}), so that
// this module needs neither the editing tools nor app.js.

import { currentFit, isSelected } from "./state.js";
import { kindColour } from "./draw.js";

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

function fmt(value, digits) {
  return Number(value).toFixed(digits);
}

// ---------------------------------------------------------------------------------------------------------------
// Status text

export function showHint(ui, tool) {
  ui.hint.textContent = HINTS[tool];
}

export function showCursor(app, ui, side, p) {
  if (side === "frame") {
    ui.frameCursor.textContent = `${fmt(p[0], 0)}, ${fmt(p[1], 0)} px`;
  } else {
    const floor = app.mapping.toFloor(p);
    ui.planCursor.textContent = `${fmt(floor[0], 2)}, ${fmt(floor[1], 2)} m`;
  }
}

export function showFitting(ui) {
  ui.fitStatus.textContent = "fitting…";
}

/** A start-up failure, in the fit status where the page's messages show. */
export function showError(ui, message) {
  ui.fitStatus.textContent = message;
}

/** What the session edits (source, output files) and the server's notes. */
export function showSession(ui, info) {
  ui.source.textContent = `${info.source}${info.camera ? ` (camera ${info.camera})` : ""} → ${info.out}` +
    (info.site ? ` and ${info.site}` : "");
  ui.notes.textContent = info.notes.join(" · ");
}

export function showSaving(ui) {
  ui.saveStatus.dataset.state = "saving";
  ui.saveStatus.textContent = "saving…";
}

export function showSaved(ui, result) {
  if (result.error) {
    ui.saveStatus.dataset.state = "error";
    ui.saveStatus.textContent = `Not saved: ${result.error}`;
    return;
  }
  ui.saveStatus.dataset.state = "ok";
  const notes = result.notes.length ? ` ${result.notes.join("; ")}.` : "";
  ui.saveStatus.textContent = `Saved ${result.saved.join(", ")} (RMS ${result.rms_m.toFixed(3)} m).${notes}`;
}

// ---------------------------------------------------------------------------------------------------------------
// The pairs table and the fit status

export function renderTable(app, ui, actions) {
  const body = ui.pairsBody;
  body.replaceChildren();
  const fit = currentFit(app);
  app.pairs.forEach((pair, i) => {
    const row = document.createElement("tr");
    const floor = app.mapping.toFloor(pair.plan);
    const value = fit ? fit.errors_m[i] : null;
    const error = fit ? (value === null ? "∞" : fmt(value, 3)) + (fit.inlier[i] ? "" : " (outlier)") : "–";
    if (fit && fit.bad[i]) row.classList.add("bad");
    if (isSelected(app, "pair", i)) row.classList.add("selected");
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
    cell.append(deleteButton(`Delete pair ${i + 1}`, () => actions.deletePair(i)));
    row.append(cell);
    row.addEventListener("click", () => actions.select("pair", i));
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

// ---------------------------------------------------------------------------------------------------------------
// The zones and lines lists

export function renderLists(app, ui, actions) {
  renderZones(app, ui, actions);
  renderLines(app, ui, actions);
}

function renderZones(app, ui, actions) {
  ui.zones.replaceChildren();
  if (!app.zones.length) ui.zones.append(emptyItem("No zones yet: pick the Zone tool and click corners on the plan."));
  app.zones.forEach((zone, i) => {
    const item = document.createElement("li");
    if (isSelected(app, "zone", i)) item.classList.add("selected");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = kindColour(zone.kind);
    const name = textInput(zone.name, `Name of zone ${i + 1}`, (value) => (zone.name = value), actions);
    const kind = select(`Kind of zone ${zone.name}`, app.info.zone_kinds, (option) => option, zone.kind);
    kind.addEventListener("change", () => {
      zone.kind = kind.value;
      actions.renderAll();
    });
    const size = document.createElement("span");
    size.className = "help";
    size.textContent = `${zone.polygon.length} corners`;
    item.append(swatch, name, kind, size, deleteButton(`Delete zone ${zone.name}`, () => actions.deleteItem("zone", i)));
    item.addEventListener("click", (event) => {
      if (event.target === item || event.target === swatch || event.target === size) actions.select("zone", i);
    });
    ui.zones.append(item);
  });
}

function renderLines(app, ui, actions) {
  ui.lines.replaceChildren();
  if (!app.lines.length) ui.lines.append(emptyItem("No lines yet: pick the Line tool and click two ends on the plan."));
  app.lines.forEach((line, i) => {
    const item = document.createElement("li");
    if (isSelected(app, "line", i)) item.classList.add("selected");
    const name = textInput(line.name, `Name of line ${i + 1}`, (value) => (line.name = value), actions);
    const side = select(`In side of line ${line.name}`, app.info.line_sides, (option) => `in: ${option}`, line.in_side);
    side.addEventListener("change", () => {
      line.in_side = side.value;
      actions.renderAll();
    });
    item.append(name, side, deleteButton(`Delete line ${line.name}`, () => actions.deleteItem("line", i)));
    item.addEventListener("click", (event) => {
      if (event.target === item) actions.select("line", i);
    });
    ui.lines.append(item);
  });
}

function select(title, options, text, value) {
  const element = document.createElement("select");
  element.title = title;
  for (const option of options) element.add(new Option(text(option), option, false, option === value));
  return element;
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

function emptyItem(text) {
  const item = document.createElement("li");
  item.className = "empty";
  item.textContent = text;
  return item;
}

function textInput(value, title, onChange, actions) {
  const input = document.createElement("input");
  input.type = "text";
  input.value = value;
  input.title = title;
  input.addEventListener("input", () => {
    onChange(input.value);
    actions.redraw();
  });
  return input;
}
