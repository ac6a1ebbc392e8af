"""What a batch worker does with one task: the camera loop of `footfall run` over the task's file or chunk, its
rows staged in a folder of their own and published into the output when the task is done.

A chunk is read from `lead_in_s` before its start, so the tracker is warmed up when the chunk begins, and past
its end for as long as someone is still tracked (at most `Segment.max_tail_s`). It keeps only the tracks that
begin within it: a person crossing from one chunk into the next was first seen in the earlier chunk, which follows
them to the end; the later chunk saw them already in its lead-in and leaves them out. So each person is one track,
counted once, as in one pass over the file.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vision.analytics.camera import CameraAnalytics
from vision.analytics.site import SiteFlow, TrackFlow
from vision.config.calibration_file import check_image_size, load_calibration, projector_from_calibration
from vision.core.errors import FootfallError, SourceTruncatedError
from vision.core.types import FloorTracks
from vision.perception.detect import Detector
from vision.perception.detection_plan import planned_detector
from vision.perception.gate import MotionGate
from vision.perception.track import build_tracker
from vision.runtime.batch import RunSettings, unexpected_error
from vision.runtime.camera_run import CameraRun
from vision.runtime.tasks import Destination, Task, task_record
from vision.sinks.base import Sink
from vision.sinks.parquet import TrackTableSink
from vision.sources.base import EvenTimeSampler
from vision.sources.files import Segment, VideoFileSource


@dataclass(frozen=True, slots=True)
class TaskResult:
    task: Task
    ok: bool
    error: str | None = None
    partial: bool = False  # the file broke off: what was analysed before the break is published
    rows: int = 0
    tracks: int = 0
    frames_analysed: int = 0
    media_s: float = 0.0
    wall_s: float = 0.0
    detection_plan: dict | None = None


class OwnedTracks:
    """A sink that passes on only the tracks that begin in [from_t, to_t) (epoch seconds): a chunk's own."""

    def __init__(self, sink: Sink, from_t: float, to_t: float | None) -> None:
        self.sink, self.from_t, self.to_t = sink, from_t, to_t
        self.kept = 0
        self._live_first_t: dict[str, float] = {}  # live tracks: when each was first seen

    def following_own_tracks(self) -> bool:
        """Whether a track that began before the chunk's end is still live (the chunk must read on)."""
        return any(
            first >= self.from_t - 1e-6 and (self.to_t is None or first < self.to_t)
            for first in self._live_first_t.values()
        )

    def write_frame(self, tracks: FloorTracks) -> None:
        for name in tracks.track.tolist():
            self._live_first_t.setdefault(name, tracks.time_s)
        for name in tracks.ended_tracks.tolist():
            self._live_first_t.pop(name, None)
        self.sink.write_frame(tracks)

    def write_track(self, track: TrackFlow) -> None:
        first = float(track.track.time_s[0])
        if first >= self.from_t - 1e-6 and (self.to_t is None or first < self.to_t - 1e-6):
            self.kept += 1
            self.sink.write_track(track)

    def close(self, completed: bool) -> list[Path]:
        return self.sink.close(completed)


def run_task(
    task: Task, settings: RunSettings, detector: Detector, destination: Destination, flow: SiteFlow | None
) -> TaskResult:
    """Analyses one task and publishes its files; never raises for a bad input (the result says what failed)."""
    started = time.perf_counter()
    if destination.local is not None:
        staging_root = destination.local / ".staging"
        staging_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{task.task_id}-", dir=staging_root))
    else:
        staging = Path(tempfile.mkdtemp(prefix=f"footfall-{task.task_id}-"))
    source: VideoFileSource | None = None
    camera_run: CameraRun | None = None
    try:
        analysis_fps = task.analysis_fps or settings.analysis_fps
        following: list[OwnedTracks] = []  # the chunk reads past its end while it follows tracks begun within it
        segment = Segment(
            max(0.0, task.from_s - task.lead_in_s),
            task.to_s,
            keep_going=lambda: any(owned.following_own_tracks() for owned in following),
        )
        source = VideoFileSource(Path(task.path), task.start or settings.start, segment)
        projector = None
        if task.calibration is not None:
            calibration = load_calibration(Path(task.calibration))
            check_image_size(calibration, source.info.width, source.info.height, task.path)
            projector = projector_from_calibration(calibration)
        tracker = build_tracker(settings.tracker, analysis_fps, projector)
        start_epoch = source.info.start_time.timestamp()
        timezone = settings.flow.timezone if settings.flow else "UTC"
        table = TrackTableSink(
            staging, task.camera, f"{task.task_id}-0", with_flow=flow is not None,
            with_heatmap=flow is not None and flow.grid is not None, timezone=timezone,
            start=source.info.start_time if task.chunk == 0 else None,
        )  # fmt: skip
        to_t = start_epoch + task.to_s if task.to_s is not None else None
        owned = OwnedTracks(table, start_epoch + task.from_s if task.chunk > 0 else -float("inf"), to_t)
        following.append(owned)
        camera_run = CameraRun(
            camera=task.camera,
            source=source,
            sampler=EvenTimeSampler(analysis_fps, origin_s=0.0),
            detector=planned_detector(
                detector,
                projector,
                flow.grid if flow else None,
                task.detection_region,
                settings.detection_plan,
            ),
            tracker=tracker,
            projector=projector,
            analytics=CameraAnalytics(task.camera, flow),
            sinks=[owned],
            gate=MotionGate(settings.gate, projector),
        )
        partial, error = False, None
        try:
            camera_run.run()
        except SourceTruncatedError as exc:
            partial, error = True, str(exc)
        camera_run.close(completed=True)
        stats = camera_run.stats
        wall_s = time.perf_counter() - started
        media_s = task.media_s or stats.media_seconds_analysed
        rows = table.tracks.rows_written
        destination.publish(task, staging, task_record(task, rows, media_s, wall_s))
        return TaskResult(
            task, True, error, partial, rows, owned.kept, stats.frames_analysed, media_s, wall_s, stats.detection_plan
        )
    except FootfallError as exc:
        return TaskResult(task, False, str(exc), wall_s=time.perf_counter() - started)
    except Exception as exc:
        return TaskResult(task, False, unexpected_error(exc), wall_s=time.perf_counter() - started)
    finally:
        if source is not None:
            source.close()
        shutil.rmtree(staging, ignore_errors=True)
