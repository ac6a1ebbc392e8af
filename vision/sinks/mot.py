"""The MOTChallenge export of a camera's tracks, for scoring against ground truth."""

from __future__ import annotations

from pathlib import Path

from vision.analytics.site import TrackFlow
from vision.core.types import FloorTracks
from vision.sinks.atomic import AtomicFile, write_failure


class MotWriter:
    """MOTChallenge rows `frame,id,x,y,w,h,conf,-1,-1,-1` (frame 1-based, box top-left and size in pixels) in
    `<camera>.txt`, plus `<camera>.analysed.txt` listing the analysed frame numbers, so that a scorer counts
    misses only on frames the engine looked at. Ids are the tracker's per-run integers."""

    def __init__(self, folder: Path, camera: str) -> None:
        self._rows = AtomicFile(folder / f"{camera}.txt")
        self._analysed = AtomicFile(folder / f"{camera}.analysed.txt")
        self.path = self._rows.path

    def write(self, floor: FloorTracks) -> None:
        frame_number = floor.frame_index + 1
        try:
            self._analysed.handle.write(f"{frame_number}\n")
            for track_id, (x1, y1, x2, y2), confidence in zip(
                floor.track_id.tolist(), floor.xyxy.tolist(), floor.confidence.tolist(), strict=False
            ):
                self._rows.handle.write(
                    f"{frame_number},{track_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{confidence:.4f},"
                    "-1,-1,-1\n"
                )
        except OSError as exc:
            raise write_failure(self.path, exc) from None

    def close(self, completed: bool = True) -> None:
        """Publishes both files; with `completed=False` (an aborted run) they are discarded. If publishing one
        fails, neither stays."""
        if not completed:
            self._rows.discard()
            self._analysed.discard()
            return
        try:
            self._analysed.commit()
        except BaseException:
            self._rows.discard()
            raise
        try:
            self._rows.commit()
        except BaseException:
            self._analysed.path.unlink(missing_ok=True)
            raise


class MotSink:
    """The MOT export as a camera run's sink: every analysed frame goes in; the files are published only when the
    run completes."""

    def __init__(self, folder: Path, name: str) -> None:
        self._writer = MotWriter(folder, name)

    def write_frame(self, tracks: FloorTracks) -> None:
        self._writer.write(tracks)

    def write_track(self, track: TrackFlow) -> None:
        pass

    def close(self, completed: bool) -> list[Path]:
        self._writer.close(completed=completed)
        return [self._writer.path] if completed else []
