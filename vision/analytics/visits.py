"""Zone membership with hysteresis, turned into visits.

A track is *in* a zone once its floor point has stayed inside for `min_inside_s` (measured from the first inside
sample to the latest one), and *out* again once it has stayed outside for `min_outside_s`, or when the track
ends. A visit runs from the first inside sample of the run that let it in to the last inside sample before it
left, so a short flicker across the border neither ends a visit nor starts one. Samples without a floor position
are left out (they say nothing about where the person is).
"""

from __future__ import annotations

import numpy as np

from vision.core.places import Zone
from vision.core.types import TrackHistory, Visit


def _runs(values: np.ndarray) -> list[tuple[bool, int, int]]:
    """(value, first index, last index) of each run of equal values."""
    if len(values) == 0:
        return []
    changes = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], changes])
    ends = np.concatenate([changes, [len(values)]]) - 1
    return [(bool(values[s]), int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def stays(
    time_s: np.ndarray, inside: np.ndarray, min_inside_s: float, min_outside_s: float
) -> list[tuple[float, float]]:
    """(t_in, t_out) of each stay, from per-sample inside flags at strictly increasing times."""
    result: list[tuple[float, float]] = []
    entered_at: float | None = None
    last_inside = 0.0
    for is_inside, first, last in _runs(inside):
        duration = time_s[last] - time_s[first]
        if is_inside:
            if entered_at is None and duration >= min_inside_s:
                entered_at = float(time_s[first])
            if entered_at is not None:
                last_inside = float(time_s[last])
        elif entered_at is not None and duration >= min_outside_s:
            result.append((entered_at, last_inside))
            entered_at = None
    if entered_at is not None:
        result.append((entered_at, last_inside))
    return result


def zone_visits(
    track: TrackHistory,
    zone: Zone,
    min_inside_s: float,
    min_outside_s: float,
    inside: np.ndarray | None = None,
) -> list[Visit]:
    """The track's visits to the zone. `inside`, the per-sample membership if the caller has it already, saves
    testing the points again."""
    known = ~np.isnan(track.floor_xy).any(axis=1)
    if not known.any():
        return []
    inside_known = zone.contains(track.floor_xy[known]) if inside is None else inside[known]
    return [
        Visit(track.camera, track.track, zone.name, zone.kind, t_in, t_out)
        for t_in, t_out in stays(track.time_s[known], inside_known, min_inside_s, min_outside_s)
    ]
