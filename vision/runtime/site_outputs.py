"""A site run's own outputs beside the datasets: `summary.json` and the dwell heatmaps (per camera and merged: the
raw grid as .npy, its geometry as .json, a picture as .png)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from vision.analytics.site import SiteFlow
from vision.config.build import FlowPlan
from vision.core.errors import OutputError
from vision.core.types import TrackHistory
from vision.report.inputs import SITE_FOLDER, RunFolders, site_from_description
from vision.sinks.atomic import atomic_output, write_json_atomic
from vision.sinks.parquet import TrackTableSink
from vision.sinks.pictures import FLOOR_SIGMA_M, heatmap_picture

if TYPE_CHECKING:
    from vision.runtime.site_fusion import FusionReport


def site_flow(plan: FlowPlan) -> SiteFlow:
    """The flow analytics a site's cameras share for the run."""
    return SiteFlow(plan.zones, plan.lines, plan.funnels, plan.settings, ZoneInfo(plan.timezone), plan.grid)


SITE_FILE = "site.json"
PLAN_FILE = "floor_plan.png"


def site_description(plan: FlowPlan) -> dict:
    """What a report needs to know of the site a run analysed, beside its datasets: time zone, zones (kind, area,
    outline), lines, funnels, thresholds and the heatmap grid. Written as OUT/site.json when the run starts."""
    return {
        "site": plan.site_id,
        "timezone": plan.timezone,
        "settings": asdict(plan.settings),
        "zones": [
            {
                "name": zone.name,
                "kind": zone.kind,
                "area_m2": zone.area_m2,
                "polygon": [list(point) for point in zone.polygon.exterior.coords[:-1]],
                "cameras": sorted(zone.cameras) if zone.cameras is not None else None,
            }
            for zone in plan.zones
        ],
        "lines": [
            {
                "name": line.name,
                "a": list(line.a),
                "b": list(line.b),
                "in_side": line.in_side,
                "cameras": sorted(line.cameras) if line.cameras is not None else None,
            }
            for line in plan.lines
        ],
        "funnels": [{"name": funnel.name, "steps": list(funnel.steps)} for funnel in plan.funnels],
        "grid": plan.grid.to_json() if plan.grid is not None else None,
        "floor_plan": None
        if plan.plan is None
        else {
            "image": PLAN_FILE,
            "metres_per_pixel": plan.plan.mapping.metres_per_pixel,
            "origin": list(plan.plan.mapping.origin),
            "size_px": list(plan.plan.size),
        },
    }


def write_site_description(out_dir: Path, plan: FlowPlan) -> list[str]:
    """Writes site.json and, with a floor-plan picture, a copy of it (so the folder is reported on anywhere);
    returns their paths relative to `out_dir`."""
    written = [SITE_FILE]
    if plan.plan is not None:
        ok, encoded = cv2.imencode(".png", plan.plan.image)
        if not ok:
            raise OutputError("could not encode the floor-plan picture")
        with atomic_output(out_dir / PLAN_FILE, "wb") as handle:
            handle.write(encoded.tobytes())
        written.append(PLAN_FILE)
    write_json_atomic(out_dir / SITE_FILE, site_description(plan))
    return written


def run_summary(out_dir: Path, plan: FlowPlan, camera: str | None = None) -> dict:
    """The figures of the run in `out_dir` (one run per folder), from the datasets it wrote, by the code that makes
    a report's (`vision.report.summary`): over its site tracks where a fusion pass wrote them, else its camera
    tracks; or over one `camera`'s own tracks."""
    from vision.report import queries  # DuckDB: needed only here, at the end of a site run, not before its frames
    from vision.report.summary import flow_summary

    runs = RunFolders([out_dir], site_from_description(site_description(plan), out_dir))
    scope = queries.Scope(None, None, (camera,) if camera is not None else None, "hour")
    con = queries.connect(runs, scope, memory_limit="1GB")
    try:
        return flow_summary(con, runs.site, visitors=queries.level_of(runs, scope) == "site" and runs.fused)
    finally:
        con.close()


def summarise_tracks(out_dir: Path, plan: FlowPlan, tracks: Iterable[TrackHistory]) -> dict:
    """What a run whose tracker produced `tracks` would put in its summary: the tracks go through the site's flow
    analytics and the Parquet sinks into `out_dir` (an empty folder), and the summary is computed from there. Used
    to put ground-truth tracks through the same analytics as the engine's (scripts/eval_flow.py) and in tests."""
    flow = site_flow(plan)
    sinks: dict[str, TrackTableSink] = {}
    for track in tracks:
        sink = sinks.get(track.camera)
        if sink is None:
            sink = sinks[track.camera] = TrackTableSink(
                out_dir, track.camera, "tracks", with_flow=True, with_heatmap=plan.grid is not None,
                timezone=plan.timezone,
            )  # fmt: skip
        sink.write_track(flow.process(track))
    for sink in sinks.values():
        sink.close(completed=True)
    return run_summary(out_dir, plan)


def fused_summary(out_dir: Path, plan: FlowPlan) -> tuple[dict, tuple[FusionReport, SiteFlow] | None]:
    """The summary of the record in `out_dir`, after the fusion pass where it holds several cameras' tracks (see
    `vision.runtime.site_fusion`): then its figures count visitors (site tracks), `cameras` keeps each camera's own
    figures and `fusion` says what the pass did. Also returns the pass's report and its site analytics."""
    from vision.runtime.site_fusion import fuse_record

    fused = fuse_record(out_dir, plan, plan.clock_offsets)
    summary = run_summary(out_dir, plan)
    if fused is not None:
        summary["fusion"] = fused[0].to_json()
        summary["cameras"] = {camera: run_summary(out_dir, plan, camera) for camera in fused[0].cameras}
    return summary, fused


def heatmap_title(plan: FlowPlan, name: str, summary: dict) -> list[str]:
    """The two title lines of a floor heatmap picture: whose (the site's, or one camera's) and the period, from
    the run's summary (a camera's own figures where the fusion pass kept them)."""
    assert plan.grid is not None
    whose = f"Dwell heatmap, site {plan.site_id}" + ("" if name == "site" else f", camera {name}")
    period = summary.get("cameras", {}).get(name, summary).get("period") or summary.get("period")
    if period:
        start, end = datetime.fromisoformat(period["start"]), datetime.fromisoformat(period["end"])
        until = end.strftime("%H:%M:%S" if end.date() == start.date() else "%Y-%m-%d %H:%M:%S")
        when = f"{start:%Y-%m-%d %H:%M:%S} to {until} ({plan.timezone})"
    else:
        when = f"no tracks ({plan.timezone})"
    how = f"smoothed {FLOOR_SIGMA_M:g} m, person-seconds per {plan.grid.cell_m:g} m cell"
    return [whose, f"{when}, {how}"]


def write_site_outputs(out_dir: Path, flow: SiteFlow, plan: FlowPlan) -> tuple[list[str], dict | None]:
    """Runs the fusion pass where the record holds several cameras' tracks (see `vision.runtime.site_fusion`), then
    writes summary.json and the heatmaps. Returns the paths written, relative to `out_dir`, and what the fusion
    pass did (None for one camera)."""
    written: list[Path] = []
    summary, fused = fused_summary(out_dir, plan)
    summary = {"site": plan.site_id, "timezone": plan.timezone, "settings": asdict(plan.settings), **summary}
    fusion = fused[0].to_json() if fused is not None else None
    if fused is not None:
        written += sorted(path for path in (out_dir / SITE_FOLDER).rglob("*.parquet"))
    if plan.grid is not None:
        folder = out_dir / "heatmaps"
        grids = {camera: heatmap.person_seconds for camera, heatmap in sorted(flow.heatmaps.items())}
        # The site's: each person once, from the site tracks where there are several cameras.
        merged = fused[1].merged_heatmap() if fused is not None else flow.merged_heatmap()
        grids["site"] = merged if merged is not None else np.zeros((plan.grid.rows, plan.grid.columns))
        pictures: list[Path] = []
        for name, grid in grids.items():
            with atomic_output(folder / f"{name}.npy", "wb") as handle:
                np.save(handle, grid)
            write_json_atomic(folder / f"{name}.json", {**plan.grid.to_json(), "total_person_seconds": grid.sum()})
            title = heatmap_title(plan, name, summary)
            picture = heatmap_picture(grid, plan.grid, plan.plan, plan.zones, plan.lines, title, FLOOR_SIGMA_M)
            ok, encoded = cv2.imencode(".png", picture)
            if not ok:
                raise OutputError(f"could not encode the heatmap picture for {name}")
            with atomic_output(folder / f"{name}.png", "wb") as handle:
                handle.write(encoded.tobytes())
            pictures += [folder / f"{name}.npy", folder / f"{name}.json", folder / f"{name}.png"]
        summary["heatmaps"] = {"cell_m": plan.grid.cell_m, "files": [str(p.relative_to(out_dir)) for p in pictures]}
        written += pictures
    write_json_atomic(out_dir / "summary.json", summary)
    written.append(out_dir / "summary.json")
    return [str(path.relative_to(out_dir)) for path in written], fusion
