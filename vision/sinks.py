"""Writers for what the engine produces. Every file appears atomically: it is written under a hidden temporary
name in its final folder and renamed into place when complete, so a reader never sees half a file and a crash
leaves only hidden leftovers that readers skip."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vision.types import Crossing, FloorTracks, TrackHistory, Visit

CAMERA_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

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


def epoch_us(seconds: np.ndarray | list[float]) -> pa.Array:
    micros = np.round(np.asarray(seconds, dtype=np.float64) * 1_000_000).astype(np.int64)
    return pa.array(micros, pa.int64()).cast(TIMESTAMP)


class AtomicFile:
    """A file written under a hidden temporary name beside `path`, renamed to `path` by `commit()`."""

    def __init__(self, path: Path, mode: str = "w") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self._temporary = Path(temporary)
        self.handle: IO[Any] = os.fdopen(descriptor, mode, **({} if "b" in mode else {"encoding": "utf-8"}))

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self._temporary, self.path)

    def discard(self) -> None:
        self.handle.close()
        self._temporary.unlink(missing_ok=True)


@contextmanager
def atomic_output(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Yields a handle whose file appears at `path` only if the block completes."""
    output = AtomicFile(path, mode)
    try:
        yield output.handle
    except BaseException:
        output.discard()
        raise
    output.commit()


def write_json_atomic(path: Path, document: Any) -> None:
    with atomic_output(path) as handle:
        json.dump(document, handle, indent=2, ensure_ascii=False, default=_json_default)
        handle.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


class PartitionedTableWriter:
    """Appends rows to the Parquet dataset `root/camera=<id>/date=<local date>/part-<prefix>-<n>.parquet`.

    Rows are buffered and written as a new part file every `rows_per_file` rows and at `close()`, so a live feed
    produces files steadily and memory stays bounded. `camera` and `date` live in the folder names (hive
    partitioning), which pyarrow, DuckDB, pandas and Polars all read back as columns; `date` is the date of
    `date_column` in `timezone` (the site's, else UTC).
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
    ) -> None:
        if not CAMERA_ID_PATTERN.fullmatch(camera):
            raise ValueError(f"camera id {camera!r} must be letters, digits, '_', '-' or '.' (at most 64)")
        self.root = root
        self.camera = camera
        self.part_prefix = part_prefix
        self.schema = schema
        self.date_column = date_column
        self.timezone = timezone
        self.rows_per_file = rows_per_file
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
        local_time = table[self.date_column].cast(pa.timestamp("us", tz=self.timezone))
        dates = pc.strftime(local_time, format="%Y-%m-%d")
        for date in pc.unique(dates).to_pylist():
            self._write_part(table.filter(pc.equal(dates, date)), date)

    def _write_part(self, table: pa.Table, date: str) -> None:
        path = (
            self.root / f"camera={self.camera}" / f"date={date}" / f"part-{self.part_prefix}-{self._part:05d}.parquet"
        )
        self._part += 1
        with atomic_output(path, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
        self.files.append(path)
        self.rows_written += table.num_rows

    def close(self) -> None:
        self.flush()


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


class MotWriter:
    """MOTChallenge rows `frame,id,x,y,w,h,conf,-1,-1,-1` (frame 1-based, box top-left and size in pixels) in
    `<camera>.txt`, plus `<camera>.analysed.txt` listing the analysed frame numbers, so that a scorer counts
    misses only on frames the engine looked at. Ids are the tracker's per-run integers."""

    def __init__(self, folder: Path, camera: str) -> None:
        self._rows = AtomicFile(folder / f"{camera}.txt")
        self._analysed = AtomicFile(folder / f"{camera}.analysed.txt")
        self.path = self._rows.path

    def write(self, floor: FloorTracks) -> None:
        frame_number = floor.frame_index + 1
        self._analysed.handle.write(f"{frame_number}\n")
        for track_id, (x1, y1, x2, y2), confidence in zip(
            floor.track_id.tolist(), floor.xyxy.tolist(), floor.confidence.tolist(), strict=False
        ):
            self._rows.handle.write(
                f"{frame_number},{track_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{confidence:.4f},-1,-1,-1\n"
            )

    def close(self, completed: bool = True) -> None:
        """Publishes both files; with `completed=False` (an aborted run) they are discarded."""
        for output in (self._rows, self._analysed):
            output.commit() if completed else output.discard()
