"""Tracking on the floor plan: each person a constant-velocity Kalman filter in floor metres, stepped by the real
time between analysed frames, matched to the detections by how far (in the filter's own uncertainty) their foot
points land from where it expects them, with image overlap as a second cue.

Why on the floor: at 5 analysed frames/s a walking person moves a box width or more between frames, so the image
overlap that ByteTrack and BoT-SORT match on falls to nothing and identities switch or break. On the floor, motion is
a walk of at most a few metres a second whatever the distance to the camera, and the calibration says how uncertain
each foot point is: a pixel far from the camera is many centimetres, near it a few millimetres. A person lost behind
another is kept, their uncertainty growing with time, and found again where a walk can have taken them: that is
also how a track that ends is re-linked to the one that begins where it went.

Cameras without a calibration keep the image trackers (`build_tracker`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from vision.core.boxes import iou_xyxy
from vision.core.geometry import GroundProjector
from vision.core.types import Detections, Tracks

GATE_CHI2 = 13.8  # chi-square, 2 degrees of freedom, 99.9 %: a foot point farther than this is not this person
MAX_WALK_MPS = 3.0  # faster than any shopper walks; bounds where a lost person can be found again
ACCELERATION_MPS2 = 1.0  # how briskly a walker changes speed or direction (process noise)
FOOT_NOISE_PX = 2.0  # detector jitter of the box bottom, in pixels, plus a share of the box height
FOOT_NOISE_OF_HEIGHT = 0.06
FLOOR_NOISE_M = 0.05  # calibration error on the floor itself
OVERLAP_WEIGHT = 0.5  # share of the match cost that image overlap takes; the rest is the floor distance
LOW_SCORE_GATE = 0.5  # second-stage (low-confidence) detections must fit this much better


@dataclass(slots=True)
class _FloorTrack:
    track_id: int
    state: np.ndarray  # x, y, vx, vy (metres, metres per second)
    covariance: np.ndarray
    box: np.ndarray  # the last matched box, pixels
    box_velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # pixels per second, box centre
    last_seen_s: float = 0.0
    located: bool = False  # whether a foot point of it ever landed on the floor
    confirmed: bool = False  # seen in two analysed frames: only then is it reported


def _motion(dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Constant velocity over `dt` seconds and the white-acceleration noise it accumulates."""
    transition = np.eye(4)
    transition[0, 2] = transition[1, 3] = dt
    q = ACCELERATION_MPS2**2
    dt2, dt3, dt4 = dt * dt, dt**3 / 2, dt**4 / 4
    noise = q * np.array([[dt4, 0, dt3, 0], [0, dt4, 0, dt3], [dt3, 0, dt2, 0], [0, dt3, 0, dt2]])
    return transition, noise


class FloorTracker:
    """A `Tracker` (vision.perception.track) that follows people on the floor plan of a calibrated camera.

    Detections whose foot point misses the floor (above the horizon) are matched on image overlap alone."""

    def __init__(
        self,
        projector: GroundProjector,
        *,
        track_buffer_s: float,
        high_threshold: float,
        low_threshold: float,
        new_track_score: float,
        analysis_fps: float,
    ) -> None:
        self._projector = projector
        self._buffer_s = track_buffer_s
        self._high = high_threshold
        self._low = low_threshold
        self._new = new_track_score
        self._frame_period = 1.0 / analysis_fps
        self._tracks: list[_FloorTrack] = []
        self._next_id = 1
        self._time_s: float | None = None
        self._frames = 0

    @property
    def tracking(self) -> bool:
        return bool(self._tracks)

    def update(self, detections: Detections, image: np.ndarray | None = None, time_s: float | None = None) -> Tracks:
        now = time_s if time_s is not None else self._frames * self._frame_period
        self._frames += 1
        previous_s = now - self._frame_period if self._time_s is None else self._time_s
        dt = max(now - previous_s, 1e-3)
        self._time_s = now
        # A person may be missing from frames spanning the whole buffer: from their last sighting to their return is
        # then the buffer plus one frame period (the tolerance absorbs the rounding of frame times).
        patience = self._buffer_s + self._frame_period + 1e-6
        ended = [track.track_id for track in self._tracks if now - track.last_seen_s > patience and track.confirmed]
        self._tracks = [track for track in self._tracks if now - track.last_seen_s <= patience]
        self._predict(dt)

        usable = np.flatnonzero(detections.confidence >= self._low)
        xyxy = detections.xyxy[usable].astype(np.float64)
        confidence = detections.confidence[usable]
        floor, noise = self._measure(xyxy)

        high = np.flatnonzero(confidence >= self._high)
        low = np.flatnonzero(confidence < self._high)
        confirmed = [i for i, track in enumerate(self._tracks) if track.confirmed]
        tentative = [i for i, track in enumerate(self._tracks) if not track.confirmed]
        # ByteTrack's order: confident detections to every confirmed track (seen last frame or lost), the doubtful
        # ones only to tracks seen last frame (a doubtful box far from anyone is clutter), then what is left of the
        # confident ones to the tracks begun last frame; the rest begin tracks.
        matches = self._associate(confirmed, high, xyxy, floor, noise, now, strict=False)
        left = self._unmatched(confirmed, matches)
        recent = [i for i in left if self._tracks[i].last_seen_s >= previous_s]
        matches += self._associate(recent, low, xyxy, floor, noise, now, strict=True)
        taken = {detection for _, detection in matches}
        matches += self._associate(tentative, np.array([d for d in high if d not in taken], dtype=np.int64),
                                   xyxy, floor, noise, now, strict=False)  # fmt: skip
        taken = {detection for _, detection in matches}

        for track_index, detection in matches:
            track = self._tracks[track_index]
            self._correct(track, xyxy[detection], floor[detection], noise[detection], now)
            track.confirmed = True  # seen twice: reported from now on
        reported = [(self._tracks[track].track_id, usable[detection]) for track, detection in matches]
        unseen_tentative = set(self._unmatched(tentative, matches))  # seen once, then not: clutter, forgotten
        self._tracks = [track for i, track in enumerate(self._tracks) if i not in unseen_tentative]
        for detection in high:
            if detection not in taken and confidence[detection] >= self._new:
                self._tracks.append(self._birth(xyxy[detection], floor[detection], noise[detection], now))
        reported.sort()
        track_id = np.array([pair[0] for pair in reported], dtype=np.int64)
        index = np.array([pair[1] for pair in reported], dtype=np.int64)
        return Tracks(
            track_id=track_id,
            xyxy=detections.xyxy[index],
            confidence=detections.confidence[index],
            detection_index=index,
            ended_track_ids=np.array(sorted(ended), dtype=np.int64),
        )

    @staticmethod
    def _unmatched(track_indices: list[int], matches: list[tuple[int, int]]) -> list[int]:
        matched = {track for track, _ in matches}
        return [index for index in track_indices if index not in matched]

    def _measure(self, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each box's foot point on the floor (NaN off it) and its 2x2 covariance: the pixel jitter of the box
        bottom carried through the calibration's local Jacobian, plus the floor's own error."""
        count = len(xyxy)
        foot = np.column_stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]]) if count else np.zeros((0, 2))
        steps = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        probes = (foot[:, None, :] + steps[None, :, :]).reshape(-1, 2)
        mapped = self._projector.to_floor(probes).reshape(count, 3, 2) if count else np.zeros((0, 3, 2))
        floor = mapped[:, 0]
        jacobian = np.stack([mapped[:, 1] - mapped[:, 0], mapped[:, 2] - mapped[:, 0]], axis=2)  # d floor / d pixel
        sigma_px = FOOT_NOISE_PX + FOOT_NOISE_OF_HEIGHT * (xyxy[:, 3] - xyxy[:, 1]) if count else np.zeros(0)
        noise = np.einsum("nij,nkj->nik", jacobian, jacobian) * (sigma_px**2)[:, None, None]
        noise += np.eye(2) * FLOOR_NOISE_M**2
        return floor, noise

    def _predict(self, dt: float) -> None:
        transition, process = _motion(dt)
        for track in self._tracks:
            track.state = transition @ track.state
            track.covariance = transition @ track.covariance @ transition.T + process
            speed = math.hypot(track.state[2], track.state[3])
            if speed > MAX_WALK_MPS:
                track.state[2:] *= MAX_WALK_MPS / speed

    def _associate(
        self,
        track_indices: list[int],
        candidates: np.ndarray,
        xyxy: np.ndarray,
        floor: np.ndarray,
        noise: np.ndarray,
        now: float,
        strict: bool,
    ) -> list[tuple[int, int]]:
        if not track_indices or len(candidates) == 0:
            return []
        tracks = [self._tracks[index] for index in track_indices]
        predicted_boxes = np.array([t.box + np.tile(t.box_velocity * (now - t.last_seen_s), 2) for t in tracks])
        overlap = iou_xyxy(predicted_boxes, xyxy[candidates])
        cost = np.full((len(tracks), len(candidates)), np.inf)
        gate = GATE_CHI2 * (LOW_SCORE_GATE if strict else 1.0)
        for row, track in enumerate(tracks):
            position, covariance = track.state[:2], track.covariance[:2, :2]
            walk = MAX_WALK_MPS * (now - track.last_seen_s) + 0.5
            for column, detection in enumerate(candidates):
                point = floor[detection]
                if not track.located or not np.all(np.isfinite(point)):
                    if overlap[row, column] > 0.3:
                        cost[row, column] = 1.0 - overlap[row, column]
                    continue
                offset = point - position
                # As far as a walk since the last sighting can go, plus three standard deviations of where the
                # calibration puts this foot point (far from the camera, one pixel is many centimetres).
                reach = walk + 3.0 * math.sqrt(np.trace(noise[detection]))
                if offset @ offset > reach * reach:
                    continue
                innovation = covariance + noise[detection]
                distance = float(offset @ np.linalg.solve(innovation, offset))
                if distance > gate:
                    continue
                cost[row, column] = (1 - OVERLAP_WEIGHT) * distance / gate + OVERLAP_WEIGHT * (1 - overlap[row, column])
        finite = np.isfinite(cost)
        if not finite.any():
            return []
        rows, columns = linear_sum_assignment(np.where(finite, cost, 1e6))
        return [
            (track_indices[row], int(candidates[column]))
            for row, column in zip(rows, columns, strict=True)
            if finite[row, column]
        ]

    def _correct(self, track: _FloorTrack, box: np.ndarray, point: np.ndarray, noise: np.ndarray, now: float) -> None:
        elapsed = max(now - track.last_seen_s, 1e-3)
        centre_shift = (box[:2] + box[2:]) / 2 - (track.box[:2] + track.box[2:]) / 2
        track.box_velocity = 0.5 * track.box_velocity + 0.5 * centre_shift / elapsed
        track.box = box.copy()
        track.last_seen_s = now
        if not np.all(np.isfinite(point)):
            return
        if not track.located:
            track.state[:2], track.covariance[:2, :2], track.located = point, noise, True
            return
        observe = np.zeros((2, 4))
        observe[0, 0] = observe[1, 1] = 1.0
        innovation = observe @ track.covariance @ observe.T + noise
        gain = track.covariance @ observe.T @ np.linalg.inv(innovation)
        track.state = track.state + gain @ (point - track.state[:2])
        track.covariance = (np.eye(4) - gain @ observe) @ track.covariance

    def _birth(self, box: np.ndarray, point: np.ndarray, noise: np.ndarray, now: float) -> _FloorTrack:
        state = np.zeros(4)
        covariance = np.diag([1.0, 1.0, 1.0, 1.0])  # a walker of unknown heading: about 1 m/s either way
        located = bool(np.all(np.isfinite(point)))
        if located:
            state[:2] = point
            covariance[:2, :2] = noise
        track = _FloorTrack(self._next_id, state, covariance, box.copy(), last_seen_s=now, located=located)
        self._next_id += 1
        return track
