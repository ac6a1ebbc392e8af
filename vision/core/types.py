"""The small typed objects that cross stage boundaries.

Each is a frozen dataclass of parallel numpy arrays whose shapes are checked on construction, so a stage that
hands the next one something malformed fails at the boundary with a message saying what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _check_array(name: str, array: np.ndarray, dtype_kind: str, shape: tuple[int | None, ...]) -> None:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype.kind not in dtype_kind:
        raise TypeError(f"{name} must have dtype kind in {dtype_kind!r}, got {array.dtype}")
    if array.ndim != len(shape) or any(
        want is not None and got != want for want, got in zip(shape, array.shape, strict=False)
    ):
        wanted = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")


def _check_lengths(owner: str, **arrays: np.ndarray) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{owner} arrays must have the same length, got {lengths}")
    return next(iter(lengths.values()), 0)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture from a source.

    `index` is the 0-based frame index in the source; `pts_s` the media time in seconds from the container's
    timestamps; `time_s` the wall-clock time of the frame as UTC epoch seconds (source start time + `pts_s`).
    """

    camera: str
    index: int
    pts_s: float
    time_s: float
    image: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        _check_array("Frame.image", self.image, "u", (None, None, 3))
        if self.index < 0:
            raise ValueError(f"Frame.index must be >= 0, got {self.index}")

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class Detections:
    """People found in one frame: boxes as x1, y1, x2, y2 in pixels, with confidence and class id."""

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray

    def __post_init__(self) -> None:
        _check_array("Detections.xyxy", self.xyxy, "f", (None, 4))
        _check_array("Detections.confidence", self.confidence, "f", (None,))
        _check_array("Detections.class_id", self.class_id, "iu", (None,))
        _check_lengths("Detections", xyxy=self.xyxy, confidence=self.confidence, class_id=self.class_id)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.xyxy)


@dataclass(frozen=True, slots=True)
class Tracks:
    """Tracked people in one frame. `track_id` is the tracker's integer id, local to one tracker and one run;
    `detection_index` points into the frame's `Detections`, whose box and confidence are reported."""

    track_id: np.ndarray
    xyxy: np.ndarray
    confidence: np.ndarray
    detection_index: np.ndarray
    ended_track_ids: np.ndarray

    def __post_init__(self) -> None:
        _check_array("Tracks.track_id", self.track_id, "iu", (None,))
        _check_array("Tracks.xyxy", self.xyxy, "f", (None, 4))
        _check_array("Tracks.confidence", self.confidence, "f", (None,))
        _check_array("Tracks.detection_index", self.detection_index, "iu", (None,))
        _check_array("Tracks.ended_track_ids", self.ended_track_ids, "iu", (None,))
        _check_lengths(
            "Tracks",
            track_id=self.track_id,
            xyxy=self.xyxy,
            confidence=self.confidence,
            detection_index=self.detection_index,
        )

    def __len__(self) -> int:
        return len(self.track_id)

    def foot_points(self) -> np.ndarray:
        """Bottom-centre of each box, (N, 2) pixels: where the person stands."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2.0, self.xyxy[:, 3]], axis=1)


@dataclass(frozen=True, slots=True)
class FloorTracks:
    """Tracked people in one frame with their positions: image foot point (u, v) in pixels and floor point (x, y)
    in metres, NaN where there is no calibration or the point lies off the ground plane. `track` holds the
    pseudonyms that leave the engine; `track_id` is the tracker's per-run integer id, used only for the
    MOTChallenge export. `ended_tracks` are the pseudonyms of tracks the tracker gave up on at this frame."""

    camera: str
    frame_index: int
    time_s: float
    track: np.ndarray
    track_id: np.ndarray
    xyxy: np.ndarray
    foot_uv: np.ndarray
    floor_xy: np.ndarray
    confidence: np.ndarray
    ended_tracks: np.ndarray

    def __post_init__(self) -> None:
        _check_array("FloorTracks.track", self.track, "OU", (None,))
        _check_array("FloorTracks.track_id", self.track_id, "iu", (None,))
        _check_array("FloorTracks.xyxy", self.xyxy, "f", (None, 4))
        _check_array("FloorTracks.foot_uv", self.foot_uv, "f", (None, 2))
        _check_array("FloorTracks.floor_xy", self.floor_xy, "f", (None, 2))
        _check_array("FloorTracks.confidence", self.confidence, "f", (None,))
        _check_array("FloorTracks.ended_tracks", self.ended_tracks, "OU", (None,))
        _check_lengths(
            "FloorTracks",
            track=self.track,
            track_id=self.track_id,
            xyxy=self.xyxy,
            foot_uv=self.foot_uv,
            floor_xy=self.floor_xy,
            confidence=self.confidence,
        )

    def __len__(self) -> int:
        return len(self.track)


@dataclass(frozen=True, slots=True)
class TrackHistory:
    """Everything one track did on one camera, in time order: what the flow analytics work on once it has ended."""

    camera: str
    track: str
    time_s: np.ndarray
    frame: np.ndarray
    foot_uv: np.ndarray
    floor_xy: np.ndarray
    confidence: np.ndarray

    def __post_init__(self) -> None:
        _check_array("TrackHistory.time_s", self.time_s, "f", (None,))
        _check_array("TrackHistory.frame", self.frame, "iu", (None,))
        _check_array("TrackHistory.foot_uv", self.foot_uv, "f", (None, 2))
        _check_array("TrackHistory.floor_xy", self.floor_xy, "f", (None, 2))
        _check_array("TrackHistory.confidence", self.confidence, "f", (None,))
        count = _check_lengths(
            "TrackHistory",
            time_s=self.time_s,
            frame=self.frame,
            foot_uv=self.foot_uv,
            floor_xy=self.floor_xy,
            confidence=self.confidence,
        )
        if count and np.any(np.diff(self.time_s) <= 0):
            raise ValueError("TrackHistory.time_s must be strictly increasing")

    def __len__(self) -> int:
        return len(self.time_s)


@dataclass(frozen=True, slots=True)
class Visit:
    """A stay in a zone: from the first inside sample to the last one (see vision.analytics.visits)."""

    camera: str
    track: str
    zone: str
    zone_kind: str
    t_in: float
    t_out: float

    @property
    def dwell_s(self) -> float:
        return self.t_out - self.t_in


@dataclass(frozen=True, slots=True)
class Crossing:
    """A counting-line crossing; `direction` is "in" or "out", `t` the interpolated moment of crossing."""

    camera: str
    track: str
    line: str
    direction: str
    t: float
