"""`footfall serve`: every camera of a site analysed around the clock from its live stream.

One `CameraWorker` thread per camera connects, runs the same `CameraRun` loop as `footfall run` on the connection
(its own tracker, pseudonyms and sinks), and when the stream drops, stalls or refuses, closes that run (the live
tracks end there: a track never continues across an outage) and reconnects with capped, jittered backoff. The gap
from the last frame to the next one is written to `outages/`. Any failure inside one camera's loop is an outage of
that camera only. The detector is one model shared by the cameras, one frame at a time (batching frames across
cameras gained 11 % per frame at most on this CPU's runtimes, see README: Speed, so it is not done).

Output lands continuously: finished tracks' rows on the flush schedule (a minute by default) as complete Parquet
part files, live events as they are decided (`live/`), and `run.json` (kind `service`) every few seconds, so
`footfall report` works on the folder while the service runs. A service started again on the same folder continues
it, recording the time it was not running as an outage of every camera.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from vision import __version__
from vision.analytics.camera import CameraAnalytics
from vision.analytics.live import LiveEvents
from vision.analytics.site import SiteFlow
from vision.config.build import CameraJob
from vision.config.calibration_file import load_calibration, projector_from_calibration
from vision.core.errors import FootfallError
from vision.core.flow import FlowSettings
from vision.core.geometry import GroundProjector
from vision.core.ids import redact_url
from vision.core.types import Detections, Frame
from vision.perception.detect import Detector
from vision.perception.detection_plan import planned_detector
from vision.perception.gate import MotionGate
from vision.perception.track import build_tracker
from vision.runtime.batch import RunSettings, peak_memory_mb, unexpected_error
from vision.runtime.camera_run import CameraRun
from vision.runtime.live_fusion import STEP_S as FUSION_STEP_S
from vision.runtime.live_fusion import LiveFusion
from vision.runtime.model_summary import model_summary
from vision.runtime.output_folder import RUN_FILE, OutputFolder
from vision.runtime.preflight import open_stream
from vision.runtime.site_outputs import site_flow, write_site_description
from vision.sinks.atomic import write_json_atomic
from vision.sinks.base import Sink
from vision.sinks.live import LiveEventLog, Outage, PeopleInView, write_outage
from vision.sinks.parquet import FlushSchedule, TrackTableSink
from vision.sources.base import EvenTimeSampler
from vision.sources.stream import StreamInterrupted, StreamSettings, StreamSource

log = logging.getLogger("footfall.serve")

STATUS_INTERVAL_S = 5.0  # run.json rewritten this often
RATE_WINDOW_S = 5.0  # frames per second in /health are averaged over this
WRITE_FAILURE = "could not write outputs"
MAX_BACKOFF_S = 3600.0
STEADY_CONNECTION_S = 10.0  # a connection that delivered frames this long resets the backoff


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before reconnect attempt `n` (0-based): `initial_s` doubling up to `max_s`, each multiplied by a
    random factor in [1 - jitter, 1 + jitter] so cameras behind one recovering NVR do not reconnect in step."""

    initial_s: float = 1.0
    max_s: float = 30.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s <= MAX_BACKOFF_S):
            raise ValueError(
                f"backoff needs 0 < initial ({self.initial_s}) <= max ({self.max_s}) <= {MAX_BACKOFF_S:g} seconds"
            )
        if not 0 <= self.jitter < 1:
            raise ValueError(f"backoff jitter must be in [0, 1), got {self.jitter}")

    def delay(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        base = min(self.max_s, self.initial_s * 2 ** min(attempt, 30))
        return min(self.max_s, base * (1 - self.jitter + 2 * self.jitter * draw()))


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    run: RunSettings = field(default_factory=RunSettings)
    stream: StreamSettings = field(default_factory=StreamSettings)
    backoff: Backoff = field(default_factory=Backoff)


class SharedDetector:
    """One model for every camera: calls from the camera threads take turns (the runtimes are not re-entrant)."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self._lock = threading.Lock()
        self.busy_s = 0.0

    def __call__(self, image: np.ndarray) -> Detections:
        with self._lock:
            started = time.perf_counter()
            try:
                return self.detector(image)
            finally:
                self.busy_s += time.perf_counter() - started


@dataclass(slots=True)
class CameraStatus:
    """What /health, /metrics and run.json say about one camera. Written by its worker, read by the others."""

    camera: str
    source: str  # credentials removed
    state: str = "starting"  # connecting, connected, reconnecting, stopped
    connected_since: float | None = None
    reconnects: int = 0
    outages: int = 0
    outage_seconds: float = 0.0
    last_error: str | None = None
    frames_in: int = 0
    frames_analysed: int = 0
    frames_dropped: int = 0
    frames_gated: int = 0
    decode_errors: int = 0
    tracks: int = 0
    live_events: int = 0
    people_in_view: int = 0  # tracked in the newest analysed frame (staff not yet told apart)
    newest_frame_at: float | None = None  # wall-clock arrival of the newest frame
    newest_capture_at: float | None = None  # its capture time
    clock: str | None = None  # rtcp or arrival
    detection_plan: dict | None = None  # crops, tiles and model calls per frame (vision.perception.detection_plan)
    in_per_s: float = 0.0
    analysed_per_s: float = 0.0


class StorageHealth:
    """Which of the service's writers cannot write now (a full disk, a folder made read-only) and why. A writer
    that fails keeps what it holds and tries again; the service stays up and /health says `degraded` until each
    has written again. One log line per change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failing: dict[str, str] = {}

    def failed(self, writer: str, error: Exception | str) -> None:
        message = str(error)
        with self._lock:
            known = self._failing.get(writer) == message
            self._failing[writer] = message
        if not known:
            log.error("%s: %s; analysis goes on and writing resumes when it can", writer, message)

    def wrote(self, writer: str) -> None:
        with self._lock:
            was = self._failing.pop(writer, None)
        if was is not None:
            log.warning("%s: writing again", writer)

    def problems(self) -> dict[str, str]:
        with self._lock:
            return dict(self._failing)


class CameraWorker(threading.Thread):
    def __init__(
        self,
        job: CameraJob,
        settings: ServiceSettings,
        detector: SharedDetector,
        out_dir: Path,
        run_id: str,
        serials: Callable[[], int],
        shutdown: threading.Event,
        checkpoint: Callable[[], None],
        flow: SiteFlow | None,
        storage: StorageHealth,
        wall_clock: Callable[[], float] = time.time,
        fusion: LiveFusion | None = None,
    ) -> None:
        super().__init__(name=f"camera-{job.camera}", daemon=True)
        self.fusion = fusion
        self.storage = storage
        self.job = job
        self.settings = settings
        self.detector = detector
        self.out_dir = out_dir
        self.run_id = run_id
        self.serials = serials
        self.shutdown = shutdown
        self.checkpoint = checkpoint
        self.flow = flow
        self.wall_clock = wall_clock
        self.status = CameraStatus(camera=job.camera, source=redact_url(job.source))
        self.projector = self._projector()
        self._lock = threading.Lock()
        self._source: StreamSource | None = None
        self._camera_run: CameraRun | None = None
        self._live: LiveEventLog | None = None
        self._people: PeopleInView | None = None
        self._totals = {"frames_in": 0, "frames_analysed": 0, "frames_dropped": 0, "frames_gated": 0, "tracks": 0}
        self._rates: deque[tuple[float, int, int]] = deque(maxlen=64)
        self._outage: tuple[float, str] | None = None  # (start, reason) of the gap going on
        self._unwritten_outages: list[Outage] = []  # recorded while the disk would not take them
        self._connections = 0
        self._timezone = settings.run.flow.timezone if settings.run.flow else "UTC"

    def adopt(self, earlier: CameraWorker) -> None:
        """Goes on from a dead thread of the same camera: its status, totals and the outage going on."""
        with earlier._lock:
            self.status = CameraStatus(**asdict(earlier.status))
            self._totals = dict(earlier._totals)
        self._outage = earlier._outage or (self.wall_clock(), "the camera's thread stopped unexpectedly")
        self._unwritten_outages = list(earlier._unwritten_outages)
        self._connections = earlier._connections

    def _projector(self) -> GroundProjector | None:
        if self.job.calibration is None:
            return None
        return projector_from_calibration(load_calibration(self.job.calibration))

    # -- the loop ------------------------------------------------------------------------------------------------

    def run(self) -> None:
        attempt = 0
        while not self.shutdown.is_set():
            self._set_state("reconnecting" if attempt > 0 or self._outage is not None else "connecting")
            self._write_outages()
            try:
                source = self._connect()
            except FootfallError as exc:
                attempt = self._wait_after_failure(str(exc), self.wall_clock(), attempt, "retrying")
                continue
            except Exception as exc:  # a bug or an absurd setting: an outage of this camera, never a dead thread
                log.exception("%s: unexpected error while connecting", self.job.camera)
                attempt = self._wait_after_failure(unexpected_error(exc), self.wall_clock(), attempt, "retrying")
                continue
            frames_before, connected_at = self._totals["frames_analysed"], time.monotonic()
            reason = self._serve(source)
            if reason is None:  # shutting down
                break
            lasted = time.monotonic() - connected_at >= STEADY_CONNECTION_S
            productive = lasted and self._totals["frames_analysed"] > frames_before
            if productive and not reason.startswith(WRITE_FAILURE):
                attempt = 0  # one that gave next to nothing (a snapshot URL, an NVR that drops at once) waits longer
            since = self.status.newest_frame_at or self.wall_clock()
            attempt = self._wait_after_failure(reason, since, attempt, "reconnecting")
        if self._outage is not None:  # the service stops during an outage: the gap so far is recorded
            start, reason = self._outage
            self._record_outage(Outage(self.job.camera, start, self.wall_clock(), reason))
        self._set_state("stopped")

    def _wait_after_failure(self, reason: str, since: float, attempt: int, doing: str) -> int:
        """Records the failure as (the start of) an outage, waits out the backoff; returns the next attempt."""
        changed = reason != self.status.last_error
        self._lost(reason, since)
        delay = self.settings.backoff.delay(attempt)
        # one line per state change: a camera that stays down for hours is not logged every 30 s
        log.log(logging.INFO if changed else logging.DEBUG, "%s: %s; %s in %.1f s", self.job.camera, reason, doing,
                delay)  # fmt: skip
        self.shutdown.wait(delay)
        return attempt + 1

    def _connect(self) -> StreamSource:
        return open_stream(self.job.source, self.job.calibration, self.settings.stream, self.shutdown, self.job.camera)

    def _serve(self, source: StreamSource) -> str | None:
        """Runs one connection to its end; returns why it ended, or None when the service is stopping."""
        settings = self.settings.run
        analysis_fps = self.job.analysis_fps or settings.analysis_fps
        flow_settings = settings.flow.settings if settings.flow else FlowSettings()
        track_table = TrackTableSink(
            self.out_dir,
            self.job.camera,
            f"{self.run_id}-{self.serials()}",
            with_flow=self.flow is not None,
            with_heatmap=self.flow is not None and self.flow.grid is not None,
            timezone=self._timezone,
            schedule=FlushSchedule(settings.flush_interval_s),
            after_flush=self._flushed,
            remember_files=False,
            on_write_error=self._write_failed,
        )
        people = PeopleInView()
        sinks: list[Sink] = [track_table, people]
        live: LiveEventLog | None = None
        if settings.flow is not None:
            events = LiveEvents(self.job.camera, settings.flow.zones, settings.flow.lines, flow_settings)
            live = LiveEventLog(self.out_dir, events, self._timezone, on_write_error=self._write_failed)
            sinks.append(live)
        if self.fusion is not None:
            sinks.append(self.fusion.feed(self.job.camera))
        camera_run = CameraRun(
            camera=self.job.camera,
            source=source,
            sampler=EvenTimeSampler(analysis_fps),
            detector=planned_detector(
                self.detector,
                self.projector,
                self.flow.grid if self.flow else None,
                self.job.detection_region,
                settings.detection_plan,
            ),
            tracker=build_tracker(settings.tracker, analysis_fps, self.projector),
            projector=self.projector,
            analytics=CameraAnalytics(self.job.camera, self.flow),
            sinks=sinks,
            frame_observers=[self],
            gate=MotionGate(settings.gate, self.projector),
            read_ahead=0,
        )
        with self._lock:
            self._source, self._camera_run, self._live, self._people = source, camera_run, live, people
        reason: str | None = None
        try:
            camera_run.run()
        except StreamInterrupted as exc:
            reason = str(exc)
        except FootfallError as exc:
            reason = str(exc)
        except Exception as exc:
            log.exception("%s: unexpected error", self.job.camera)
            reason = unexpected_error(exc)
        finally:
            try:
                camera_run.close(completed=True)
            except Exception as exc:  # a failed write is this camera's problem, reported like a lost stream
                self._write_failed(exc)
                reason = reason or f"{WRITE_FAILURE} ({exc})"
            source.close()
            with self._lock:
                self._absorb(source, camera_run, live)
                self._source = self._camera_run = self._live = self._people = None
            self.status.connected_since = None
        return None if self.shutdown.is_set() and reason is None else reason or "the stream ended"

    def _flushed(self) -> None:
        self.storage.wrote(f"camera {self.job.camera}")
        self.checkpoint()

    def _write_failed(self, error: Exception) -> None:
        self.storage.failed(f"camera {self.job.camera}", error)

    def observe_frame(self, frame: Frame) -> None:
        status = self.status
        if status.state != "connected":
            now = self.wall_clock()
            if self._connections:
                status.reconnects += 1  # connected again after having been connected
            self._connections += 1
            if self._outage is not None:
                start, reason = self._outage
                self._record_outage(Outage(self.job.camera, start, now, reason))
                self._outage = None
            status.state, status.connected_since = "connected", now
            source = self._source
            clock = source.clock_origin if source is not None else "?"
            log.info("%s: connected (%dx%d, frame times from %s)", self.job.camera, frame.width, frame.height,
                        clock)  # fmt: skip
        status.newest_capture_at = frame.time_s

    # -- outages and state -----------------------------------------------------------------------------------------

    def _lost(self, reason: str, since: float) -> None:
        self.status.state = "reconnecting"  # not connected from here on, through the backoff delay
        self.status.last_error = reason
        if self._outage is None:
            self._outage = (since, reason)
            self.status.outages += 1
            self.checkpoint()

    def _record_outage(self, outage: Outage) -> None:
        self.status.outage_seconds += outage.seconds
        log.info("%s: outage of %.1f s recorded (%s)", self.job.camera, outage.seconds, outage.reason)
        self._unwritten_outages.append(outage)
        self._write_outages()

    def _write_outages(self) -> None:
        """Writes the outages not yet on disk; those the disk will not take now stay for the next try."""
        while self._unwritten_outages:
            try:
                write_outage(self.out_dir, self._unwritten_outages[0], f"{self.run_id}-{self.serials()}",
                             self._timezone)  # fmt: skip
            except FootfallError as exc:
                self._write_failed(exc)
                return
            self._unwritten_outages.pop(0)
            self.storage.wrote(f"camera {self.job.camera}")

    def begin_in_outage(self, since: float) -> None:
        """Starts with the gap since an earlier service's last frame of this camera: it ends at this service's
        first frame (not at its start: loading the model and connecting are part of the gap)."""
        if since < self.wall_clock():
            self._outage = (since, "service not running")
            self.status.outages += 1

    def _set_state(self, state: str) -> None:
        self.status.state = state

    def _absorb(self, source: StreamSource, camera_run: CameraRun, live: LiveEventLog | None) -> None:
        """Adds a finished connection's counters to the camera's totals."""
        totals = self._totals
        totals["frames_in"] += source.counters.frames_read
        totals["frames_analysed"] += camera_run.stats.frames_analysed
        totals["frames_dropped"] += source.frames_dropped
        totals["frames_gated"] += camera_run.stats.frames_gated
        totals["tracks"] += camera_run.stats.tracks
        self.status.decode_errors += source.counters.decode_errors
        self.status.newest_frame_at = source.last_frame_wall or self.status.newest_frame_at
        self.status.live_events += live.written if live is not None else 0
        self.status.detection_plan = camera_run.stats.detection_plan or self.status.detection_plan

    def snapshot(self) -> CameraStatus:
        """A consistent copy of the status, with counters and rates brought up to date."""
        with self._lock:
            status = CameraStatus(**asdict(self.status))
            totals = dict(self._totals)
            source, camera_run, live = self._source, self._camera_run, self._live
            status.people_in_view = self._people.count if self._people is not None else 0
            if source is not None and camera_run is not None:
                totals["frames_in"] += source.counters.frames_read
                totals["frames_analysed"] += camera_run.stats.frames_analysed
                totals["frames_dropped"] += source.frames_dropped
                totals["frames_gated"] += camera_run.stats.frames_gated
                totals["tracks"] += camera_run.stats.tracks
                status.decode_errors += source.counters.decode_errors
                status.newest_frame_at = source.last_frame_wall
                status.clock = source.clock_origin
                status.detection_plan = camera_run.stats.detection_plan or status.detection_plan
                if live is not None:
                    status.live_events += live.written
            for name, value in totals.items():
                setattr(status, name, value)
            now = time.monotonic()
            self._rates.append((now, status.frames_in, status.frames_analysed))
            while len(self._rates) > 2 and now - self._rates[1][0] >= RATE_WINDOW_S:
                self._rates.popleft()
            first = self._rates[0]
            if now - first[0] > 0.5:
                status.in_per_s = round((status.frames_in - first[1]) / (now - first[0]), 2)
                status.analysed_per_s = round((status.frames_analysed - first[2]) / (now - first[0]), 2)
        return status


def health_document(statuses: list[CameraStatus], now: float, storage: dict[str, str] | None = None) -> dict:
    """The /health JSON: per camera whether it is connected, its rates, drops, the age of its newest frame,
    reconnects and last error; `storage`: the writers that cannot write now, and why."""
    cameras = {}
    for status in statuses:
        age = round(now - status.newest_frame_at, 3) if status.newest_frame_at is not None else None
        cameras[status.camera] = {
            "state": status.state,
            "connected": status.state == "connected",
            "source": status.source,
            "frames_in_per_s": status.in_per_s,
            "frames_analysed_per_s": status.analysed_per_s,
            "frames_in": status.frames_in,
            "frames_analysed": status.frames_analysed,
            "frames_dropped": status.frames_dropped,
            "frames_gated": status.frames_gated,
            "decode_errors": status.decode_errors,
            "newest_frame_age_s": age,
            "frame_clock": status.clock,
            "reconnects": status.reconnects,
            "outages": status.outages,
            "outage_seconds": round(status.outage_seconds, 3),
            "last_error": status.last_error,
            "tracks": status.tracks,
            "people_in_view": status.people_in_view,
            "live_events": status.live_events,
        }
    storage = storage or {}
    healthy = bool(cameras) and all(camera["connected"] for camera in cameras.values()) and not storage
    return {
        "status": "ok" if healthy else "degraded",
        "cameras": cameras,
        "storage": {"writing": not storage, "errors": storage},
    }


class Service:
    """The cameras of a site, served until `stop()`; `run()` blocks until then and returns once every file is
    closed."""

    def __init__(
        self,
        jobs: list[CameraJob],
        settings: ServiceSettings,
        out_dir: Path,
        build_detector: Callable,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not jobs:
            raise ValueError("no cameras to serve")
        self.jobs = jobs
        self.settings = settings
        self.out_dir = out_dir
        self.wall_clock = wall_clock
        self.shutdown = threading.Event()
        self.run_id = uuid.uuid4().hex[:12]
        self.started_at = wall_clock()
        self._serial = 0
        self._serial_lock = threading.Lock()
        self._record_lock = threading.Lock()
        self.storage = StorageHealth()
        self.folder = OutputFolder.claim_continuing(out_dir, "service", "footfall serve")
        try:
            detector = build_detector(settings.run.detector)
            self.model = model_summary(detector, settings.run.detector)
            self.detector = SharedDetector(detector)
            self.fusion = self._live_fusion()
            self.workers = [self._worker(job) for job in jobs]
        except BaseException:
            self.folder.release(keep=False)
            raise
        self.stopped_at: float | None = None

    def _worker(self, job: CameraJob) -> CameraWorker:
        flow_plan = self.settings.run.flow
        return CameraWorker(
            job,
            self.settings,
            self.detector,
            self.out_dir,
            self.run_id,
            self._next_serial,
            self.shutdown,
            self.checkpoint,
            site_flow(flow_plan) if flow_plan else None,
            self.storage,
            self.wall_clock,
            self.fusion,
        )

    def _live_fusion(self) -> LiveFusion | None:
        """Site tracks of a site with several cameras (see `vision.runtime.live_fusion`)."""
        cameras = list(dict.fromkeys(job.camera for job in self.jobs))
        plan = self.settings.run.flow
        if plan is None or len(cameras) < 2:
            return None
        return LiveFusion(
            self.out_dir,
            plan,
            cameras,
            f"{self.run_id}-site",
            on_write_error=lambda exc: self.storage.failed("site tracks", exc),
            wall_clock=self.wall_clock,
        )

    def _fuse(self) -> None:
        if self.fusion is None:
            return
        try:
            self.fusion.step()
        except FootfallError as exc:  # a full disk: said in /health; the groups wait for the next step
            self.storage.failed("site tracks", exc)
        except Exception:  # a bug in the fusion must not stop the cameras: they go on, their tracks are on disk
            log.exception("the fusion of the cameras' tracks failed; the cameras' own tracks are kept")

    def _restart_dead_workers(self) -> None:
        """A camera thread that died (a bug no handler caught) is started again, its status carried over."""
        for index, worker in enumerate(self.workers):
            if worker.is_alive() or self.shutdown.is_set():
                continue
            log.error("%s: the camera's thread stopped unexpectedly; starting it again", worker.job.camera)
            replacement = self._worker(worker.job)
            replacement.adopt(worker)
            self.workers[index] = replacement
            replacement.start()

    def _next_serial(self) -> int:
        with self._serial_lock:
            self._serial += 1
            return self._serial

    def snapshots(self) -> list[CameraStatus]:
        return [worker.snapshot() for worker in self.workers]

    def health(self) -> dict:
        document = health_document(self.snapshots(), self.wall_clock(), self.storage.problems())
        document["run_id"] = self.run_id
        document["uptime_s"] = round(self.wall_clock() - self.started_at, 1)
        return document

    def checkpoint(self) -> None:
        """Writes run.json: the service's settings, model and each camera's status."""
        statuses = self.snapshots()
        record = {
            "kind": "service",
            "run_id": self.run_id,
            "version": __version__,
            "status": "stopped" if self.stopped_at is not None else "running",
            "storage_errors": self.storage.problems(),
            "pid": os.getpid(),
            "started_at": _iso(self.started_at),
            "updated_at": _iso(self.wall_clock()),
            "stopped_at": _iso(self.stopped_at) if self.stopped_at is not None else None,
            "settings": {
                "analysis_fps": self.settings.run.analysis_fps,
                "flush_interval_s": self.settings.run.flush_interval_s,
                "stream": asdict(self.settings.stream),
                "backoff": asdict(self.settings.backoff),
                "tracker": asdict(self.settings.run.tracker),
                "detector": asdict(self.settings.run.detector),
            },
            "model": self.model,
            "peak_memory_mb": peak_memory_mb(),
            "fusion": self.fusion.status() if self.fusion is not None else None,
            "cameras": [
                {
                    **asdict(status),
                    "last_frame_at": _iso(status.newest_capture_at) if status.newest_capture_at else None,
                }
                for status in statuses
            ],
        }
        with self._record_lock:
            try:
                write_json_atomic(self.out_dir / RUN_FILE, record)
            except FootfallError as exc:  # a full disk: said in /health and the log, tried again next time
                self.storage.failed(RUN_FILE, exc)
            else:
                self.storage.wrote(RUN_FILE)

    def run(self, on_started: Callable[[], None] | None = None) -> None:
        earlier = self.folder.earlier
        try:
            if self.settings.run.flow is not None:
                write_site_description(self.out_dir, self.settings.run.flow)
            if earlier is not None and earlier.record:
                self._record_downtime(earlier.record)
            self.checkpoint()
            for worker in self.workers:
                worker.start()
            if on_started is not None:
                on_started()
            next_status = time.monotonic() + STATUS_INTERVAL_S
            while not self.shutdown.wait(min(STATUS_INTERVAL_S, FUSION_STEP_S)):
                self._fuse()
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + STATUS_INTERVAL_S
                    self._restart_dead_workers()
                    self.checkpoint()
        finally:
            self.shutdown.set()
            deadline = time.monotonic() + 4.0
            for worker in self.workers:
                worker.join(timeout=max(0.0, deadline - time.monotonic()))
            if self.fusion is not None:
                try:
                    self.fusion.close()
                except Exception as exc:
                    log.error("the last site tracks could not be written: %s", exc)
            self.stopped_at = self.wall_clock()
            try:
                self.checkpoint()
            finally:
                self.folder.release()

    def stop(self) -> None:
        self.shutdown.set()

    def _record_downtime(self, record: dict) -> None:
        stopped = _epoch(record.get("stopped_at") or record.get("updated_at"))
        earlier_cameras = {
            camera.get("camera"): _epoch(camera.get("last_frame_at"))
            for camera in record.get("cameras") or []
            if isinstance(camera, dict)
        }
        for worker in self.workers:
            if worker.job.camera not in earlier_cameras:
                continue  # a camera new to this service (added by a reload) was not missing before it existed
            since = earlier_cameras[worker.job.camera] or stopped
            if since is not None:
                worker.begin_in_outage(since)


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat(timespec="milliseconds")


def _epoch(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
