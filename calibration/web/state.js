// The page's state: one object, made by createState() and passed to the modules that read or edit it. Pairs,
// zones and lines are kept in picture pixels (camera frame and floor plan); `mapping` turns plan pixels into floor
// metres for the server.

export function createState() {
  return {
    info: null, // GET /api/state
    mapping: null, // planMapping(info.plan_mapping): {toFloor, toPlan}
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
    draftCursor: null, // where the pointer is while drawing it
    selected: null, // {type: "pair" | "zone" | "line", index}
    drag: null,
    tool: "points",
  };
}

export function isSelected(app, type, index) {
  return app.selected !== null && app.selected.type === type && app.selected.index === index;
}

/** Selects item `index` of `type` ("pair", "zone" or "line"), or nothing when `type` is null. */
export function setSelected(app, type, index) {
  app.selected = type === null ? null : { type, index };
}

/** The fit, when it is for the pairs as they are now. */
export function currentFit(app) {
  return app.fit && app.fit.pairs === app.pairs.length ? app.fit : null;
}

/** `prefix` and the first number not yet used by a zone or line name. */
export function freeName(app, prefix) {
  const used = new Set([...app.zones, ...app.lines].map((item) => item.name));
  let n = 1;
  while (used.has(`${prefix}${n}`)) n += 1;
  return `${prefix}${n}`;
}
