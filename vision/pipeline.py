"""The one place where the stages meet: source → detect → track → pseudonymise → project → sinks.

`run_batch` processes each input as one camera with its own tracker, writes what it produced and an account of the
run (`run.json`), and goes on past an input that fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import resource
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pyarrow as pa
import shapely

from vision import __version__
from vision.analytics.assemble import TrackAssembler
from vision.analytics.heatmap import GridGeometry
from vision.analytics.site import FlowSettings, Funnel, SiteFlow
from vision.anonymise import TrackPseudonyms
from vision.calibration_file import check_image_size, load_calibration, projector_from_calibration
from vision.config import SiteConfig, floor_extent
from vision.detect import Detector, DetectorSettings
from vision.errors import FootfallError, OutputError, SourceError, SourceTruncatedError
from vision.geometry import GroundProjector
from vision.render import PlanPicture, heatmap_picture
from vision.sinks import (
    CAMERA_ID_PATTERN,
    EVENTS_SCHEMA,
    TRACKS_SCHEMA,
    VISITS_SCHEMA,
    MotWriter,
    PartitionedTableWriter,
    atomic_output,
    event_rows,
    track_rows,
    visit_rows,
    write_json_atomic,
)
from vision.sources import EvenTimeSampler, FrameSource, SourceInfo, open_source, redact_url
from vision.track import CameraTracker, TrackerSettings
from vision.types import FloorTracks, TrackHistory, Tracks
from vision.zones import CountingLine, Zone

log = logging.getLogger(__name__)

RunStatus = Literal["complete", "partial", "failed", "interrupted"]
Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True, slots=True)
class CameraJob:
    """One input: its camera id, calibration, and (from a site config) its own analysis rate and start time,
    which override the run's."""

    source: str
    camera: str
    calibration: Path | None = None
    analysis_fps: float | None = None
    start: datetime | None = None

    def __post_init__(self) -> None:
        if not CAMERA_ID_PATTERN.fullmatch(self.camera):
            raise ValueError(
                f"camera id {self.camera!r} must start with a letter or digit and hold only letters, digits, "
                "'_', '-' and '.' (at most 64)"
            )


@dataclass(frozen=True, slots=True)
class FlowPlan:
    """What the flow analytics of a site need: its zones, lines and funnels in floor metres, thresholds, time zone,
    and the heatmap grid with the floor-plan picture to draw it on."""

    site_id: str
    zones: list[Zone]
    lines: list[CountingLine]
    funnels: list[Funnel]
    settings: FlowSettings
    timezone: str = "UTC"
    grid: GridGeometry | None = None
    plan: PlanPicture | None = None


@dataclass(frozen=True, slots=True)
class RunSettings:
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    analysis_fps: float = 5.0
    start: datetime | None = None
    export_mot: bool = False
    flow: FlowPlan | None = None

    def __post_init__(self) -> None:
        EvenTimeSampler(self.analysis_fps)  # validates the rate


class ProgressListener(Protocol):
    def start(self, camera: str, total_frames: int | None) -> None: ...

    def advance(self, frames_read: int) -> None: ...

    def finish(self) -> None: ...


class SilentProgress:
    def start(self, camera: str, total_frames: int | None) -> None:
        pass

    def advance(self, frames_read: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(slots=True)
class StageTimings:
    decode_s: float = 0.0
    detect_s: float = 0.0
    track_s: float = 0.0
    project_s: float = 0.0
    write_s: float = 0.0


@dataclass(slots=True)
class CameraReport:
    camera: str
    source: str
    status: RunStatus = "failed"
    error: str | None = None
    source_info: dict | None = None
    calibration: str | None = None
    frames_read: int = 0
    frames_analysed: int = 0
    frames_skipped: int = 0
    detections: int = 0
    track_rows: int = 0
    tracks: int = 0
    staff_tracks: int = 0
    media_seconds_analysed: float = 0.0
    wall_s: float = 0.0
    analysed_fps: float = 0.0
    real_time_factor: float = 0.0
    timings: StageTimings = field(default_factory=StageTimings)
    outputs: list[str] = field(default_factory=list)


T = TypeVar("T")


def prefetch(items: Iterator[T], depth: int) -> Iterator[T]:
    """Runs `items` in a background thread, `depth` ahead, so decoding overlaps detection. Exceptions are
    re-raised in the consumer; closing the consumer stops the producer."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((done, None))
        except BaseException as exc:  # handed to the consumer thread
            buffer.put((done, exc))

    producer = threading.Thread(target=produce, name="frame-reader", daemon=True)
    producer.start()
    try:
        while True:
            item, error = buffer.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        producer.join(timeout=5)


def _project(projector: GroundProjector | None, tracks: Tracks) -> tuple[np.ndarray, np.ndarray]:
    foot = tracks.foot_points().astype(np.float64)
    if projector is None or len(tracks) == 0:
        return foot, np.full((len(tracks), 2), np.nan)
    return foot, projector.to_floor(foot)


def _source_summary(info: SourceInfo) -> dict:
    summary = asdict(info)
    summary["uri"] = redact_url(info.uri)
    return summary


def open_job(job: CameraJob, start: datetime | None) -> tuple[FrameSource, GroundProjector | None]:
    """Opens a job's source and calibration, checking they belong together; raises FootfallError if not."""
    projector = None
    calibration = load_calibration(job.calibration) if job.calibration is not None else None
    if calibration is not None:
        projector = projector_from_calibration(calibration)
    source = open_source(job.source, start)
    if calibration is not None:
        try:
            check_image_size(calibration, source.info.width, source.info.height, redact_url(job.source))
        except FootfallError:
            source.close()
            raise
    return source, projector


def check_jobs(jobs: list[CameraJob], start: datetime | None) -> list[str | None]:
    """For each job, None if its source and calibration open, else the one-line reason they don't. Cheap: run
    before the model is loaded, so that bad inputs are reported at once."""
    problems: list[str | None] = []
    for job in jobs:
        try:
            source, _ = open_job(job, job.start or start)
        except FootfallError as exc:
            problems.append(str(exc))
        else:
            source.close()
            problems.append(None)
    return problems


class _TrackOutputs:
    """One camera's finished tracks: assembled from the frames, run through the site's flow analytics when there
    is a site, and written to `tracks/` (and `events/`, `visits/`)."""

    def __init__(self, out_dir: Path, camera: str, part_prefix: str, flow: SiteFlow | None, timezone: str) -> None:
        def writer(name: str, schema: pa.Schema, date_column: str) -> PartitionedTableWriter:
            return PartitionedTableWriter(out_dir / name, camera, part_prefix, schema, date_column, timezone)

        self.assembler = TrackAssembler(camera)
        self.flow = flow
        self.tracks = writer("tracks", TRACKS_SCHEMA, "t")
        self.events = writer("events", EVENTS_SCHEMA, "t") if flow else None
        self.visits = writer("visits", VISITS_SCHEMA, "t_in") if flow else None
        self.finished_tracks = 0
        self.staff_tracks = 0

    def add(self, floor: FloorTracks) -> None:
        for track in self.assembler.add(floor):
            self._finish(track)

    def _finish(self, track: TrackHistory) -> None:
        staff = False
        if self.flow is not None and self.events is not None and self.visits is not None:
            result = self.flow.process(track)
            staff = result.staff
            self.events.write(event_rows(track.track, result.visits, result.crossings, "line", staff))
            self.visits.write(visit_rows(track.track, result.visits, staff))
        self.tracks.write(track_rows(track, staff))
        self.finished_tracks += 1
        self.staff_tracks += int(staff)

    def close(self) -> list[Path]:
        """Ends the tracks still live and writes everything buffered; returns the files written."""
        for track in self.assembler.finish():
            self._finish(track)
        writers = [w for w in (self.tracks, self.events, self.visits) if w is not None]
        for writer in writers:
            writer.close()
        return [path for writer in writers for path in writer.files]


class _CameraRun:
    """Processes one camera job; owns the per-camera state (source, tracker, pseudonyms, writers)."""

    def __init__(
        self,
        job: CameraJob,
        settings: RunSettings,
        detector: Detector,
        out_dir: Path,
        part_prefix: str,
        output_name: str,
        progress: ProgressListener,
        flow: SiteFlow | None,
    ) -> None:
        self.job = job
        self.flow = flow
        self.part_prefix = part_prefix
        self.output_name = output_name
        self.settings = settings
        self.detector = detector
        self.out_dir = out_dir
        self.progress = progress
        self.report = CameraReport(camera=job.camera, source=redact_url(job.source))

    def execute(self) -> CameraReport:
        report = self.report
        started = time.perf_counter()
        source: FrameSource | None = None
        outputs: _TrackOutputs | None = None
        mot: MotWriter | None = None
        completed = False
        try:
            source, projector = open_job(self.job, self.job.start or self.settings.start)
            report.source_info = _source_summary(source.info)
            report.calibration = str(self.job.calibration) if self.job.calibration else None
            timezone = self.settings.flow.timezone if self.settings.flow else "UTC"
            outputs = _TrackOutputs(self.out_dir, self.job.camera, self.part_prefix, self.flow, timezone)
            if self.settings.export_mot:
                mot = MotWriter(self.out_dir / "mot", self.output_name)
            self._loop(source, projector, outputs, mot)
            report.status = "complete"
            completed = True
        except SourceTruncatedError as exc:
            report.status, report.error = "partial", str(exc)
            completed = True
        except KeyboardInterrupt:
            report.status, report.error = "interrupted", "interrupted by the user"
            completed = True
            raise
        except FootfallError as exc:
            report.status, report.error = "failed", str(exc)
        finally:
            self.progress.finish()
            if outputs is not None:
                files = outputs.close()  # what was analysed is kept, also for partial and interrupted runs
                report.outputs.extend(str(path.relative_to(self.out_dir)) for path in files)
                report.track_rows = outputs.tracks.rows_written
                report.staff_tracks = outputs.staff_tracks
            if mot is not None:
                mot.close(completed=completed)
                if completed:
                    report.outputs.append(str(mot.path.relative_to(self.out_dir)))
            if source is not None:
                report.frames_read = source.counters.frames_read
                report.frames_analysed = source.counters.frames_analysed
                report.frames_skipped = source.counters.frames_skipped
                source.close()
            self._finish_figures(time.perf_counter() - started)
        return report

    def _loop(
        self,
        source: FrameSource,
        projector: GroundProjector | None,
        outputs: _TrackOutputs,
        mot: MotWriter | None,
    ) -> None:
        analysis_fps = self.job.analysis_fps or self.settings.analysis_fps
        tracker = CameraTracker(self.settings.tracker, analysis_fps)
        pseudonyms = TrackPseudonyms()
        frame_period = 1.0 / min(analysis_fps, source.info.nominal_fps or analysis_fps)
        self.progress.start(self.job.camera, source.info.frame_count)
        frames = prefetch(source.frames(self.job.camera, EvenTimeSampler(analysis_fps)), depth=4)
        report, timings = self.report, self.report.timings
        first_pts: float | None = None
        waited_from = time.perf_counter()
        with contextlib.closing(frames):  # stops the reader thread before the source is closed, whatever happens
            for frame in frames:
                now = time.perf_counter()
                timings.decode_s += now - waited_from
                detections = self.detector(frame.image)
                after_detect = time.perf_counter()
                tracks = tracker.update(detections, frame.image)
                after_track = time.perf_counter()
                names = pseudonyms.assign(tracks.track_id)
                ended = pseudonyms.forget(tracks.ended_track_ids)
                foot, floor_xy = _project(projector, tracks)
                floor_tracks = FloorTracks(
                    camera=frame.camera,
                    frame_index=frame.index,
                    time_s=frame.time_s,
                    track=names,
                    track_id=tracks.track_id,
                    xyxy=tracks.xyxy,
                    foot_uv=foot,
                    floor_xy=floor_xy,
                    confidence=tracks.confidence,
                    ended_tracks=ended,
                )
                after_project = time.perf_counter()
                outputs.add(floor_tracks)
                if mot is not None:
                    mot.write(floor_tracks)
                waited_from = time.perf_counter()
                timings.detect_s += after_detect - now
                timings.track_s += after_track - after_detect
                timings.project_s += after_project - after_track
                timings.write_s += waited_from - after_project
                report.detections += len(detections)
                report.tracks = pseudonyms.minted
                first_pts = frame.pts_s if first_pts is None else first_pts
                report.media_seconds_analysed = frame.pts_s - first_pts + frame_period
                self.progress.advance(source.counters.frames_read)

    def _finish_figures(self, wall_s: float) -> None:
        report = self.report
        report.wall_s = round(wall_s, 3)
        if wall_s > 0:
            report.analysed_fps = round(report.frames_analysed / wall_s, 3)
            report.real_time_factor = round(report.media_seconds_analysed / wall_s, 3)
        report.media_seconds_analysed = round(report.media_seconds_analysed, 3)
        for name in ("decode_s", "detect_s", "track_s", "project_s", "write_s"):
            setattr(report.timings, name, round(getattr(report.timings, name), 3))


@dataclass(slots=True)
class RunReport:
    run_id: str
    version: str
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    settings: dict
    model: dict
    cameras: list[CameraReport]
    peak_memory_mb: float = 0.0
    site_outputs: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def check_output(out_dir: Path, overwrite: bool) -> None:
    """Refuses a file in place of the folder, and a folder holding an earlier run unless `overwrite`."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a folder; choose another --out")
    if (out_dir / "run.json").exists() and not overwrite:
        raise OutputError(f"{out_dir} already holds a run (run.json); choose another --out or pass --overwrite")


def prepare_output(out_dir: Path, overwrite: bool) -> None:
    """Creates the output folder; with `overwrite`, first removes only what an earlier run wrote there."""
    check_output(out_dir, overwrite)
    if (out_dir / "run.json").exists():
        for name in ("tracks", "mot", "events", "visits", "heatmaps"):
            shutil.rmtree(out_dir / name, ignore_errors=True)
        (out_dir / "summary.json").unlink(missing_ok=True)
        (out_dir / "run.json").unlink()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out_dir} ({exc.strerror}); choose another --out") from None


def _overall_status(cameras: list[CameraReport]) -> RunStatus:
    statuses = {camera.status for camera in cameras}
    if "interrupted" in statuses:
        return "interrupted"
    if statuses == {"complete"}:
        return "complete"
    if statuses == {"failed"}:
        return "failed"
    return "partial"


def run_batch(
    jobs: list[CameraJob],
    settings: RunSettings,
    out_dir: Path,
    build_detector: Callable[[DetectorSettings], Detector],
    progress: ProgressListener | None = None,
    clock: Clock = utc_clock,
    overwrite: bool = False,
) -> RunReport:
    """Runs every job into `out_dir` and writes `out_dir/run.json`.

    Inputs are checked first; one that can't be opened is reported and the others go on. If none can, or the
    detector can't be built (raised as ModelError), nothing is written at all.
    """
    if not jobs:
        raise ValueError("no inputs to process")
    started_at = clock()
    problems = check_jobs(jobs, settings.start)
    report = RunReport(
        run_id=uuid.uuid4().hex[:12],
        version=__version__,
        started_at=started_at,
        finished_at=None,
        status="failed",
        settings={
            "analysis_fps": settings.analysis_fps,
            "start": settings.start,
            "export_mot": settings.export_mot,
            "tracker": asdict(settings.tracker),
            "detector": asdict(settings.detector),
        },
        model={"model": settings.detector.model},
        cameras=[],
    )
    if all(problem is not None for problem in problems):
        report.cameras = [
            CameraReport(camera=job.camera, source=redact_url(job.source), error=problem)
            for job, problem in zip(jobs, problems, strict=True)
        ]
        report.finished_at = clock()
        return report
    check_output(out_dir, overwrite)  # before the model is loaded, so a wrong --out is reported at once
    detector = build_detector(settings.detector)
    report.model = _model_summary(detector, settings.detector)
    prepare_output(out_dir, overwrite)
    progress = progress or SilentProgress()
    flow = _site_flow(settings.flow)
    try:
        cameras = [job.camera for job in jobs]
        for index, (job, problem) in enumerate(zip(jobs, problems, strict=True)):
            if problem is not None:
                report.cameras.append(CameraReport(camera=job.camera, source=redact_url(job.source), error=problem))
                continue
            # Several inputs may be recordings of one camera: they share its partition, each with its own parts.
            output_name = job.camera if cameras.count(job.camera) == 1 else f"{job.camera}.{index}"
            prefix = f"{report.run_id}-{index}"
            camera_run = _CameraRun(job, settings, detector, out_dir, prefix, output_name, progress, flow)
            report.cameras.append(camera_run.report)
            camera_report = camera_run.execute()
            if camera_report.error:
                log.info("%s: %s", job.camera, camera_report.error)
    finally:
        if flow is not None and settings.flow is not None:
            report.site_outputs = write_site_outputs(out_dir, flow, settings.flow)
        report.finished_at = clock()
        report.status = _overall_status(report.cameras) if report.cameras else "failed"
        report.peak_memory_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        write_json_atomic(out_dir / "run.json", report.to_json())
    return report


def site_jobs(config: SiteConfig) -> list[CameraJob]:
    return [
        CameraJob(camera.source, camera.id, camera.calibration, camera.analysis_fps, camera.start)
        for camera in config.cameras
    ]


def flow_plan(config: SiteConfig) -> FlowPlan:
    """The site config's zones, lines, funnels and thresholds as the analytics take them. The heatmap covers the
    floor plan, or without one the zones and lines with 2 m around them."""
    zones = [
        Zone.from_points(z.name, z.kind, list(z.polygon), frozenset(z.cameras) if z.cameras else None)
        for z in config.zones
    ]
    lines = [
        CountingLine(line.name, line.a, line.b, line.in_side, frozenset(line.cameras) if line.cameras else None)
        for line in config.lines
    ]
    analytics = config.analytics
    settings = FlowSettings(
        min_inside_s=analytics.min_inside_s,
        min_outside_s=analytics.min_outside_s,
        line_margin_m=analytics.line_margin_m,
        bucket_s=analytics.bucket_s,
        staff_share=analytics.staff_share,
        max_gap_s=analytics.max_gap_s,
        top_sequences=analytics.top_sequences,
    )
    extent = floor_extent(config)
    if extent is None and (zones or lines):
        shapes = [zone.polygon for zone in zones] + [shapely.LineString([line.a, line.b]) for line in lines]
        xmin, ymin, xmax, ymax = shapely.GeometryCollection(shapes).bounds
        extent = (xmin - 2.0, ymin - 2.0, xmax + 2.0, ymax + 2.0)
    grid = None if extent is None else GridGeometry.covering(*extent, analytics.heatmap_cell_m)
    plan = None
    if config.floor_plan is not None and config.floor_plan.image is not None:
        image = cv2.imread(str(config.floor_plan.image), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{config.floor_plan.image}: the floor-plan image cannot be read")
        plan = PlanPicture(image, config.floor_plan.origin, float(config.floor_plan.metres_per_pixel or 1.0))
    return FlowPlan(
        site_id=config.site.id,
        zones=zones,
        lines=lines,
        funnels=[Funnel(f.name, tuple(f.steps)) for f in config.funnels],
        settings=settings,
        timezone=config.site.timezone,
        grid=grid,
        plan=plan,
    )


def _site_flow(plan: FlowPlan | None) -> SiteFlow | None:
    if plan is None:
        return None
    return SiteFlow(plan.zones, plan.lines, plan.funnels, plan.settings, ZoneInfo(plan.timezone), plan.grid)


def write_site_outputs(out_dir: Path, flow: SiteFlow, plan: FlowPlan) -> list[str]:
    """summary.json and the heatmaps (per camera and merged: raw grid .npy, its geometry .json, a .png)."""
    written: list[Path] = []
    summary = {"site": plan.site_id, "timezone": plan.timezone, "settings": asdict(plan.settings), **flow.summary()}
    if plan.grid is not None:
        folder = out_dir / "heatmaps"
        grids = {camera: heatmap.person_seconds for camera, heatmap in sorted(flow.heatmaps.items())}
        merged = flow.merged_heatmap()
        grids["site"] = merged if merged is not None else np.zeros((plan.grid.rows, plan.grid.columns))
        for name, grid in grids.items():
            with atomic_output(folder / f"{name}.npy", "wb") as handle:
                np.save(handle, grid)
            write_json_atomic(folder / f"{name}.json", {**plan.grid.to_json(), "total_person_seconds": grid.sum()})
            picture = heatmap_picture(grid, plan.grid, plan.plan, plan.zones, plan.lines)
            ok, encoded = cv2.imencode(".png", picture)
            if not ok:
                raise OutputError(f"could not encode the heatmap picture for {name}")
            with atomic_output(folder / f"{name}.png", "wb") as handle:
                handle.write(encoded.tobytes())
            written += [folder / f"{name}.npy", folder / f"{name}.json", folder / f"{name}.png"]
        summary["heatmaps"] = {"cell_m": plan.grid.cell_m, "files": [str(p.relative_to(out_dir)) for p in written]}
    write_json_atomic(out_dir / "summary.json", summary)
    written.append(out_dir / "summary.json")
    return [str(path.relative_to(out_dir)) for path in written]


def _model_summary(detector: Detector, settings: DetectorSettings) -> dict:
    summary: dict = {"model": settings.model}
    model_path = Path(settings.model)
    if model_path.is_file():
        summary["sha256"] = hashlib.sha256(model_path.read_bytes()).hexdigest()
    class_names = getattr(detector, "class_names", None)
    class_ids = getattr(detector, "class_ids", None)
    if class_names is not None and class_ids is not None:
        summary["person_classes"] = {int(i): class_names[i] for i in class_ids}
    return summary
