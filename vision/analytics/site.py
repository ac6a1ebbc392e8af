"""The flow analytics of one site: each finished track goes through `process`, and `summary` gives the figures.

Per track, it finds zone visits, line crossings and the share of time spent in staff zones, and adds the track's
presence to the heatmaps. Across tracks it keeps only small records (visits, crossings, presence intervals and
per-zone person-seconds) for the summary; staff tracks are flagged and left out of every customer figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

from vision.analytics import summary as figures
from vision.analytics.heatmap import HeatmapAccumulator, presence_seconds
from vision.analytics.lines import line_crossings
from vision.analytics.visits import zone_visits
from vision.core.flow import FlowSettings
from vision.core.grid import GridGeometry
from vision.core.places import CountingLine, Funnel, Zone
from vision.core.types import Crossing, TrackHistory, Visit


@dataclass(frozen=True, slots=True)
class TrackFlow:
    """What one finished track did: its visits and crossings, and whether it is staff."""

    track: TrackHistory
    visits: list[Visit]
    crossings: list[Crossing]
    staff_share: float
    staff: bool


@dataclass(slots=True)
class _Records:
    visits: list[Visit] = field(default_factory=list)
    crossings: list[Crossing] = field(default_factory=list)
    presence: list[tuple[float, float]] = field(default_factory=list)
    sequences: list[list[str]] = field(default_factory=list)
    zone_person_seconds: dict[str, float] = field(default_factory=dict)
    customers: int = 0
    staff: int = 0
    first_time: float = float("inf")
    last_time: float = float("-inf")


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
        self._records = _Records(zone_person_seconds={zone.name: 0.0 for zone in zones})

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
        flow = TrackFlow(track, visits, crossings, staff_share, is_staff)
        if is_staff:
            self._records.staff += 1
        else:
            self._record_customer(flow, seconds, inside, known)
        return flow

    def _record_customer(
        self, flow: TrackFlow, seconds: np.ndarray, inside: dict[str, np.ndarray], known: np.ndarray
    ) -> None:
        records, track = self._records, flow.track
        records.customers += 1
        records.visits.extend(flow.visits)
        records.crossings.extend(flow.crossings)
        if len(track):
            records.presence.append((float(track.time_s[0]), float(track.time_s[-1])))
            records.first_time = min(records.first_time, float(track.time_s[0]))
            records.last_time = max(records.last_time, float(track.time_s[-1]))
        records.sequences.append(figures.zone_sequence(flow.visits))
        for name, mask in inside.items():
            records.zone_person_seconds[name] += float(seconds[mask].sum())
        if self.grid is not None:
            heatmap = self.heatmaps.get(track.camera)
            if heatmap is None:
                heatmap = self.heatmaps[track.camera] = HeatmapAccumulator(self.grid)
            heatmap.add(track.floor_xy[known], seconds[known])

    def merged_heatmap(self) -> np.ndarray | None:
        if self.grid is None:
            return None
        merged = np.zeros((self.grid.rows, self.grid.columns))
        for heatmap in self.heatmaps.values():
            merged += heatmap.person_seconds
        return merged

    def summary(self) -> dict:
        records, settings = self._records, self.settings
        has_time = records.first_time <= records.last_time
        period = (records.first_time, records.last_time) if has_time else None

        def occupancy_of(intervals: list[tuple[float, float]]) -> list[dict]:
            if period is None:
                return []
            array = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
            return figures.occupancy(array, settings.bucket_s, self.timezone, period)

        zones = {}
        for zone in self.zones:
            visits = [v for v in records.visits if v.zone == zone.name]
            person_seconds = records.zone_person_seconds[zone.name]
            zones[zone.name] = {
                "kind": zone.kind,
                "area_m2": round(zone.area_m2, 3),
                "visits": len(visits),
                "unique_visitors": len({(v.camera, v.track) for v in visits}),
                "dwell_s": figures.duration_stats([v.dwell_s for v in visits]),
                "person_seconds": round(person_seconds, 3),
                "person_seconds_per_m2": round(person_seconds / zone.area_m2, 3),
            }
        hot_to_cold = sorted(zones, key=lambda name: zones[name]["person_seconds_per_m2"], reverse=True)
        queues = {
            zone.name: {
                "wait_s": figures.duration_stats(
                    [v.dwell_s for v in records.visits if v.zone == zone.name], percentiles=(50, 90, 95)
                ),
                "length": occupancy_of([(v.t_in, v.t_out) for v in records.visits if v.zone == zone.name]),
            }
            for zone in self.zones
            if zone.kind == "queue"
        }
        return {
            "period": None
            if period is None
            else {
                "start": figures.bucket_label(period[0], self.timezone),
                "end": figures.bucket_label(period[1], self.timezone),
            },
            "tracks": {
                "customers": records.customers,
                "staff": records.staff,
                "note": "tracks, not people: a person lost and found again counts twice",
            },
            "zones": zones,
            "zones_hot_to_cold": hot_to_cold,
            "lines": {
                line.name: figures.crossing_counts(
                    [c for c in records.crossings if c.line == line.name], settings.bucket_s, self.timezone
                )
                for line in self.lines
            },
            "occupancy": {
                "bucket_s": settings.bucket_s,
                "in_view": occupancy_of(records.presence),
                "zones": {
                    zone.name: occupancy_of([(v.t_in, v.t_out) for v in records.visits if v.zone == zone.name])
                    for zone in self.zones
                },
            },
            "paths": {
                "transitions": figures.transitions(records.sequences),
                "top_sequences": figures.top_sequences(records.sequences, settings.top_sequences),
            },
            "funnels": {funnel.name: figures.funnel(records.sequences, list(funnel.steps)) for funnel in self.funnels},
            "queues": queues,
        }
