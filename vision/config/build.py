"""From a loaded site config to the engine's domain objects: the camera jobs, and the flow plan (zones, lines,
funnels, thresholds and heatmap grid) that the analytics take. Only `vision.core` types come out, so every layer
above (runtime, reports, workers) builds them the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import shapely

from vision.config.site import SiteConfig, floor_extent
from vision.core.errors import SourceError
from vision.core.floorplan import PlanPicture
from vision.core.flow import FlowSettings
from vision.core.grid import HEATMAP_MARGIN_M, GridGeometry
from vision.core.ids import check_camera_id
from vision.core.places import CountingLine, Funnel, Zone


@dataclass(frozen=True, slots=True)
class CameraJob:
    """One input: its camera id, calibration, and (from a site config) its own analysis rate and start time,
    which override the run's."""

    source: str
    camera: str
    calibration: Path | None = None
    analysis_fps: float | None = None
    start: datetime | None = None
    detection_region: tuple[tuple[float, float], ...] | None = None  # image pixels where people can be

    def __post_init__(self) -> None:
        check_camera_id(self.camera)


@dataclass(frozen=True, slots=True)
class FlowPlan:
    """What the flow analytics of a site need: its zones, lines and funnels in floor metres, thresholds, time zone,
    and the heatmap grid with the floor-plan picture to draw it on."""

    site_id: str
    zones: list[Zone]
    lines: list[CountingLine]
    funnels: list[Funnel]
    settings: FlowSettings
    timezone: str = "UTC"
    grid: GridGeometry | None = None
    plan: PlanPicture | None = None
    clock_offsets: dict[str, float] = field(default_factory=dict)  # camera: seconds added to its times on fusion


def camera_jobs(config: SiteConfig) -> list[CameraJob]:
    return [
        CameraJob(
            camera.source,
            camera.id,
            camera.calibration,
            camera.analysis_fps,
            camera.start,
            tuple((float(x), float(y)) for x, y in camera.detection_region) if camera.detection_region else None,
        )
        for camera in config.cameras
    ]


def flow_plan(config: SiteConfig) -> FlowPlan:
    """The site config's zones, lines, funnels and thresholds as the analytics take them. The heatmap covers the
    floor plan, or without one the zones and lines with 2 m around them."""
    zones = [
        Zone.from_points(z.name, z.kind, list(z.polygon), frozenset(z.cameras) if z.cameras else None)
        for z in config.zones
    ]
    lines = [
        CountingLine(line.name, line.a, line.b, line.in_side, frozenset(line.cameras) if line.cameras else None)
        for line in config.lines
    ]
    analytics = config.analytics
    settings = FlowSettings(
        min_inside_s=analytics.min_inside_s,
        min_outside_s=analytics.min_outside_s,
        line_margin_m=analytics.line_margin_m,
        bucket_s=analytics.bucket_s,
        staff_share=analytics.staff_share,
        max_gap_s=analytics.max_gap_s,
        top_sequences=analytics.top_sequences,
    )
    extent = floor_extent(config)
    if extent is None and (zones or lines):
        shapes = [zone.polygon for zone in zones] + [shapely.LineString([line.a, line.b]) for line in lines]
        xmin, ymin, xmax, ymax = shapely.GeometryCollection(shapes).bounds
        margin = HEATMAP_MARGIN_M
        extent = (xmin - margin, ymin - margin, xmax + margin, ymax + margin)
    grid = None if extent is None else GridGeometry.covering(*extent, analytics.heatmap_cell_m)
    plan = None
    if config.floor_plan is not None and config.floor_plan.image is not None:
        image = cv2.imread(str(config.floor_plan.image), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{config.floor_plan.image}: the floor-plan image cannot be read")
        plan = PlanPicture(image, config.floor_plan.mapping())
    return FlowPlan(
        site_id=config.site.id,
        zones=zones,
        lines=lines,
        funnels=[Funnel(f.name, tuple(f.steps)) for f in config.funnels],
        settings=settings,
        timezone=config.site.timezone,
        grid=grid,
        plan=plan,
        clock_offsets={camera.id: camera.clock_offset_s for camera in config.cameras if camera.clock_offset_s},
    )
