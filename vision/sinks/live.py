"""What the live service writes beside the Parquet datasets: the low-latency event feed and the record of outages.

- `live/camera=<id>/date=<local date>/events-<HH>.jsonl`: one JSON object per line for each zone entry or exit and
  line crossing as `vision.analytics.live.LiveEvents` decides it, appended and flushed on the frame that decides
  it, so a dashboard or an alarm sees it within the analysis delay. One file per camera and local hour. A line is
  written with one `write` call; a reader that meets an incomplete last line (a process killed mid-write) skips it.
  The authoritative events (with staff left out) are the `events/` dataset, written as each track ends.
- `outages/camera=<id>/date=<local date>/part-….parquet`: one row per gap in a camera's coverage (start, end,
  reason), so reports show gaps instead of silently low counts.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import pyarrow as pa

from vision.analytics.live import LiveEvent, LiveEvents
from vision.analytics.site import TrackFlow
from vision.core.errors import OutputError
from vision.core.ids import check_camera_id
from vision.core.types import FloorTracks
from vision.sinks.atomic import write_failure
from vision.sinks.parquet import TIMESTAMP, PartitionedTableWriter, epoch_us

OUTAGES_SCHEMA = pa.schema(
    [
        pa.field("start", TIMESTAMP, nullable=False),
        pa.field("end", TIMESTAMP, nullable=False),
        pa.field("seconds", pa.float64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_line(event: LiveEvent) -> str:
    return json.dumps(
        {
            "t": _iso(event.t),
            "camera": event.camera,
            "track": event.track,
            "event": event.event,
            "place": event.place,
            "place_kind": event.place_kind,
            "decided_at": _iso(event.decided_t),
        },
        separators=(",", ":"),
    )


class LiveEventLog:
    """A `Sink` that turns each frame's tracks into live events and appends them to the camera's hourly feed."""

    def __init__(
        self,
        out_dir: Path,
        events: LiveEvents,
        timezone: str,
        on_write_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """A write that fails raises OutputError or, given `on_write_error`, is reported there and the events it
        held are left out of the feed (counted in `dropped`); the feed never keeps half a line."""
        check_camera_id(events.camera)
        self.root = out_dir / "live" / f"camera={events.camera}"
        self.events = events
        self.zone = ZoneInfo(timezone)
        self.written = 0
        self.dropped = 0
        self._on_write_error = on_write_error
        self._good_size = 0  # bytes of whole lines in the open file
        self._last_t: float | None = None  # capture time of the newest frame
        self._path: Path | None = None
        self._handle: IO[str] | None = None

    def write_frame(self, tracks: FloorTracks) -> None:
        self._last_t = tracks.time_s
        self._append(self.events.add(tracks))

    def write_track(self, track: TrackFlow) -> None:
        pass  # live events are decided frame by frame

    def close(self, completed: bool) -> list[Path]:
        try:
            if self._last_t is not None:  # the connection ended: its open stays end, decided at its last frame
                self._append(self.events.finish(self._last_t))
        finally:
            with contextlib.suppress(OSError):
                self._close_file()
        return []

    def _append(self, events: list[LiveEvent]) -> None:
        if not events:
            return
        try:
            for event in events:
                local = datetime.fromtimestamp(event.decided_t, tz=self.zone)
                path = self.root / f"date={local:%Y-%m-%d}" / f"events-{local:%H}.jsonl"
                if path != self._path:
                    self._close_file()
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._handle, self._path = path.open("a", encoding="utf-8"), path
                    self._good_size = self._handle.tell()
                assert self._handle is not None
                self._handle.write(event_line(event) + "\n")
            assert self._handle is not None
            self._handle.flush()
            self._good_size = self._handle.tell()
        except OSError as exc:
            failed = self._path
            self._drop_partial_lines()
            error = write_failure(failed, exc) if failed is not None else OutputError(f"cannot write ({exc})")
            if self._on_write_error is None:
                raise error from None
            self._on_write_error(error)  # the feed goes on with the next events; these are lost to it
            self.dropped += len(events)
            return
        self.written += len(events)

    def _drop_partial_lines(self) -> None:
        """After a failed write (a full disk), cuts the feed back to its last whole line so that the lines
        appended later are not glued to half a line."""
        handle, path = self._handle, self._path
        self._handle = self._path = None
        if handle is None or path is None:
            return
        with contextlib.suppress(OSError):
            handle.close()
        with contextlib.suppress(OSError):
            os.truncate(path, self._good_size)

    def _close_file(self) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
            finally:
                self._handle = self._path = None


@dataclass(frozen=True, slots=True)
class Outage:
    """A stretch of time a camera delivered nothing: from its last frame (or the service's start) to its next."""

    camera: str
    start: float  # UTC epoch seconds
    end: float
    reason: str

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


class PeopleInView:
    """A sink that keeps how many people the tracker follows in the newest analysed frame (the service's status
    says it, for the dashboard's "now"); zero once the connection closes."""

    def __init__(self) -> None:
        self.count = 0

    def write_frame(self, tracks: FloorTracks) -> None:
        self.count = len(tracks.track)

    def write_track(self, track: TrackFlow) -> None:
        pass

    def close(self, completed: bool) -> list[Path]:
        self.count = 0
        return []


def write_outage(out_dir: Path, outage: Outage, part_prefix: str, timezone: str) -> list[Path]:
    """Writes one outage as its own part file of `outages/` (outages are rare; each lands at once)."""
    writer = PartitionedTableWriter(out_dir / "outages", outage.camera, part_prefix, OUTAGES_SCHEMA, "start", timezone)
    writer.write(
        pa.Table.from_arrays(
            [
                epoch_us([outage.start]),
                epoch_us([outage.end]),
                pa.array([outage.seconds], pa.float64()),
                pa.array([outage.reason], pa.string()),
            ],
            schema=OUTAGES_SCHEMA,
        )
    )
    writer.close()
    return writer.files
