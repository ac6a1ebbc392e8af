"""The image-space dwell heatmap of a camera, written by every run (with or without a site or a calibration):
where people spent time, drawn over the camera's own picture with the people removed.

The background is the per-pixel temporal median of frames sampled evenly over the footage (a bounded reservoir of
downscaled frames, see `BackgroundReservoir`): anyone who moves on within half the footage is gone from it. Only
that median reaches disk, inside the picture; no frame is stored. Footage too short for a median to remove anyone
(under MIN_BACKGROUND_FRAMES analysed frames) gets a plain grey background instead.

Files, in `<folder>/` (OUT/heatmaps): `<name>.image.npy` (person-seconds per cell, vision.analytics.image_heatmap),
`<name>.image.json` (the grid and the picture's size, total person-seconds, period) and `<name>.image.png`.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from vision.analytics.image_heatmap import ImageHeatmap
from vision.analytics.site import TrackFlow
from vision.core.errors import OutputError
from vision.core.types import FloorTracks, Frame
from vision.sinks.atomic import atomic_output, write_json_atomic
from vision.sinks.pictures import IMAGE_SIGMA_CELLS, image_heatmap_picture

BACKGROUND_FRAMES = 40  # frames aimed at for the median when the footage's length is known
BACKGROUND_CAPACITY = 48  # frames held at most, whatever the length
BACKGROUND_MAX_SIDE = 640  # pixels: the background (and so the picture) is at most this large a side
MIN_BACKGROUND_FRAMES = 10  # with fewer, a median need not remove anyone: the picture gets a plain background
PLAIN_BACKGROUND = 200  # its grey level


class BackgroundReservoir:
    """Frames spread evenly over footage of any length, downscaled to at most `max_side` pixels a side: every
    `stride`-th frame offered is kept, and whenever `capacity` are held every other one is dropped and the stride
    doubles. Memory: at most `capacity` small frames. Knowing how many frames will come (`expected`) sets the
    stride so that about `target` are kept; the doubling still bounds memory if the guess is wrong."""

    def __init__(
        self,
        expected: int | None = None,
        target: int = BACKGROUND_FRAMES,
        capacity: int = BACKGROUND_CAPACITY,
        max_side: int = BACKGROUND_MAX_SIDE,
    ) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError("the reservoir's capacity must be an even number of at least 2")
        self.capacity, self.max_side = capacity, max_side
        self.stride = max(1, math.ceil(expected / target)) if expected else 1
        self.frames: list[np.ndarray] = []
        self._offered = 0

    def offer(self, image: np.ndarray) -> None:
        index = self._offered
        self._offered += 1
        if index % self.stride:
            return
        if len(self.frames) == self.capacity:
            self.frames = self.frames[::2]
            self.stride *= 2
            if index % self.stride:
                return
        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(width, height))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            self.frames.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        else:
            self.frames.append(image.copy())

    def median(self) -> np.ndarray | None:
        return temporal_median(self.frames) if self.frames else None


def temporal_median(frames: list[np.ndarray]) -> np.ndarray:
    """The per-pixel, per-channel median of uint8 frames of one shape (for an even count, the upper of the two
    middle values). Found bit by bit, from the highest: the median is the largest value v that at least half of
    the frames reach, so 8 passes of comparisons, several times faster than sorting along the frames."""
    need = len(frames) - len(frames) // 2  # frames that must be >= the upper median
    result = np.zeros_like(frames[0])
    count = np.empty(frames[0].shape, np.uint16)
    for bit in (128, 64, 32, 16, 8, 4, 2, 1):
        candidate = result | np.uint8(bit)
        count.fill(0)
        for frame in frames:
            count += frame >= candidate
        np.copyto(result, candidate, where=count >= need)
    return result


def analysed_frames_estimate(frame_count: int | None, nominal_fps: float | None, analysis_fps: float) -> int | None:
    """How many frames an input will have analysed, from its frame count and rates; None if unknown."""
    if not frame_count:
        return None
    if not nominal_fps:
        return frame_count
    return max(1, math.ceil(frame_count * min(1.0, analysis_fps / nominal_fps)))


class ImageHeatmapSink:
    """A camera run's sink (and frame observer): each analysed frame's picture is offered to the background
    reservoir, each finished customer track adds its presence to the image grid (staff tracks are left out, as
    from the floor heatmaps). `close` writes the three files, also for an aborted run (what was analysed is
    kept), once at least one frame was seen."""

    def __init__(
        self,
        folder: Path,
        name: str,
        camera: str,
        max_gap_s: float,
        timezone: str = "UTC",
        expected_frames: int | None = None,
    ) -> None:
        self.folder, self.name, self.camera = folder, name, camera
        self.max_gap_s, self.timezone = max_gap_s, timezone
        self.background = BackgroundReservoir(expected_frames)
        self.heatmap: ImageHeatmap | None = None
        self.staff_tracks = 0
        self._first_time: float | None = None
        self._last_time: float | None = None

    @property
    def paths(self) -> list[Path]:
        return [self.folder / f"{self.name}.image.{suffix}" for suffix in ("npy", "json", "png")]

    def observe_frame(self, frame: Frame) -> None:
        if self.heatmap is None:
            self.heatmap = ImageHeatmap(frame.width, frame.height, self.max_gap_s)
            self._first_time = frame.time_s
        self._last_time = frame.time_s
        self.background.offer(frame.image)

    def write_frame(self, tracks: FloorTracks) -> None:
        pass

    def write_track(self, track: TrackFlow) -> None:
        if track.staff:
            self.staff_tracks += 1
        elif self.heatmap is not None:
            self.heatmap.add(track.track)

    def background_picture(self) -> np.ndarray | None:
        """The median of the frames kept, or plain grey of its size when too few were kept to remove anyone."""
        background = self.background.median()
        if background is not None and len(self.background.frames) < MIN_BACKGROUND_FRAMES:
            background[:] = PLAIN_BACKGROUND
        return background

    def close(self, completed: bool) -> list[Path]:
        background = self.background_picture()
        if self.heatmap is None or background is None:
            return []
        grid_path, json_path, picture_path = self.paths
        picture = image_heatmap_picture(
            self.heatmap.person_seconds,
            self.heatmap.cell_px,
            (self.heatmap.width, self.heatmap.height),
            background,
            self.title(),
        )
        ok, encoded = cv2.imencode(".png", picture)
        if not ok:
            raise OutputError(f"could not encode the image heatmap picture for {self.name}")
        written: list[Path] = []
        try:  # all three or none
            with atomic_output(grid_path, "wb") as handle:
                np.save(handle, self.heatmap.person_seconds)
            written.append(grid_path)
            write_json_atomic(json_path, self.document(len(self.background.frames)))
            written.append(json_path)
            with atomic_output(picture_path, "wb") as handle:
                handle.write(encoded.tobytes())
            written.append(picture_path)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return written

    def _period(self) -> tuple[datetime, datetime]:
        zone = ZoneInfo(self.timezone)
        assert self._first_time is not None and self._last_time is not None
        return datetime.fromtimestamp(self._first_time, zone), datetime.fromtimestamp(self._last_time, zone)

    def title(self) -> list[str]:
        assert self.heatmap is not None
        start, end = self._period()
        until = end.strftime("%H:%M:%S" if end.date() == start.date() else "%Y-%m-%d %H:%M:%S")
        total = self.heatmap.person_seconds.sum()
        return [
            f"{self.camera} dwell heatmap, {start:%Y-%m-%d %H:%M:%S} - {until} {self.timezone}",
            f"person-seconds per {self.heatmap.cell_px} px cell (smoothed, sigma {IMAGE_SIGMA_CELLS:g} cells); "
            f"{total:,.0f} person-seconds in all",
        ]

    def document(self, background_frames: int) -> dict:
        assert self.heatmap is not None
        background = (
            f"temporal median of {background_frames} frames spread over the footage"
            if background_frames >= MIN_BACKGROUND_FRAMES
            else f"plain grey: {background_frames} frames are too few for a median to remove the people"
        )
        start, end = self._period()
        return {
            "camera": self.camera,
            **self.heatmap.geometry(),
            "total_person_seconds": float(self.heatmap.person_seconds.sum()),
            "tracks": self.heatmap.tracks,
            "staff_tracks_left_out": self.staff_tracks,
            "max_gap_s": self.max_gap_s,
            "period": {"start": start, "end": end},
            "timezone": self.timezone,
            "picture": {
                "smoothing_sigma_cells": IMAGE_SIGMA_CELLS,
                "background": background,
            },
        }
