"""A site run's own outputs beside the datasets: `summary.json` and the dwell heatmaps (per camera and merged: the
raw grid as .npy, its geometry as .json, a picture as .png)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from vision.analytics.site import SiteFlow
from vision.config.build import FlowPlan
from vision.core.errors import OutputError
from vision.sinks.atomic import atomic_output, write_json_atomic
from vision.sinks.pictures import heatmap_picture


def site_flow(plan: FlowPlan) -> SiteFlow:
    """The flow analytics a site's cameras share for the run."""
    return SiteFlow(plan.zones, plan.lines, plan.funnels, plan.settings, ZoneInfo(plan.timezone), plan.grid)


def write_site_outputs(out_dir: Path, flow: SiteFlow, plan: FlowPlan) -> list[str]:
    """Writes summary.json and the heatmaps; returns their paths relative to `out_dir`."""
    written: list[Path] = []
    summary = {"site": plan.site_id, "timezone": plan.timezone, "settings": asdict(plan.settings), **flow.summary()}
    if plan.grid is not None:
        folder = out_dir / "heatmaps"
        grids = {camera: heatmap.person_seconds for camera, heatmap in sorted(flow.heatmaps.items())}
        merged = flow.merged_heatmap()
        grids["site"] = merged if merged is not None else np.zeros((plan.grid.rows, plan.grid.columns))
        for name, grid in grids.items():
            with atomic_output(folder / f"{name}.npy", "wb") as handle:
                np.save(handle, grid)
            write_json_atomic(folder / f"{name}.json", {**plan.grid.to_json(), "total_person_seconds": grid.sum()})
            picture = heatmap_picture(grid, plan.grid, plan.plan, plan.zones, plan.lines)
            ok, encoded = cv2.imencode(".png", picture)
            if not ok:
                raise OutputError(f"could not encode the heatmap picture for {name}")
            with atomic_output(folder / f"{name}.png", "wb") as handle:
                handle.write(encoded.tobytes())
            written += [folder / f"{name}.npy", folder / f"{name}.json", folder / f"{name}.png"]
        summary["heatmaps"] = {"cell_m": plan.grid.cell_m, "files": [str(p.relative_to(out_dir)) for p in written]}
    write_json_atomic(out_dir / "summary.json", summary)
    written.append(out_dir / "summary.json")
    return [str(path.relative_to(out_dir)) for path in written]
