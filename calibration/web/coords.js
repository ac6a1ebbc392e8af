// Coordinates: canvas pixels under the pointer, distances, and floor-plan pixels ⇄ floor metres. The plan mapping
// is the server's (GET /api/state "plan_mapping", two 3x3 matrices); it is applied here, never re-derived.

/** Applies the 3x3 matrix `m` to the point `p` = [x, y] in homogeneous coordinates, dividing by w. */
export function applyMatrix(m, p) {
  const w = m[2][0] * p[0] + m[2][1] * p[1] + m[2][2];
  return [(m[0][0] * p[0] + m[0][1] * p[1] + m[0][2]) / w, (m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]) / w];
}

function isMatrix3(m) {
  return Array.isArray(m) && m.length === 3 &&
    m.every((row) => Array.isArray(row) && row.length === 3 && row.every(Number.isFinite));
}

/**
 * The plan ⇄ floor mapping from the server's `plan_mapping`: `toFloor` takes a plan pixel [col, row] (from the
 * top-left corner of the top-left pixel) to floor metres [x, y], `toPlan` the other way. Throws an Error saying
 * what is missing when the document is not two 3x3 matrices.
 */
export function planMapping(document) {
  if (!document || !isMatrix3(document.floor_from_plan) || !isMatrix3(document.plan_from_floor)) {
    throw new Error("the server's state has no valid plan_mapping (floor_from_plan and plan_from_floor, 3x3)");
  }
  const { floor_from_plan: floorFromPlan, plan_from_floor: planFromFloor } = document;
  return {
    toFloor: (p) => applyMatrix(floorFromPlan, p),
    toPlan: (p) => applyMatrix(planFromFloor, p),
  };
}

/** The picture pixel of `canvas` under a pointer event, clamped to the canvas. */
export function canvasPoint(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
  const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
  return [Math.min(Math.max(x, 0), canvas.width), Math.min(Math.max(y, 0), canvas.height)];
}

/** Picture pixels per CSS pixel of `canvas`, to keep markers and hit radii the same size on screen. */
export function pixelsPerCssPixel(canvas) {
  const rect = canvas.getBoundingClientRect();
  return rect.width > 0 ? canvas.width / rect.width : 1;
}

export function distance(a, b) {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

export function round(value, digits) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function roundPoint(p) {
  return [round(p[0], 4), round(p[1], 4)];
}
