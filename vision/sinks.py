"""Writers for what the engine produces. Every file appears atomically: it is written under a hidden temporary
name in its final folder and renamed into place when complete, so a reader never sees half a file and a crash
leaves only hidden leftovers that readers skip."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vision.types import FloorTracks

CAMERA_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

TRACKS_SCHEMA = pa.schema(
    [
        pa.field("track", pa.string(), nullable=False),
        pa.field("t", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("frame", pa.int64(), nullable=False),
        pa.field("u", pa.float32(), nullable=False),
        pa.field("v", pa.float32(), nullable=False),
        pa.field("x", pa.float64()),
        pa.field("y", pa.float64()),
        pa.field("conf", pa.float32(), nullable=False),
    ]
)


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


class TrackTableWriter:
    """Appends floor tracks to the Parquet dataset `root/camera=<id>/date=<UTC date>/part-<prefix>-<n>.parquet`.

    Rows are buffered and written as a new part file every `rows_per_file` rows and at `close()`, so a live feed
    produces files steadily and memory stays bounded. `camera` and `date` live in the folder names (hive
    partitioning), which pyarrow, DuckDB, pandas and Polars all read back as columns.
    """

    def __init__(self, root: Path, camera: str, part_prefix: str, rows_per_file: int = 200_000) -> None:
        if not CAMERA_ID_PATTERN.fullmatch(camera):
            raise ValueError(f"camera id {camera!r} must be letters, digits, '_', '-' or '.' (at most 64)")
        self.root = root
        self.camera = camera
        self.part_prefix = part_prefix
        self.rows_per_file = rows_per_file
        self.rows_written = 0
        self.files: list[Path] = []
        self._columns: dict[str, list[np.ndarray]] = {name: [] for name in TRACKS_SCHEMA.names}
        self._buffered_rows = 0
        self._part = 0

    def write(self, floor: FloorTracks) -> None:
        count = len(floor)
        if count == 0:
            return
        self._columns["track"].append(floor.track)
        self._columns["t"].append(np.full(count, round(floor.time_s * 1_000_000), dtype=np.int64))
        self._columns["frame"].append(np.full(count, floor.frame_index, dtype=np.int64))
        self._columns["u"].append(floor.foot_uv[:, 0])
        self._columns["v"].append(floor.foot_uv[:, 1])
        self._columns["x"].append(floor.floor_xy[:, 0])
        self._columns["y"].append(floor.floor_xy[:, 1])
        self._columns["conf"].append(floor.confidence)
        self._buffered_rows += count
        if self._buffered_rows >= self.rows_per_file:
            self.flush()

    def flush(self) -> None:
        if self._buffered_rows == 0:
            return
        table = self._buffered_table()
        self._columns = {name: [] for name in TRACKS_SCHEMA.names}
        self._buffered_rows = 0
        dates = pc.strftime(table["t"], format="%Y-%m-%d")
        for date in pc.unique(dates).to_pylist():
            self._write_part(table.filter(pc.equal(dates, date)), date)

    def _buffered_table(self) -> pa.Table:
        def column(name: str) -> np.ndarray:
            return np.concatenate(self._columns[name])

        x, y = column("x"), column("y")
        arrays = [
            pa.array(column("track").tolist(), pa.string()),
            pa.array(column("t"), pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            pa.array(column("frame"), pa.int64()),
            pa.array(column("u"), pa.float32()),
            pa.array(column("v"), pa.float32()),
            pa.array(x, pa.float64(), mask=np.isnan(x)),
            pa.array(y, pa.float64(), mask=np.isnan(y)),
            pa.array(column("conf"), pa.float32()),
        ]
        return pa.Table.from_arrays(arrays, schema=TRACKS_SCHEMA)

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
