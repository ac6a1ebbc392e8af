"""What the camera run hands its outputs to. A sink sees every analysed frame's tracks and every finished track
(with its flow analysis), and is closed once: `completed=False` when the run was aborted, where a sink whose file
is only meaningful whole (the MOT export) discards it, and the datasets keep what was analysed."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from vision.analytics.site import TrackFlow
from vision.core.types import FloorTracks


class Sink(Protocol):
    def write_frame(self, tracks: FloorTracks) -> None: ...

    def write_track(self, track: TrackFlow) -> None: ...

    def close(self, completed: bool) -> list[Path]:
        """Writes what is buffered; returns the files this sink published."""
        ...
