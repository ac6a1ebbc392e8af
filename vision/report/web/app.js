// footfall dashboard: the controls ask /api/view for one view; every panel is drawn from its answer.
"use strict";

const PANELS = [
  { id: "footfall", title: "Footfall in and out", charts: ["lines_by_bucket"], tables: ["lines_by_bucket"] },
  { id: "footfall-hours", title: "Footfall by hour of day", charts: ["lines_by_hour_of_day"], tables: ["lines_by_hour_of_day"] },
  { id: "occupancy", title: "People in view and per zone (average over the footage)", charts: ["people_in_view", "people_per_zone"], tables: ["people_in_view", "people_per_zone"] },
  { id: "zones", title: "Zones, hot to cold, with dwell", charts: ["zones_density", "zones"], tables: ["zones"] },
  { id: "heatmap", title: "Floor heatmap", heatmap: true },
  { id: "flow", title: "Transitions and top paths", charts: ["transitions"], tables: ["transitions", "top_paths"] },
  { id: "funnels", title: "Funnels", charts: ["funnels"], tables: ["funnels"] },
  { id: "queues", title: "Queue waits", charts: ["queue_waits"], tables: ["queue_waits"] },
  { id: "segments", title: "Customer segments", charts: ["segments"], tables: ["segments"] },
  { id: "coverage", title: "Coverage: cameras and the gaps in their footage", tables: ["cameras", "outages"] },
];

const $ = (id) => document.getElementById(id);
let choices = null;
let viewSerial = 0;
let lastLiveReload = Date.now();
const LIVE_RELOAD_MS = 30000; // while a service writes, the figures are asked for again this often

function el(tag, attributes = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function checkedNames(fieldset) {
  const boxes = [...$(fieldset).querySelectorAll("input[type=checkbox]")];
  const picked = boxes.filter((box) => box.checked).map((box) => box.value);
  return picked.length === boxes.length ? null : picked;
}

function query() {
  const params = new URLSearchParams();
  params.set("period", $("period").value);
  params.set("bucket", $("bucket").value);
  if ($("period").value === "custom") {
    params.set("from", $("from").value);
    params.set("to", $("to").value);
  }
  if ($("compare").checked) {
    params.set("compare_from", $("compare-from").value);
    params.set("compare_to", $("compare-to").value);
  }
  for (const name of ["cameras", "zones"]) {
    const picked = checkedNames(name);
    if (picked !== null) params.set(name, picked.join(","));
  }
  return params.toString();
}

function table(name, rows, search) {
  const wrap = el("div", { class: "table" });
  if (!rows || rows.length === 0) {
    wrap.append(el("p", { class: "empty" }, "No data in this view."));
    return wrap;
  }
  const head = el("tr");
  for (const key of Object.keys(rows[0])) head.append(el("th", {}, key));
  const body = el("tbody");
  for (const row of rows) {
    const line = el("tr");
    for (const value of Object.values(row)) {
      const shown = value === null ? "" : value === true ? "yes" : value === false ? "no" : Array.isArray(value) ? value.join(" → ") : String(value);
      line.append(el("td", {}, shown));
    }
    body.append(line);
  }
  const grid = el("table", { "data-table": name });
  grid.append(el("thead"), body);
  grid.tHead.append(head);
  const link = el("a", { class: "csv", href: `/api/csv/${name}?${search}`, download: `${name}.csv` }, `${name}.csv`);
  wrap.append(grid, link);
  return wrap;
}

let pendingCharts = [];

function chart(figure, name) {
  // drawn once on the page (Plotly sizes a chart to its box, which has no size before that)
  const box = el("div", { class: "chart", "data-chart": name });
  pendingCharts.push([box, figure]);
  return box;
}

const FIRST_SCREEN_CHARTS = 2;

// Plotly (4.8 MB, most of a second to start) is loaded once the first figures are on the page: their tables show
// at once, and the charts are drawn when it is there.
let plotlyLoading = null;

function plotlyLoaded() {
  if (plotlyLoading === null) {
    plotlyLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/plotly.js";
      script.onload = resolve;
      script.onerror = () => reject(new Error("the chart library could not be loaded"));
      document.head.append(script);
    });
  }
  return plotlyLoading;
}

async function drawCharts(serial) {
  // the first screen's charts at once, the rest one per frame, so the page shows its figures without waiting
  const queue = pendingCharts;
  pendingCharts = [];
  document.body.dataset.charts = "drawing";
  await plotlyLoaded();
  if (serial !== viewSerial) return;
  const draw = ([box, figure]) => Plotly.newPlot(box, figure.data, figure.layout, { displaylogo: false, responsive: true });
  queue.splice(0, FIRST_SCREEN_CHARTS).forEach(draw);
  const next = () => {
    if (serial !== viewSerial) return; // a newer view replaced these panels
    if (queue.length === 0) {
      document.body.dataset.charts = "drawn";
      return;
    }
    draw(queue.shift());
    requestAnimationFrame(next);
  };
  requestAnimationFrame(next);
}

function render(view, search) {
  $("site").textContent = view.site ? `· ${view.site}` : "";
  const without = view.cameras_without_data.length ? ` No tracks from ${view.cameras_without_data.join(", ")}.` : "";
  $("meta").textContent = `Period ${view.period} (data ${view.data}), ${view.timezone}; cameras ${view.cameras.join(", ")}; ` +
    `${view.people.toLocaleString("en")} ${view.people_note.startsWith("Tracks are visitors") ? "visitor" : "track"}${view.people === 1 ? "" : "s"}; buckets of one ${view.bucket}. ` +
    `Figures resting on fewer than ${view.min_visitors} people show as <${view.min_visitors}.${without} ${view.people_note}`;
  $("meta").dataset.period = view.period;
  const panels = $("panels");
  panels.replaceChildren();
  pendingCharts = [];
  if (view.unreadable.length) {
    panels.append(el("p", { class: "error" }, `Left out, unreadable: ${view.unreadable.join("; ")}`));
  }
  if (view.comparison) {
    const section = el("section", { id: "panel-comparison" });
    section.append(el("h2", {}, `Before (${view.compare_period}) and after (${view.period})`));
    if (view.comparison_chart) section.append(chart(view.comparison_chart, "comparison"));
    section.append(table("comparison", view.comparison, search));
    panels.append(section);
  }
  for (const panel of PANELS) {
    const tables = (panel.tables || []).filter((name) => name in view.tables);
    if (!panel.heatmap && tables.length === 0) continue;
    if (panel.heatmap && view.heatmap === null) continue;
    const section = el("section", { id: `panel-${panel.id}` });
    section.append(el("h2", {}, panel.title));
    for (const name of panel.charts || []) if (view.charts[name]) section.append(chart(view.charts[name], name));
    if (panel.heatmap) {
      section.append(typeof view.heatmap === "string" ? el("p", { class: "empty" }, view.heatmap) : chart(view.heatmap, "heatmap"));
    }
    for (const name of tables) section.append(table(name, view.tables[name], search));
    panels.append(section);
  }
  drawCharts(viewSerial);
}

function rangeProblem() {
  const ranges = [];
  if ($("period").value === "custom") ranges.push(["period", $("from").value, $("to").value]);
  if ($("compare").checked) ranges.push(["compared period", $("compare-from").value, $("compare-to").value]);
  for (const [what, first, last] of ranges) {
    if (!first || !last) return `Give the first and last day of the ${what}.`;
    if (last < first) return `The ${what} ends (${last}) before it starts (${first}).`;
  }
  return null;
}

async function load(prefetched = null) {
  const serial = ++viewSerial;
  const problem = rangeProblem();
  if (problem) {
    $("error").textContent = problem;
    $("error").hidden = false;
    return;
  }
  const search = query();
  document.body.dataset.state = "loading";
  try {
    const answer = await (prefetched && prefetched.search === search ? prefetched.answer : fetch(`/api/view?${search}`));
    const view = await answer.json();
    if (serial !== viewSerial) return; // a newer question went out meanwhile
    if (!answer.ok) throw new Error(view.error || answer.statusText);
    $("error").hidden = true;
    render(view, search);
    document.body.dataset.view = search;
    document.body.dataset.state = "ready";
  } catch (error) {
    if (serial !== viewSerial) return;
    $("error").textContent = String(error.message || error);
    $("error").hidden = false;
    $("panels").replaceChildren();
    document.body.dataset.view = search;
    document.body.dataset.state = "error";
  }
}

function rows(target, header, lines) {
  const node = $(target);
  node.replaceChildren();
  const head = el("tr");
  for (const name of header) head.append(el("th", {}, name));
  node.append(head);
  for (const line of lines) {
    const row = el("tr");
    for (const value of line) row.append(el("td", {}, value === null || value === undefined ? "" : String(value)));
    node.append(row);
  }
}

async function refreshNow() {
  try {
    const now = await (await fetch("/api/now")).json();
    if (now.error) return;
    const section = $("now");
    section.hidden = now.cameras.length === 0;
    section.dataset.live = String(now.live);
    $("now-at").textContent = now.live ? `live, ${now.at}` : "no service is writing now";
    $("now-people").textContent = String(now.people_in_view);
    rows("now-zones", ["zone", "people now"], Object.entries(now.zones));
    rows("now-cameras", ["camera", "state", "people", "frames/s", "last frame", "reconnects"],
      now.cameras.map((c) => [c.camera, c.state, c.people_in_view, c.frames_analysed_per_s, c.last_frame, c.reconnects]));
    rows("now-events", ["time", "camera", "event", "place"], now.recent_events.map((e) => [e.t, e.camera, e.event, e.place]));
    if (now.live && Date.now() - lastLiveReload > LIVE_RELOAD_MS && document.body.dataset.state !== "loading") {
      lastLiveReload = Date.now();
      load();
    }
  } catch (error) {
    // the next poll tries again
  }
}

function boxes(fieldset, names) {
  for (const name of names) {
    const label = el("label");
    const box = el("input", { type: "checkbox", value: name, name: fieldset });
    box.checked = true;
    label.append(box, ` ${name}`);
    $(fieldset).append(label);
  }
  $(fieldset).hidden = names.length === 0;
}

function shiftDays(day, days) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

// Asked while Plotly's script loads: the choices, then the view the page opens on.
const choicesAsked = fetch("/api/choices").then(async (answer) => ({ ok: answer.ok, body: await answer.json() }));
const firstViewAsked = choicesAsked.then(({ ok, body }) => {
  if (!ok) return null;
  const search = `period=${body.default_period}&bucket=${body.default_bucket}`;
  return { search, answer: fetch(`/api/view?${search}`) };
});

async function start() {
  const asked = await choicesAsked;
  choices = asked.body;
  if (!asked.ok) {
    $("error").textContent = choices.error;
    $("error").hidden = false;
    return;
  }
  $("period").value = choices.default_period;
  $("bucket").value = choices.default_bucket;
  boxes("cameras", choices.cameras);
  boxes("zones", choices.zones);
  $("from").value = choices.first_day || choices.today;
  $("to").value = choices.last_day || choices.today;
  $("period").addEventListener("change", () => {
    $("custom-days").hidden = $("period").value !== "custom";
    load();
  });
  $("compare").addEventListener("change", () => {
    const on = $("compare").checked;
    $("compare-from").disabled = $("compare-to").disabled = !on;
    if (on && !$("compare-from").value) {
      const first = $("from").value, last = $("to").value;
      const days = Math.round((Date.parse(last) - Date.parse(first)) / 86400000) + 1;
      $("compare-from").value = shiftDays(first, -days);
      $("compare-to").value = shiftDays(first, -1);
    }
    load();
  });
  for (const id of ["from", "to", "compare-from", "compare-to", "bucket"]) $(id).addEventListener("change", load);
  $("cameras").addEventListener("change", load);
  $("zones").addEventListener("change", load);
  await load(await firstViewAsked);
  refreshNow();
  setInterval(refreshNow, 2000);
}

document.addEventListener("DOMContentLoaded", start);
