"""The Parquet datasets a run writes, hive-partitioned by camera and date: `tracks/` (every sample), and with a
site `events/` (zone entries and exits, line crossings), `visits/`, `zone_seconds/` (person-seconds per track, zone
and time bucket) and, with a heatmap grid, `heatmap_cells/` (customers' person-seconds per cell and quarter hour).
Together they are the record every figure is computed from (see `vision.report`).

Every part file appears atomically (see `vision.sinks.atomic`), so a reader never sees half a file."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vision.analytics.site import HeatCells, TrackFlow, ZoneSeconds
from vision.core.errors import OutputError
from vision.core.ids import check_camera_id
from vision.core.types import Crossing, FloorTracks, TrackHistory, Visit
from vision.sinks.atomic import atomic_output

TIMESTAMP = pa.timestamp("us", tz="UTC")

TRACKS_SCHEMA = pa.schema(
    [
        pa.field("track", pa.string(), nullable=False),
        pa.field("t", TIMESTAMP, nullable=False),
        pa.field("frame", pa.int64(), nullable=False),
        pa.field("u", pa.float32(), nullable=False),
        pa.field("v", pa.float32(), nullable=False),
        pa.field("x", pa.float64()),
        pa.field("y", pa.float64()),
        pa.field("conf", pa.float32(), nullable=False),
        pa.field("staff", pa.bool_(), nullable=False),
    ]
)

EVENTS_SCHEMA = pa.schema(
    [
        pa.field("track", pa.string(), nullable=False),
        pa.field("t", TIMESTAMP, nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("place", pa.string(), nullable=False),
        pa.field("place_kind", pa.string(), nullable=False),
        pa.field("staff", pa.bool_(), nullable=False),
    ]
)

VISITS_SCHEMA = pa.schema(
    [
        pa.field("track", pa.string(), nullable=False),
        pa.field("zone", pa.string(), nullable=False),
        pa.field("zone_kind", pa.string(), nullable=False),
        pa.field("t_in", TIMESTAMP, nullable=False),
        pa.field("t_out", TIMESTAMP, nullable=False),
        pa.field("dwell_s", pa.float64(), nullable=False),
        pa.field("staff", pa.bool_(), nullable=False),
    ]
)

ZONE_SECONDS_SCHEMA = pa.schema(
    [
        pa.field("track", pa.string(), nullable=False),
        pa.field("zone", pa.string(), nullable=False),
        pa.field("zone_kind", pa.string(), nullable=False),
        pa.field("t", TIMESTAMP, nullable=False),  # the start of the time bucket (the site's bucket_s)
        pa.field("seconds", pa.float64(), nullable=False),
        pa.field("staff", pa.bool_(), nullable=False),
    ]
)

HEAT_CELLS_SCHEMA = pa.schema(
    [
        pa.field("t", TIMESTAMP, nullable=False),  # the start of the quarter hour
        pa.field("row", pa.int32(), nullable=False),
        pa.field("col", pa.int32(), nullable=False),
        pa.field("seconds", pa.float64(), nullable=False),
    ]
)


def epoch_us(seconds: np.ndarray | list[float]) -> pa.Array:
    micros = np.round(np.asarray(seconds, dtype=np.float64) * 1_000_000).astype(np.int64)
    return pa.array(micros, pa.int64()).cast(TIMESTAMP)


class PartitionedTableWriter:
    """Appends rows to the Parquet dataset `root/camera=<id>/date=<local date>/part-<prefix>-<n>.parquet`.

    Rows are buffered and written as a new part file every `rows_per_file` rows, whenever `flush()` is called
    (see `FlushSchedule`) and at `close()`, so a live feed produces files steadily and memory stays bounded. A
    writer that got no rows at all writes one empty part (dated `empty_date`), so the dataset always exists with
    its schema and readers need no special case for footage with nobody in it.

    `combine`, if given, merges the buffered rows before they are written (the heatmap cells sum per cell).

    `camera` and `date` live in the folder names (hive partitioning), which pyarrow, DuckDB, pandas and Polars all
    read back as columns; `date` is the date of `date_column` in `timezone` (the site's, else UTC).
    """

    def __init__(
        self,
        root: Path,
        camera: str,
        part_prefix: str,
        schema: pa.Schema,
        date_column: str,
        timezone: str = "UTC",
        rows_per_file: int = 200_000,
        empty_date: str | None = None,
        combine: Callable[[pa.Table], pa.Table] | None = None,
        remember_files: bool = True,
    ) -> None:
        check_camera_id(camera)
        self.root = root
        self.camera = camera
        self.part_prefix = part_prefix
        self.schema = schema
        self.date_column = date_column
        self.timezone = timezone
        self.rows_per_file = rows_per_file
        self.empty_date = empty_date
        self.combine = combine
        self.remember_files = remember_files  # a service running for months keeps no growing list of its parts
        self.rows_written = 0
        self.files: list[Path] = []
        self._tables: list[pa.Table] = []
        self._buffered_rows = 0
        self._part = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._tables.append(table)
        self._buffered_rows += table.num_rows
        if self._buffered_rows >= self.rows_per_file:
            self.flush()

    def flush(self) -> None:
        if self._buffered_rows == 0:
            return
        table = pa.concat_tables(self._tables)
        self._tables, self._buffered_rows = [], 0
        if self.combine is not None:
            table = self.combine(table)
        local_time = table[self.date_column].cast(pa.timestamp("us", tz=self.timezone))
        dates = pc.strftime(local_time, format="%Y-%m-%d")
        unwritten = [(date, table.filter(pc.equal(dates, date))) for date in pc.unique(dates).to_pylist()]
        try:
            while unwritten:
                self._write_part(unwritten[0][1], unwritten[0][0])
                unwritten.pop(0)
        finally:  # a failed write (a full disk) keeps its rows for the next flush
            if unwritten:
                self._tables = [part for _, part in unwritten] + self._tables
                self._buffered_rows += sum(part.num_rows for _, part in unwritten)

    def _write_part(self, table: pa.Table, date: str) -> None:
        path = (
            self.root / f"camera={self.camera}" / f"date={date}" / f"part-{self.part_prefix}-{self._part:05d}.parquet"
        )
        with atomic_output(path, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
        self._part += 1
        if self.remember_files:
            self.files.append(path)
        self.rows_written += table.num_rows

    def close(self) -> None:
        self.flush()
        if self.rows_written == 0 and self.empty_date is not None:
            self._write_part(self.schema.empty_table(), self.empty_date)


class FlushSchedule:
    """When buffered rows go to disk: at most every `interval_s` seconds of footage or of wall time, whichever
    comes first, so a killed run loses at most that much of what finished tracks produced."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not interval_s > 0:
            raise ValueError(f"flush interval must be a positive number of seconds, got {interval_s}")
        self.interval_s = interval_s
        self._clock = clock
        self._last_wall = clock()
        self._last_media: float | None = None

    def due(self, media_s: float) -> bool:
        if self._last_media is None:
            self._last_media = media_s
        return media_s - self._last_media >= self.interval_s or self._clock() - self._last_wall >= self.interval_s

    def reset(self, media_s: float) -> None:
        self._last_wall, self._last_media = self._clock(), media_s


def track_rows(track: TrackHistory, staff: bool) -> pa.Table:
    """One row per sample of a finished track; floor positions that are NaN become nulls."""
    count = len(track)
    x, y = track.floor_xy[:, 0], track.floor_xy[:, 1]
    return pa.Table.from_arrays(
        [
            pa.array([track.track] * count, pa.string()),
            epoch_us(track.time_s),
            pa.array(track.frame, pa.int64()),
            pa.array(track.foot_uv[:, 0], pa.float32()),
            pa.array(track.foot_uv[:, 1], pa.float32()),
            pa.array(x, pa.float64(), mask=np.isnan(x)),
            pa.array(y, pa.float64(), mask=np.isnan(y)),
            pa.array(track.confidence, pa.float32()),
            pa.array(np.full(count, staff), pa.bool_()),
        ],
        schema=TRACKS_SCHEMA,
    )


def event_rows(
    track: str, visits: Sequence[Visit], crossings: Sequence[Crossing], line_kind: str, staff: bool
) -> pa.Table:
    """Zone entries and exits (at a visit's first and last inside sample) and line crossings, in time order."""
    rows = [(v.t_in, "enter", v.zone, v.zone_kind) for v in visits]
    rows += [(v.t_out, "exit", v.zone, v.zone_kind) for v in visits]
    rows += [(c.t, c.direction, c.line, line_kind) for c in crossings]
    rows.sort(key=lambda row: row[0])
    return pa.Table.from_arrays(
        [
            pa.array([track] * len(rows), pa.string()),
            epoch_us([row[0] for row in rows]),
            pa.array([row[1] for row in rows], pa.string()),
            pa.array([row[2] for row in rows], pa.string()),
            pa.array([row[3] for row in rows], pa.string()),
            pa.array([staff] * len(rows), pa.bool_()),
        ],
        schema=EVENTS_SCHEMA,
    )


def visit_rows(track: str, visits: Sequence[Visit], staff: bool) -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array([track] * len(visits), pa.string()),
            pa.array([v.zone for v in visits], pa.string()),
            pa.array([v.zone_kind for v in visits], pa.string()),
            epoch_us([v.t_in for v in visits]),
            epoch_us([v.t_out for v in visits]),
            pa.array([v.dwell_s for v in visits], pa.float64()),
            pa.array([staff] * len(visits), pa.bool_()),
        ],
        schema=VISITS_SCHEMA,
    )


def zone_seconds_rows(track: str, rows: Sequence[ZoneSeconds], staff: bool) -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array([track] * len(rows), pa.string()),
            pa.array([r.zone for r in rows], pa.string()),
            pa.array([r.zone_kind for r in rows], pa.string()),
            epoch_us([r.start_s for r in rows]),
            pa.array([r.seconds for r in rows], pa.float64()),
            pa.array([staff] * len(rows), pa.bool_()),
        ],
        schema=ZONE_SECONDS_SCHEMA,
    )


def heat_cell_rows(heat: HeatCells) -> pa.Table:
    return pa.Table.from_arrays(
        [
            epoch_us(heat.start_s),
            pa.array(heat.row, pa.int32()),
            pa.array(heat.col, pa.int32()),
            pa.array(heat.seconds, pa.float64()),
        ],
        schema=HEAT_CELLS_SCHEMA,
    )


def sum_heat_cells(table: pa.Table) -> pa.Table:
    """One row per quarter hour and cell: the tracks' rows summed."""
    summed = table.group_by(["t", "row", "col"], use_threads=False).aggregate([("seconds", "sum")])
    return summed.rename_columns(["t", "row", "col", "seconds"]).select(HEAT_CELLS_SCHEMA.names).cast(HEAT_CELLS_SCHEMA)


class TrackTableSink:
    """A camera's finished tracks as Parquet: `tracks/` always, with a site's flow analytics `events/`, `visits/`
    and `zone_seconds/` too, and `heatmap_cells/` when the site has a heatmap grid. What was analysed is kept
    whether or not the run completed: buffered rows are written on the `schedule`, after which `after_flush` is
    called (the batch updates run.json there). A scheduled write that fails (a full disk) raises, or, given
    `on_write_error`, is reported there and its rows stay buffered for the next one (the live service)."""

    def __init__(
        self,
        out_dir: Path,
        camera: str,
        part_prefix: str,
        with_flow: bool,
        with_heatmap: bool = False,
        timezone: str = "UTC",
        start: datetime | None = None,
        schedule: FlushSchedule | None = None,
        after_flush: Callable[[], None] | None = None,
        remember_files: bool = True,
        on_write_error: Callable[[Exception], None] | None = None,
    ) -> None:
        empty_date = start.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d") if start is not None else None

        def writer(
            name: str, schema: pa.Schema, date_column: str, combine: Callable[[pa.Table], pa.Table] | None = None
        ) -> PartitionedTableWriter:
            return PartitionedTableWriter(
                out_dir / name,
                camera,
                part_prefix,
                schema,
                date_column,
                timezone,
                empty_date=empty_date,
                combine=combine,
                remember_files=remember_files,
            )

        self.tracks = writer("tracks", TRACKS_SCHEMA, "t")
        self.events = writer("events", EVENTS_SCHEMA, "t") if with_flow else None
        self.visits = writer("visits", VISITS_SCHEMA, "t_in") if with_flow else None
        self.zone_seconds = writer("zone_seconds", ZONE_SECONDS_SCHEMA, "t") if with_flow else None
        self.heat_cells = writer("heatmap_cells", HEAT_CELLS_SCHEMA, "t", sum_heat_cells) if with_heatmap else None
        self._schedule = schedule
        self._after_flush = after_flush
        self._on_write_error = on_write_error

    @property
    def files(self) -> list[Path]:
        return [path for writer in self._writers() for path in writer.files]

    def _writers(self) -> list[PartitionedTableWriter]:
        writers = (self.tracks, self.events, self.visits, self.zone_seconds, self.heat_cells)
        return [w for w in writers if w is not None]

    def write_frame(self, tracks: FloorTracks) -> None:
        self.flush_if_due(tracks.time_s)

    def flush_if_due(self, media_s: float) -> None:
        """Writes what is buffered when the schedule says so at this time of the footage."""
        if self._schedule is not None and self._schedule.due(media_s):
            self._schedule.reset(media_s)
            try:
                for writer in self._writers():
                    writer.flush()
            except OutputError as exc:
                if self._on_write_error is None:
                    raise
                self._on_write_error(exc)  # the rows stay buffered for the next flush
                return
            if self._after_flush is not None:
                self._after_flush()

    def write_track(self, track: TrackFlow) -> None:
        name, staff = track.track.track, track.staff
        if self.events is not None and self.visits is not None:
            self.events.write(event_rows(name, track.visits, track.crossings, "line", staff))
            self.visits.write(visit_rows(name, track.visits, staff))
        if self.zone_seconds is not None:
            self.zone_seconds.write(zone_seconds_rows(name, track.zone_seconds, staff))
        if self.heat_cells is not None and track.heat is not None:
            self.heat_cells.write(heat_cell_rows(track.heat))
        self.tracks.write(track_rows(track.track, staff))

    def close(self, completed: bool) -> list[Path]:
        for writer in self._writers():
            writer.close()
        return self.files
