"""Multi-object tracking, one tracker per camera: the `Tracker` protocol the camera run uses, and its adapters.

- `floor` (the default): people followed on the floor plan in metres (vision.perception.floor_track), for cameras
  with a calibration; a camera without one is tracked by BoT-SORT.
- BoT-SORT and ByteTrack: Roboflow's `trackers`, which need no PyTorch. BoT-SORT runs here without
  camera-motion compensation (fixed cameras) and without appearance: ByteTrack's two-stage association with its own
  IoU threshold for each stage. They are given each frame's time, so the motion model steps by the real time between
  analysed frames and a lost track is kept for a time, not a frame count.
- `ultralytics-bytetrack` and `ultralytics-botsort`: Ultralytics' own implementations, kept for comparison; they
  need the `footfall[ultralytics]` extra. They count patience in frames; here it is given in seconds and turned into
  frames at the analysis rate.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

import numpy as np

from vision.core.geometry import GroundProjector
from vision.core.types import Detections, Tracks
from vision.perception.ultralytics_env import prepare_ultralytics_environment

TrackerKind = Literal["floor", "bytetrack", "botsort", "ultralytics-bytetrack", "ultralytics-botsort"]
TRACKER_KINDS: tuple[str, ...] = get_args(TrackerKind)


# (new-track score, match threshold) per tracker, chosen on PETS S2L1 1-400 with two detectors (the COCO YOLOv8n and
# the fine-tuned YOLOv8s) from a small grid (README "Accuracy"). Roboflow's BoT-SORT keeps Ultralytics' values; its
# ByteTrack, which matches every stage with one IoU threshold, does best with a closer match.
TUNED_THRESHOLDS = {
    "floor": (0.5, 0.85),  # its match threshold is unused: it gates by distance on the floor (floor_track.py)
    "bytetrack": (0.5, 0.7),
    "botsort": (0.5, 0.85),
    "ultralytics-bytetrack": (0.5, 0.85),
    "ultralytics-botsort": (0.5, 0.85),
}


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    """`new_track_threshold` and `match_threshold` (1 - the least IoU of a match) default to the values tuned for
    the chosen implementation."""

    kind: TrackerKind = "floor"
    track_buffer_s: float = 2.0
    high_threshold: float = 0.4
    low_threshold: float = 0.1
    new_track_threshold: float | None = None
    match_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in TRACKER_KINDS:
            raise ValueError(f"tracker must be one of {', '.join(TRACKER_KINDS)}, got {self.kind!r}")
        if not math.isfinite(self.track_buffer_s) or self.track_buffer_s <= 0:
            raise ValueError(f"track buffer must be a positive number of seconds, got {self.track_buffer_s}")
        if not 0 < self.low_threshold <= self.high_threshold < 1:
            raise ValueError("tracker thresholds must satisfy 0 < low <= high < 1")
        if self.kind.startswith("ultralytics-") and importlib.util.find_spec("ultralytics") is None:
            raise ValueError(
                f"tracker {self.kind} needs the Ultralytics extra: install it with "
                "`pip install 'footfall[ultralytics]'`, or use bytetrack or botsort"
            )
        if not 0 < self.new_track_score < 1 or not 0 < self.match_cost <= 1:
            raise ValueError("new-track threshold must be in (0, 1) and match threshold in (0, 1]")

    @property
    def new_track_score(self) -> float:
        return self.new_track_threshold if self.new_track_threshold is not None else TUNED_THRESHOLDS[self.kind][0]

    @property
    def match_cost(self) -> float:
        return self.match_threshold if self.match_threshold is not None else TUNED_THRESHOLDS[self.kind][1]


class Tracker(Protocol):
    """Follows the people of one camera from frame to frame. Its state (live and lost tracks) belongs to whoever
    holds it: the camera run that owns it, one per camera."""

    def update(self, detections: Detections, image: np.ndarray | None = None, time_s: float | None = None) -> Tracks:
        """This frame's tracks (each linked to its detection) and the ids of tracks that ended at this frame; an id
        that has ended never comes back. `time_s` is the frame's media time; without it frames are taken as evenly
        spaced at the analysis rate."""
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
            tracker_type=settings.kind.removeprefix("ultralytics-"),
            track_high_thresh=settings.high_threshold,
            track_low_thresh=settings.low_threshold,
            new_track_thresh=settings.new_track_score,
            track_buffer=self.track_buffer_frames,
            match_thresh=settings.match_cost,
            fuse_score=True,
            gmc_method="none",  # fixed CCTV cameras: no camera motion to compensate
            proximity_thresh=0.5,
            appearance_thresh=0.8,
            with_reid=False,
            model="auto",
        )
        self._tracker = BOTSORT(args) if settings.kind == "ultralytics-botsort" else BYTETracker(args)
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

    def update(self, detections: Detections, image: np.ndarray | None = None, time_s: float | None = None) -> Tracks:
        view = _DetectionsView(detections.xyxy, detections.confidence, detections.class_id)
        output = self._tracker.update(view, image)
        ended = self._drop_removed_and_list_ended()
        if len(output) == 0:
            return _tracks(detections, np.zeros(0, np.int64), np.zeros(0, np.int64), ended)
        return _tracks(detections, output[:, 4].astype(np.int64), output[:, -1].astype(np.int64), ended)


def _tracks(detections: Detections, track_id: np.ndarray, detection_index: np.ndarray, ended: np.ndarray) -> Tracks:
    """Tracks whose boxes and confidences are the linked detections' own."""
    return Tracks(
        track_id=track_id,
        xyxy=detections.xyxy[detection_index],
        confidence=detections.confidence[detection_index],
        detection_index=detection_index,
        ended_track_ids=ended,
    )


class RoboflowTracker:
    """A `Tracker` backed by Roboflow's `trackers` (ByteTrack or BoT-SORT, no PyTorch). Each detection carries its
    index through the tracker, so reported boxes are the detections' own; tracks the tracker has not confirmed yet
    (seen in one frame only) are not reported, as in Ultralytics' trackers."""

    def __init__(self, settings: TrackerSettings, analysis_fps: float) -> None:
        import supervision
        from trackers import BoTSORTTracker, ByteTrackTracker

        self.settings = settings
        self._supervision = supervision
        self._frame_period = 1.0 / analysis_fps
        common: dict[str, Any] = {
            "lost_track_buffer": max(1, round(settings.track_buffer_s * 30)),  # counted in 30 fps frames
            "frame_rate": analysis_fps,
            "track_activation_threshold": settings.new_track_score,
            "minimum_consecutive_frames": 1,
            "high_conf_det_threshold": settings.high_threshold,
        }
        minimum_iou = 1.0 - settings.match_cost
        if settings.kind == "botsort":
            self._tracker = BoTSORTTracker(
                **common, minimum_iou_threshold_first_assoc=minimum_iou, enable_cmc=False
            )  # fixed CCTV cameras: no camera motion to compensate
        else:
            self._tracker = ByteTrackTracker(**common, minimum_iou_threshold=minimum_iou)
        # A person may be missing from frames spanning the whole buffer: from their last sighting to their return is
        # then the buffer plus one frame period (the tolerance absorbs the rounding of frame times).
        self._tracker.maximum_time_without_update = settings.track_buffer_s + self._frame_period + 1e-6
        self._live_ids: set[int] = set()
        self._frames = 0

    @property
    def tracking(self) -> bool:
        return bool(self._live_ids)

    def update(self, detections: Detections, image: np.ndarray | None = None, time_s: float | None = None) -> Tracks:
        usable = np.flatnonzero(detections.confidence >= self.settings.low_threshold)
        given = self._supervision.Detections(
            xyxy=detections.xyxy[usable].astype(np.float32),
            confidence=detections.confidence[usable],
            class_id=detections.class_id[usable],
            data={"index": usable},
        )
        timestamp = time_s if time_s is not None else self._frames * self._frame_period
        self._frames += 1
        result = self._tracker.update(given, timestamp=timestamp)
        live = {int(track.tracker_id) for track in self._tracker.tracks if track.tracker_id != -1}
        ended = np.array(sorted(self._live_ids - live), dtype=np.int64)
        self._live_ids = live
        confirmed = np.flatnonzero(np.asarray(result.tracker_id) != -1)
        if len(confirmed) == 0:
            return _tracks(detections, np.zeros(0, np.int64), np.zeros(0, np.int64), ended)
        track_id = np.asarray(result.tracker_id)[confirmed].astype(np.int64)
        detection_index = np.asarray(result.data["index"])[confirmed].astype(np.int64)
        return _tracks(detections, track_id, detection_index, ended)


def build_tracker(settings: TrackerSettings, analysis_fps: float, projector: GroundProjector | None = None) -> Tracker:
    """The tracker `settings` name, with its patience set for frames arriving at `analysis_fps`. `floor` needs the
    camera's calibration (`projector`); a camera without one is tracked in the image by BoT-SORT instead."""
    if settings.kind == "floor":
        if projector is not None:
            from vision.perception.floor_track import FloorTracker

            return FloorTracker(
                projector,
                track_buffer_s=settings.track_buffer_s,
                high_threshold=settings.high_threshold,
                low_threshold=settings.low_threshold,
                new_track_score=settings.new_track_score,
                analysis_fps=analysis_fps,
            )
        settings = dataclasses.replace(settings, kind="botsort")
    if settings.kind.startswith("ultralytics-"):
        return UltralyticsTracker(settings, analysis_fps)
    return RoboflowTracker(settings, analysis_fps)
