"""Collects each live track's samples frame by frame and hands over the whole track when it ends."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vision.core.types import FloorTracks, TrackHistory


@dataclass(slots=True)
class _Samples:
    time_s: list[float] = field(default_factory=list)
    frame: list[int] = field(default_factory=list)
    foot_uv: list[np.ndarray] = field(default_factory=list)
    floor_xy: list[np.ndarray] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)


class TrackAssembler:
    """One per camera. Memory holds only tracks that are still live."""

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self._live: dict[str, _Samples] = {}

    def __len__(self) -> int:
        return len(self._live)

    def add(self, floor: FloorTracks) -> list[TrackHistory]:
        """Records this frame's samples and returns the tracks that ended at it."""
        for row, name in enumerate(floor.track.tolist()):
            samples = self._live.get(name)
            if samples is None:
                samples = self._live[name] = _Samples()
            if samples.time_s and floor.time_s <= samples.time_s[-1]:
                continue  # a repeated timestamp adds nothing to a trajectory
            samples.time_s.append(floor.time_s)
            samples.frame.append(floor.frame_index)
            samples.foot_uv.append(floor.foot_uv[row])
            samples.floor_xy.append(floor.floor_xy[row])
            samples.confidence.append(float(floor.confidence[row]))
        return [self._pop(name) for name in floor.ended_tracks.tolist() if name in self._live]

    def finish(self) -> list[TrackHistory]:
        """Ends every live track (the source has ended)."""
        return [self._pop(name) for name in list(self._live)]

    def _pop(self, name: str) -> TrackHistory:
        samples = self._live.pop(name)
        return TrackHistory(
            camera=self.camera,
            track=name,
            time_s=np.asarray(samples.time_s, dtype=np.float64),
            frame=np.asarray(samples.frame, dtype=np.int64),
            foot_uv=np.asarray(samples.foot_uv, dtype=np.float64).reshape(-1, 2),
            floor_xy=np.asarray(samples.floor_xy, dtype=np.float64).reshape(-1, 2),
            confidence=np.asarray(samples.confidence, dtype=np.float32),
        )
