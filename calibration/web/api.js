// The calibration server's API (calibration/server.py): it fits, renders the previews and saves, in floor metres.
// Every call answers a JSON document, or {error: "one line"} when it fails.

import { roundPoint } from "./coords.js";

export async function api(method, path, body) {
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

export function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`cannot load ${src}`));
    image.src = src;
  });
}

export function fetchState() {
  return api("GET", "/api/state");
}

/** The camera frame and the floor plan, as images: [frame, plan]. */
export function fetchPictures() {
  return Promise.all([loadImage("/api/frame.jpg"), loadImage("/api/plan.png")]);
}

/** The pairs as the server takes them: [u, v, x, y], camera pixels and floor metres. */
function pointRows(app) {
  return app.pairs.map((pair) => [...pair.uv, ...app.mapping.toFloor(pair.plan)]);
}

export function fitPairs(app) {
  return api("POST", "/api/fit", { points: pointRows(app) });
}

/** The current fit's floor grid on the camera (null when there is none) and bird's-eye preview (null likewise);
 * `seq` keeps the browser from reusing an older fit's preview. */
export async function fetchOverlays(seq) {
  const [grid, preview] = await Promise.all([
    api("GET", "/api/grid.json"),
    loadImage(`/api/preview.png?fit=${seq}`).catch(() => null),
  ]);
  return { grid: grid.error ? null : grid, preview };
}

export function saveAll(app) {
  const toFloor = (p) => roundPoint(app.mapping.toFloor(p));
  return api("POST", "/api/save", {
    points: pointRows(app),
    zones: app.zones.map((zone) => ({ ...zone, polygon: zone.polygon.map(toFloor) })),
    lines: app.lines.map((line) => ({ ...line, a: toFloor(line.a), b: toFloor(line.b) })),
  });
}

/** Pairs, zones and lines from GET /api/state's floor metres into the state's picture pixels. */
export function takeSession(app, info) {
  const toPlan = app.mapping.toPlan;
  app.pairs = info.points.map((row) => ({ uv: [row[0], row[1]], plan: toPlan([row[2], row[3]]) }));
  app.zones = info.zones.map((zone) => ({ ...zone, polygon: zone.polygon.map(toPlan) }));
  app.lines = info.lines.map((line) => ({ ...line, a: toPlan(line.a), b: toPlan(line.b) }));
}

/**
 * Fits the pairs as they are now, then fetches that fit's overlays; an answer that a later call has overtaken
 * (app.fitSeq) is dropped. `view` shows it: {fitting(), renderTable(), redraw()}.
 */
export async function refit(app, view) {
  const seq = ++app.fitSeq;
  view.fitting();
  const result = await fitPairs(app);
  if (seq !== app.fitSeq) return;
  if (result.error) {
    app.fit = null;
    app.fitMessage = result.error;
    app.grid = null;
    app.previewImg = null;
  } else {
    app.fit = result;
    app.fitMessage = "";
    loadOverlays(app, seq, view);
  }
  view.renderTable();
  view.redraw();
}

async function loadOverlays(app, seq, view) {
  const { grid, preview } = await fetchOverlays(seq);
  if (seq !== app.fitSeq) return;
  app.grid = grid;
  app.previewImg = preview;
  view.redraw();
}
