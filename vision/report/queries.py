"""The report's figures, computed by DuckDB straight from the Parquet datasets on disk (never loaded whole into
Python), for one period and set of cameras, in the site's time zone. Each query returns a small table as a list of
row dicts. Staff tracks are left out of every figure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from vision.report.inputs import Bucket, Level, RunFolders

_BUCKET_SECONDS = {"hour": 3600, "day": 86_400, "week": 604_800}


@dataclass(frozen=True, slots=True)
class Scope:
    """Which rows count: [start, end) (None: all), which cameras (None: all), buckets of what size."""

    start: datetime | None
    end: datetime | None
    cameras: tuple[str, ...] | None
    bucket: Bucket


# Each dataset's time column, and whether it holds staff rows (the heatmap cells are the customers' only).
_DATASETS = {
    "tracks": ("t", True),
    "events": ("t", True),
    "visits": ("t_in", True),
    "zone_seconds": ("t", True),
    "heatmap_cells": ("t", False),
}


def level_of(runs: RunFolders, scope: Scope) -> Level:
    """Site tracks (a person seen by several cameras counts once) unless the scope picks cameras: a site track
    belongs to no one camera, so figures for some cameras come from those cameras' own tracks."""
    return "site" if scope.cameras is None and runs.fused else "cameras"


def connect(
    runs: RunFolders, scope: Scope, memory_limit: str = "4GB", level: Level | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view per dataset on disk holding the rows in scope, staff left out (`tracks`,
    `events`, `visits`, `zone_seconds`, `heatmap_cells`), `staff_tracks` (the staff's track samples), `track_spans`
    (each customer track's first and last time), `camera_spans` (the same for each camera's own tracks: the
    per-camera figures) and the site's `zones` table. At the `site` level (by default where the folders hold site
    tracks and no cameras are picked, see `level_of`) the datasets are the site tracks'."""
    con = duckdb.connect(config={"memory_limit": memory_limit, "threads": 2})
    con.execute(f"SET TimeZone = '{runs.site.timezone}'")
    level = level_of(runs, scope) if level is None else level

    def selection(files: list[str], time_column: str) -> str:
        where = ["true"]
        if scope.start is not None:
            where.append(f"{time_column} >= TIMESTAMPTZ '{scope.start.isoformat()}'")
        if scope.end is not None:
            where.append(f"{time_column} < TIMESTAMPTZ '{scope.end.isoformat()}'")
        if scope.cameras is not None:
            listed = ", ".join("'" + camera.replace("'", "''") + "'" for camera in scope.cameras)
            where.append(f"camera IN ({listed})")
        source = f"read_parquet({files!r}, hive_partitioning = true, union_by_name = true)"
        return f"SELECT * EXCLUDE (date) FROM {source} WHERE {' AND '.join(where)}"

    for name, (time_column, has_staff) in _DATASETS.items():
        files = runs.dataset(name, level)
        if not files:
            continue
        selected = selection(files, time_column)
        if has_staff:
            con.execute(f"CREATE VIEW {name} AS {selected} AND NOT staff")
        else:
            con.execute(f"CREATE VIEW {name} AS {selected}")
        if name == "tracks":
            con.execute(f"CREATE VIEW staff_tracks AS {selected} AND staff")
    outage_files = runs.dataset("outages")
    if outage_files:  # a gap overlapping the period is in scope, cut to the period
        start = f"TIMESTAMPTZ '{scope.start.isoformat()}'" if scope.start is not None else '"start"'
        end = f"TIMESTAMPTZ '{scope.end.isoformat()}'" if scope.end is not None else '"end"'
        where = [f'"start" < {end}', f'"end" > {start}']
        if scope.cameras is not None:
            listed = ", ".join("'" + camera.replace("'", "''") + "'" for camera in scope.cameras)
            where.append(f"camera IN ({listed})")
        con.execute(
            f'CREATE VIEW outages AS SELECT camera, greatest("start", {start}) AS "start", least("end", {end}) AS '
            f'"end", reason FROM read_parquet({outage_files!r}, hive_partitioning = true, union_by_name = true) '
            f"WHERE {' AND '.join(where)}"
        )
    if runs.dataset("tracks", level):
        con.execute(  # a table, not a view: many figures read it, and the tracks are scanned once for all of them
            "CREATE TEMP TABLE track_spans AS SELECT camera, track, min(t) AS t_first, max(t) AS t_last, "
            "count(*) AS samples FROM tracks GROUP BY camera, track"
        )
        if level == "site" and runs.fused:
            con.execute(
                "CREATE TEMP TABLE camera_spans AS SELECT camera, track, min(t) AS t_first, max(t) AS t_last, "
                f"count(*) AS samples FROM ({selection(runs.dataset('tracks', 'cameras'), 't')}) WHERE NOT staff "
                "GROUP BY camera, track"
            )
        else:
            con.execute("CREATE VIEW camera_spans AS SELECT * FROM track_spans")
    zones = [(z["name"], z["kind"], float(z["area_m2"])) for z in runs.site.zones]
    con.execute("CREATE TABLE zones (zone VARCHAR, zone_kind VARCHAR, area_m2 DOUBLE)")
    if zones:
        con.executemany("INSERT INTO zones VALUES (?, ?, ?)", zones)
    return con


def has_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the view (or the table) `name` exists: a dataset that is on disk, or what is made from it."""
    found = con.execute(
        "SELECT count(*) FROM (SELECT view_name AS name FROM duckdb_views() UNION ALL "
        "SELECT table_name FROM duckdb_tables()) WHERE name = ?",
        [name],
    ).fetchone()
    return bool(found and found[0])


def rows(con: duckdb.DuckDBPyConnection, sql: str, parameters: list | None = None) -> list[dict]:
    relation = con.execute(sql, parameters or [])
    names = [column[0] for column in relation.description]
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


def _bucket(column: str, bucket: Bucket) -> str:
    return f"date_trunc('{bucket}', timezone(current_setting('TimeZone'), {column}))"


def data_span(con: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime] | None:
    """First and last track time in scope (site-local, naive), or None when there is none."""
    if not has_view(con, "tracks"):
        return None
    first, last = con.execute(
        "SELECT timezone(current_setting('TimeZone'), min(t)), timezone(current_setting('TimeZone'), max(t)) "
        "FROM tracks"
    ).fetchone()
    return None if first is None else (first, last)


def cameras_in_view(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Per camera: its own tracks, samples, first and last time."""
    return rows(
        con,
        "SELECT camera, count(*) AS tracks, sum(samples) AS samples, "
        "timezone(current_setting('TimeZone'), min(t_first)) AS first, "
        "timezone(current_setting('TimeZone'), max(t_last)) AS last FROM camera_spans GROUP BY camera ORDER BY camera",
    )


def outages(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Each gap in a camera's coverage within the period (a live stream lost, or the service not running): the
    figures of those stretches are missing, not low."""
    if not has_view(con, "outages"):
        return []
    return rows(
        con,
        'SELECT camera, timezone(current_setting(\'TimeZone\'), "start") AS "from", '
        'timezone(current_setting(\'TimeZone\'), "end") AS "to", '
        'round(epoch("end") - epoch("start"), 1) AS seconds, reason FROM outages ORDER BY "start", camera',
    )


def line_counts(con: duckdb.DuckDBPyConnection, bucket: Bucket) -> list[dict]:
    """In and out crossings per line and bucket, with the distinct tracks behind each figure."""
    if not has_view(con, "events"):
        return []
    return rows(
        con,
        f"SELECT place AS line, {_bucket('t', bucket)} AS bucket, "
        "count(*) FILTER (WHERE event = 'in') AS \"in\", count(*) FILTER (WHERE event = 'out') AS \"out\", "
        "count(DISTINCT (camera, track)) AS tracks "
        "FROM events WHERE place_kind = 'line' GROUP BY ALL ORDER BY line, bucket",
    )


def line_counts_by_hour_of_day(con: duckdb.DuckDBPyConnection) -> list[dict]:
    if not has_view(con, "events"):
        return []
    return rows(
        con,
        "SELECT place AS line, hour(timezone(current_setting('TimeZone'), t)) AS hour, "
        "count(*) FILTER (WHERE event = 'in') AS \"in\", count(*) FILTER (WHERE event = 'out') AS \"out\", "
        "count(DISTINCT (camera, track)) AS tracks "
        "FROM events WHERE place_kind = 'line' GROUP BY ALL ORDER BY line, hour",
    )


def zone_figures(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Per zone: visits, unique visitors, dwell median and p90, person-seconds (every sample inside, from
    `zone_seconds`) per m², ranked hot to cold. Zones nobody visited are listed with zeros."""
    if not has_view(con, "visits"):
        return []
    presence = (
        "SELECT zone, sum(seconds) AS seconds FROM zone_seconds GROUP BY zone"
        if has_view(con, "zone_seconds")
        else "SELECT NULL::VARCHAR AS zone, NULL::DOUBLE AS seconds WHERE false"
    )
    return rows(
        con,
        f"WITH presence AS ({presence}), "
        "stays AS (SELECT zone, count(*) AS visits, count(DISTINCT (camera, track)) AS visitors, "
        "median(dwell_s) AS dwell_median, quantile_cont(dwell_s, 0.9) AS dwell_p90 FROM visits GROUP BY zone) "
        "SELECT z.zone, z.zone_kind, round(z.area_m2, 3) AS area_m2, coalesce(s.visits, 0) AS visits, "
        "coalesce(s.visitors, 0) AS visitors, round(s.dwell_median, 3) AS dwell_median_s, "
        "round(s.dwell_p90, 3) AS dwell_p90_s, round(coalesce(p.seconds, 0), 3) AS person_seconds, "
        "round(coalesce(p.seconds, 0) / z.area_m2, 3) AS person_seconds_per_m2 "
        "FROM zones z LEFT JOIN stays s ON s.zone = z.zone LEFT JOIN presence p ON p.zone = z.zone "
        "ORDER BY person_seconds_per_m2 DESC, z.zone",
    )


def occupancy(con: duckdb.DuckDBPyConnection, bucket: Bucket, source: str) -> list[dict]:
    """Average people present per bucket (person-seconds in the bucket / its length) from presence intervals:
    `source` is 'view' (each track's first to last time) or 'zones' (each visit's in to out, per zone)."""
    if source == "view":
        if not has_view(con, "track_spans"):
            return []
        intervals = "SELECT 'in view' AS place, camera, track, t_first AS t0, t_last AS t1 FROM track_spans"
    else:
        if not has_view(con, "visits"):
            return []
        intervals = "SELECT zone AS place, camera, track, t_in AS t0, t_out AS t1 FROM visits"
    seconds = _BUCKET_SECONDS[bucket]
    local0, local1 = "timezone(current_setting('TimeZone'), t0)", "timezone(current_setting('TimeZone'), t1)"
    return rows(
        con,
        f"WITH spans AS ({intervals}), "
        f"pieces AS (SELECT place, camera, track, {local0} AS l0, {local1} AS l1, "
        f"unnest(generate_series(date_trunc('{bucket}', {local0}), date_trunc('{bucket}', {local1}), "
        f"INTERVAL 1 {bucket})) AS bucket FROM spans) "
        "SELECT place, bucket, round(sum(epoch(least(l1, bucket + INTERVAL 1 "
        f"{bucket}) - greatest(l0, bucket))) / {seconds}, 4) AS people, count(DISTINCT (camera, track)) AS tracks "
        "FROM pieces GROUP BY ALL ORDER BY place, bucket",
    )


def tracks_per_bucket(con: duckdb.DuckDBPyConnection, bucket: Bucket) -> list[dict]:
    if not has_view(con, "track_spans"):
        return []
    return rows(
        con,
        f"SELECT {_bucket('t_first', bucket)} AS bucket, count(*) AS tracks, "
        "round(median(epoch(t_last - t_first)), 3) AS time_in_view_median_s "
        "FROM track_spans GROUP BY ALL ORDER BY bucket",
    )


def segments(con: duckdb.DuckDBPyConnection, browser_s: float, dweller_s: float) -> list[dict]:
    """Tracks by time in view: pass-by (< browser_s), browser, dweller (>= dweller_s), with their shares."""
    if not has_view(con, "track_spans"):
        return []
    return rows(
        con,
        "WITH labelled AS (SELECT CASE WHEN epoch(t_last - t_first) < ? THEN 'pass-by' "
        "WHEN epoch(t_last - t_first) < ? THEN 'browser' ELSE 'dweller' END AS segment FROM track_spans) "
        "SELECT segment, count(*) AS tracks, round(count(*) / sum(count(*)) OVER (), 4) AS share "
        "FROM labelled GROUP BY segment ORDER BY array_position(['pass-by', 'browser', 'dweller'], segment)",
        [browser_s, dweller_s],
    )


def zone_sequences(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Each distinct path through the zones (the zones a track entered, in order, a zone entered again straight
    after leaving it counted once) with how many tracks took it."""
    if not has_view(con, "visits"):
        return []
    return rows(
        con,
        "WITH ordered AS (SELECT camera, track, zone, t_in, lag(zone) OVER (PARTITION BY camera, track "
        "ORDER BY t_in, zone) AS previous FROM visits), "
        "paths AS (SELECT camera, track, list(zone ORDER BY t_in, zone) AS path FROM ordered "
        "WHERE previous IS NULL OR previous <> zone GROUP BY ALL) "
        "SELECT path, count(*) AS tracks FROM paths GROUP BY path ORDER BY tracks DESC, path",
    )


def transitions(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Moves from one zone to the next within a track, counted, with the distinct tracks behind each."""
    if not has_view(con, "visits"):
        return []
    return rows(
        con,
        "WITH ordered AS (SELECT camera, track, zone, lead(zone) OVER (PARTITION BY camera, track "
        "ORDER BY t_in, zone) AS next_zone FROM visits) "
        'SELECT zone AS "from", next_zone AS "to", count(*) AS moves, count(DISTINCT (camera, track)) AS tracks '
        "FROM ordered WHERE next_zone IS NOT NULL AND next_zone <> zone GROUP BY ALL ORDER BY moves DESC, 1, 2",
    )


def queue_waits(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Per queue zone and hour of day: visits and wait percentiles."""
    if not has_view(con, "visits"):
        return []
    return rows(
        con,
        "SELECT zone, hour(timezone(current_setting('TimeZone'), t_in)) AS hour, count(*) AS visits, "
        "count(DISTINCT (camera, track)) AS tracks, round(quantile_cont(dwell_s, 0.5), 3) AS wait_p50_s, "
        "round(quantile_cont(dwell_s, 0.9), 3) AS wait_p90_s, round(quantile_cont(dwell_s, 0.95), 3) AS wait_p95_s "
        "FROM visits WHERE zone_kind = 'queue' GROUP BY ALL ORDER BY zone, hour",
    )


def heatmap_cells(con: duckdb.DuckDBPyConnection, grid: dict) -> list[tuple[int, int, float]]:
    """(row, col, person-seconds) per grid cell, from the run's `heatmap_cells` (kept per quarter hour, so a period
    counts the quarter hours that start in it)."""
    if not has_view(con, "heatmap_cells"):
        return []
    relation = con.execute(
        'SELECT "row", col, sum(seconds) FROM heatmap_cells WHERE "row" >= 0 AND "row" < ? AND col >= 0 AND col < ? '
        "GROUP BY ALL",
        [grid["rows"], grid["columns"]],
    )
    return [(int(r), int(c), float(s)) for r, c, s in relation.fetchall()]
