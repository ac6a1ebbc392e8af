"""Dwell heatmaps: person-seconds per floor cell.

A sample stands for the time until the track's next sample (at most `max_gap_s`; a longer gap means the person
was not seen and counts nothing), so a grid's total is exactly the time tracks spent inside it.
"""

from __future__ import annotations

import numpy as np

from vision.core.grid import GridGeometry


def presence_seconds(time_s: np.ndarray, max_gap_s: float) -> np.ndarray:
    """(N,) seconds each sample stands for: the step to the next sample, 0 for the last or across a long gap."""
    steps = np.diff(time_s, append=time_s[-1] if len(time_s) else 0.0)
    return np.where(steps <= max_gap_s, steps, 0.0)


class HeatmapAccumulator:
    def __init__(self, geometry: GridGeometry) -> None:
        self.geometry = geometry
        self.person_seconds = np.zeros((geometry.rows, geometry.columns), dtype=np.float64)

    def add(self, floor_xy: np.ndarray, seconds: np.ndarray) -> float:
        """Adds each point's seconds to its cell; returns the seconds that fell inside the grid."""
        row, col, inside = self.geometry.cells(floor_xy)
        self.add_cells(row[inside], col[inside], seconds[inside])
        return float(seconds[inside].sum())

    def add_cells(self, row: np.ndarray, col: np.ndarray, seconds: np.ndarray) -> None:
        """Adds seconds to cells already found (rows and columns on the grid)."""
        flat = row * self.geometry.columns + col
        counted = np.bincount(flat, weights=seconds, minlength=self.person_seconds.size)
        self.person_seconds += counted.reshape(self.person_seconds.shape)
