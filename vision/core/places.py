"""Places on the floor, in metres: zones (with their kinds), counting lines (with their in side) and funnels
through zones. Membership and side tests work on whole arrays of points."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import shapely

ZoneKind = Literal["area", "queue", "entrance", "staff"]
ZONE_KINDS: tuple[str, ...] = get_args(ZoneKind)
LineSide = Literal["left", "right"]
LINE_SIDES: tuple[str, ...] = get_args(LineSide)
MIN_LINE_LENGTH_M = 1e-6


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    kind: ZoneKind
    polygon: shapely.Polygon
    cameras: frozenset[str] | None = None  # None: every camera counts this zone

    def __post_init__(self) -> None:
        if not self.polygon.is_valid or self.polygon.area <= 0:
            raise ValueError(f"zone {self.name!r}: the polygon must be simple with a positive area")
        shapely.prepare(self.polygon)

    @classmethod
    def from_points(
        cls, name: str, kind: ZoneKind, points: list[tuple[float, float]], cameras: frozenset[str] | None = None
    ) -> Zone:
        return cls(name, kind, shapely.Polygon(points), cameras)

    @property
    def area_m2(self) -> float:
        return float(self.polygon.area)

    def seen_by(self, camera: str) -> bool:
        return self.cameras is None or camera in self.cameras

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """(N,) bool: which floor points lie inside (NaN points never do)."""
        return shapely.contains_xy(self.polygon, xy[:, 0], xy[:, 1])


@dataclass(frozen=True, slots=True)
class CountingLine:
    """A line segment a→b on the floor. `in_side` is the side of the directed line that counts as "in"."""

    name: str
    a: tuple[float, float]
    b: tuple[float, float]
    in_side: LineSide = "left"
    cameras: frozenset[str] | None = None
    _unit_normal: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        direction = np.subtract(self.b, self.a, dtype=np.float64)
        length = float(np.hypot(*direction))
        if length <= MIN_LINE_LENGTH_M:
            raise ValueError(f"line {self.name!r}: a and b must be distinct points")
        # Left of a→b is the positive side of this normal.
        object.__setattr__(self, "_unit_normal", np.array([-direction[1], direction[0]]) / length)

    @property
    def length_m(self) -> float:
        return float(np.hypot(*np.subtract(self.b, self.a)))

    def seen_by(self, camera: str) -> bool:
        return self.cameras is None or camera in self.cameras

    def signed_distance(self, xy: np.ndarray) -> np.ndarray:
        """(N,) metres from the infinite line, positive on the left of a→b."""
        return (xy - np.asarray(self.a)) @ self._unit_normal

    def in_sign(self) -> int:
        return 1 if self.in_side == "left" else -1

    def segment_crosses(self, p: np.ndarray, q: np.ndarray, extend_m: float) -> bool:
        """Whether the step p→q passes through the segment a–b lengthened by `extend_m` at each end."""
        a, b = np.asarray(self.a, dtype=np.float64), np.asarray(self.b, dtype=np.float64)
        along = (b - a) / self.length_m
        segment = shapely.LineString([a - along * extend_m, b + along * extend_m])
        return bool(shapely.intersects(segment, shapely.LineString([p, q])))


@dataclass(frozen=True, slots=True)
class Funnel:
    """Zones visitors are expected to pass in order; a funnel counts how many get how far."""

    name: str
    steps: tuple[str, ...]
