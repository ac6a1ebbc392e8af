"""Figures over many tracks: dwell statistics, occupancy per time bucket, paths and funnels, queue waits."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from vision.core.types import Crossing, Visit


def _round(value: float, digits: int = 3) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def duration_stats(seconds: Sequence[float], percentiles: Sequence[int] = (50, 90)) -> dict:
    values = np.asarray(seconds, dtype=np.float64)
    if len(values) == 0:
        return {"count": 0, "mean": None, **{f"p{p}": None for p in percentiles}, "max": None}
    stats = {"count": len(values), "mean": _round(values.mean())}
    stats.update({f"p{p}": _round(np.percentile(values, p)) for p in percentiles})
    stats["max"] = _round(values.max())
    return stats


def bucket_label(start_s: float, timezone: ZoneInfo) -> str:
    return datetime.fromtimestamp(start_s, tz=timezone).isoformat()


def occupancy(intervals: np.ndarray, bucket_s: int, timezone: ZoneInfo, period: tuple[float, float]) -> list[dict]:
    """People present per time bucket from (N, 2) [start, end] presence intervals: the time-weighted mean and the
    maximum at any moment. Buckets are aligned to whole multiples of `bucket_s` since the epoch, covering
    `period`."""
    first = math.floor(period[0] / bucket_s) * bucket_s
    last = math.floor(period[1] / bucket_s) * bucket_s
    starts = np.arange(first, last + bucket_s, bucket_s, dtype=np.float64)
    if len(intervals) == 0:
        return [{"start": bucket_label(s, timezone), "mean": 0.0, "max": 0} for s in starts]
    # The count is a step function: +1 at each start, -1 at each end; bucket edges are added as breakpoints.
    edges = np.concatenate([intervals[:, 0], intervals[:, 1], starts, starts + bucket_s])
    steps = np.concatenate([np.ones(len(intervals)), -np.ones(len(intervals)), np.zeros(2 * len(starts))])
    order = np.lexsort((-steps, edges))  # at equal times, arrivals before departures: touching stays overlap
    times, counts = edges[order], np.cumsum(steps[order])
    rows = []
    lower = np.searchsorted(times, starts, side="left")
    upper = np.searchsorted(times, starts + bucket_s, side="left")
    for start, first_index, end_index in zip(starts, lower, upper, strict=True):
        end = start + bucket_s
        segment_start = times[first_index:end_index]
        segment_end = np.append(segment_start[1:], end)
        level = counts[first_index:end_index]
        mean = float(np.sum(level * (segment_end - segment_start)) / bucket_s)
        peak = int(level.max()) if len(level) else 0
        rows.append({"start": bucket_label(start, timezone), "mean": _round(mean), "max": peak})
    return rows


def zone_sequence(visits: Iterable[Visit]) -> list[str]:
    """A track's zones in order of entry, repeated entries into the same zone in a row collapsed."""
    sequence: list[str] = []
    for visit in sorted(visits, key=lambda v: v.t_in):
        if not sequence or sequence[-1] != visit.zone:
            sequence.append(visit.zone)
    return sequence


def transitions(sequences: Iterable[list[str]]) -> list[dict]:
    counts = Counter((a, b) for sequence in sequences for a, b in itertools.pairwise(sequence))
    return [{"from": a, "to": b, "count": n} for (a, b), n in counts.most_common()]


def top_sequences(sequences: Iterable[list[str]], top_n: int) -> list[dict]:
    counts = Counter(tuple(sequence) for sequence in sequences if sequence)
    return [{"sequence": list(sequence), "tracks": n} for sequence, n in counts.most_common(top_n)]


def steps_reached(sequence: list[str], steps: list[str]) -> int:
    """How many of the funnel's steps the sequence passes through in order (other zones may come between)."""
    reached = 0
    for zone in sequence:
        if reached < len(steps) and zone == steps[reached]:
            reached += 1
    return reached


def funnel(sequences: Iterable[list[str]], steps: list[str]) -> list[dict]:
    reached = [steps_reached(sequence, steps) for sequence in sequences]
    rows = []
    for index, zone in enumerate(steps):
        count = sum(1 for r in reached if r > index)
        previous = rows[-1]["tracks"] if rows else None
        first = rows[0]["tracks"] if rows else count
        rows.append(
            {
                "zone": zone,
                "tracks": count,
                "conversion_from_previous": _round(count / previous) if previous else None,
                "conversion_from_start": _round(count / first) if first else None,
            }
        )
    return rows


def crossing_counts(crossings: Sequence[Crossing], bucket_s: int, timezone: ZoneInfo) -> dict:
    counts = Counter(c.direction for c in crossings)
    buckets: dict[float, Counter] = {}
    for crossing in crossings:
        start = math.floor(crossing.t / bucket_s) * bucket_s
        buckets.setdefault(start, Counter())[crossing.direction] += 1
    return {
        "in": counts["in"],
        "out": counts["out"],
        "net": counts["in"] - counts["out"],
        "buckets": [
            {"start": bucket_label(start, timezone), "in": c["in"], "out": c["out"]}
            for start, c in sorted(buckets.items())
        ],
    }
