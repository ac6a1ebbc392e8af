"""`footfall run`: a batch of inputs, each analysed as one camera by its own `CameraRun`, into one output folder
with an account of the run (`run.json`). An input that fails is reported and the others go on."""

from __future__ import annotations

import logging
import os
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
from vision.core.errors import FootfallError, OutputError, SourceTruncatedError
from vision.core.flow import FlowSettings
from vision.core.ids import redact_url
from vision.perception.detect import Detector, DetectorSettings
from vision.perception.detection_plan import planned_detector
from vision.perception.gate import GateSettings, MotionGate
from vision.perception.track import TrackerSettings, build_tracker
from vision.runtime.camera_run import CameraRun
from vision.runtime.model_summary import model_summary
from vision.runtime.output_folder import RUN_FILE, OutputFolder
from vision.runtime.preflight import check_jobs, open_job
from vision.runtime.progress import ProgressListener, SilentProgress
from vision.runtime.run_report import CameraReport, RunReport, overall_status
from vision.runtime.site_outputs import site_flow, write_site_description, write_site_outputs
from vision.sinks.atomic import write_json_atomic
from vision.sinks.base import Sink
from vision.sinks.image_heatmap import ImageHeatmapSink, analysed_frames_estimate
from vision.sinks.mot import MotSink
from vision.sinks.parquet import FlushSchedule, TrackTableSink
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
    flush_interval_s: float = 60.0
    gate: GateSettings = field(default_factory=GateSettings)
    detection_plan: bool = True  # crops, paired frames and far-field tiles per camera; False: the whole frame

    def __post_init__(self) -> None:
        EvenTimeSampler(self.analysis_fps)  # validates the rate
        FlushSchedule(self.flush_interval_s)  # validates the interval


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
    checkpoint: Callable[[], None],
) -> None:
    """Opens one input, builds its camera run and runs it, filling `report`; keeps what was analysed whatever
    happens. Finished rows reach disk on the flush schedule, each time followed by `checkpoint()` (run.json).
    KeyboardInterrupt and OutputError (the output folder can't be written: nothing more can be) are recorded and
    raised again; any other error ends only this input."""
    started = time.perf_counter()
    source: FrameSource | None = None
    camera_run: CameraRun | None = None
    track_table: TrackTableSink | None = None
    completed = False

    def record_progress() -> None:
        if track_table is not None:
            report.outputs = [str(path.relative_to(placement.out_dir)) for path in track_table.files]
            report.track_rows = track_table.tracks.rows_written
        if camera_run is not None:
            stats = camera_run.stats
            report.detections, report.tracks, report.staff_tracks = stats.detections, stats.tracks, stats.staff_tracks
            report.frames_gated = stats.frames_gated
            report.detection_plan = stats.detection_plan
            report.media_seconds_analysed, report.timings = stats.media_seconds_analysed, stats.timings
        if source is not None:
            counters = source.counters
            report.frames_read, report.decode_errors = counters.frames_read, counters.decode_errors
            report.frames_analysed = camera_run.stats.frames_analysed if camera_run else counters.frames_analysed
            report.frames_skipped = report.frames_read - report.frames_analysed

    def flushed() -> None:
        record_progress()
        report.set_speed(time.perf_counter() - started)
        checkpoint()

    try:
        source, projector = open_job(job, job.start or settings.start)
        report.source_info = {**asdict(source.info), "uri": redact_url(source.info.uri)}
        report.calibration = str(job.calibration) if job.calibration else None
        report.status = "running"
        analysis_fps = job.analysis_fps or settings.analysis_fps
        timezone = settings.flow.timezone if settings.flow else "UTC"
        track_table = TrackTableSink(
            placement.out_dir,
            job.camera,
            placement.part_prefix,
            with_flow=flow is not None,
            with_heatmap=flow is not None and flow.grid is not None,
            timezone=timezone,
            start=source.info.start_time,
            schedule=FlushSchedule(settings.flush_interval_s),
            after_flush=flushed,
        )
        image_heatmap = ImageHeatmapSink(
            placement.out_dir / "heatmaps",
            placement.output_name,
            job.camera,
            max_gap_s=(settings.flow.settings if settings.flow else FlowSettings()).max_gap_s,
            timezone=timezone,
            expected_frames=analysed_frames_estimate(source.info.frame_count, source.info.nominal_fps, analysis_fps),
        )
        sinks: list[Sink] = [track_table, image_heatmap]
        if settings.export_mot:
            sinks.append(MotSink(placement.out_dir / "mot", placement.output_name))
        camera_run = CameraRun(
            camera=job.camera,
            source=source,
            sampler=EvenTimeSampler(analysis_fps),
            detector=planned_detector(
                detector,
                projector,
                flow.grid if flow else None,
                job.detection_region,
                settings.detection_plan,
            ),
            tracker=build_tracker(settings.tracker, analysis_fps, projector),
            projector=projector,
            analytics=CameraAnalytics(job.camera, flow),
            sinks=sinks,
            progress=progress,
            frame_observers=[image_heatmap],
            gate=MotionGate(settings.gate, projector),
        )
        camera_run.run()
        report.status = "complete"
        completed = True
    except SourceTruncatedError as exc:
        report.status, report.error = "partial", str(exc)
        completed = True
    except KeyboardInterrupt:
        report.status, report.error = "interrupted", "interrupted before the end of the input"
        completed = True
        raise
    except OutputError as exc:
        report.status, report.error = "failed", str(exc)
        raise
    except FootfallError as exc:
        report.status, report.error = "failed", str(exc)
    except Exception as exc:
        log.exception("%s: unexpected error", job.camera)
        report.status, report.error = "failed", unexpected_error(exc)
    finally:
        try:
            if camera_run is not None:
                # what was analysed is kept, also for partial and interrupted runs; a failed write raises here
                camera_run.close(completed)
        finally:
            record_progress()
            if camera_run is not None:
                written = dict.fromkeys([*(track_table.files if track_table else []), *camera_run.published])
                report.outputs = [str(path.relative_to(placement.out_dir)) for path in written]
            if source is not None:
                source.close()
            report.set_speed(time.perf_counter() - started)


def unexpected_error(exc: BaseException) -> str:
    """The one line run.json and the terminal give for an error footfall did not foresee."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"unexpected error ({kind}); please report it with the output of --verbose"


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

    Inputs are checked first; one that can't be opened is reported and the others go on. If none can, the output
    folder can't be claimed (another run holds it, it holds an earlier run, it can't be written) or the detector
    can't be built (raised as ModelError), nothing is written at all. Otherwise run.json says `running` from the
    start, is brought up to date whenever rows reach disk, and on every way out (errors and interruptions
    included) records how the run ended.
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
        pid=os.getpid(),
        settings={
            "analysis_fps": settings.analysis_fps,
            "start": settings.start,
            "export_mot": settings.export_mot,
            "flush_interval_s": settings.flush_interval_s,
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
    folder = OutputFolder.claim(out_dir, overwrite)  # before the model is loaded, so a wrong --out is reported at once
    try:
        detector = build_detector(settings.detector)
        report.model = model_summary(detector, settings.detector)
        folder.clear_earlier_run()
    except BaseException:
        folder.release(keep=False)
        raise
    run_file = out_dir / RUN_FILE

    def checkpoint() -> None:
        report.peak_memory_mb = peak_memory_mb()
        write_json_atomic(run_file, report.to_json())

    progress = progress or SilentProgress()
    flow = site_flow(settings.flow) if settings.flow is not None else None
    report.status = "running"
    try:
        if settings.flow is not None:
            report.site_outputs = write_site_description(out_dir, settings.flow)
        checkpoint()
        cameras = [job.camera for job in jobs]
        report.cameras = [
            CameraReport(camera=job.camera, source=redact_url(job.source), error=problem)
            for job, problem in zip(jobs, problems, strict=True)
        ]
        for index, (job, camera_report) in enumerate(zip(jobs, report.cameras, strict=True)):
            if camera_report.error is not None:
                continue
            # Several inputs may be recordings of one camera: they share its partition, each with its own parts.
            output_name = job.camera if cameras.count(job.camera) == 1 else f"{job.camera}.{index}"
            placement = _Placement(out_dir, f"{report.run_id}-{index}", output_name)
            _run_job(job, settings, detector, placement, progress, flow, camera_report, checkpoint)
            if camera_report.error:
                log.info("%s: %s", job.camera, camera_report.error)
            checkpoint()
        if flow is not None and settings.flow is not None:
            written, report.fusion = write_site_outputs(out_dir, flow, settings.flow)
            report.site_outputs += written
    except KeyboardInterrupt:
        raise
    except FootfallError as exc:
        report.error = str(exc)
        raise
    except Exception as exc:
        log.exception("unexpected error")
        report.error = unexpected_error(exc)
        raise
    finally:
        for camera_report in report.cameras:
            if camera_report.status == "running":  # an input not reached, or left by an error at the run level
                camera_report.status = "failed"
                camera_report.error = camera_report.error or report.error or "not analysed: the run ended first"
        report.finished_at = clock()
        report.status = overall_status(report.cameras) if report.error is None else "failed"
        try:
            checkpoint()
        finally:
            folder.release()
    return report


def peak_memory_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
