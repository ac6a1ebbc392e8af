"""What every frame source provides: facts about the source, counters, the even-time sampler and the `FrameSource`
protocol that the camera run reads from, whatever the source is (a file, an image sequence, later a stream)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from vision.core.types import Frame

StartTimeOrigin = Literal["cli", "container", "seqinfo", "file_mtime", "arrival"]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    uri: str
    kind: Literal["video", "image_sequence", "stream"]
    width: int
    height: int
    nominal_fps: float | None
    frame_count: int | None
    duration_s: float | None
    codec: str
    start_time: datetime
    start_time_origin: StartTimeOrigin


@dataclass(slots=True)
class SourceCounters:
    frames_read: int = 0
    frames_analysed: int = 0
    decode_errors: int = 0  # damaged packets or images skipped

    @property
    def frames_skipped(self) -> int:
        return self.frames_read - self.frames_analysed


class EvenTimeSampler:
    """Keeps frames evenly spaced in media time at `fps` per second: at most one frame per 1/fps slot, the first
    one that falls in it. Frames come faster than `fps` → some are skipped; slower → all are kept."""

    def __init__(self, fps: float, origin_s: float | None = None) -> None:
        """`origin_s`: where the slots start (default: the first frame); stretches of one file analysed apart share
        it, so they keep the frames a single pass would."""
        if not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"analysis fps must be a positive number, got {fps}")
        self.fps = fps
        self._origin_s: float | None = origin_s
        self._last_slot = -1

    def keep(self, pts_s: float) -> bool:
        if self._origin_s is None:
            self._origin_s = pts_s
        # The small epsilon keeps a frame that lands exactly on a slot boundary despite rounding in the timestamps.
        slot = math.floor((pts_s - self._origin_s) * self.fps + 1e-6)
        if slot <= self._last_slot:
            return False
        self._last_slot = slot
        return True


class FrameSource(Protocol):
    info: SourceInfo
    counters: SourceCounters

    def frames(self, camera: str, sampler: EvenTimeSampler) -> Iterator[Frame]: ...

    def close(self) -> None: ...
