"""Where in a camera's picture people can be, and how tall they look there.

A calibrated camera knows its floor: every pixel below the horizon sees a floor point, and `PersonScale` says how
tall a 1.7 m person standing there looks. The detection region is the picture of the floor area (the site's floor
plan, or its zones and lines with 2 m around them: the heatmap's extent) with each standing person's body above
it, plus a margin for hair, hats and raised arms. A site file may instead give the region as an image polygon per
camera; the calibration then still gives the person sizes.

The region is worked out once per camera on a coarse grid of the picture (about 128 cells across), which is
exact enough for crops and tiles and costs a few milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vision.core.geometry import GroundProjector
from vision.core.grid import GridGeometry
from vision.core.person_scale import PersonScale

GRID_CELLS_ACROSS = 128
HEAD_MARGIN = 0.15  # of a person's height, above the head: hair, hats, raised arms, the calibration's error
BODY_HALF_WIDTH = 0.25  # of a person's height, either side of the feet: arms, bags, a person seen side-on


@dataclass(frozen=True, slots=True)
class FloorBox:
    """A rectangle of the floor in metres: the floor area people can stand on."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @classmethod
    def of_grid(cls, grid: GridGeometry | None) -> FloorBox | None:
        """The floor a site's heatmap grid covers: its floor plan, or its zones and lines with 2 m around them."""
        if grid is None:
            return None
        return cls(grid.x0, grid.y0, grid.x0 + grid.columns * grid.cell_m, grid.y0 + grid.rows * grid.cell_m)

    def contains(self, xy: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return (xy[:, 0] >= self.xmin) & (xy[:, 0] <= self.xmax) & (xy[:, 1] >= self.ymin) & (xy[:, 1] <= self.ymax)


@dataclass(frozen=True, slots=True)
class DetectionArea:
    """What a camera's detection plan is made from: its calibration, the floor area of its site, and an image
    polygon from the site file. Any may be missing; with none the detector sees the whole frame."""

    projector: GroundProjector | None = None
    floor: FloorBox | None = None
    image_polygon: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        if self.image_polygon is not None and len(self.image_polygon) < 3:
            raise ValueError("a detection region needs at least 3 image points")


@dataclass(frozen=True, slots=True)
class PeopleMap:
    """Per grid cell (`cell_px` pixels square, row-major over the picture): whether a person's body can be there,
    and the pixel height of the smallest person whose body can be there (NaN where unknown)."""

    region: np.ndarray
    smallest_px: np.ndarray
    cell_px: float
    source: str  # "calibration", "site polygon" or "full frame"

    def pixel_box(self, mask: np.ndarray, frame_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """The pixel rectangle (x0, y0, x1, y1) around the cells of `mask`, within the frame; None if empty."""
        rows, columns = np.nonzero(mask)
        if len(rows) == 0:
            return None
        width, height = frame_size
        x0 = max(0, math.floor(columns.min() * self.cell_px))
        y0 = max(0, math.floor(rows.min() * self.cell_px))
        x1 = min(width, math.ceil((columns.max() + 1) * self.cell_px))
        y1 = min(height, math.ceil((rows.max() + 1) * self.cell_px))
        return x0, y0, x1, y1


def people_map(frame_size: tuple[int, int], area: DetectionArea) -> PeopleMap:
    """The region and person sizes of a `frame_size` (width, height) picture."""
    width, height = frame_size
    cell = max(1.0, max(width, height) / GRID_CELLS_ACROSS)
    columns, rows = math.ceil(width / cell), math.ceil(height / cell)
    region = np.zeros((rows, columns), dtype=bool)
    smallest = np.full((rows, columns), np.nan)
    source = "full frame"
    scale = PersonScale.from_projector(area.projector, frame_size) if area.projector is not None else None
    if scale is not None:
        assert area.projector is not None
        source = _mark_bodies(region, smallest, cell, frame_size, area, scale)
    if area.image_polygon is not None:
        polygon = np.round(np.asarray(area.image_polygon, dtype=np.float64) / cell * 8).astype(np.int32)
        region = np.zeros((rows, columns), dtype=np.uint8)
        cv2.fillPoly(region, [polygon], 1, shift=3)  # 3 fractional bits: cell-accurate corners
        region = region.astype(bool)
        source = "site polygon"
    if source == "full frame":
        region[:] = True
    return PeopleMap(region, smallest, cell, source)


def _mark_bodies(
    region: np.ndarray,
    smallest: np.ndarray,
    cell: float,
    frame_size: tuple[int, int],
    area: DetectionArea,
    scale: PersonScale,
) -> str:
    """Marks the body of a person standing at each floor cell of the floor area; the region's source, or
    "full frame" where the calibration shows none of the floor area."""
    assert area.projector is not None
    rows, columns = region.shape
    u = (np.arange(columns) + 0.5) * cell
    v = (np.arange(rows) + 0.5) * cell
    grid_u, grid_v = np.meshgrid(u, v)
    feet = np.column_stack([grid_u.ravel(), grid_v.ravel()])
    feet = feet[(feet[:, 0] < frame_size[0]) & (feet[:, 1] < frame_size[1])]
    floor = area.projector.to_floor(feet)
    on_floor = np.isfinite(floor).all(axis=1)
    if area.floor is not None:
        on_floor &= area.floor.contains(floor)
    heights = np.full(len(feet), np.nan)
    if on_floor.any():
        heights[on_floor] = scale.height_px(feet[on_floor], area.projector)
    standing = np.flatnonzero(np.isfinite(heights) & (heights > 0))
    if len(standing) == 0:
        return "full frame"
    for index in standing:
        foot_u, foot_v, person = feet[index, 0], feet[index, 1], heights[index]
        top = max(0, int((foot_v - person * (1 + HEAD_MARGIN)) // cell))
        bottom = min(rows - 1, int(foot_v // cell))
        left = max(0, int((foot_u - person * BODY_HALF_WIDTH) // cell))
        right = min(columns - 1, int((foot_u + person * BODY_HALF_WIDTH) // cell))
        region[top : bottom + 1, left : right + 1] = True
        block = smallest[top : bottom + 1, left : right + 1]
        np.fmin(block, person, out=block)
    return "calibration"
