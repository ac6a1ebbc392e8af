"""The report's faster query forms (per-track counting before per-bucket counting, ordering only the tracks with more
than one visit, each time zone conversion once) give exactly what the plain forms give, on records where tracks
visit several zones, come back to one, cross lines many times and span bucket and daylight-saving boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pytest

from vision.report import queries

START = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # the UK's clocks go forward on the 29th at 01:00 UTC
ZONES = [("door", "entrance", 4.0), ("till", "queue", 2.5), ("shelf", "area", 9.0)]
LINES = ["front", "side"]


def _record(seed: int) -> duckdb.DuckDBPyConnection:
    rng = np.random.default_rng(seed)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Europe/London'")
    con.execute("CREATE TABLE zones (zone VARCHAR, zone_kind VARCHAR, area_m2 DOUBLE)")
    con.executemany("INSERT INTO zones VALUES (?, ?, ?)", ZONES)
    visits, events, spans = [], [], []
    for number in range(400):
        camera = f"cam{rng.integers(3)}"
        track = f"t{number % 150}"  # the same pseudonym on several cameras: tracks are (camera, track)
        t = START + timedelta(seconds=float(rng.uniform(0, 30 * 3600)))
        first = t
        for _ in range(int(rng.choice([1, 1, 2, 3, 5]))):
            zone, kind, _ = ZONES[int(rng.integers(len(ZONES)))]
            stay = float(rng.choice([0.0, rng.exponential(900)]))
            visits.append((camera, track, zone, kind, t, t + timedelta(seconds=stay), stay))
            t += timedelta(seconds=stay + float(rng.exponential(600)))
        for _ in range(int(rng.integers(0, 4))):
            when = first + timedelta(seconds=float(rng.uniform(0, (t - first).total_seconds() + 1)))
            events.append((camera, track, LINES[int(rng.integers(2))], "line", str(rng.choice(["in", "out"])), when))
        spans.append((camera, track, first, t, int(rng.integers(1, 500))))
    con.execute(
        "CREATE TABLE visits (camera VARCHAR, track VARCHAR, zone VARCHAR, zone_kind VARCHAR, t_in TIMESTAMPTZ, "
        "t_out TIMESTAMPTZ, dwell_s DOUBLE)"
    )
    con.executemany("INSERT INTO visits VALUES (?, ?, ?, ?, ?, ?, ?)", visits)
    con.execute(
        "CREATE TABLE events (camera VARCHAR, track VARCHAR, place VARCHAR, place_kind VARCHAR, event VARCHAR, "
        "t TIMESTAMPTZ)"
    )
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", events)
    con.execute(
        "CREATE TABLE raw_spans (camera VARCHAR, track VARCHAR, t_first TIMESTAMPTZ, t_last TIMESTAMPTZ, samples INT)"
    )
    con.executemany("INSERT INTO raw_spans VALUES (?, ?, ?, ?, ?)", spans)
    con.execute(
        "CREATE TABLE track_spans AS SELECT camera, track, min(t_first) AS t_first, max(t_last) AS t_last, "
        "sum(samples) AS samples FROM raw_spans GROUP BY camera, track"
    )
    con.execute("CREATE TABLE covered (t0 TIMESTAMPTZ, t1 TIMESTAMPTZ)")
    con.executemany(
        "INSERT INTO covered VALUES (?, ?)",
        [(START, START + timedelta(hours=13)), (START + timedelta(hours=14, minutes=30), START + timedelta(hours=40))],
    )
    return con


def _plain_paths(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return queries.rows(
        con,
        "WITH paths AS (SELECT list(zone ORDER BY t_in, zone) AS zones FROM visits GROUP BY camera, track) "
        "SELECT list_filter(zones, lambda zone, i: i = 1 OR zone <> zones[i - 1]) AS path, count(*) AS tracks "
        "FROM paths GROUP BY path ORDER BY tracks DESC, path",
    )


def _plain_crossings(con: duckdb.DuckDBPyConnection, key: str, name: str) -> list[dict]:
    return queries.rows(
        con,
        f"SELECT place AS line, {key} AS {name}, count(*) FILTER (WHERE event = 'in') AS \"in\", "
        "count(*) FILTER (WHERE event = 'out') AS \"out\", count(DISTINCT (camera, track)) AS tracks "
        f"FROM events WHERE place_kind = 'line' GROUP BY ALL ORDER BY line, {name}",
    )


def _plain_occupancy(con: duckdb.DuckDBPyConnection, bucket: str, source: str) -> list[dict]:
    if source == "view":
        intervals = "SELECT 'in view' AS place, camera, track, t_first AS t0, t_last AS t1 FROM track_spans"
        places = "SELECT 'in view' AS place"
    else:
        intervals = "SELECT zone AS place, camera, track, t_in AS t0, t_out AS t1 FROM visits"
        places = "SELECT zone AS place FROM zones"
    step = f"INTERVAL 1 {bucket}"
    local0, local1 = "timezone(current_setting('TimeZone'), t0)", "timezone(current_setting('TimeZone'), t1)"

    def cut(table: str, extra: str) -> str:
        return (
            f"SELECT {extra}{local0} AS l0, {local1} AS l1, unnest(generate_series(date_trunc('{bucket}', {local0}), "
            f"date_trunc('{bucket}', {local1}), {step})) AS bucket FROM {table}"
        )

    seconds = f"epoch(least(l1, bucket + {step}) - greatest(l0, bucket))"
    return queries.rows(
        con,
        f"WITH spans AS ({intervals}), pieces AS ({cut('spans', 'place, camera, track, ')}), "
        f"present AS (SELECT place, bucket, sum({seconds}) AS seconds, count(DISTINCT (camera, track)) AS tracks "
        "FROM pieces GROUP BY ALL), "
        f"cover AS (SELECT bucket, sum({seconds}) AS covered_s FROM ({cut('covered', '')}) GROUP BY bucket "
        f"HAVING sum({seconds}) > 0), places AS ({places}) "
        "SELECT l.place, c.bucket, round(coalesce(p.seconds, 0) / c.covered_s, 4) AS people, "
        "coalesce(p.tracks, 0) AS tracks, round(c.covered_s, 1) AS footage_s "
        "FROM places l CROSS JOIN cover c LEFT JOIN present p ON p.place = l.place AND p.bucket = c.bucket "
        "ORDER BY l.place, c.bucket",
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_paths_are_those_of_every_track_in_order(seed):
    con = _record(seed)
    paths = queries.zone_sequences(con)
    assert paths == _plain_paths(con)
    assert (
        sum(row["tracks"] for row in paths)
        == con.execute("SELECT count(*) FROM (SELECT DISTINCT camera, track FROM visits)").fetchone()[0]
    )
    assert any(len(row["path"]) > 2 for row in paths)  # tracks with several visits are in the record


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("bucket", ["hour", "day", "week"])
def test_line_counts_and_their_distinct_tracks(seed, bucket):
    con = _record(seed)
    assert queries.line_counts(con, bucket) == _plain_crossings(con, queries._bucket("t", bucket), "bucket")
    by_hour = queries.line_counts_by_hour_of_day(con)
    assert by_hour == _plain_crossings(con, "hour(timezone(current_setting('TimeZone'), t))", "hour")
    assert any(row["in"] + row["out"] > row["tracks"] for row in by_hour)  # tracks that crossed more than once


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("bucket", ["hour", "day"])
@pytest.mark.parametrize("source", ["view", "zones"])
def test_occupancy_per_bucket(seed, bucket, source):
    con = _record(seed)
    assert queries.occupancy(con, bucket, source) == _plain_occupancy(con, bucket, source)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_queue_waits_per_hour_of_day(seed):
    con = _record(seed)
    plain = queries.rows(
        con,
        "SELECT zone, hour(timezone(current_setting('TimeZone'), t_in)) AS hour, count(*) AS visits, "
        "count(DISTINCT (camera, track)) AS tracks, round(quantile_cont(dwell_s, 0.5), 3) AS wait_p50_s, "
        "round(quantile_cont(dwell_s, 0.9), 3) AS wait_p90_s, round(quantile_cont(dwell_s, 0.95), 3) AS wait_p95_s "
        "FROM visits WHERE zone_kind = 'queue' GROUP BY ALL ORDER BY zone, hour",
    )
    assert plain and queries.queue_waits(con) == plain
