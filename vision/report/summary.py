"""The figures of a `summary.json`, computed by DuckDB from the datasets on disk: tracks, zones (visits, visitors,
dwell, person-seconds per m², hot to cold), line counts, people in view and per zone per time bucket, paths,
funnels and queue waits, customers only.

A run computes them over its own output folder when it ends, and `footfall report` over any period and set of
cameras, with this one function: a report over a run's period says what the run's summary says. Figures resting on
fewer than `min_visitors` distinct tracks are replaced by "<k" (a run's own summary uses 1: nothing hidden).
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import duckdb

from vision.report import queries
from vision.report.inputs import Site

TRACKS_NOTE = "tracks, not people: a person lost and found again counts twice"
VISITORS_NOTE = (
    "visitors: site tracks, one per person followed across the site's cameras (a person seen by two cameras at "
    "once, or walking from one view into the next, counts once); a person lost by every camera and found again "
    "still counts twice"
)


class Privacy:
    def __init__(self, min_visitors: int) -> None:
        self.min_visitors = min_visitors
        self.hidden = f"<{min_visitors}"

    def hides(self, tracks: int) -> bool:
        """A figure resting on some tracks, but fewer than the minimum, is hidden; zero rests on nobody."""
        return 0 < tracks < self.min_visitors

    def apply(self, row: dict, tracks: int, columns: tuple[str, ...]) -> dict:
        return {**row, **{column: self.hidden for column in columns}} if self.hides(tracks) else row


def bucket_label(start_s: float, timezone: ZoneInfo) -> str:
    return datetime.fromtimestamp(start_s, tz=timezone).isoformat()


def steps_reached(sequence: list[str], steps: list[str]) -> int:
    """How many of the funnel's steps the sequence passes through in order (other zones may come between)."""
    reached = 0
    for zone in sequence:
        if reached < len(steps) and zone == steps[reached]:
            reached += 1
    return reached


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _seconds(column: str) -> str:
    return f"(epoch_us({column}) / 1000000.0)"


def _duration_stats(count: int, mean: float | None, quantiles: list[float] | None, peak: float | None,
                    percentiles: tuple[int, ...]) -> dict:  # fmt: skip
    values = quantiles or [None] * len(percentiles)
    stats: dict = {"count": count, "mean": _round(mean)}
    stats.update({f"p{p}": _round(v) for p, v in zip(percentiles, values, strict=True)})
    stats["max"] = _round(peak)
    return stats


def funnel_steps(steps: list[str], paths: list[dict]) -> list[dict]:
    """Tracks reaching each step of a funnel (its zones entered in order, others between allowed), from the
    distinct paths and their track counts, with the conversion from the step before and from the first."""
    reached = [0] * len(steps)
    for path in paths:
        for index in range(steps_reached(list(path["path"]), steps)):
            reached[index] += path["tracks"]
    rows = []
    for index, zone in enumerate(steps):
        previous = reached[index - 1] if index else None
        rows.append(
            {
                "zone": zone,
                "tracks": reached[index],
                "conversion_from_previous": _round(reached[index] / previous) if previous else None,
                "conversion_from_start": _round(reached[index] / reached[0]) if reached[0] else None,
            }
        )
    return rows


def _span(con: duckdb.DuckDBPyConnection) -> tuple[float, float] | None:
    if not queries.has_view(con, "tracks"):
        return None
    first, last = con.execute(f"SELECT min({_seconds('t')}), max({_seconds('t')}) FROM tracks").fetchone()
    return None if first is None else (float(first), float(last))


def occupancy(
    con: duckdb.DuckDBPyConnection, intervals: str, places: list[str], bucket_s: int, span: tuple[float, float],
    zone: ZoneInfo, privacy: Privacy,
) -> dict[str, list[dict]]:  # fmt: skip
    """Per place: people present per time bucket over the whole span (buckets aligned to whole multiples of
    `bucket_s` since the epoch): the time-weighted mean over the footage the bucket holds (the connection's
    `covered`, where it has one; a bucket without footage is left out) and the most at any moment. `intervals` is
    a query of (place, camera, track, t0, t1) presence intervals in epoch seconds; every one of `places` gets every
    bucket with footage.

    The count is a step function, +1 at each arrival and -1 at each departure, with every bucket edge added as a
    breakpoint; at equal times arrivals come first, so stays that touch overlap."""
    first = math.floor(span[0] / bucket_s) * bucket_s
    end = math.floor(span[1] / bucket_s) * bucket_s + bucket_s
    order = "PARTITION BY place ORDER BY t, d DESC, camera, track"  # a total order: both windows see one sequence
    figures = con.execute(
        f"WITH spans AS ({intervals}), places AS (SELECT unnest(?::VARCHAR[]) AS place), "
        "edges AS (SELECT unnest(range(?::BIGINT, ?::BIGINT + 1, ?::BIGINT))::DOUBLE AS t), "
        "steps AS (SELECT place, camera, track, t0 AS t, 1 AS d FROM spans "
        "UNION ALL SELECT place, camera, track, t1, -1 FROM spans "
        "UNION ALL SELECT place, NULL, NULL, t, 0 FROM places, edges), "
        f"levels AS (SELECT place, t, sum(d) OVER ({order} ROWS UNBOUNDED PRECEDING) AS level, "
        f"lead(t) OVER ({order}) AS next_t FROM steps) "
        "SELECT place, floor(t / ?) * ? AS start, sum(level * (next_t - t)) / ? AS mean, max(level) AS peak "
        "FROM levels WHERE t < ? GROUP BY ALL ORDER BY place, start",
        [places, first, end, bucket_s, bucket_s, bucket_s, bucket_s, end],
    ).fetchall()
    tracks: dict[tuple[str, float], int] = {}
    if privacy.min_visitors > 1:
        counted = con.execute(
            f"WITH spans AS ({intervals}), pieces AS (SELECT place, camera, track, "
            "unnest(range(CAST(floor(t0 / ?) * ? AS BIGINT), CAST(floor(t1 / ?) * ? AS BIGINT) + 1, ?::BIGINT)) "
            "AS start FROM spans) "
            "SELECT place, start::DOUBLE, count(DISTINCT (camera, track)) FROM pieces GROUP BY ALL",
            [bucket_s] * 5,
        ).fetchall()
        tracks = {(place, float(start)): int(n) for place, start, n in counted}
    covered = (
        [(float(a), float(b)) for a, b in con.execute("SELECT epoch(t0), epoch(t1) FROM covered").fetchall()]
        if queries.has_view(con, "covered")
        else None
    )
    result: dict[str, list[dict]] = {}
    for place, start, mean, peak in figures:
        if covered is not None:  # the mean is over the footage the bucket holds; a bucket without any is a gap
            seconds = sum(max(0.0, min(b, start + bucket_s) - max(a, start)) for a, b in covered)
            if seconds <= 0:
                continue
            mean = mean * bucket_s / seconds
        row = {"start": bucket_label(float(start), zone), "mean": _round(mean), "max": int(peak)}
        result.setdefault(place, []).append(privacy.apply(row, tracks.get((place, float(start)), 0), ("mean", "max")))
    return result


def _lines(con: duckdb.DuckDBPyConnection, site: Site, bucket_s: int, zone: ZoneInfo, privacy: Privacy) -> dict:
    totals: dict[str, tuple[int, int, int]] = {}
    buckets: dict[str, list[dict]] = {}
    if queries.has_view(con, "events"):
        counts = "count(*) FILTER (WHERE event = 'in'), count(*) FILTER (WHERE event = 'out'), " \
                 "count(DISTINCT (camera, track))"  # fmt: skip
        for line, n_in, n_out, tracks in con.execute(
            f"SELECT place, {counts} FROM events WHERE place_kind = 'line' GROUP BY place"
        ).fetchall():
            totals[line] = (int(n_in), int(n_out), int(tracks))
        for line, start, n_in, n_out, tracks in con.execute(
            f"SELECT place, (epoch_us(t) // ?) * ? AS start, {counts} FROM events WHERE place_kind = 'line' "
            "GROUP BY ALL ORDER BY place, start",
            [bucket_s * 1_000_000, bucket_s],
        ).fetchall():
            row = {"start": bucket_label(float(start), zone), "in": int(n_in), "out": int(n_out)}
            buckets.setdefault(line, []).append(privacy.apply(row, int(tracks), ("in", "out")))
    lines = {}
    for line in site.lines:
        name = line["name"]
        n_in, n_out, tracks = totals.get(name, (0, 0, 0))
        figures = {"in": n_in, "out": n_out, "net": n_in - n_out, "buckets": buckets.get(name, [])}
        lines[name] = privacy.apply(figures, tracks, ("in", "out", "net"))
    return lines


def _zones(con: duckdb.DuckDBPyConnection, site: Site, privacy: Privacy) -> tuple[dict, dict]:
    """The zones' figures, and each queue zone's waits."""
    stays: dict[str, tuple] = {}
    if queries.has_view(con, "visits"):
        for name, *figures in con.execute(
            "SELECT zone, count(*), count(DISTINCT (camera, track)), avg(dwell_s), "
            "quantile_cont(dwell_s, [0.5, 0.9, 0.95]), max(dwell_s) FROM visits GROUP BY zone"
        ).fetchall():
            stays[name] = tuple(figures)
    presence: dict[str, float] = {}
    if queries.has_view(con, "zone_seconds"):
        presence = dict(con.execute("SELECT zone, sum(seconds) FROM zone_seconds GROUP BY zone").fetchall())
    zones, queues = {}, {}
    for zone in site.zones:
        name, area = zone["name"], float(zone["area_m2"])
        visits, visitors, mean, quantiles, peak = stays.get(name, (0, 0, None, None, None))
        person_seconds = float(presence.get(name) or 0.0)
        figures = {
            "kind": zone["kind"],
            "area_m2": round(area, 3),
            "visits": int(visits),
            "unique_visitors": int(visitors),
            "dwell_s": _duration_stats(int(visits), mean, quantiles and quantiles[:2], peak, (50, 90)),
            "person_seconds": round(person_seconds, 3),
            "person_seconds_per_m2": round(person_seconds / area, 3),
        }
        hidden = ("visits", "unique_visitors", "dwell_s", "person_seconds", "person_seconds_per_m2")
        zones[name] = privacy.apply(figures, int(visitors), hidden)
        if zone["kind"] == "queue":
            waits = {"wait_s": _duration_stats(int(visits), mean, quantiles, peak, (50, 90, 95))}
            queues[name] = privacy.apply(waits, int(visitors), ("wait_s",))
    return zones, queues


MAX_BUCKETS = 3000


def summary_bucket_s(site: Site, span_s: float) -> int:
    """The time bucket of a summary's line counts and occupancy: the site's (a run's summary uses it), unless a
    long period would make more than MAX_BUCKETS of them; then quarter hours, then hours."""
    for bucket_s in (int(site.settings.get("bucket_s", 60)), 900, 3600):
        if span_s / bucket_s <= MAX_BUCKETS:
            return bucket_s
    return 3600


def flow_summary(
    con: duckdb.DuckDBPyConnection,
    site: Site,
    min_visitors: int = 1,
    bucket_s: int | None = None,
    paths: list[dict] | None = None,
    moves: list[dict] | None = None,
    visitors: bool = False,
) -> dict:
    """Every figure of a summary over what `con`'s views hold (see `queries.connect`), with line counts and
    occupancy per `bucket_s` (the site's when None). `paths` and `moves` are `queries.zone_sequences(con)` and
    `queries.transitions(con)` when the caller has them already. With `visitors` (the views hold site tracks) the
    people counted are called visitors, not tracks."""
    privacy = Privacy(min_visitors)
    zone = ZoneInfo(site.timezone)
    bucket_s = int(site.settings.get("bucket_s", 60)) if bucket_s is None else bucket_s
    top_n = int(site.settings.get("top_sequences", 10))
    span = _span(con)
    customers = int(con.execute("SELECT count(*) FROM track_spans").fetchone()[0]) if span else 0
    staff = 0
    if queries.has_view(con, "staff_tracks"):
        staff = int(con.execute("SELECT count(DISTINCT (camera, track)) FROM staff_tracks").fetchone()[0])
    zones, queues = _zones(con, site, privacy)
    ranked = sorted(zones, key=lambda name: _density(zones[name]), reverse=True)
    view_occupancy: dict[str, list[dict]] = {}
    zone_occupancy: dict[str, list[dict]] = {}
    if span is not None:
        view = (
            "SELECT 'in view' AS place, camera, track, "
            + f"{_seconds('t_first')} AS t0, {_seconds('t_last')} AS t1 FROM track_spans"
        )
        view_occupancy = occupancy(con, view, ["in view"], bucket_s, span, zone, privacy)
        if queries.has_view(con, "visits"):
            stays = (
                f"SELECT zone AS place, camera, track, {_seconds('t_in')} AS t0, {_seconds('t_out')} AS t1 FROM visits"
            )
            names = [z["name"] for z in site.zones]
            zone_occupancy = occupancy(con, stays, names, bucket_s, span, zone, privacy)
    paths = queries.zone_sequences(con) if paths is None else paths
    moves = queries.transitions(con) if moves is None else moves
    return {
        "period": None if span is None else {"start": bucket_label(span[0], zone), "end": bucket_label(span[1], zone)},
        ("visitors" if visitors else "tracks"): {
            "customers": privacy.hidden if privacy.hides(customers) else customers,
            "staff": privacy.hidden if privacy.hides(staff) else staff,
            "note": VISITORS_NOTE if visitors else TRACKS_NOTE,
        },
        "zones": zones,
        "zones_hot_to_cold": ranked,
        "lines": _lines(con, site, bucket_s, zone, privacy),
        "occupancy": {
            "bucket_s": bucket_s,
            "in_view": view_occupancy.get("in view", []),
            "zones": {z["name"]: zone_occupancy.get(z["name"], []) for z in site.zones},
        },
        "paths": {
            "transitions": [
                privacy.apply({"from": m["from"], "to": m["to"], "count": m["moves"]}, m["tracks"], ("count",))
                for m in moves
            ],
            "top_sequences": [
                privacy.apply({"sequence": list(p["path"]), "tracks": p["tracks"]}, p["tracks"], ("tracks",))
                for p in paths[:top_n]
            ],
        },
        "funnels": {
            funnel["name"]: [
                privacy.apply(step, step["tracks"], ("tracks", "conversion_from_previous", "conversion_from_start"))
                for step in funnel_steps(list(funnel["steps"]), paths)
            ]
            for funnel in site.funnels
        },
        "queues": {name: {**waits, "length": zone_occupancy.get(name, [])} for name, waits in queues.items()},
    }


def _density(figures: dict) -> float:
    value = figures["person_seconds_per_m2"]
    return value if isinstance(value, float) else -1.0  # hidden zones rank last
