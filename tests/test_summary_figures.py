"""The summary's figures (vision.report.summary) computed by DuckDB, against hand-computed values: occupancy per
time bucket, line counts per bucket, paths and funnels. The views are built from literal rows, as
`vision.report.queries.connect` builds them from the Parquet datasets."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import duckdb
import pytest

from vision.report import queries
from vision.report.inputs import Site
from vision.report.summary import Privacy, bucket_label, flow_summary, funnel_steps, occupancy, steps_reached

UTC_ZONE = ZoneInfo("UTC")
T0 = 1_700_000_040.0  # a whole minute: 2023-11-14T22:14:00Z
assert T0 % 60 == 0


def label(t: float, timezone: ZoneInfo = UTC_ZONE) -> str:
    return datetime.fromtimestamp(t, tz=timezone).isoformat()


def intervals_query(intervals: list[tuple[float, float]]) -> str:
    if not intervals:
        return "SELECT 'p' AS place, 'cam' AS camera, 'x' AS track, 0.0 AS t0, 0.0 AS t1 WHERE false"
    rows = ", ".join(f"('t{i}', {T0 + a!r}, {T0 + b!r})" for i, (a, b) in enumerate(intervals))
    return f"SELECT 'p' AS place, 'cam' AS camera, track, t0, t1 FROM (VALUES {rows}) v(track, t0, t1)"


def occupancy_rows(
    intervals: list[tuple[float, float]], period: tuple[float, float], bucket_s: int = 60,
    timezone: ZoneInfo = UTC_ZONE, min_visitors: int = 1,
) -> list[dict]:  # fmt: skip
    con = duckdb.connect()
    span = (T0 + period[0], T0 + period[1])
    return occupancy(con, intervals_query(intervals), ["p"], bucket_s, span, timezone, Privacy(min_visitors))["p"]


def means_and_max(rows: list[dict]) -> list[tuple[float, int]]:
    return [(row["mean"], row["max"]) for row in rows]


# occupancy -------------------------------------------------------------------------------------------------------


def test_occupancy_two_overlapping_intervals() -> None:
    # Count: 0 on [0, 10), 1 on [10, 20), 2 on [20, 40), 1 on [40, 50), 0 on [50, 60): 10 + 40 + 10 = 60 p·s.
    rows = occupancy_rows([(10, 40), (20, 50)], (10, 50))
    assert [row["start"] for row in rows] == [label(T0)]
    assert means_and_max(rows) == [(1.0, 2)]


def test_occupancy_nested_intervals() -> None:
    # [0, 60] and [15, 30] inside it: 60 + 15 = 75 p·s over 60 s.
    assert means_and_max(occupancy_rows([(0, 60), (15, 30)], (0, 59))) == [(1.25, 2)]


def test_occupancy_touching_intervals_overlap_at_the_shared_moment() -> None:
    # [0, 30] and [30, 50]: one person at every moment, two at t = 30 (both stays include it).
    rows = occupancy_rows([(0, 30), (30, 50)], (0, 50))
    assert means_and_max(rows) == [(round(50 / 60, 3), 2)]


def test_occupancy_interval_spanning_buckets() -> None:
    # [30, 150]: half of the first minute, all of the second, half of the third.
    rows = occupancy_rows([(30, 150)], (30, 150))
    assert [row["start"] for row in rows] == [label(T0), label(T0 + 60), label(T0 + 120)]
    assert means_and_max(rows) == [(0.5, 1), (1.0, 1), (0.5, 1)]


def test_occupancy_mixed_buckets() -> None:
    # Bucket 0: [10, 70] gives 50 s, [20, 25] 5 s → 55/60. Bucket 60: [10, 70] gives 10 s, [100, 130] 20 s → 0.5.
    # Bucket 120: [100, 130] gives 10 s → 1/6, [121, 122] 1 s → 11/60 in all; peak 2 at [121, 122].
    rows = occupancy_rows([(10, 70), (20, 25), (100, 130), (121, 122)], (10, 130))
    assert means_and_max(rows) == [(round(55 / 60, 3), 2), (0.5, 1), (round(11 / 60, 3), 2)]


def test_occupancy_zero_length_stay_counts_in_the_peak_only() -> None:
    assert means_and_max(occupancy_rows([(30, 30)], (30, 30))) == [(0.0, 1)]


def test_occupancy_empty_place_gets_every_bucket() -> None:
    rows = occupancy_rows([], (10, 130))
    assert rows == [
        {"start": label(T0), "mean": 0.0, "max": 0},
        {"start": label(T0 + 60), "mean": 0.0, "max": 0},
        {"start": label(T0 + 120), "mean": 0.0, "max": 0},
    ]


def test_occupancy_buckets_are_aligned_to_the_epoch_and_cover_the_period() -> None:
    # 5-minute buckets: T0 is 240 s past a multiple of 300 s since the epoch, so buckets start at T0 - 240 + k·300.
    assert T0 % 300 == 240
    rows = occupancy_rows([(0, 100)], (0, 100), bucket_s=300)
    assert [row["start"] for row in rows] == [label(T0 - 240), label(T0 + 60)]
    assert means_and_max(rows) == [(0.2, 1), (round(40 / 300, 3), 1)]
    rows = occupancy_rows([(90, 190)], (90, 190), bucket_s=300)
    assert [row["start"] for row in rows] == [label(T0 + 60)]
    assert means_and_max(rows) == [(round(100 / 300, 3), 1)]


def test_occupancy_labels_in_the_site_timezone() -> None:
    paris = ZoneInfo("Europe/Paris")
    rows = occupancy_rows([(0, 30)], (0, 30), timezone=paris)
    assert [row["start"] for row in rows] == ["2023-11-14T23:14:00+01:00"]
    assert bucket_label(T0, UTC_ZONE) == "2023-11-14T22:14:00+00:00"
    assert datetime.fromisoformat(rows[0]["start"]) == datetime.fromtimestamp(T0, tz=UTC)


def test_occupancy_hides_buckets_resting_on_too_few_tracks() -> None:
    # Two people in the first minute, one in the second, nobody in the third.
    rows = occupancy_rows([(0, 30), (10, 70)], (0, 130), min_visitors=2)
    assert rows == [
        {"start": label(T0), "mean": round(80 / 60, 3), "max": 2},
        {"start": label(T0 + 60), "mean": "<2", "max": "<2"},
        {"start": label(T0 + 120), "mean": 0.0, "max": 0},
    ]


# the whole summary over literal views ----------------------------------------------------------------------------

SITE = Site(
    site_id="shop",
    timezone="UTC",
    zones=[
        {"name": "entrance", "kind": "entrance", "area_m2": 4.0},
        {"name": "shelf", "kind": "area", "area_m2": 8.0},
        {"name": "till", "kind": "queue", "area_m2": 2.0},
    ],
    lines=[{"name": "door"}],
    funnels=[{"name": "buy", "steps": ["entrance", "shelf", "till"]}],
    grid=None,
    settings={"bucket_s": 60, "top_sequences": 2},
)


def connection(visits: list[tuple[str, str, float, float]], crossings: list[tuple[str, str, float]]):
    """Views like `queries.connect`'s: `visits` (track, zone, t_in, t_out seconds after T0), `events` (track,
    direction, t), and tracks spanning their visits and crossings."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    def stamp(seconds: float) -> str:
        return f"to_timestamp({T0 + seconds!r})"

    kinds = {zone["name"]: zone["kind"] for zone in SITE.zones}
    visit_rows = [
        f"('cam', '{track}', '{zone}', '{kinds[zone]}', {stamp(a)}, {stamp(b)}, {b - a!r})"
        for track, zone, a, b in visits
    ]
    con.execute(
        "CREATE VIEW visits AS SELECT * FROM (VALUES "
        + ", ".join(visit_rows)
        + ") v(camera, track, zone, zone_kind, t_in, t_out, dwell_s)"
    )
    event_rows = [f"('cam', '{track}', {stamp(t)}, '{direction}', 'door', 'line')" for track, direction, t in crossings]
    events = ", ".join(event_rows) or "('cam', 'x', to_timestamp(0), 'in', 'door', 'line')"
    where = "" if event_rows else " WHERE false"
    con.execute(
        f"CREATE VIEW events AS SELECT * FROM (VALUES {events}) v(camera, track, t, event, place, place_kind){where}"
    )
    samples = [(track, a) for track, _, a, b in visits] + [(track, b) for track, _, a, b in visits]
    samples += [(track, t) for track, _, t in crossings]
    con.execute(
        "CREATE VIEW tracks AS SELECT * FROM (VALUES "
        + ", ".join(f"('cam', '{track}', {stamp(t)})" for track, t in samples)
        + ") v(camera, track, t)"
    )
    con.execute(
        "CREATE VIEW track_spans AS SELECT camera, track, min(t) AS t_first, max(t) AS t_last, count(*) AS samples "
        "FROM tracks GROUP BY camera, track"
    )
    return con


def test_paths_transitions_and_funnel() -> None:
    visits = [
        ("t1", "entrance", 0, 5), ("t1", "shelf", 10, 20), ("t1", "shelf", 22, 25), ("t1", "till", 30, 40),
        ("t2", "entrance", 0, 5), ("t2", "shelf", 10, 20),
        ("t3", "shelf", 0, 5), ("t3", "till", 10, 20),  # never through the entrance: reaches no step
        ("t4", "entrance", 50, 55),
    ]  # fmt: skip
    summary = flow_summary(connection(visits, []), SITE)
    # t1's two shelf visits in a row are one step of its path
    assert summary["paths"]["transitions"] == [
        {"from": "entrance", "to": "shelf", "count": 2},
        {"from": "shelf", "to": "till", "count": 2},
    ]
    assert summary["paths"]["top_sequences"] == [
        {"sequence": ["entrance"], "tracks": 1},
        {"sequence": ["entrance", "shelf"], "tracks": 1},
    ], "most tracks first, ties by zone names, --top_sequences of them"
    assert summary["funnels"]["buy"] == [
        {"zone": "entrance", "tracks": 3, "conversion_from_previous": None, "conversion_from_start": 1.0},
        {"zone": "shelf", "tracks": 2, "conversion_from_previous": 0.667, "conversion_from_start": 0.667},
        {"zone": "till", "tracks": 1, "conversion_from_previous": 0.5, "conversion_from_start": 0.333},
    ]
    assert summary["zones"]["shelf"]["visits"] == 4 and summary["zones"]["shelf"]["unique_visitors"] == 3
    assert summary["queues"]["till"]["wait_s"] == {
        "count": 2, "mean": 10.0, "p50": 10.0, "p90": 10.0, "p95": 10.0, "max": 10.0
    }  # fmt: skip
    assert summary["zones_hot_to_cold"] == ["entrance", "shelf", "till"], "no zone_seconds: all zero, site order"


def test_line_counts_per_bucket() -> None:
    crossings = [("t1", "in", 65.0), ("t2", "in", 5.0), ("t3", "out", 30.0), ("t4", "in", 70.0)]
    crossings += [("t5", "out", 59.999), ("t6", "in", 180.0)]
    summary = flow_summary(connection([("t0", "entrance", 0, 1)], crossings), SITE)
    assert summary["lines"]["door"] == {
        "in": 4,
        "out": 2,
        "net": 2,
        "buckets": [
            {"start": label(T0), "in": 1, "out": 2},
            {"start": label(T0 + 60), "in": 2, "out": 0},
            {"start": label(T0 + 180), "in": 1, "out": 0},
        ],
    }
    hidden = flow_summary(connection([("t0", "entrance", 0, 1)], crossings), SITE, min_visitors=3)["lines"]["door"]
    assert (hidden["in"], hidden["out"], hidden["net"]) == (4, 2, 2), "six tracks behind the totals"
    assert hidden["buckets"][0] == {"start": label(T0), "in": 1, "out": 2}
    assert hidden["buckets"][1] == {"start": label(T0 + 60), "in": "<3", "out": "<3"}


def test_no_crossings() -> None:
    summary = flow_summary(connection([("t0", "entrance", 0, 1)], []), SITE)
    assert summary["lines"]["door"] == {"in": 0, "out": 0, "net": 0, "buckets": []}
    assert queries.has_view(connection([("t0", "entrance", 0, 1)], []), "events")


# funnels -----------------------------------------------------------------------------------------------------------


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
    assert steps_reached(sequence, steps) == expected


def test_funnel_with_nobody_at_a_step() -> None:
    paths = [{"path": ["a"], "tracks": 1}, {"path": ["b"], "tracks": 1}]
    assert funnel_steps(["a", "c", "b"], paths) == [
        {"zone": "a", "tracks": 1, "conversion_from_previous": None, "conversion_from_start": 1.0},
        {"zone": "c", "tracks": 0, "conversion_from_previous": 0.0, "conversion_from_start": 0.0},
        {"zone": "b", "tracks": 0, "conversion_from_previous": None, "conversion_from_start": 0.0},
    ]
    assert funnel_steps(["a", "b"], []) == [
        {"zone": "a", "tracks": 0, "conversion_from_previous": None, "conversion_from_start": None},
        {"zone": "b", "tracks": 0, "conversion_from_previous": None, "conversion_from_start": None},
    ]
