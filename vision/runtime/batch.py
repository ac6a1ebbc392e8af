"""`footfall run`: a batch of inputs, each analysed as one camera by its own `CameraRun`, into one output folder
with an account of the run (`run.json`). An input that fails is reported and the others go on."""

from __future__ import annotations

import logging
import resource
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from vision import __version__
from vision.analytics.camera import CameraAnalytics
from vision.analytics.site import SiteFlow
from vision.config.build import CameraJob, FlowPlan
from vision.core.errors import FootfallError, SourceTruncatedError
from vision.core.ids import redact_url
from vision.perception.detect import Detector, DetectorSettings
from vision.perception.track import TrackerSettings, build_tracker
from vision.runtime.camera_run import CameraRun
from vision.runtime.model_summary import model_summary
from vision.runtime.output_folder import check_output, prepare_output
from vision.runtime.preflight import check_jobs, open_job
from vision.runtime.progress import ProgressListener, SilentProgress
from vision.runtime.run_report import CameraReport, RunReport, overall_status
from vision.runtime.site_outputs import site_flow, write_site_outputs
from vision.sinks.atomic import write_json_atomic
from vision.sinks.base import Sink
from vision.sinks.mot import MotSink
from vision.sinks.parquet import TrackTableSink
from vision.sources.base import EvenTimeSampler, FrameSource

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    return datetime.now(tz=UTC)


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


@dataclass(frozen=True, slots=True)
class _Placement:
    """Where one input's outputs go: the output folder, its part-file prefix and its name for whole-file exports."""

    out_dir: Path
    part_prefix: str
    output_name: str


def _run_job(
    job: CameraJob,
    settings: RunSettings,
    detector: Detector,
    placement: _Placement,
    progress: ProgressListener,
    flow: SiteFlow | None,
    report: CameraReport,
) -> None:
    """Opens one input, builds its camera run and runs it, filling `report`; keeps what was analysed whatever
    happens. KeyboardInterrupt is recorded and raised again."""
    started = time.perf_counter()
    source: FrameSource | None = None
    camera_run: CameraRun | None = None
    track_table: TrackTableSink | None = None
    completed = False
    try:
        source, projector = open_job(job, job.start or settings.start)
        report.source_info = {**asdict(source.info), "uri": redact_url(source.info.uri)}
        report.calibration = str(job.calibration) if job.calibration else None
        analysis_fps = job.analysis_fps or settings.analysis_fps
        timezone = settings.flow.timezone if settings.flow else "UTC"
        track_table = TrackTableSink(placement.out_dir, job.camera, placement.part_prefix, flow is not None, timezone)
        sinks: list[Sink] = [track_table]
        if settings.export_mot:
            sinks.append(MotSink(placement.out_dir / "mot", placement.output_name))
        camera_run = CameraRun(
            camera=job.camera,
            source=source,
            sampler=EvenTimeSampler(analysis_fps),
            detector=detector,
            tracker=build_tracker(settings.tracker, analysis_fps),
            projector=projector,
            analytics=CameraAnalytics(job.camera, flow),
            sinks=sinks,
            progress=progress,
        )
        camera_run.run()
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
        if camera_run is not None and track_table is not None:
            files = camera_run.close(completed)  # what was analysed is kept, also for partial and interrupted runs
            report.outputs.extend(str(path.relative_to(placement.out_dir)) for path in files)
            stats = camera_run.stats
            report.track_rows = track_table.tracks.rows_written
            report.detections, report.tracks, report.staff_tracks = stats.detections, stats.tracks, stats.staff_tracks
            report.media_seconds_analysed, report.timings = stats.media_seconds_analysed, stats.timings
        if source is not None:
            report.frames_read = source.counters.frames_read
            report.frames_analysed = source.counters.frames_analysed
            report.frames_skipped = source.counters.frames_skipped
            report.decode_errors = source.counters.decode_errors
            source.close()
        report.set_speed(time.perf_counter() - started)


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
    report.model = model_summary(detector, settings.detector)
    prepare_output(out_dir, overwrite)
    progress = progress or SilentProgress()
    flow = site_flow(settings.flow) if settings.flow is not None else None
    try:
        cameras = [job.camera for job in jobs]
        for index, (job, problem) in enumerate(zip(jobs, problems, strict=True)):
            camera_report = CameraReport(camera=job.camera, source=redact_url(job.source), error=problem)
            report.cameras.append(camera_report)
            if problem is not None:
                continue
            # Several inputs may be recordings of one camera: they share its partition, each with its own parts.
            output_name = job.camera if cameras.count(job.camera) == 1 else f"{job.camera}.{index}"
            placement = _Placement(out_dir, f"{report.run_id}-{index}", output_name)
            _run_job(job, settings, detector, placement, progress, flow, camera_report)
            if camera_report.error:
                log.info("%s: %s", job.camera, camera_report.error)
    finally:
        if flow is not None and settings.flow is not None:
            report.site_outputs = write_site_outputs(out_dir, flow, settings.flow)
        report.finished_at = clock()
        report.status = overall_status(report.cameras)
        report.peak_memory_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        write_json_atomic(out_dir / "run.json", report.to_json())
    return report
