"""The floor plan's pixels and the floor's metres: the one definition of how they map onto each other.

Floor coordinates are metres and floor y grows downwards on the plan picture: the plan pixel (col, row), measured
in pixels from the top-left corner of the top-left pixel, is the floor point
(origin_x + col · metres_per_pixel, origin_y + row · metres_per_pixel).
The site config's `floor_plan`, the heatmap pictures and the calibration page (which receives the matrices below
from its server) all use this mapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Extent = tuple[float, float, float, float]

MAX_PLAN_PIXELS = 40_000_000  # a floor-plan picture of at most 40 megapixels (e.g. 8000 x 5000)


@dataclass(frozen=True, slots=True)
class FloorPlanMapping:
    """Plan pixels ⇄ floor metres for a plan whose top-left corner is the floor point `origin`."""

    metres_per_pixel: float
    origin: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.metres_per_pixel) and self.metres_per_pixel > 0):
            raise ValueError(f"metres per pixel must be a positive number, got {self.metres_per_pixel}")
        if len(self.origin) != 2 or not all(math.isfinite(value) for value in self.origin):
            raise ValueError(f"the plan origin must be two finite numbers, got {self.origin}")

    def to_pixel(self, floor_xy: np.ndarray) -> np.ndarray:
        """Floor points (N, 2) in metres → plan points (N, 2) (col, row) in pixels."""
        return (np.asarray(floor_xy, dtype=np.float64) - np.asarray(self.origin)) / self.metres_per_pixel

    def to_floor(self, col_row: np.ndarray) -> np.ndarray:
        """Plan points (N, 2) (col, row) in pixels → floor points (N, 2) in metres."""
        return np.asarray(col_row, dtype=np.float64) * self.metres_per_pixel + np.asarray(self.origin)

    def floor_from_pixel(self) -> np.ndarray:
        """3x3 affine matrix: (col, row, 1) → (x, y, 1)."""
        scale = self.metres_per_pixel
        x0, y0 = self.origin
        return np.array([[scale, 0.0, x0], [0.0, scale, y0], [0.0, 0.0, 1.0]])

    def pixel_from_floor(self) -> np.ndarray:
        """3x3 affine matrix: (x, y, 1) → (col, row, 1)."""
        scale = 1.0 / self.metres_per_pixel
        x0, y0 = self.origin
        return np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale], [0.0, 0.0, 1.0]])

    def extent(self, width_px: int, height_px: int) -> Extent:
        """(xmin, ymin, xmax, ymax) in metres covered by a plan picture of this size."""
        x0, y0 = self.origin
        return (x0, y0, x0 + width_px * self.metres_per_pixel, y0 + height_px * self.metres_per_pixel)

    def to_json(self) -> dict:
        """What a client needs to map points itself: both matrices, row-major."""
        return {
            "floor_from_plan": self.floor_from_pixel().tolist(),
            "plan_from_floor": self.pixel_from_floor().tolist(),
        }


@dataclass(frozen=True, slots=True)
class PlanPicture:
    """A floor-plan picture (BGR or grey) with the mapping of its pixels onto the floor."""

    image: np.ndarray
    mapping: FloorPlanMapping

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    def extent(self) -> Extent:
        return self.mapping.extent(*self.size)
