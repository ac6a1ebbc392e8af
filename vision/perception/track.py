"""Multi-object tracking, one tracker per camera: the `Tracker` protocol the camera run uses, and its adapter to
Ultralytics' ByteTrack and BoT-SORT.

The Ultralytics trackers count lost-track patience in frames; here it is given in seconds and turned into frames
at the real analysis frame rate, so sampling a camera at 5 fps or 15 fps keeps the same patience in time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from vision.core.types import Detections, Tracks
from vision.perception.ultralytics_env import prepare_ultralytics_environment

TrackerKind = Literal["bytetrack", "botsort"]


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    kind: TrackerKind = "bytetrack"
    track_buffer_s: float = 2.0
    high_threshold: float = 0.4
    low_threshold: float = 0.1
    new_track_threshold: float = 0.5
    match_threshold: float = 0.85

    def __post_init__(self) -> None:
        if self.kind not in ("bytetrack", "botsort"):
            raise ValueError(f"tracker must be bytetrack or botsort, got {self.kind!r}")
        if not math.isfinite(self.track_buffer_s) or self.track_buffer_s <= 0:
            raise ValueError(f"track buffer must be a positive number of seconds, got {self.track_buffer_s}")
        if not 0 < self.low_threshold <= self.high_threshold < 1:
            raise ValueError("tracker thresholds must satisfy 0 < low <= high < 1")
        if not 0 < self.new_track_threshold < 1 or not 0 < self.match_threshold <= 1:
            raise ValueError("new-track threshold must be in (0, 1) and match threshold in (0, 1]")


class Tracker(Protocol):
    """Follows the people of one camera from frame to frame. Its state (live and lost tracks) belongs to whoever
    holds it: the camera run that owns it, one per camera."""

    def update(self, detections: Detections, image: np.ndarray | None = None) -> Tracks:
        """This frame's tracks (each linked to its detection) and the ids of tracks that ended at this frame; an id
        that has ended never comes back."""
        ...

    @property
    def tracking(self) -> bool:
        """Whether any track is live or lost (remembered) after the latest update."""
        ...


class _DetectionsView:
    """The slice of Ultralytics' `Boxes` interface its trackers read: conf, cls, xywh, xyxy, len and masks."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy = xyxy
        self.conf = conf
        self.cls = cls

    @property
    def xywh(self) -> np.ndarray:
        xywh = np.empty_like(self.xyxy)
        xywh[:, :2] = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        xywh[:, 2:] = self.xyxy[:, 2:] - self.xyxy[:, :2]
        return xywh

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: np.ndarray) -> _DetectionsView:
        return _DetectionsView(self.xyxy[index], self.conf[index], self.cls[index])


def frames_for_seconds(seconds: float, analysis_fps: float) -> int:
    return max(1, round(seconds * analysis_fps))


class UltralyticsTracker:
    """A `Tracker` backed by Ultralytics' BYTETracker or BOTSORT. Reported boxes and confidences are the
    detections' own (the tracker's detection index links them), so positions are measurements rather than Kalman
    predictions."""

    def __init__(self, settings: TrackerSettings, analysis_fps: float) -> None:
        prepare_ultralytics_environment()
        from ultralytics.trackers.basetrack import TrackState
        from ultralytics.trackers.bot_sort import BOTSORT
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import IterableSimpleNamespace

        self.settings = settings
        self.track_buffer_frames = frames_for_seconds(settings.track_buffer_s, analysis_fps)
        args = IterableSimpleNamespace(
            tracker_type=settings.kind,
            track_high_thresh=settings.high_threshold,
            track_low_thresh=settings.low_threshold,
            new_track_thresh=settings.new_track_threshold,
            track_buffer=self.track_buffer_frames,
            match_thresh=settings.match_threshold,
            fuse_score=True,
            gmc_method="none",  # fixed CCTV cameras: no camera motion to compensate
            proximity_thresh=0.5,
            appearance_thresh=0.8,
            with_reid=False,
            model="auto",
        )
        self._tracker = BOTSORT(args) if settings.kind == "botsort" else BYTETracker(args)
        self._live_ids: set[int] = set()
        self._removed_state = TrackState.Removed

    def _drop_removed_and_list_ended(self) -> np.ndarray:
        """Ids the tracker no longer holds, tracked or lost. Ultralytics leaves a track it has just removed in its
        lost pool for one more frame, where it can be matched again under its old id; it is taken out here, so a
        track ends exactly when its buffer runs out and its id never returns."""
        self._tracker.lost_stracks = [t for t in self._tracker.lost_stracks if t.state != self._removed_state]
        live = {track.track_id for track in self._tracker.tracked_stracks}
        live.update(track.track_id for track in self._tracker.lost_stracks)
        ended = self._live_ids - live
        self._live_ids = live
        return np.array(sorted(ended), dtype=np.int64)

    @property
    def tracking(self) -> bool:
        return bool(self._live_ids)

    def update(self, detections: Detections, image: np.ndarray | None = None) -> Tracks:
        view = _DetectionsView(detections.xyxy, detections.confidence, detections.class_id)
        output = self._tracker.update(view, image)
        ended = self._drop_removed_and_list_ended()
        if len(output) == 0:
            return Tracks(
                track_id=np.zeros(0, np.int64),
                xyxy=np.zeros((0, 4), np.float32),
                confidence=np.zeros(0, np.float32),
                detection_index=np.zeros(0, np.int64),
                ended_track_ids=ended,
            )
        detection_index = output[:, -1].astype(np.int64)
        return Tracks(
            track_id=output[:, 4].astype(np.int64),
            xyxy=detections.xyxy[detection_index],
            confidence=detections.confidence[detection_index],
            detection_index=detection_index,
            ended_track_ids=ended,
        )


def build_tracker(settings: TrackerSettings, analysis_fps: float) -> Tracker:
    """The tracker `settings` name, with its patience set for frames arriving at `analysis_fps`."""
    return UltralyticsTracker(settings, analysis_fps)
