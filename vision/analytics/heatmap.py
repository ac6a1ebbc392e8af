"""Dwell heatmaps: person-seconds per floor cell.

A sample stands for the time until the track's next sample (at most `max_gap_s`; a longer gap means the person
was not seen and counts nothing), so a grid's total is exactly the time tracks spent inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def presence_seconds(time_s: np.ndarray, max_gap_s: float) -> np.ndarray:
    """(N,) seconds each sample stands for: the step to the next sample, 0 for the last or across a long gap."""
    steps = np.diff(time_s, append=time_s[-1] if len(time_s) else 0.0)
    return np.where(steps <= max_gap_s, steps, 0.0)


@dataclass(frozen=True, slots=True)
class GridGeometry:
    """Square cells of `cell_m` metres; cell (row, col) covers x in [x0 + col·cell, …) and y in [y0 + row·cell, …)."""

    x0: float
    y0: float
    cell_m: float
    columns: int
    rows: int

    @classmethod
    def covering(cls, xmin: float, ymin: float, xmax: float, ymax: float, cell_m: float) -> GridGeometry:
        if cell_m <= 0 or xmax <= xmin or ymax <= ymin:
            raise ValueError("a heatmap grid needs a positive cell size and a non-empty extent")
        return cls(
            xmin, ymin, cell_m, math.ceil((xmax - xmin) / cell_m - 1e-9), math.ceil((ymax - ymin) / cell_m - 1e-9)
        )

    def cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, col, inside) for each floor point; `inside` is False for points off the grid or NaN."""
        with np.errstate(invalid="ignore"):
            col = np.floor((xy[:, 0] - self.x0) / self.cell_m)
            row = np.floor((xy[:, 1] - self.y0) / self.cell_m)
            inside = (col >= 0) & (col < self.columns) & (row >= 0) & (row < self.rows)
        return np.where(inside, row, 0).astype(np.int64), np.where(inside, col, 0).astype(np.int64), inside

    def to_json(self) -> dict:
        return {
            "x0_m": self.x0,
            "y0_m": self.y0,
            "cell_m": self.cell_m,
            "columns": self.columns,
            "rows": self.rows,
            "layout": "array[row, col]; row along floor y, col along floor x; values in person-seconds",
        }


class HeatmapAccumulator:
    def __init__(self, geometry: GridGeometry) -> None:
        self.geometry = geometry
        self.person_seconds = np.zeros((geometry.rows, geometry.columns), dtype=np.float64)

    def add(self, floor_xy: np.ndarray, seconds: np.ndarray) -> float:
        """Adds each point's seconds to its cell; returns the seconds that fell inside the grid."""
        row, col, inside = self.geometry.cells(floor_xy)
        flat = row[inside] * self.geometry.columns + col[inside]
        counted = np.bincount(flat, weights=seconds[inside], minlength=self.person_seconds.size)
        self.person_seconds += counted.reshape(self.person_seconds.shape)
        return float(seconds[inside].sum())
