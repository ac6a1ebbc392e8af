"""Figures over many tracks (vision.analytics.summary), against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from vision.analytics import summary
from vision.core.types import Crossing, Visit

UTC_ZONE = ZoneInfo("UTC")
T0 = 1_700_000_040.0  # a whole minute: 2023-11-14T22:14:00Z
assert T0 % 60 == 0


def label(t: float, timezone: ZoneInfo = UTC_ZONE) -> str:
    return datetime.fromtimestamp(t, tz=timezone).isoformat()


def occupancy(intervals: list[tuple[float, float]], period: tuple[float, float], bucket_s: int = 60) -> list[dict]:
    array = np.asarray(intervals, dtype=np.float64).reshape(-1, 2) + T0
    return summary.occupancy(array, bucket_s, UTC_ZONE, (T0 + period[0], T0 + period[1]))


def means_and_max(rows: list[dict]) -> list[tuple[float, int]]:
    return [(row["mean"], row["max"]) for row in rows]


# duration_stats ------------------------------------------------------------------------------------------------


def test_duration_stats_empty() -> None:
    assert summary.duration_stats([]) == {"count": 0, "mean": None, "p50": None, "p90": None, "max": None}
    assert summary.duration_stats([], percentiles=(50, 95)) == {
        "count": 0,
        "mean": None,
        "p50": None,
        "p95": None,
        "max": None,
    }


def test_duration_stats_values() -> None:
    # Linear interpolation between order statistics: p50 of 1..4 is 2.5, p90 is 1 + 0.9 · 3 = 3.7.
    assert summary.duration_stats([4.0, 1.0, 3.0, 2.0]) == {"count": 4, "mean": 2.5, "p50": 2.5, "p90": 3.7, "max": 4.0}
    assert summary.duration_stats([1.0, 2.0, 3.0, 4.0], percentiles=(50, 90, 95)) == {
        "count": 4,
        "mean": 2.5,
        "p50": 2.5,
        "p90": 3.7,
        "p95": 3.85,
        "max": 4.0,
    }
    assert summary.duration_stats([7.0]) == {"count": 1, "mean": 7.0, "p50": 7.0, "p90": 7.0, "max": 7.0}
    # 11 values 0..10: p90 is exactly 9; rounded to the millisecond.
    stats = summary.duration_stats([float(v) for v in range(11)])
    assert (stats["p50"], stats["p90"], stats["mean"]) == (5.0, 9.0, 5.0)
    assert summary.duration_stats([1 / 3, 2 / 3])["mean"] == 0.5
    assert summary.duration_stats([1 / 3])["mean"] == 0.333


# occupancy -------------------------------------------------------------------------------------------------------


def test_occupancy_two_overlapping_intervals() -> None:
    # Count: 0 on [0, 10), 1 on [10, 20), 2 on [20, 40), 1 on [40, 50), 0 on [50, 60): 10 + 40 + 10 = 60 p·s.
    rows = occupancy([(10, 40), (20, 50)], (10, 50))
    assert [row["start"] for row in rows] == [label(T0)]
    assert means_and_max(rows) == [(1.0, 2)]


def test_occupancy_nested_intervals() -> None:
    # [0, 60] and [15, 30] inside it: 60 + 15 = 75 p·s over 60 s.
    assert means_and_max(occupancy([(0, 60), (15, 30)], (0, 59))) == [(1.25, 2)]


def test_occupancy_touching_intervals_overlap_at_the_shared_moment() -> None:
    # [0, 30] and [30, 60]: one person at every moment, two at t = 30 (both stays include it).
    rows = occupancy([(0, 30), (30, 50)], (0, 50))
    assert means_and_max(rows) == [(round(50 / 60, 3), 2)]


def test_occupancy_interval_spanning_buckets() -> None:
    # [30, 150]: half of the first minute, all of the second, half of the third.
    rows = occupancy([(30, 150)], (30, 150))
    assert [row["start"] for row in rows] == [label(T0), label(T0 + 60), label(T0 + 120)]
    assert means_and_max(rows) == [(0.5, 1), (1.0, 1), (0.5, 1)]


def test_occupancy_mixed_buckets() -> None:
    # Bucket 0: [10, 70] gives 50 s, [20, 25] 5 s → 55/60. Bucket 60: [10, 70] gives 10 s, [100, 130] 20 s → 0.5.
    # Bucket 120: [100, 130] gives 10 s → 1/6, [121, 122] 1 s → 11/60 in all; peak 2 at [121, 122].
    rows = occupancy([(10, 70), (20, 25), (100, 130), (121, 122)], (10, 130))
    assert means_and_max(rows) == [(round(55 / 60, 3), 2), (0.5, 1), (round(11 / 60, 3), 2)]


def test_occupancy_zero_length_stay_counts_in_the_peak_only() -> None:
    assert means_and_max(occupancy([(30, 30)], (30, 30))) == [(0.0, 1)]


def test_occupancy_empty() -> None:
    rows = occupancy([], (10, 130))
    assert rows == [
        {"start": label(T0), "mean": 0.0, "max": 0},
        {"start": label(T0 + 60), "mean": 0.0, "max": 0},
        {"start": label(T0 + 120), "mean": 0.0, "max": 0},
    ]


def test_occupancy_buckets_are_aligned_to_the_epoch_and_cover_the_period() -> None:
    # 5-minute buckets: T0 is 240 s past a multiple of 300 s since the epoch, so buckets start at T0 - 240 + k·300.
    assert T0 % 300 == 240
    rows = occupancy([(0, 100)], (0, 100), bucket_s=300)
    assert [row["start"] for row in rows] == [label(T0 - 240), label(T0 + 60)]
    assert means_and_max(rows) == [(0.2, 1), (round(40 / 300, 3), 1)]
    rows = occupancy([(90, 190)], (90, 190), bucket_s=300)
    assert [row["start"] for row in rows] == [label(T0 + 60)]
    assert means_and_max(rows) == [(round(100 / 300, 3), 1)]


def test_occupancy_labels_in_the_site_timezone() -> None:
    paris = ZoneInfo("Europe/Paris")
    rows = summary.occupancy(np.array([[T0, T0 + 30]]), 60, paris, (T0, T0 + 30))
    assert [row["start"] for row in rows] == ["2023-11-14T23:14:00+01:00"]
    assert summary.bucket_label(T0, UTC_ZONE) == "2023-11-14T22:14:00+00:00"
    assert datetime.fromisoformat(rows[0]["start"]) == datetime.fromtimestamp(T0, tz=UTC)


# paths and funnels -----------------------------------------------------------------------------------------------


def visit(zone: str, t_in: float, t_out: float | None = None, track: str = "t1") -> Visit:
    return Visit("cam", track, zone, "area", t_in, t_in + 1.0 if t_out is None else t_out)


def test_zone_sequence_orders_by_entry_and_collapses_repeats() -> None:
    visits = [visit("a", 20.0), visit("b", 5.0), visit("entrance", 0.0), visit("b", 10.0), visit("b", 30.0)]
    assert summary.zone_sequence(visits) == ["entrance", "b", "a", "b"]
    assert summary.zone_sequence([]) == []
    # Overlapping visits of two zones: the order of entry decides.
    assert summary.zone_sequence([visit("a", 0.0, 10.0), visit("b", 2.0, 5.0), visit("a", 6.0)]) == ["a", "b", "a"]


def test_transitions_count_consecutive_pairs_most_common_first() -> None:
    sequences = [["a", "b", "c"], ["a", "b"], ["b", "c"], ["c"], [], ["a", "c"], ["b", "c", "b", "c"]]
    result = summary.transitions(sequences)
    assert result == [
        {"from": "b", "to": "c", "count": 4},
        {"from": "a", "to": "b", "count": 2},
        {"from": "a", "to": "c", "count": 1},
        {"from": "c", "to": "b", "count": 1},
    ]
    counts = [row["count"] for row in result]
    assert counts == sorted(counts, reverse=True)
    assert summary.transitions([]) == []
    assert summary.transitions([["a"], []]) == []


def test_top_sequences_most_common_first_and_limited() -> None:
    sequences = [["a", "b"], ["c"], ["a", "b"], [], ["a"], ["a", "b"], ["c"], []]
    assert summary.top_sequences(sequences, 10) == [
        {"sequence": ["a", "b"], "tracks": 3},
        {"sequence": ["c"], "tracks": 2},
        {"sequence": ["a"], "tracks": 1},
    ]
    assert summary.top_sequences(sequences, 2) == [
        {"sequence": ["a", "b"], "tracks": 3},
        {"sequence": ["c"], "tracks": 2},
    ]
    assert summary.top_sequences([[], []], 5) == []


@pytest.mark.parametrize(
    ("sequence", "steps", "expected"),
    [
        (["entrance", "shelf", "till"], ["entrance", "shelf", "till"], 3),
        (["entrance", "x", "shelf", "y", "till"], ["entrance", "shelf", "till"], 3),
        (["shelf", "entrance", "till"], ["entrance", "shelf", "till"], 1),
        (["entrance", "till", "shelf"], ["entrance", "shelf", "till"], 2),
        (["shelf", "till"], ["entrance", "shelf", "till"], 0),
        ([], ["entrance"], 0),
        (["entrance"], [], 0),
        (["a", "a", "b"], ["a", "b"], 2),
        (["a", "b", "a", "b"], ["a", "b"], 2),
    ],
)
def test_steps_reached(sequence: list[str], steps: list[str], expected: int) -> None:
    assert summary.steps_reached(sequence, steps) == expected


def test_funnel_conversions() -> None:
    sequences = [
        ["entrance", "shelf", "till"],
        ["entrance", "shelf"],
        ["entrance"],
        ["shelf", "till"],  # never entered through the entrance: reaches no step
        ["entrance", "cafe", "shelf"],
        [],
    ]
    assert summary.funnel(sequences, ["entrance", "shelf", "till"]) == [
        {"zone": "entrance", "tracks": 4, "conversion_from_previous": None, "conversion_from_start": 1.0},
        {"zone": "shelf", "tracks": 3, "conversion_from_previous": 0.75, "conversion_from_start": 0.75},
        {"zone": "till", "tracks": 1, "conversion_from_previous": 0.333, "conversion_from_start": 0.25},
    ]


def test_funnel_with_nobody_at_a_step() -> None:
    sequences = [["a"], ["b"]]
    assert summary.funnel(sequences, ["a", "c", "b"]) == [
        {"zone": "a", "tracks": 1, "conversion_from_previous": None, "conversion_from_start": 1.0},
        {"zone": "c", "tracks": 0, "conversion_from_previous": 0.0, "conversion_from_start": 0.0},
        {"zone": "b", "tracks": 0, "conversion_from_previous": None, "conversion_from_start": 0.0},
    ]
    assert summary.funnel([], ["a", "b"]) == [
        {"zone": "a", "tracks": 0, "conversion_from_previous": None, "conversion_from_start": None},
        {"zone": "b", "tracks": 0, "conversion_from_previous": None, "conversion_from_start": None},
    ]


# crossing counts -------------------------------------------------------------------------------------------------


def test_crossing_counts_per_bucket() -> None:
    def crossing(direction: str, t: float) -> Crossing:
        return Crossing("cam", "t1", "door", direction, T0 + t)

    crossings = [crossing("in", 65.0), crossing("in", 5.0), crossing("out", 30.0), crossing("in", 70.0)]
    crossings += [crossing("out", 59.999), crossing("in", 180.0)]
    assert summary.crossing_counts(crossings, 60, UTC_ZONE) == {
        "in": 4,
        "out": 2,
        "net": 2,
        "buckets": [
            {"start": label(T0), "in": 1, "out": 2},
            {"start": label(T0 + 60), "in": 2, "out": 0},
            {"start": label(T0 + 180), "in": 1, "out": 0},
        ],
    }


def test_crossing_counts_empty() -> None:
    assert summary.crossing_counts([], 60, UTC_ZONE) == {"in": 0, "out": 0, "net": 0, "buckets": []}
