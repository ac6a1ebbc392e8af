"""Counting-line crossings of a floor path.

Each sample is on the left or right of the line, or undecided when it lies within `margin_m` of it. A crossing
is a change from one decided side to the other where the path's step across the line passes through the line
segment (lengthened by the margin at each end); its time is interpolated on that step. So jitter inside the
band adds nothing, a person who walks back and forth is counted each way, and a track that starts or ends inside
the band is not a crossing there: its side was never decided.
"""

from __future__ import annotations

import itertools

import numpy as np

from vision.core.places import CountingLine
from vision.core.types import Crossing, TrackHistory


def line_crossings(track: TrackHistory, line: CountingLine, margin_m: float) -> list[Crossing]:
    known = ~np.isnan(track.floor_xy).any(axis=1)
    xy, time_s = track.floor_xy[known], track.time_s[known]
    if len(xy) < 2:
        return []
    distance = line.signed_distance(xy)
    side = np.where(distance > margin_m, 1, np.where(distance < -margin_m, -1, 0))
    decided = np.flatnonzero(side != 0)
    crossings: list[Crossing] = []
    for previous, current in itertools.pairwise(decided):
        if side[previous] == side[current]:
            continue
        # Where the path itself passes zero: the last sign change between the two decided samples (the person may
        # wander inside the band first), not the straight line between them.
        step = previous + int(np.flatnonzero(np.diff(distance[previous : current + 1] > 0))[-1])
        if not line.segment_crosses(xy[step], xy[step + 1], extend_m=margin_m):
            continue
        d0, d1 = distance[step], distance[step + 1]
        t = float(time_s[step] + (time_s[step + 1] - time_s[step]) * d0 / (d0 - d1))
        direction = "in" if side[current] == line.in_sign() else "out"
        crossings.append(Crossing(track.camera, track.track, line.name, direction, t))
    return crossings
