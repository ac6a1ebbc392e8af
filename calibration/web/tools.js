// Editing with the pointer and the keyboard: point pairs (a click on each picture), zones (corners on the plan,
// closed by a double-click or Enter) and lines (two ends on the plan), dragging markers, corners and ends, hit
// testing, selecting and deleting. What it asks of the page comes in `view`: {redraw(), renderAll(), refit()}.

import { canvasPoint, distance, pixelsPerCssPixel } from "./coords.js";
import { freeName, setSelected } from "./state.js";
import { showCursor, showHint } from "./panels.js";

const HIT_CSS_PX = 9;
const SAME_CLICK_CSS_PX = 3;

export function createTools(app, ui, view) {
  function canvasOf(side) {
    return side === "frame" ? ui.frame : ui.plan;
  }

  function select(type, index) {
    setSelected(app, type, index);
    view.renderAll();
  }

  function deletePair(index) {
    app.pairs.splice(index, 1);
    app.selected = null;
    view.renderAll();
    view.refit();
  }

  function deleteItem(type, index) {
    (type === "zone" ? app.zones : app.lines).splice(index, 1);
    app.selected = null;
    view.renderAll();
  }

  function deleteSelected() {
    if (!app.selected) return;
    if (app.selected.type === "pair") deletePair(app.selected.index);
    else deleteItem(app.selected.type, app.selected.index);
  }

  function closeZone() {
    const corners = app.draft.filter((p, i, all) => i === 0 || distance(p, all[i - 1]) > 0.5);
    if (corners.length < 3) return false;
    app.zones.push({ name: freeName(app, "zone"), kind: "area", polygon: corners });
    app.draft = null;
    app.draftCursor = null;
    select("zone", app.zones.length - 1);
    return true;
  }

  function cancelDraft() {
    app.draft = null;
    app.draftCursor = null;
    app.pending = null;
    view.renderAll();
  }

  function addPointClick(side, p) {
    if (app.pending && app.pending.side !== side) {
      const pair = side === "plan" ? { uv: app.pending.p, plan: p } : { uv: p, plan: app.pending.p };
      app.pairs.push(pair);
      app.pending = null;
      setSelected(app, "pair", app.pairs.length - 1);
      view.renderAll();
      view.refit();
      return;
    }
    app.pending = { side, p };
    view.renderAll();
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
    const canvas = canvasOf(side);
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
        view.redraw();
        return;
      }
      if (app.tool === "line") {
        app.lines.push({ name: freeName(app, "line"), a: app.draft[0], b: p, in_side: "left" });
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
      view.redraw();
    }
  }

  function onPointerMove(side, event) {
    if (!app.info) return;
    const p = canvasPoint(canvasOf(side), event);
    showCursor(app, ui, side, p);
    if (app.draft && side === "plan") {
      app.draftCursor = p;
      view.redraw();
    }
    if (!app.drag || app.drag.side !== side) return;
    const { hit } = app.drag;
    if (hit.type === "pair") app.pairs[hit.index][side === "frame" ? "uv" : "plan"] = p;
    else if (hit.type === "zone") app.zones[hit.index].polygon[hit.corner] = p;
    else app.lines[hit.index][hit.end] = p;
    app.drag.moved = true;
    view.redraw();
  }

  function onPointerUp(side, event) {
    if (!app.drag) return;
    const { hit, moved } = app.drag;
    app.drag = null;
    const canvas = canvasOf(side);
    if (canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
    if (moved && hit.type === "pair") view.refit();
    view.renderAll();
  }

  function onDoubleClick(event) {
    if (app.tool === "zone" && app.draft) {
      event.preventDefault();
      closeZone();
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
    showHint(ui, tool);
    view.redraw();
  }

  return { select, deletePair, deleteItem, setTool, onPointerDown, onPointerMove, onPointerUp, onDoubleClick, onKeyDown };
}
