"""Zone entries and exits and line crossings as they happen, frame by frame, for the live service's low-latency
event feed.

The finished-track analytics (`vision.analytics.site`) decide a track's events when the track ends, which on a
live camera can be minutes after the fact. `LiveEvents` reaches the same decisions online, with the same rules:
zone membership with the `min_inside_s` / `min_outside_s` hysteresis of `vision.analytics.visits.stays`, and line
crossings with the `line_margin_m` band of `vision.analytics.lines.line_crossings`. Each event is emitted on the
frame that decides it, with the time the rule gives it (an entry's first inside sample, a crossing's interpolated
time) and the capture time of the deciding frame. Memory holds a few numbers per live track, zone and line.
What is not known until a track ends (whether it is staff) is not in the feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vision.core.flow import FlowSettings
from vision.core.places import CountingLine, Zone
from vision.core.types import FloorTracks

MAX_BAND_SAMPLES = 600  # samples kept while a person lingers inside a line's band (2 minutes at 5 frames/s)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    camera: str
    track: str
    event: str  # enter, exit (zones); in, out (lines)
    place: str
    place_kind: str  # the zone's kind, or "line"
    t: float  # UTC epoch seconds the rule places the event at
    decided_t: float  # capture time of the frame that decided it


@dataclass(slots=True)
class _ZoneState:
    inside_run: bool = False
    run_first_t: float = 0.0
    entered_at: float | None = None
    last_inside_t: float = 0.0


@dataclass(slots=True)
class _LineState:
    side: int = 0  # last decided side: 1 left, -1 right, 0 not decided yet
    # samples since the last decided one (that one first): (x, y, signed distance, time)
    band: list[tuple[float, float, float, float]] = field(default_factory=list)


@dataclass(slots=True)
class _TrackState:
    zones: dict[str, _ZoneState] = field(default_factory=dict)
    lines: dict[str, _LineState] = field(default_factory=dict)
    last_t: float = -np.inf


class LiveEvents:
    """One per camera connection: `add(frame)` returns the events its tracks decided at that frame."""

    def __init__(self, camera: str, zones: list[Zone], lines: list[CountingLine], settings: FlowSettings) -> None:
        self.camera = camera
        self.zones = [zone for zone in zones if zone.seen_by(camera)]
        self.lines = [line for line in lines if line.seen_by(camera)]
        self.settings = settings
        self._tracks: dict[str, _TrackState] = {}

    def __len__(self) -> int:
        return len(self._tracks)

    def add(self, floor: FloorTracks) -> list[LiveEvent]:
        events: list[LiveEvent] = []
        known = ~np.isnan(floor.floor_xy).any(axis=1) if len(floor) else np.zeros(0, dtype=bool)
        inside = {zone.name: zone.contains(floor.floor_xy) for zone in self.zones} if len(floor) else {}
        distance = {line.name: line.signed_distance(floor.floor_xy) for line in self.lines} if len(floor) else {}
        for row, name in enumerate(floor.track.tolist()):
            state = self._tracks.setdefault(name, _TrackState())
            if not known[row] or floor.time_s <= state.last_t:
                continue
            state.last_t = floor.time_s
            for zone in self.zones:
                events += self._zone_sample(name, zone, state, bool(inside[zone.name][row]), floor.time_s)
            xy = floor.floor_xy[row]
            for line in self.lines:
                events += self._line_sample(name, line, state, xy, float(distance[line.name][row]), floor.time_s)
        for name in floor.ended_tracks.tolist():
            events += self._end(name, floor.time_s)
        return events

    def finish(self, now_t: float) -> list[LiveEvent]:
        """Ends every live track (the connection ended): open zone stays exit at their last inside sample."""
        return [event for name in list(self._tracks) for event in self._end(name, now_t)]

    def _end(self, name: str, now_t: float) -> list[LiveEvent]:
        state = self._tracks.pop(name, None)
        if state is None:
            return []
        return [
            self._event(name, "exit", zone.name, zone.kind, zone_state.last_inside_t, now_t)
            for zone in self.zones
            if (zone_state := state.zones.get(zone.name)) is not None and zone_state.entered_at is not None
        ]

    def _event(self, track: str, event: str, place: str, kind: str, t: float, decided_t: float) -> LiveEvent:
        return LiveEvent(self.camera, track, event, place, kind, t, decided_t)

    def _zone_sample(self, name: str, zone: Zone, state: _TrackState, inside: bool, t: float) -> list[LiveEvent]:
        zone_state = state.zones.get(zone.name)
        if zone_state is None:
            zone_state = state.zones[zone.name] = _ZoneState(inside_run=inside, run_first_t=t)
        elif inside != zone_state.inside_run:
            zone_state.inside_run, zone_state.run_first_t = inside, t
        duration = t - zone_state.run_first_t
        if inside:
            if zone_state.entered_at is None and duration >= self.settings.min_inside_s:
                zone_state.entered_at = zone_state.run_first_t
                zone_state.last_inside_t = t
                return [self._event(name, "enter", zone.name, zone.kind, zone_state.run_first_t, t)]
            if zone_state.entered_at is not None:
                zone_state.last_inside_t = t
        elif zone_state.entered_at is not None and duration >= self.settings.min_outside_s:
            zone_state.entered_at = None
            return [self._event(name, "exit", zone.name, zone.kind, zone_state.last_inside_t, t)]
        return []

    def _line_sample(
        self, name: str, line: CountingLine, state: _TrackState, xy: np.ndarray, distance: float, t: float
    ) -> list[LiveEvent]:
        line_state = state.lines.setdefault(line.name, _LineState())
        margin = self.settings.line_margin_m
        side = 1 if distance > margin else -1 if distance < -margin else 0
        sample = (float(xy[0]), float(xy[1]), distance, t)
        if side == 0:
            if line_state.side != 0 and len(line_state.band) < MAX_BAND_SAMPLES:
                line_state.band.append(sample)
            return []
        previous_side, band = line_state.side, [*line_state.band, sample]
        line_state.side, line_state.band = side, [sample]
        if previous_side in (0, side):
            return []
        # the last sign change of the path between the two decided samples, as line_crossings takes it
        positive = [entry[2] > 0 for entry in band]
        step = max(i for i in range(len(band) - 1) if positive[i] != positive[i + 1])
        p, q = band[step], band[step + 1]
        if not line.segment_crosses(np.array(p[:2]), np.array(q[:2]), extend_m=margin):
            return []
        crossing_t = p[3] + (q[3] - p[3]) * p[2] / (p[2] - q[2])
        direction = "in" if side == line.in_sign() else "out"
        return [self._event(name, direction, line.name, "line", crossing_t, t)]
