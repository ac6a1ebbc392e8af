"""The report's figures, computed by DuckDB straight from the Parquet datasets on disk (never loaded whole into
Python), for one period and set of cameras, in the site's time zone. Each query returns a small table as a list of
row dicts. Staff tracks are left out of every figure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from vision.report.inputs import Bucket, Level, RunFolders
from vision.report.record_cache import RecordCache


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
    runs: RunFolders,
    scope: Scope,
    memory_limit: str = "4GB",
    level: Level | None = None,
    cache: RecordCache | None = None,
    zones: tuple[str, ...] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view per dataset on disk holding the rows in scope, staff left out (`tracks`,
    `events`, `visits`, `zone_seconds`, `heatmap_cells`), `staff_tracks` (the staff's track samples), `track_spans`
    (each customer track's first and last time), `camera_spans` (the same for each camera's own tracks: the
    per-camera figures), `covered` (the stretches footage covered) and the site's `zones` table (only `zones`, and
    their visits and time, where given). At the `site` level (by default where the folders hold site tracks and
    no cameras are picked, see `level_of`) the datasets are the site tracks'. With a `cache` that serves the scope
    (whole hours), the rows come from its tables in memory instead of the files; the figures are the same."""
    if cache is not None and not cache.serves(scope.start, scope.end):
        cache = None
    con = cache.cursor() if cache is not None else duckdb.connect(config={"memory_limit": memory_limit, "threads": 2})
    con.execute(f"SET TimeZone = '{runs.site.timezone}'")
    level = level_of(runs, scope) if level is None else level

    def source(name: str, at: Level) -> str | None:
        """The rows of one dataset: a read of its files, or the cache's tables of its folders."""
        if cache is None:
            files = runs.dataset(name, at)
            return f"read_parquet({files!r}, hive_partitioning = true, union_by_name = true)" if files else None
        tables = [table for folder in runs.dataset_folders(name, at) if (table := cache.table(folder, name))]
        if not tables:
            return None
        union = " UNION ALL BY NAME ".join(f"SELECT * EXCLUDE (_part) FROM {table}" for table in tables)
        return f"({union})"

    def where(time_column: str, extra: list[str]) -> str:
        conditions = ["true", *extra]
        if scope.start is not None:
            conditions.append(f"{time_column} >= TIMESTAMPTZ '{scope.start.isoformat()}'")
        if scope.end is not None:
            conditions.append(f"{time_column} < TIMESTAMPTZ '{scope.end.isoformat()}'")
        if scope.cameras is not None:
            conditions.append(f"camera IN ({_listed(scope.cameras)})")
        return " AND ".join(conditions)

    def selection(rows: str, time_column: str, extra: list[str] = ()) -> str:
        columns = "*" if cache is not None else "* EXCLUDE (date)"  # the cache keeps no partition date
        return f"SELECT {columns} FROM {rows} WHERE {where(time_column, list(extra))}"

    picked = [f"zone IN ({_listed(zones)})"] if zones is not None else []
    for name, (time_column, has_staff) in _DATASETS.items():
        rows = source(name, level)
        if rows is None:
            continue
        if name == "tracks" and cache is not None:  # the cache's hourly spans: each hour's first and last sample
            hours = f"SELECT * FROM {rows} WHERE {where('hour', [])}"
            samples = "SELECT camera, track, staff, unnest([t_first, t_last]) AS t FROM hours"
            con.execute(f"CREATE TEMP VIEW tracks AS WITH hours AS ({hours}) {samples} WHERE NOT staff")
            con.execute(f"CREATE TEMP VIEW staff_tracks AS WITH hours AS ({hours}) {samples} WHERE staff")
            con.execute(
                f"CREATE TEMP TABLE track_spans AS SELECT camera, track, min(t_first) AS t_first, max(t_last) AS "
                f"t_last, sum(samples) AS samples FROM ({hours}) WHERE NOT staff GROUP BY camera, track"
            )
            continue
        selected = selection(rows, time_column, picked if name in ("visits", "zone_seconds") else [])
        if has_staff:
            con.execute(f"CREATE TEMP VIEW {name} AS {selected} AND NOT staff")
        else:
            con.execute(f"CREATE TEMP VIEW {name} AS {selected}")
        if name == "tracks":
            con.execute(f"CREATE TEMP VIEW staff_tracks AS {selected} AND staff")
            con.execute(  # a table, not a view: many figures read it, and the tracks are scanned once for all
                "CREATE TEMP TABLE track_spans AS SELECT camera, track, min(t) AS t_first, max(t) AS t_last, "
                "count(*) AS samples FROM tracks GROUP BY camera, track"
            )
    outages = source("outages", "site")
    if outages is not None:  # a gap overlapping the period is in scope, cut to the period
        start = f"TIMESTAMPTZ '{scope.start.isoformat()}'" if scope.start is not None else '"start"'
        end = f"TIMESTAMPTZ '{scope.end.isoformat()}'" if scope.end is not None else '"end"'
        conditions = [f'"start" < {end}', f'"end" > {start}']
        if scope.cameras is not None:
            conditions.append(f"camera IN ({_listed(scope.cameras)})")
        con.execute(
            f'CREATE TEMP VIEW outages AS SELECT camera, greatest("start", {start}) AS "start", least("end", {end}) '
            f'AS "end", reason FROM {outages} WHERE {" AND ".join(conditions)}'
        )
    if has_view(con, "track_spans"):
        camera_rows = source("tracks", "cameras") if level == "site" and runs.fused else None
        if camera_rows is None:
            con.execute("CREATE TEMP VIEW camera_spans AS SELECT * FROM track_spans")
        elif cache is not None:
            con.execute(
                "CREATE TEMP TABLE camera_spans AS SELECT camera, track, min(t_first) AS t_first, max(t_last) AS "
                f"t_last, sum(samples) AS samples FROM {camera_rows} WHERE {where('hour', ['NOT staff'])} "
                "GROUP BY camera, track"
            )
        else:
            con.execute(
                "CREATE TEMP TABLE camera_spans AS SELECT camera, track, min(t) AS t_first, max(t) AS t_last, "
                f"count(*) AS samples FROM ({selection(camera_rows, 't')}) WHERE NOT staff GROUP BY camera, track"
            )
        _create_covered(con, runs, scope)
    site_zones = [(z["name"], z["kind"], float(z["area_m2"])) for z in runs.site.zones]
    con.execute("CREATE TEMP TABLE zones (zone VARCHAR, zone_kind VARCHAR, area_m2 DOUBLE)")
    site_zones = [zone for zone in site_zones if zones is None or zone[0] in zones]
    if site_zones:
        con.executemany("INSERT INTO zones VALUES (?, ?, ?)", site_zones)
    return con


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join("'" + name.replace("'", "''") + "'" for name in names) or "NULL"


def _merged(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(interval for interval in intervals if interval[1] > interval[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _minus(intervals: list[tuple[datetime, datetime]], holes: list[tuple[datetime, datetime]]) -> list:
    out = []
    for start, end in intervals:
        pieces = [(start, end)]
        for hole_start, hole_end in holes:
            pieces = [
                piece
                for a, b in pieces
                for piece in ((a, min(b, hole_start)), (max(a, hole_end), b))
                if piece[1] > piece[0]
            ]
        out += pieces
    return out


def covered_intervals(
    con: duckdb.DuckDBPyConnection, runs: RunFolders, scope: Scope
) -> list[tuple[datetime, datetime]]:
    """The stretches of the scope that some camera in it had footage for (the records' footage spans, a camera's
    first to last sample where its record does not say, each camera's outages taken out), merged across cameras."""
    seen = {
        camera: (first, last)
        for camera, first, last in con.execute(
            "SELECT camera, min(t_first), max(t_last) FROM camera_spans GROUP BY camera"
        ).fetchall()
    }
    spans = [span for span in runs.footage_spans() if scope.cameras is None or span.camera in scope.cameras]
    per_camera: dict[str, list[tuple[datetime, datetime]]] = {}
    for camera in seen.keys() - {span.camera for span in spans}:
        per_camera.setdefault(camera, []).append(seen[camera])
    for span in spans:
        first, last = seen.get(span.camera, (None, None))
        start, end = span.start or first, span.end or last
        if start is not None and end is not None:
            per_camera.setdefault(span.camera, []).append((start, end))
    gaps: dict[str, list[tuple[datetime, datetime]]] = {}
    if has_view(con, "outages"):
        for camera, start, end in con.execute('SELECT camera, "start", "end" FROM outages').fetchall():
            gaps.setdefault(camera, []).append((start, end))
    low = scope.start or datetime.min.replace(tzinfo=UTC)
    high = scope.end or datetime.max.replace(tzinfo=UTC)
    clipped = [
        (max(start, low), min(end, high))
        for camera, intervals in per_camera.items()
        for start, end in _minus(_merged(intervals), _merged(gaps.get(camera, [])))
    ]
    return _merged(clipped)


def _create_covered(con: duckdb.DuckDBPyConnection, runs: RunFolders, scope: Scope) -> None:
    con.execute("CREATE TEMP TABLE covered (t0 TIMESTAMPTZ, t1 TIMESTAMPTZ)")
    intervals = covered_intervals(con, runs, scope)
    if intervals:
        con.executemany("INSERT INTO covered VALUES (?, ?)", intervals)


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
    return rows(con, _crossings_by(_bucket("t", bucket), "bucket"))


def _crossings_by(key: str, name: str) -> str:
    """In and out crossings per line and `key`, and the distinct tracks behind them: counted per track first, then
    per line and key (a distinct count over a million tracks costs several times more)."""
    return (
        f"WITH per_track AS (SELECT place, {key} AS {name}, camera, track, "
        "count(*) FILTER (WHERE event = 'in') AS crossed_in, count(*) FILTER (WHERE event = 'out') AS crossed_out "
        "FROM events WHERE place_kind = 'line' GROUP BY ALL) "
        f'SELECT place AS line, {name}, sum(crossed_in)::BIGINT AS "in", sum(crossed_out)::BIGINT AS "out", '
        f"count(*) AS tracks FROM per_track GROUP BY ALL ORDER BY line, {name}"
    )


def line_counts_by_hour_of_day(con: duckdb.DuckDBPyConnection) -> list[dict]:
    if not has_view(con, "events"):
        return []
    return rows(con, _crossings_by("hour(timezone(current_setting('TimeZone'), t))", "hour"))


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
    """Average people present per bucket: person-seconds in the bucket over the seconds of it that footage covered
    (`covered`), so a bucket the footage covers in part is not diluted, and one it does not cover at all is left
    out (a gap, not a zero). Presence intervals: `source` 'view' (each track's first to last time) or 'zones'
    (each visit's in to out, per zone; every zone gets a row per covered bucket, zero where nobody came)."""
    if source == "view":
        if not has_view(con, "track_spans"):
            return []
        intervals = "SELECT 'in view' AS place, camera, track, t_first AS t0, t_last AS t1 FROM track_spans"
        places = "SELECT 'in view' AS place"
    else:
        if not has_view(con, "visits"):
            return []
        intervals = "SELECT zone AS place, camera, track, t_in AS t0, t_out AS t1 FROM visits"
        places = "SELECT zone AS place FROM zones"
    step = f"INTERVAL 1 {bucket}"

    def cut(table: str, extra: str) -> str:
        local = (
            f"SELECT {extra}timezone(current_setting('TimeZone'), t0) AS l0, "
            f"timezone(current_setting('TimeZone'), t1) AS l1 FROM {table}"
        )  # each time zone conversion once: they are a third of the cost
        return (
            f"SELECT {extra}l0, l1, unnest(generate_series(date_trunc('{bucket}', l0), date_trunc('{bucket}', l1), "
            f"{step})) AS bucket FROM ({local})"
        )

    seconds = f"epoch(least(l1, bucket + {step}) - greatest(l0, bucket))"
    # Distinct tracks per place and bucket: a track's span is one piece per bucket (one span per track in view), but
    # a zone's visits by one track can be several in a bucket, so those are summed per track first.
    present = (
        f"SELECT place, bucket, sum({seconds}) AS seconds, count(*) AS tracks FROM pieces GROUP BY ALL"
        if source == "view"
        else f"SELECT place, bucket, sum(seconds) AS seconds, count(*) AS tracks FROM (SELECT place, bucket, camera, "
        f"track, sum({seconds}) AS seconds FROM pieces GROUP BY ALL) GROUP BY ALL"
    )
    return rows(
        con,
        f"WITH spans AS ({intervals}), pieces AS ({cut('spans', 'place, camera, track, ')}), present AS ({present}), "
        f"cover AS (SELECT bucket, sum({seconds}) AS covered_s FROM ({cut('covered', '')}) GROUP BY bucket "
        f"HAVING sum({seconds}) > 0), places AS ({places}) "
        "SELECT l.place, c.bucket, round(coalesce(p.seconds, 0) / c.covered_s, 4) AS people, "
        "coalesce(p.tracks, 0) AS tracks, round(c.covered_s, 1) AS footage_s "
        "FROM places l CROSS JOIN cover c LEFT JOIN present p ON p.place = l.place AND p.bucket = c.bucket "
        "ORDER BY l.place, c.bucket",
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
        "SELECT segment, count(*) AS tracks, round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS share_pct "
        "FROM labelled GROUP BY segment ORDER BY array_position(['pass-by', 'browser', 'dweller'], segment)",
        [browser_s, dweller_s],
    )


def zone_sequences(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Each distinct path through the zones (the zones a track entered, in order, a zone entered again straight
    after leaving it counted once) with how many tracks took it."""
    if not has_view(con, "visits"):
        return []
    # Only tracks with more than one visit need their visits put in order, which costs most of the time.
    return rows(
        con,
        "WITH visited AS (SELECT camera, track, count(*) AS visits, any_value(zone) AS zone FROM visits GROUP BY ALL), "
        "ordered AS (SELECT list(v.zone ORDER BY v.t_in, v.zone) AS zones FROM visits v SEMI JOIN visited m "
        "ON m.camera = v.camera AND m.track = v.track AND m.visits > 1 GROUP BY v.camera, v.track), "
        "paths AS (SELECT [zone] AS zones FROM visited WHERE visits = 1 UNION ALL SELECT zones FROM ordered) "
        "SELECT list_filter(zones, lambda zone, i: i = 1 OR zone <> zones[i - 1]) AS path, count(*) AS tracks "
        "FROM paths GROUP BY path ORDER BY tracks DESC, path",
    )


def transitions_of_paths(paths: list[dict]) -> list[dict]:
    """`transitions` worked out from `zone_sequences` (each path's moves, times the tracks that took it), without
    reading the visits again."""
    moves: dict[tuple[str, str], list[int]] = {}
    for path in paths:
        steps = list(zip(path["path"], path["path"][1:], strict=False))
        for step in steps:
            moves.setdefault(step, [0, 0])[0] += path["tracks"]
        for step in set(steps):
            moves[step][1] += path["tracks"]
    rows_ = [{"from": a, "to": b, "moves": m, "tracks": t} for (a, b), (m, t) in moves.items()]
    return sorted(rows_, key=lambda row: (-row["moves"], row["from"], row["to"]))


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
        "SELECT zone, hour, visits, tracks, round(waits[1], 3) AS wait_p50_s, round(waits[2], 3) AS wait_p90_s, "
        "round(waits[3], 3) AS wait_p95_s FROM (SELECT zone, hour(timezone(current_setting('TimeZone'), t_in)) AS "
        "hour, count(*) AS visits, count(DISTINCT (camera, track)) AS tracks, "
        "quantile_cont(dwell_s, [0.5, 0.9, 0.95]) AS waits FROM visits WHERE zone_kind = 'queue' GROUP BY ALL) "
        "ORDER BY zone, hour",
    )  # the three percentiles in one pass over the waits


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
