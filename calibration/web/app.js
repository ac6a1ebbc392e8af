// footfall calibrate: the page. Point pairs, zones and lines are edited here in picture pixels (camera frame and
// floor plan); the server (calibration/server.py) fits, renders the previews and saves, in floor metres.
//
// Modules, each importing only those listed before it: coords.js (coordinates, the plan ⇄ floor mapping),
// state.js (the state object), api.js (the server), draw.js (the canvases), panels.js (lists and status text),
// tools.js (editing). This one finds the elements, wires them together, binds the events and starts.

import { planMapping } from "./coords.js";
import { createState } from "./state.js";
import { fetchPictures, fetchState, refit, saveAll, takeSession } from "./api.js";
import { redraw } from "./draw.js";
import { renderLists, renderTable, showError, showFitting, showSaved, showSaving, showSession } from "./panels.js";
import { createTools } from "./tools.js";

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

const app = createState();
window.app = app; // the page's state, for the browser test (tests/test_calibration_browser.py) and for debugging

// What the tools, the panels and the fit ask of the page; `tools` is set below, before any event can come.
const view = {
  redraw: () => redraw(app, ui),
  renderTable: () => renderTable(app, ui, actions),
  renderAll() {
    renderTable(app, ui, actions);
    renderLists(app, ui, actions);
    redraw(app, ui);
  },
  fitting: () => showFitting(ui),
  refit: () => refit(app, view),
};
const tools = createTools(app, ui, view);
const actions = {
  select: tools.select,
  deletePair: tools.deletePair,
  deleteItem: tools.deleteItem,
  redraw: view.redraw,
  renderAll: view.renderAll,
};

async function save() {
  showSaving(ui);
  showSaved(ui, await saveAll(app));
}

function bind() {
  for (const [side, canvas] of [["frame", ui.frame], ["plan", ui.plan]]) {
    canvas.addEventListener("pointerdown", (event) => tools.onPointerDown(side, event));
    canvas.addEventListener("pointermove", (event) => tools.onPointerMove(side, event));
    canvas.addEventListener("pointerup", (event) => tools.onPointerUp(side, event));
    canvas.addEventListener("pointercancel", (event) => tools.onPointerUp(side, event));
  }
  ui.plan.addEventListener("dblclick", tools.onDoubleClick);
  document.addEventListener("keydown", tools.onKeyDown);
  for (const radio of document.querySelectorAll('input[name="tool"]')) {
    radio.addEventListener("change", () => radio.checked && tools.setTool(radio.value));
  }
  ui.showPreview.addEventListener("change", view.redraw);
  ui.previewOpacity.addEventListener("input", view.redraw);
  ui.showGrid.addEventListener("change", view.redraw);
  ui.save.addEventListener("click", save);
  window.addEventListener("resize", view.redraw);
}

async function start() {
  bind();
  tools.setTool("points");
  const info = await fetchState();
  if (info.error) {
    showError(ui, info.error);
    return;
  }
  if (!Array.isArray(info.zone_kinds) || !Array.isArray(info.line_sides)) {
    showError(ui, "the server's state has no zone_kinds or line_sides");
    return;
  }
  let mapping;
  try {
    mapping = planMapping(info.plan_mapping);
  } catch (error) {
    showError(ui, error.message);
    return;
  }
  const [frameImg, planImg] = await fetchPictures();
  app.info = info;
  app.mapping = mapping;
  app.frameImg = frameImg;
  app.planImg = planImg;
  ui.frame.width = info.image_size[0];
  ui.frame.height = info.image_size[1];
  ui.plan.width = info.plan_size[0];
  ui.plan.height = info.plan_size[1];
  showSession(ui, info);
  takeSession(app, info);
  document.body.dataset.ready = "true";
  view.renderAll();
  if (app.pairs.length) view.refit();
}

start();
