"""A square grid over the floor, in metres: the cells of the dwell heatmaps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


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
