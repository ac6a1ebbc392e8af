"""The one loop of one camera: source → detect → track → pseudonymise → project → analytics → sinks.

A `CameraRun` is built from its parts and knows nothing of files versus streams or of batches: `footfall run`
builds one per input, and a live service or a batch worker builds them the same way with other sources and sinks.
It owns its tracker and its pseudonyms for as long as it runs.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Protocol

import numpy as np

from vision.analytics.camera import CameraAnalytics
from vision.analytics.site import TrackFlow
from vision.core.boxes import iou_xyxy
from vision.core.geometry import GroundProjector
from vision.core.types import Detections, FloorTracks, Frame
from vision.perception.anonymise import TrackPseudonyms
from vision.perception.detect import Detector
from vision.perception.detection_plan import DetectionPlan, PlannedDetector
from vision.perception.gate import MotionGate
from vision.perception.project import foot_and_floor
from vision.perception.track import Tracker
from vision.runtime.prefetch import prefetch
from vision.runtime.progress import ProgressListener, SilentProgress
from vision.sinks.base import Sink
from vision.sources.base import EvenTimeSampler, FrameSource

CANDIDATE_SCORE = 0.25  # a detection this sure keeps the detector looking for LOOK_ON_S, unless it stands still
LOOK_ON_S = 0.5  # a person found with middling scores may need a few frames to score high enough for a track
LOOK_BACK_S = 0.4  # frames the gate spared this shortly before a candidate turns up are looked at after all
LOOK_BACK_FRAMES = 10  # and no more of them (memory: ten 4K frames are 250 MB)
STILL_IOU = 0.9  # a candidate overlapping one of the previous look this much has not moved (a poster, a mannequin)

logger = logging.getLogger(__name__)

READ_AHEAD_FRAMES = 4


@dataclass(slots=True)
class StageTimings:
    """Seconds spent per stage; `write_s` covers the analytics and the sinks."""

    decode_s: float = 0.0
    detect_s: float = 0.0
    track_s: float = 0.0
    project_s: float = 0.0
    write_s: float = 0.0

    def rounded(self, digits: int = 3) -> StageTimings:
        return StageTimings(*(round(getattr(self, f.name), digits) for f in fields(self)))


@dataclass(slots=True)
class CameraRunStats:
    frames_analysed: int = 0  # the source may have decoded a few more ahead of the loop
    frames_gated: int = 0  # analysed frames the detector was spared (nothing moved, nobody tracked)
    detections: int = 0
    tracks: int = 0
    staff_tracks: int = 0
    media_seconds_analysed: float = 0.0
    timings: StageTimings = field(default_factory=StageTimings)
    detection_plan: dict | None = None  # the detector's plan for this camera (vision.perception.detection_plan)


class FrameObserver(Protocol):
    """Sees the picture of each analysed frame, after its tracks were handed on (the image heatmap samples its
    background from them). It must copy what it keeps: the image is not its own."""

    def observe_frame(self, frame: Frame) -> None: ...


class CameraRun:
    def __init__(
        self,
        camera: str,
        source: FrameSource,
        sampler: EvenTimeSampler,
        detector: Detector,
        tracker: Tracker,
        projector: GroundProjector | None,
        analytics: CameraAnalytics,
        sinks: list[Sink],
        progress: ProgressListener | None = None,
        pseudonyms: TrackPseudonyms | None = None,
        frame_observers: list[FrameObserver] | None = None,
        gate: MotionGate | None = None,
        read_ahead: int = READ_AHEAD_FRAMES,
    ) -> None:
        self.camera = camera
        self.source = source
        self.sampler = sampler
        self.detector = detector
        self.tracker = tracker
        self.projector = projector
        self.analytics = analytics
        self.sinks = sinks
        self.progress = progress or SilentProgress()
        self.pseudonyms = pseudonyms or TrackPseudonyms()
        self.frame_observers = frame_observers or []
        self.gate = gate
        self.read_ahead = read_ahead
        self.stats = CameraRunStats()
        self.published: list[Path] = []
        self._first_pts: float | None = None
        self._candidates = np.zeros((0, 4), dtype=np.float32)  # the previous look's candidates
        self._frame_period = 1.0
        self._recorded_plan: DetectionPlan | None = None  # the plan stats.detection_plan summarises

    def run(self) -> None:
        """Analyses the source to its end. Whatever the source or a stage raises is raised here, after the frames
        before it were handed on; `close` then keeps what was analysed."""
        source, timings = self.source, self.stats.timings
        self._frame_period = 1.0 / min(self.sampler.fps, source.info.nominal_fps or self.sampler.fps)
        self.progress.start(self.camera, source.info.frame_count)
        try:
            frames = prefetch(source.frames(self.camera, self.sampler), depth=self.read_ahead)
            seen_at: float | None = None  # when the detector last found a moving candidate
            held: list[Frame] = []  # frames the gate spared, not yet handed on
            waited_from = time.perf_counter()
            with contextlib.closing(frames):  # stops the reader thread before the source is closed, whatever happens
                for frame in frames:
                    now = time.perf_counter()
                    timings.decode_s += now - waited_from
                    # someone found once is confirmed, or starts a track, when seen again within LOOK_ON_S
                    busy = self.tracker.tracking or (seen_at is not None and frame.time_s - seen_at <= LOOK_ON_S)
                    if busy and isinstance(self.detector, PlannedDetector) and self.detector.pairs(frame.image):
                        # every frame goes to the detector while someone is tracked: two share one model call
                        following = next(frames, None)
                        if following is not None:
                            self._skip_all(held)
                            if self.gate is not None:
                                self.gate.needs_detection(frame.image, frame.time_s, True)
                                self.gate.needs_detection(following.image, following.time_s, True)
                            found, found_next = self.detector.detect_pair(frame.image, following.image)
                            half = (time.perf_counter() - now) / 2
                            self._analyse(frame, found, half)
                            self._analyse(following, found_next, half)
                            seen_at = following.time_s if self._moving_candidate(found_next) else seen_at
                            waited_from = time.perf_counter()
                            continue
                    if self.gate is not None and not self.gate.needs_detection(frame.image, frame.time_s, busy):
                        held.append(frame)  # analysed later: looked at after all if someone turns up just after
                        while len(held) > LOOK_BACK_FRAMES or frame.time_s - held[0].time_s > LOOK_BACK_S:
                            self._skip(held.pop(0))
                        waited_from = time.perf_counter()
                        continue
                    detections = self.detector(frame.image)
                    detect_s = time.perf_counter() - now
                    if self._moving_candidate(detections):
                        seen_at = frame.time_s
                        for earlier in held:  # the frames the gate spared just before someone turned up
                            started = time.perf_counter()
                            self._analyse(earlier, self.detector(earlier.image), time.perf_counter() - started)
                        held.clear()
                    self._skip_all(held)
                    self._analyse(frame, detections, detect_s)
                    waited_from = time.perf_counter()
                self._skip_all(held)
        finally:
            self.progress.finish()

    def _skip(self, frame: Frame) -> None:
        """Hands on a frame the detector was spared."""
        self.stats.frames_gated += 1
        self._analyse(frame, Detections.empty(), 0.0)

    def _skip_all(self, held: list[Frame]) -> None:
        for frame in held:
            self._skip(frame)
        held.clear()

    def _moving_candidate(self, detections: Detections) -> bool:
        """Whether the detector found someone worth another look: a detection of CANDIDATE_SCORE or more that is
        not where a candidate of its previous look was (what stands still scoring middling is not kept in view)."""
        candidates = detections.xyxy[detections.confidence >= CANDIDATE_SCORE]
        previous, self._candidates = self._candidates, candidates
        if len(candidates) == 0:
            return False
        if len(previous) == 0:
            return True
        return bool((iou_xyxy(candidates, previous).max(axis=1) < STILL_IOU).any())

    def _analyse(self, frame: Frame, detections: Detections, detect_s: float) -> None:
        """Tracks, projects and hands on one frame's detections."""
        stats, timings = self.stats, self.stats.timings
        started = time.perf_counter()
        tracks = self.tracker.update(detections, frame.image, time_s=frame.time_s)
        after_track = time.perf_counter()
        names = self.pseudonyms.assign(tracks.track_id)
        ended = self.pseudonyms.forget(tracks.ended_track_ids)
        foot, floor_xy = foot_and_floor(self.projector, tracks)
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
        self._hand_on(floor_tracks)
        for observer in self.frame_observers:
            observer.observe_frame(frame)
        timings.detect_s += detect_s
        timings.track_s += after_track - started
        timings.project_s += after_project - after_track
        timings.write_s += time.perf_counter() - after_project
        if stats.frames_analysed == 0:
            logger.debug("%s: first frame analysed", self.camera)  # scripts/bench_install.py times it
        stats.frames_analysed += 1
        stats.detections += len(detections)
        stats.tracks = self.pseudonyms.minted
        if self._first_pts is None:
            self._first_pts = frame.pts_s
        stats.media_seconds_analysed = frame.pts_s - self._first_pts + self._frame_period
        self.progress.advance(self.source.counters.frames_read)
        if isinstance(self.detector, PlannedDetector) and self.detector.plan is not self._recorded_plan:
            self._recorded_plan = self.detector.plan
            stats.detection_plan = self._recorded_plan.summary() if self._recorded_plan is not None else None

    def _hand_on(self, floor_tracks: FloorTracks) -> None:
        finished = self.analytics.add(floor_tracks)
        for sink in self.sinks:
            sink.write_frame(floor_tracks)
        self._write_tracks(finished)

    def _write_tracks(self, finished: list[TrackFlow]) -> None:
        for track in finished:
            for sink in self.sinks:
                sink.write_track(track)
            self.stats.staff_tracks += int(track.staff)

    def close(self, completed: bool) -> list[Path]:
        """Ends the tracks still live, closes every sink and returns the files they published (also kept in
        `published`). `completed` is False for a run that was aborted (see `Sink.close`). Every sink is closed even
        when one fails (so none leaves temporary files behind); the first failure is raised after."""
        failure: BaseException | None = None
        try:
            self._write_tracks(self.analytics.finish())
        except BaseException as exc:
            failure = exc
        for sink in self.sinks:
            try:
                self.published.extend(sink.close(completed and failure is None))
            except BaseException as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return list(self.published)
