"""A square grid over the floor, in metres: the cells of the dwell heatmaps, and the limits that keep a floor and its
grid to a size a run can hold in memory (the site config refuses anything larger, naming the field)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_FLOOR_SIDE_M = 2_000.0  # a floor (plan, or zones and lines) at most 2 km a side
MIN_CELL_M = 0.05  # heatmap cells at least 5 cm
MAX_GRID_CELLS = 4_000_000  # at most 4 million cells: 32 MB per heatmap
HEATMAP_MARGIN_M = 2.0  # without a floor plan, the heatmap covers the zones and lines with this much around them


def grid_shape(xmin: float, ymin: float, xmax: float, ymax: float, cell_m: float) -> tuple[int, int]:
    """(columns, rows) of the grid of `cell_m` cells that covers the extent: at least one of each."""
    columns = max(1, math.ceil((xmax - xmin) / cell_m - 1e-9))
    rows = max(1, math.ceil((ymax - ymin) / cell_m - 1e-9))
    return columns, rows


def grid_size_problem(width_m: float, depth_m: float, cell_m: float) -> str | None:
    """Why a heatmap grid over a `width_m` x `depth_m` floor with `cell_m` cells is too large, or None if it fits."""
    columns, rows = grid_shape(0.0, 0.0, width_m, depth_m, cell_m)
    if columns * rows <= MAX_GRID_CELLS:
        return None
    smallest = max(MIN_CELL_M, math.ceil(math.sqrt(width_m * depth_m / MAX_GRID_CELLS) * 100) / 100)
    if math.prod(grid_shape(0.0, 0.0, width_m, depth_m, smallest)) > MAX_GRID_CELLS:
        # ceil() adds at most one column and one row: (w/c + 1)(h/c + 1) <= MAX, solved for 1/c, always fits.
        area, half_perimeter = width_m * depth_m, width_m + depth_m
        inverse = (math.sqrt(half_perimeter**2 + 4 * area * (MAX_GRID_CELLS - 1)) - half_perimeter) / (2 * area)
        smallest = max(MIN_CELL_M, math.ceil(100 / inverse) / 100)
    return (
        f"a {cell_m:g} m heatmap cell over the {width_m:g} x {depth_m:g} m floor makes {columns * rows:,} cells, "
        f"more than the {MAX_GRID_CELLS:,} allowed; make analytics.heatmap_cell_m at least {smallest:g}"
    )


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
        values = (xmin, ymin, xmax, ymax, cell_m)
        if not all(math.isfinite(value) for value in values) or cell_m <= 0 or xmax <= xmin or ymax <= ymin:
            raise ValueError("a heatmap grid needs a positive cell size and a non-empty, finite extent")
        problem = grid_size_problem(xmax - xmin, ymax - ymin, cell_m)
        if problem is not None:
            raise ValueError(problem)
        return cls(xmin, ymin, cell_m, *grid_shape(xmin, ymin, xmax, ymax, cell_m))

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
