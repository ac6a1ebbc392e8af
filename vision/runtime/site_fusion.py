"""The fusion pass of a multi-camera site record: the camera tracks under `OUT/tracks/` joined into site tracks
(`vision.analytics.fusion`), one per person, and the site's flow analytics run again on them, so that a person seen
by two cameras at once, or walking from one view into the next, counts once.

Written beside the camera datasets, under `OUT/site/`:

- `tracks/`, `events/`, `visits/`, `zone_seconds/`, `heatmap_cells/`: the same datasets as a camera's, for the site
  tracks (partition `camera=site`); a site track's sample is the mean floor position of its camera tracks in each
  0.2 s step, on the site clock; it has no image position (`u`, `v` are NaN, `frame` is -1);
- `links/`: which site track each camera track belongs to (partition `camera=<camera>`), for audit.

The camera datasets stay as they are, each on its camera's own clock. A camera's clock is moved onto the site's by
the offset the site file gives it (`clock_offset_s`) plus the offset estimated from the people both it and the first
camera see, per hour window (a drifting NVR channel shows as a range); both are reported.

The record is read an hour window at a time, by each track's start, so memory stays bounded over a long record: a
site track that may still be joined by a track of the next window is carried over to it, the others are written.
The pass writes into a hidden folder and swaps it in whole: a pass killed halfway leaves the previous site folder
(or none), never half of one; running it again gives the same figures.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from vision.analytics.fusion import HANDOVER_S, MAX_OFFSET_S, SAMPLE_S, FloorPath, fuse, measure_offset
from vision.analytics.site import SiteFlow
from vision.config.build import FlowPlan
from vision.core.types import TrackHistory
from vision.perception.anonymise import random_token
from vision.report.inputs import SITE_FOLDER, duckdb_glob_literal
from vision.sinks.parquet import FlushSchedule, PartitionedTableWriter, TrackTableSink, epoch_us

SITE_CAMERA = "site"
WINDOW_S = 3600.0
MIN_OFFSET_EVIDENCE = 3  # camera tracks of the other camera a window needs for its own clock estimate
MAX_OFFSET_PATHS = 80  # the longest tracks of a window that the clock estimate looks at

LINKS_SCHEMA = pa.schema(
    [
        pa.field("track", pa.string(), nullable=False),
        pa.field("site_track", pa.string(), nullable=False),
        pa.field("t_first", pa.timestamp("us", tz="UTC"), nullable=False),  # the camera track's, on its own clock
        pa.field("clock_offset_s", pa.float64(), nullable=False),  # added to its times to put it on the site clock
    ]
)


@dataclass(slots=True)
class FusionReport:
    """What a fusion pass did, for run.json and summary.json."""

    cameras: list[str]
    camera_tracks: int = 0
    site_tracks: int = 0
    windows: int = 0
    configured_offset_s: dict[str, float] = field(default_factory=dict)
    estimated_offset_s: dict[str, dict] = field(default_factory=dict)  # camera: {median, min, max, windows}
    wall_s: float = 0.0
    media_s: float = 0.0  # site time the record spans

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class CameraTrack:
    camera: str
    track: str
    time_s: np.ndarray  # on the camera's own clock plus its configured offset
    xy: np.ndarray
    confidence: np.ndarray

    def path(self) -> FloorPath | None:
        known = np.isfinite(self.xy).all(axis=1)
        if not known.any():
            return None
        return FloorPath(self.camera, self.track, self.time_s[known], self.xy[known])


def site_plan(plan: FlowPlan) -> FlowPlan:
    """The plan for site tracks: every zone and line counted whichever camera saw the person there."""
    return dataclasses.replace(
        plan,
        zones=[dataclasses.replace(zone, cameras=None) for zone in plan.zones],
        lines=[dataclasses.replace(line, cameras=None) for line in plan.lines],
    )


def camera_partitions(out_dir: Path) -> list[str]:
    folder = out_dir / "tracks"
    if not folder.is_dir():
        return []
    return sorted(path.name.removeprefix("camera=") for path in folder.glob("camera=*") if path.is_dir())


def merge_members(members: list[CameraTrack], offsets: dict[str, float], name: str) -> TrackHistory:
    """One site track from its camera tracks: floor positions averaged per SAMPLE_S step of the site clock (where
    two cameras see the person at once, the mean of the two); steps with no known position are dropped, unless
    none has one (a camera without a calibration)."""
    times = np.concatenate([m.time_s + offsets.get(m.camera, 0.0) for m in members])
    xy = np.concatenate([m.xy for m in members])
    confidence = np.concatenate([m.confidence for m in members])
    known = np.isfinite(xy).all(axis=1)
    if known.any():
        times, xy, confidence = times[known], xy[known], confidence[known]
    steps = np.round(times / SAMPLE_S).astype(np.int64)
    unique, inverse = np.unique(steps, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(unique))

    def mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(inverse, weights=values, minlength=len(unique)) / counts

    floor = np.column_stack([mean(xy[:, 0]), mean(xy[:, 1])]) if known.any() else np.full((len(unique), 2), np.nan)
    mean_time = mean(times)
    return TrackHistory(
        camera=SITE_CAMERA,
        track=name,
        time_s=mean_time,
        frame=np.full(len(unique), -1, np.int64),
        foot_uv=np.full((len(unique), 2), np.nan),
        floor_xy=floor,
        confidence=mean(confidence.astype(np.float64)),
    )


class _Reader:
    """The camera tracks of a record, read with DuckDB: their spans first, then the samples of one window's."""

    def __init__(self, out_dir: Path, configured_offsets: dict[str, float]) -> None:
        import duckdb  # only for a multi-camera record's fusion pass, not on the frame path

        self._con = duckdb.connect(config={"memory_limit": "1GB", "threads": 2})
        self._con.execute("SET TimeZone = 'UTC'")
        glob = f"{duckdb_glob_literal(str(out_dir / 'tracks'))}/**/*.parquet"
        self._con.execute(
            "CREATE VIEW samples AS SELECT camera, track, epoch_us(t) AS t_us, x, y, conf "
            f"FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"
        )
        self._offsets = configured_offsets
        self.spans = self._con.execute(
            "SELECT camera, track, min(t_us) / 1e6 AS first, max(t_us) / 1e6 AS last FROM samples "
            "GROUP BY camera, track ORDER BY first, camera, track"
        ).fetchall()

    def tracks(self, keys: list[tuple[str, str]], first_s: float, last_s: float) -> list[CameraTrack]:
        if not keys:
            return []
        self._con.execute("CREATE OR REPLACE TEMP TABLE wanted (camera VARCHAR, track VARCHAR)")
        self._con.executemany("INSERT INTO wanted VALUES (?, ?)", keys)
        rows = self._con.execute(
            "SELECT s.camera, s.track, s.t_us, s.x, s.y, s.conf FROM samples s JOIN wanted USING (camera, track) "
            "WHERE s.t_us BETWEEN ? AND ? ORDER BY s.camera, s.track, s.t_us",
            [int(first_s * 1e6) - 1, int(last_s * 1e6) + 1],
        ).fetchnumpy()
        found = []
        camera, track = rows["camera"], rows["track"]
        if len(camera) == 0:
            return []
        boundaries = np.nonzero((camera[1:] != camera[:-1]) | (track[1:] != track[:-1]))[0] + 1
        for start, end in zip(np.r_[0, boundaries], np.r_[boundaries, len(camera)], strict=True):
            name = str(camera[start])
            x, y = _masked(rows["x"][start:end]), _masked(rows["y"][start:end])
            found.append(
                CameraTrack(
                    camera=name,
                    track=str(track[start]),
                    time_s=rows["t_us"][start:end].astype(np.float64) / 1e6 + self._offsets.get(name, 0.0),
                    xy=np.column_stack([x, y]),
                    confidence=_masked(rows["conf"][start:end]),
                )
            )
        return found

    def close(self) -> None:
        self._con.close()


def _masked(values: np.ndarray) -> np.ndarray:
    """DuckDB gives nullable columns as masked arrays: nulls become NaN."""
    if isinstance(values, np.ma.MaskedArray):
        return values.astype(np.float64).filled(np.nan)
    return np.asarray(values, dtype=np.float64)


class SiteTrackWriter:
    """Site tracks into `folder` (the record's `site/`): each group of camera tracks merged, put through the site's
    flow analytics and written with its links. `schedule`, `remember_files` and `on_write_error` as for
    `TrackTableSink` (the live service writes on a schedule and keeps no list of its parts)."""

    def __init__(
        self,
        folder: Path,
        plan: FlowPlan,
        configured_offsets: dict[str, float],
        part_prefix: str = "fused",
        schedule: FlushSchedule | None = None,
        remember_files: bool = True,
        on_write_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self._configured = configured_offsets
        self._folder, self._part_prefix, self._timezone = folder, part_prefix, plan.timezone
        self.flow = SiteFlow(plan.zones, plan.lines, plan.funnels, plan.settings, ZoneInfo(plan.timezone), plan.grid)
        self.sink = TrackTableSink(
            folder, SITE_CAMERA, part_prefix, with_flow=True, with_heatmap=plan.grid is not None,
            timezone=plan.timezone, schedule=schedule, remember_files=remember_files, on_write_error=on_write_error,
            after_flush=self._flush_links,
        )  # fmt: skip
        self.links: dict[str, PartitionedTableWriter] = {}

    def _links_of(self, camera: str) -> PartitionedTableWriter:
        writer = self.links.get(camera)
        if writer is None:
            writer = self.links[camera] = PartitionedTableWriter(
                self._folder / "links", camera, self._part_prefix, LINKS_SCHEMA, "t_first", self._timezone,
                remember_files=False,
            )  # fmt: skip
        return writer

    def _flush_links(self) -> None:
        for writer in self.links.values():
            writer.flush()

    def tick(self, site_time_s: float) -> None:
        """Writes what is buffered when the schedule says so."""
        self.sink.flush_if_due(site_time_s)

    def write(self, members: list[CameraTrack], offsets: dict[str, float]) -> None:
        name = random_token()  # a fresh pseudonym: unrelated to the camera tracks' and to any other run's
        self.sink.write_track(self.flow.process(merge_members(members, offsets, name)))
        by_camera: dict[str, list[CameraTrack]] = defaultdict(list)
        for member in members:
            by_camera[member.camera].append(member)
        for camera, tracks in by_camera.items():
            offset = offsets.get(camera, 0.0)
            self._links_of(camera).write(
                pa.Table.from_arrays(
                    [
                        pa.array([t.track for t in tracks], pa.string()),
                        pa.array([name] * len(tracks), pa.string()),
                        epoch_us([float(t.time_s[0]) - self._configured.get(camera, 0.0) for t in tracks]),
                        pa.array([offset] * len(tracks), pa.float64()),
                    ],
                    schema=LINKS_SCHEMA,
                )
            )

    def close(self) -> None:
        self.sink.close(completed=True)
        for writer in self.links.values():
            writer.close()


def fuse_record(
    out_dir: Path, plan: FlowPlan, configured_offsets: dict[str, float] | None = None, window_s: float = WINDOW_S
) -> tuple[FusionReport, SiteFlow] | None:
    """Runs the fusion pass over `out_dir` (see the module's doc); None when it holds fewer than two cameras'
    tracks (a one-camera site is reported on its camera tracks, as it always was)."""
    cameras = camera_partitions(out_dir)
    if len(cameras) < 2:
        shutil.rmtree(out_dir / SITE_FOLDER, ignore_errors=True)  # an earlier run's, of other cameras: not this one's
        return None
    started = time.perf_counter()
    configured = {camera: float((configured_offsets or {}).get(camera, 0.0)) for camera in cameras}
    report = FusionReport(cameras=cameras, configured_offset_s=configured)
    reading = out_dir / f".{SITE_FOLDER}-fusing"
    shutil.rmtree(reading, ignore_errors=True)
    reader = _Reader(out_dir, configured)
    writer = SiteTrackWriter(reading, site_plan(plan), configured)
    reference = cameras[0]
    estimates: dict[str, list[float]] = {camera: [] for camera in cameras[1:]}
    offsets = {camera: 0.0 for camera in cameras}
    carried: list[CameraTrack] = []
    spans = reader.spans
    report.camera_tracks = len(spans)
    if spans:
        report.media_s = round(float(max(s[3] for s in spans) - spans[0][2]), 1)
    position = 0
    try:
        while position < len(spans) or carried:
            if position < len(spans):
                window_start = float(spans[position][2])
                window_end = window_start + window_s
            else:
                window_end = float("inf")
            keys, last = [], -np.inf
            while position < len(spans) and spans[position][2] < window_end:
                keys.append((str(spans[position][0]), str(spans[position][1])))
                last = max(last, float(spans[position][3]))
                position += 1
            first = float(spans[position - len(keys)][2]) if keys else 0.0
            tracks = carried + reader.tracks(keys, first, last)
            report.windows += 1
            _update_offsets(tracks, reference, estimates, offsets)
            members = fused_groups(tracks, offsets)
            carried = []
            horizon = window_end - HANDOVER_S - 2 * MAX_OFFSET_S  # a later track can still join what ends after it
            for group in members:
                group_last = max(float(m.time_s[-1]) + offsets.get(m.camera, 0.0) for m in group)
                if position < len(spans) and group_last >= horizon:
                    carried += group
                else:
                    writer.write(group, offsets)
                    report.site_tracks += 1
        writer.close()
    finally:
        reader.close()
    report.estimated_offset_s = {
        camera: {
            "median": round(float(np.median(values)), 2) if values else None,
            "min": round(min(values), 2) if values else None,
            "max": round(max(values), 2) if values else None,
            "windows": len(values),
        }
        for camera, values in estimates.items()
    }
    target = out_dir / SITE_FOLDER
    if target.exists():
        old = out_dir / f".{SITE_FOLDER}-old"
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        reading.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        reading.rename(target)
    report.wall_s = round(time.perf_counter() - started, 2)
    return report, writer.flow


def _update_offsets(
    tracks: list[CameraTrack], reference: str, estimates: dict[str, list[float]], offsets: dict[str, float]
) -> None:
    """This window's estimate of each camera's clock against the reference camera's, where it has the evidence;
    a window without keeps the last estimate."""
    paths = [p for p in (t.path() for t in tracks) if p is not None]
    anchors = [p for p in paths if p.camera == reference]
    for camera in estimates:
        others = sorted((p for p in paths if p.camera == camera), key=lambda p: p.time_s[0] - p.time_s[-1])
        if len(others) < MIN_OFFSET_EVIDENCE or not anchors:
            continue
        measured = measure_offset(anchors, others[:MAX_OFFSET_PATHS])
        if measured is not None:
            estimates[camera].append(measured)
            offsets[camera] = measured


def fused_groups(tracks: list[CameraTrack], offsets: dict[str, float]) -> list[list[CameraTrack]]:
    """The camera tracks grouped by site track; tracks with no floor position are each their own."""
    by_key = {(t.camera, t.track): t for t in tracks}
    paths = [p for p in (t.path() for t in tracks) if p is not None]
    sites = fuse(paths, offsets)
    groups: dict[int, list[CameraTrack]] = defaultdict(list)
    for key, number in sites.site_track.items():
        groups[number].append(by_key[key])
    unplaced = [[t] for t in tracks if (t.camera, t.track) not in sites.site_track]
    return [groups[number] for number in sorted(groups)] + unplaced
