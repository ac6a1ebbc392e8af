"""The flow analytics of one site: each finished track goes through `process`, which finds its zone visits, line
crossings, share of time in staff zones, person-seconds per zone and time bucket, and person-seconds per heatmap cell
and quarter hour. Staff tracks are flagged, so that every customer figure can leave them out.

Nothing per track or per visit is kept once a track has been processed: what a summary or report needs goes to disk
with the track (see `vision.sinks.parquet`) and is computed from there. The whole-run heatmap grids are the only
state, and their size is fixed by the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from vision.analytics.heatmap import HeatmapAccumulator, presence_seconds
from vision.analytics.lines import line_crossings
from vision.analytics.visits import zone_visits
from vision.core.flow import FlowSettings
from vision.core.grid import GridGeometry
from vision.core.places import CountingLine, Funnel, Zone
from vision.core.types import Crossing, TrackHistory, Visit

HEAT_BUCKET_S = 900  # heatmap cells are kept per quarter hour: every time zone's offset is a whole number of them


@dataclass(frozen=True, slots=True)
class ZoneSeconds:
    """Person-seconds one track spent in one zone within one time bucket (starting at `start_s`)."""

    zone: str
    zone_kind: str
    start_s: float
    seconds: float


@dataclass(frozen=True, slots=True)
class HeatCells:
    """Person-seconds one customer track spent per heatmap cell and quarter hour: parallel arrays."""

    start_s: np.ndarray
    row: np.ndarray
    col: np.ndarray
    seconds: np.ndarray

    @staticmethod
    def empty() -> HeatCells:
        return HeatCells(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))

    def __len__(self) -> int:
        return len(self.seconds)


@dataclass(frozen=True, slots=True)
class TrackFlow:
    """What one finished track did: its visits and crossings, its time per zone and per heatmap cell, and whether
    it is staff."""

    track: TrackHistory
    visits: list[Visit]
    crossings: list[Crossing]
    staff_share: float
    staff: bool
    zone_seconds: tuple[ZoneSeconds, ...] = ()
    heat: HeatCells | None = None


def _sum_by(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, inverse = np.unique(keys, return_inverse=True)
    return unique, np.bincount(inverse, weights=weights, minlength=len(unique))


class SiteFlow:
    def __init__(
        self,
        zones: list[Zone],
        lines: list[CountingLine],
        funnels: list[Funnel],
        settings: FlowSettings,
        timezone: ZoneInfo,
        grid: GridGeometry | None,
    ) -> None:
        self.zones = zones
        self.lines = lines
        self.funnels = funnels
        self.settings = settings
        self.timezone = timezone
        self.grid = grid
        self.heatmaps: dict[str, HeatmapAccumulator] = {}

    def process(self, track: TrackHistory) -> TrackFlow:
        settings = self.settings
        seconds = presence_seconds(track.time_s, settings.max_gap_s)
        known = ~np.isnan(track.floor_xy).any(axis=1)
        zones = [zone for zone in self.zones if zone.seen_by(track.camera)]
        inside = {zone.name: zone.contains(track.floor_xy) & known for zone in zones}
        staff_seconds = sum(float(seconds[inside[z.name]].sum()) for z in zones if z.kind == "staff")
        total_seconds = float(seconds[known].sum())  # time off the calibrated floor says nothing either way
        staff_share = staff_seconds / total_seconds if total_seconds > 0 else 0.0
        is_staff = any(z.kind == "staff" for z in zones) and staff_share > settings.staff_share

        visits = [
            visit
            for zone in zones
            for visit in zone_visits(
                track, zone, settings.min_inside_s, settings.min_outside_s, inside=inside[zone.name]
            )
        ]
        crossings = [
            crossing
            for line in self.lines
            if line.seen_by(track.camera)
            for crossing in line_crossings(track, line, settings.line_margin_m)
        ]
        buckets = np.floor(track.time_s / settings.bucket_s) * settings.bucket_s
        zone_seconds = []
        for zone in zones:
            mask = inside[zone.name]
            if mask.any():
                starts, sums = _sum_by(buckets[mask], seconds[mask])
                zone_seconds += [
                    ZoneSeconds(zone.name, zone.kind, float(start), float(total))
                    for start, total in zip(starts, sums, strict=True)
                ]
        heat = None
        if self.grid is not None and not is_staff:  # heatmaps show customers only
            heat = self._heat_cells(track, seconds, known)
            heatmap = self.heatmaps.get(track.camera)
            if heatmap is None:
                heatmap = self.heatmaps[track.camera] = HeatmapAccumulator(self.grid)
            heatmap.add_cells(heat.row.astype(np.int64), heat.col.astype(np.int64), heat.seconds)
        return TrackFlow(track, visits, crossings, staff_share, is_staff, tuple(zone_seconds), heat)

    def _heat_cells(self, track: TrackHistory, seconds: np.ndarray, known: np.ndarray) -> HeatCells:
        assert self.grid is not None
        row, col, on_grid = self.grid.cells(track.floor_xy)
        keep = on_grid & known & (seconds > 0)
        if not keep.any():
            return HeatCells.empty()
        start = (np.floor(track.time_s[keep] / HEAT_BUCKET_S) * HEAT_BUCKET_S).astype(np.int64)
        cell = row[keep] * self.grid.columns + col[keep]
        keys = np.stack([start, cell], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        sums = np.bincount(inverse.ravel(), weights=seconds[keep], minlength=len(unique))
        return HeatCells(
            start_s=unique[:, 0],
            row=(unique[:, 1] // self.grid.columns).astype(np.int32),
            col=(unique[:, 1] % self.grid.columns).astype(np.int32),
            seconds=sums,
        )

    def merged_heatmap(self) -> np.ndarray | None:
        if self.grid is None:
            return None
        merged = np.zeros((self.grid.rows, self.grid.columns))
        for heatmap in self.heatmaps.values():
            merged += heatmap.person_seconds
        return merged
