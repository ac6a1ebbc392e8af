"""A report's content: every table for the period (and the comparison period), privacy suppression applied, the
smoothed heatmap grid, and the headline figures compared between periods. Nothing here draws or writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.ndimage import gaussian_filter

from vision.core.errors import first_line
from vision.report import queries
from vision.report.inputs import Bucket, Period, ReportError, RunFolders
from vision.report.record_cache import RecordCache
from vision.report.summary import flow_summary, funnel_steps, summary_bucket_s
from vision.sinks.live import OUTAGES_SCHEMA
from vision.sinks.parquet import EVENTS_SCHEMA, HEAT_CELLS_SCHEMA, TRACKS_SCHEMA, VISITS_SCHEMA, ZONE_SECONDS_SCHEMA

MAX_SMOOTH_M = 100.0
DATASET_SCHEMAS = {
    "tracks": TRACKS_SCHEMA,
    "events": EVENTS_SCHEMA,
    "visits": VISITS_SCHEMA,
    "zone_seconds": ZONE_SECONDS_SCHEMA,
    "heatmap_cells": HEAT_CELLS_SCHEMA,
    "outages": OUTAGES_SCHEMA,
}


@dataclass(frozen=True, slots=True)
class ReportOptions:
    period: Period | None = None
    compare: Period | None = None
    cameras: tuple[str, ...] | None = None
    zones: tuple[str, ...] | None = None  # zone figures for these zones only (None: all)
    bucket: Bucket = "hour"
    min_visitors: int = 5
    browser_s: float = 10.0
    dweller_s: float = 120.0
    smooth_m: float = 0.5
    top_paths: int = 10
    cold_share: float = 0.25  # a zone below this share of the median zone's person-seconds per m² is cold
    with_summary: bool = True  # the run summary's figures too (summary.json); the dashboard's views do without

    def __post_init__(self) -> None:
        if self.min_visitors < 1:
            raise ReportError(f"--min-visitors must be at least 1, got {self.min_visitors}")
        if not 0 < self.browser_s < self.dweller_s:
            raise ReportError(
                f"segment thresholds must satisfy 0 < --browser-s < --dweller-s, got {self.browser_s:g} and "
                f"{self.dweller_s:g}"
            )
        if not 0 <= self.smooth_m <= MAX_SMOOTH_M:
            raise ReportError(f"--smooth-m must be 0 to {MAX_SMOOTH_M:g} metres, got {self.smooth_m}")


@dataclass(slots=True)
class PeriodFigures:
    """Every table of one period, as row dicts, before suppression."""

    label: str
    span: tuple[datetime, datetime] | None
    tables: dict[str, list[dict]] = field(default_factory=dict)
    heatmap: np.ndarray | None = None
    heatmap_tracks: int = 0
    people: int = 0  # distinct customer tracks, or site tracks where `visitors`
    visitors: bool = False  # the figures rest on site tracks (a multi-camera site's fusion pass), not camera tracks
    summary: dict | None = None  # the figures of a run's summary.json, suppressed, over this period


@dataclass(slots=True)
class Report:
    site: str
    timezone: str
    cameras: list[str]
    folders: list[str]
    options: ReportOptions
    generated_at: datetime
    main: PeriodFigures
    grid: dict | None
    zone_shapes: list[dict] = field(default_factory=list)
    floor_plan: dict | None = None
    cameras_without_data: list[str] = field(default_factory=list)
    comparison: list[dict] | None = None
    compare_label: str | None = None
    clock_offsets: dict[str, dict] = field(default_factory=dict)  # camera: the fusion pass's estimate, run.json


# Which count each table's privacy rests on, and which of its columns are suppressed with it.
_SUPPRESSED = {
    "cameras": ("tracks", ("tracks", "samples")),
    "outages": ("", ()),  # about cameras, not people
    "lines_by_bucket": ("tracks", ("in", "out", "tracks")),
    "lines_by_hour_of_day": ("tracks", ("in", "out", "tracks")),
    "zones": (
        "visitors",
        ("visits", "visitors", "dwell_median_s", "dwell_p90_s", "person_seconds", "person_seconds_per_m2", "cold"),
    ),
    "people_in_view": ("tracks", ("people", "tracks")),
    "people_per_zone": ("tracks", ("people", "tracks")),
    "tracks_per_bucket": ("tracks", ("tracks", "time_in_view_median_s")),
    "segments": ("tracks", ("tracks", "share_pct")),
    "top_paths": ("tracks", ("tracks",)),
    "transitions": ("tracks", ("moves", "tracks")),
    "funnels": ("tracks", ("tracks", "conversion_from_previous", "conversion_from_start")),
    "queue_waits": ("tracks", ("visits", "tracks", "wait_p50_s", "wait_p90_s", "wait_p95_s")),
}


_FLOOR_TABLES = {
    "lines_by_bucket": "events",
    "lines_by_hour_of_day": "events",
    "zones": "visits",
    "people_per_zone": "visits",
    "top_paths": "visits",
    "transitions": "visits",
    "funnels": "visits",
    "queue_waits": "visits",
}


def suppress(table: str, rows: list[dict], min_visitors: int) -> list[dict]:
    """Rows with every figure that rests on some, but fewer than `min_visitors`, distinct tracks replaced by "<k"."""
    count_column, columns = _SUPPRESSED[table]
    hidden = f"<{min_visitors}"
    out = []
    for row in rows:
        count = row.get(count_column)
        if isinstance(count, int | float) and 0 < count < min_visitors:  # zero rests on nobody: it is shown
            row = {**row, **{column: hidden for column in columns if column in row}}
        out.append(row)
    return out


def _funnels(funnels: list[dict], paths: list[dict]) -> list[dict]:
    return [
        {"funnel": funnel["name"], "step": index + 1, **step}
        for funnel in funnels
        for index, step in enumerate(funnel_steps(list(funnel["steps"]), paths))
    ]


def _flag_cold(zones: list[dict], cold_share: float) -> list[dict]:
    densities = [zone["person_seconds_per_m2"] for zone in zones]
    typical = float(np.median(densities)) if densities else 0.0
    return [{**zone, "cold": bool(zone["person_seconds_per_m2"] < cold_share * typical)} for zone in zones]


def record_span(
    runs: RunFolders, cameras: tuple[str, ...] | None, cache: RecordCache | None = None
) -> tuple[datetime, datetime] | None:
    """The first and last track time of the whole record (site-local), for the cameras given (None: all)."""
    con = queries.connect(runs, queries.Scope(None, None, cameras, "day"), cache=cache)
    try:
        return queries.data_span(con)
    finally:
        con.close()


def period_figures(
    runs: RunFolders, options: ReportOptions, period: Period | None, cache: RecordCache | None = None
) -> PeriodFigures:
    """Every table of one period, straight from DuckDB (from the files, or from `cache` where it serves)."""
    scope = queries.Scope(
        start=period.start if period else None,
        end=period.end if period else None,
        cameras=options.cameras,
        bucket=options.bucket,
    )
    visitors = queries.level_of(runs, scope) == "site" and runs.fused
    con = queries.connect(runs, scope, cache=cache, zones=options.zones)
    try:
        span = queries.data_span(con)
        figures = PeriodFigures(label=period.label if period else "all data", span=span, visitors=visitors)
        if span is None:
            return figures
        figures.people = int(con.execute("SELECT count(*) FROM track_spans").fetchone()[0])
        # figures that do not depend on the bucket are kept by the cache for the next question on this scope
        layout = tuple(str(zone["name"]) for zone in runs.site.zones)
        scoped = (tuple(runs.folders), layout, queries.level_of(runs, scope), scope.start, scope.end, scope.cameras,
                  options.zones)  # fmt: skip

        def kept(name: str, compute: Callable[[], list]) -> list:
            return compute() if cache is None else cache.remember((*scoped, name), compute)

        paths = kept("paths", lambda: queries.zone_sequences(con))
        tables = figures.tables
        tables["cameras"] = kept("cameras", lambda: queries.cameras_in_view(con))
        if queries.has_view(con, "outages"):
            tables["outages"] = kept("outages", lambda: queries.outages(con))
        tables["lines_by_bucket"] = queries.line_counts(con, options.bucket)
        tables["lines_by_hour_of_day"] = kept("lines by hour", lambda: queries.line_counts_by_hour_of_day(con))
        tables["zones"] = _flag_cold(kept("zones", lambda: queries.zone_figures(con)), options.cold_share)
        tables["people_in_view"] = queries.occupancy(con, options.bucket, "view")
        tables["people_per_zone"] = queries.occupancy(con, options.bucket, "zones")
        tables["tracks_per_bucket"] = queries.tracks_per_bucket(con, options.bucket)
        tables["segments"] = kept(
            f"segments {options.browser_s} {options.dweller_s}",
            lambda: queries.segments(con, options.browser_s, options.dweller_s),
        )
        tables["top_paths"] = [
            {"path": " → ".join(row["path"]), "tracks": row["tracks"]} for row in paths[: options.top_paths]
        ]
        tables["transitions"] = queries.transitions_of_paths(paths)
        tables["funnels"] = _funnels(runs.site.funnels, paths)
        tables["queue_waits"] = kept("queue waits", lambda: queries.queue_waits(con))
        if options.with_summary:
            bucket_s = summary_bucket_s(runs.site, (span[1] - span[0]).total_seconds())
            figures.summary = flow_summary(
                con, runs.site, options.min_visitors, bucket_s, paths=paths, moves=tables["transitions"],
                visitors=visitors,
            )  # fmt: skip
        for name, needs in _FLOOR_TABLES.items():
            if not queries.has_view(con, needs):
                del tables[name]  # a run without a site has no zones or lines: those tables are left out
        grid = runs.site.grid
        if grid is not None:
            grid_rows, grid_columns = int(grid["rows"]), int(grid["columns"])
            heatmap = np.zeros((grid_rows, grid_columns))
            for row, column, seconds in kept("heatmap", lambda: queries.heatmap_cells(con, grid)):
                heatmap[row, column] += seconds
            # beyond the grid's own size a wider kernel changes nothing visible, and only costs time
            sigma = min(options.smooth_m / float(grid["cell_m"]), float(max(grid_rows, grid_columns)))
            figures.heatmap = gaussian_filter(heatmap, sigma) if sigma > 0 else heatmap
            figures.heatmap_tracks = figures.people
        return figures
    finally:
        con.close()


def _headline(figures: PeriodFigures) -> dict[str, tuple[float, int]]:
    """Figure name → (value, distinct tracks it rests on), for the before/after comparison."""
    tables = figures.tables
    out: dict[str, tuple[float, int]] = {}
    tracks = figures.people
    out["visitors" if figures.visitors else "tracks"] = (tracks, tracks)
    for line in {row["line"] for row in tables.get("lines_by_hour_of_day", [])}:
        line_rows = [row for row in tables["lines_by_hour_of_day"] if row["line"] == line]
        behind = sum(row["tracks"] for row in line_rows)
        out[f"line {line}: in"] = (sum(row["in"] for row in line_rows), behind)
        out[f"line {line}: out"] = (sum(row["out"] for row in line_rows), behind)
    for zone in tables.get("zones", []):
        name, visitors = zone["zone"], zone["visitors"]
        out[f"zone {name}: visits"] = (zone["visits"], visitors)
        out[f"zone {name}: visitors"] = (visitors, visitors)
        if zone["dwell_median_s"] is not None:
            out[f"zone {name}: dwell median (s)"] = (zone["dwell_median_s"], visitors)
        out[f"zone {name}: person-seconds per m²"] = (zone["person_seconds_per_m2"], visitors)
    for segment in tables.get("segments", []):
        out[f"segment {segment['segment']}: share (%)"] = (segment["share_pct"], tracks)
    return out


def compare(before: PeriodFigures, after: PeriodFigures, min_visitors: int) -> list[dict]:
    """Each headline figure in both periods with its change, largest relative changes first; figures resting on
    fewer than `min_visitors` tracks in either period are suppressed and listed last."""
    first, second = _headline(before), _headline(after)
    hidden = f"<{min_visitors}"
    rows = []
    for name in sorted(set(first) | set(second)):
        (a, a_tracks), (b, b_tracks) = first.get(name, (0, 0)), second.get(name, (0, 0))
        if min(a_tracks, b_tracks) < min_visitors:
            rows.append({"figure": name, "before": hidden, "after": hidden, "change": None, "change_pct": None})
            continue
        change = round(b - a, 4)
        pct = round(100.0 * change / a, 1) if a else None
        rows.append({"figure": name, "before": a, "after": b, "change": change, "change_pct": pct})
    rows.sort(key=lambda row: (row["change_pct"] is None, -abs(row["change_pct"] or 0), row["figure"]))
    return rows


def build_report(runs: RunFolders, options: ReportOptions, cache: RecordCache | None = None) -> Report:
    """The report's content; ReportError when the period holds no data at all, or when a part file on disk is
    damaged (named: a report that left its rows out would be silently wrong). With a `cache` (the dashboard's),
    the record's rows come from memory as of the cache's last `refresh` where it serves the period, and the
    partitions it could not read are its `unreadable` (the dashboard shows them) rather than an error."""
    try:
        if cache is None:
            _refuse_foreign_parts(runs)
        return _build_report(runs, options, cache)
    except duckdb.Error as exc:
        damaged = damaged_parts(runs)
        if damaged:
            path, reason = damaged[0]
            more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
            raise ReportError(
                f"{path}: damaged part file ({reason}){more}; its rows cannot be counted, so no report was made: "
                "move it out of the output folder (or restore it) and report again"
            ) from None
        raise ReportError(f"the outputs cannot be read ({first_line(exc)})") from None


def _refuse_foreign_parts(runs: RunFolders) -> None:
    """ReportError naming a part file whose rows lack a column footfall always fills (a stray or foreign file in
    a dataset's folder), which a read by column name would count as empty values."""
    con = duckdb.connect(config={"threads": 2})
    try:
        for name, schema in DATASET_SCHEMAS.items():
            files = runs.dataset(name)
            required = [field.name for field in schema if not field.nullable]
            if not files or not required:
                continue
            missing = " OR ".join(f'"{column}" IS NULL' for column in required)
            found = con.execute(
                f"SELECT filename FROM read_parquet({files!r}, union_by_name = true, filename = true) "
                f"WHERE {missing} LIMIT 1"
            ).fetchone()
            if found:
                raise ReportError(
                    f"{found[0]}: damaged part file (rows without {', '.join(required)}: not a footfall {name} "
                    "file); move it out of the output folder (or restore it) and report again"
                )
    finally:
        con.close()


def damaged_parts(runs: RunFolders) -> list[tuple[Path, str]]:
    """The part files that are not whole Parquet files, or lack columns footfall writes, with why."""
    damaged = []
    for path in runs.part_files():
        dataset = next(part for part in path.parts[::-1] if part in DATASET_SCHEMAS)
        try:
            names = set(pq.read_schema(path).names)
        except (OSError, pa.ArrowException) as exc:
            damaged.append((path, f"not a whole Parquet file: {first_line(exc)}"))
            continue
        missing = [name for name in DATASET_SCHEMAS[dataset].names[:2] if name not in names]
        if missing:
            damaged.append((path, f"no column {missing[0]}: not a footfall {dataset} file"))
    return damaged


def _build_report(runs: RunFolders, options: ReportOptions, cache: RecordCache | None) -> Report:
    main = period_figures(runs, options, options.period, cache)
    if main.span is None:
        where = f" in the period {options.period.label}" if options.period else ""
        cameras = f" for cameras {', '.join(options.cameras)}" if options.cameras else ""
        everything = record_span(runs, options.cameras, cache)
        held = (
            f"; the data covers {everything[0]:%Y-%m-%d %H:%M} to {everything[1]:%Y-%m-%d %H:%M}" if everything else ""
        )
        raise ReportError(f"no tracks{where}{cameras} in {', '.join(map(str, runs.folders))}{held}")
    comparison, compare_label = None, None
    if options.compare is not None:
        before = period_figures(runs, options, options.compare, cache)
        comparison, compare_label = compare(before, main, options.min_visitors), before.label
    cameras = sorted({row["camera"] for row in main.tables["cameras"]})
    wanted = list(options.cameras) if options.cameras else runs.cameras()
    without_data = [camera for camera in wanted if camera not in cameras]
    return Report(
        site=runs.site.site_id,
        timezone=runs.site.timezone,
        cameras=cameras,
        folders=[str(folder) for folder in runs.folders],
        options=options,
        generated_at=datetime.now(tz=UTC),
        main=main,
        grid=runs.site.grid,
        zone_shapes=runs.site.zones,
        floor_plan=runs.site.floor_plan,
        cameras_without_data=without_data,
        comparison=comparison,
        compare_label=compare_label,
        clock_offsets=runs.clock_offsets() if main.visitors else {},
    )


def suppressed_tables(report: Report) -> dict[str, list[dict]]:
    return {name: suppress(name, rows, report.options.min_visitors) for name, rows in report.main.tables.items()}
