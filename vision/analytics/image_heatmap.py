"""The image-space dwell heatmap of one camera: person-seconds per square cell of the camera's picture, from each
finished track's foot points (u, v) in pixels. It needs no calibration, so every run has one.

Presence is weighted as on the floor (vision.analytics.heatmap.presence_seconds): a sample stands for the time to
the track's next sample, nothing across a gap over `max_gap_s`, so the grid's total is exactly the time tracks were
seen. A foot point on or past the picture's edge (a person walking out of view) counts in the edge cell.
"""

from __future__ import annotations

import math

import numpy as np

from vision.analytics.heatmap import HeatmapAccumulator, presence_seconds
from vision.core.grid import GridGeometry
from vision.core.types import TrackHistory

CELLS_ACROSS = 80  # the cell is 1/80 of the picture's width (rounded up to whole pixels): 10 px at 768 wide
MIN_CELL_PX = 4


def image_cell_px(width: int) -> int:
    """The cell side in pixels for a picture `width` pixels wide."""
    return max(MIN_CELL_PX, math.ceil(width / CELLS_ACROSS))


class ImageHeatmap:
    """Person-seconds per cell, `person_seconds[row, col]`, cell (row, col) covering pixels
    u in [col·cell_px, (col+1)·cell_px) and v in [row·cell_px, (row+1)·cell_px): the floor heatmap's accumulator
    on a grid whose unit is the pixel."""

    def __init__(self, width: int, height: int, max_gap_s: float) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"an image heatmap needs a picture size, got {width}x{height}")
        self.width, self.height, self.max_gap_s = width, height, max_gap_s
        self.cell_px = image_cell_px(width)
        self.columns = math.ceil(width / self.cell_px)
        self.rows = math.ceil(height / self.cell_px)
        self._cells = HeatmapAccumulator(GridGeometry(0.0, 0.0, float(self.cell_px), self.columns, self.rows))
        self.tracks = 0

    @property
    def person_seconds(self) -> np.ndarray:
        return self._cells.person_seconds

    def add(self, track: TrackHistory) -> float:
        """Adds one track's presence to its foot points' cells; returns the seconds added."""
        if not len(track):
            return 0.0
        seconds = presence_seconds(track.time_s, self.max_gap_s)
        # Points on or past the edge count in the edge cell (NaN stays NaN, and off the grid).
        upper = np.array([self.columns, self.rows], dtype=np.float64) * self.cell_px - 1e-6
        self.tracks += 1
        return self._cells.add(np.clip(track.foot_uv.astype(np.float64), 0.0, upper), seconds)

    def geometry(self) -> dict:
        return {
            "picture_size": [self.width, self.height],
            "cell_px": self.cell_px,
            "columns": self.columns,
            "rows": self.rows,
            "layout": "array[row, col]; cell (row, col) covers pixels u in [col*cell_px, (col+1)*cell_px) and "
            "v in [row*cell_px, (row+1)*cell_px) of the camera picture; values in person-seconds",
        }
