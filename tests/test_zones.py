"""Zones and counting lines (vision.core.places): validation, vectorised membership and the side convention."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from vision.core.places import CountingLine, Zone

NAN = float("nan")


def square(name: str = "z", x0: float = 0.0, y0: float = 0.0, size: float = 2.0) -> Zone:
    return Zone.from_points(name, "area", [(x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size)])


@pytest.mark.parametrize(
    "points",
    [
        pytest.param([(0, 0), (2, 2), (2, 0), (0, 2)], id="bow-tie"),
        pytest.param([(0, 0), (1, 1), (2, 2)], id="collinear"),
        pytest.param([(0, 0), (2, 0), (2, 2), (1, -1), (0, 2)], id="self-crossing"),
        pytest.param([(0, 0), (0, 0), (0, 0)], id="a-point"),
    ],
)
def test_zone_rejects_polygons_that_are_not_simple_with_an_area(points: list[tuple[float, float]]) -> None:
    with pytest.raises(ValueError, match="'bad'"):
        Zone.from_points("bad", "area", points)


def test_zone_area_and_cameras() -> None:
    zone = Zone.from_points("till", "queue", [(0, 0), (4, 0), (4, 2), (0, 2)], cameras=frozenset({"cam-a"}))
    assert zone.area_m2 == pytest.approx(8.0)
    assert zone.seen_by("cam-a")
    assert not zone.seen_by("cam-b")
    assert square().seen_by("anything")


def test_zone_contains_is_vectorised_and_nan_is_never_inside() -> None:
    zone = square()  # [0, 2] x [0, 2]
    xy = np.array(
        [
            [1.0, 1.0],
            [0.01, 1.99],
            [3.0, 1.0],
            [-0.5, 0.5],
            [1.0, 2.5],
            [NAN, 1.0],
            [1.0, NAN],
            [NAN, NAN],
            [1.999, 0.001],
        ]
    )
    inside = zone.contains(xy)
    assert inside.shape == (len(xy),)
    assert inside.dtype == bool
    assert inside.tolist() == [True, True, False, False, False, False, False, False, True]


def test_zone_contains_a_concave_polygon() -> None:
    # An L shape: the notch at the top right is outside.
    zone = Zone.from_points("l", "area", [(0, 0), (4, 0), (4, 2), (2, 2), (2, 4), (0, 4)])
    inside = zone.contains(np.array([[1.0, 3.0], [3.0, 1.0], [3.0, 3.0]]))
    assert inside.tolist() == [True, True, False]


def test_zone_contains_no_points() -> None:
    assert square().contains(np.zeros((0, 2))).tolist() == []


def test_zone_accepts_a_shapely_polygon() -> None:
    zone = Zone("tri", "entrance", shapely.Polygon([(0, 0), (3, 0), (0, 3)]))
    assert zone.area_m2 == pytest.approx(4.5)
    assert zone.contains(np.array([[0.5, 0.5], [2.0, 2.0]])).tolist() == [True, False]


@pytest.mark.parametrize("b", [(1.0, 2.0), (1.0 + 1e-8, 2.0)])
def test_counting_line_rejects_zero_length(b: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="'door'"):
        CountingLine("door", (1.0, 2.0), b)


@pytest.mark.parametrize(
    ("a", "b", "point", "expected"),
    [
        # a→b along +x: the left is +y.
        ((0, 0), (4, 0), (2, 1), 1.0),
        ((0, 0), (4, 0), (2, -2), -2.0),
        ((0, 0), (4, 0), (9, 0), 0.0),  # on the infinite line, beyond the segment
        ((0, 0), (4, 0), (-3, 0.5), 0.5),
        # a→b along +y: the left is -x.
        ((0, 0), (0, 3), (-1, 1), 1.0),
        ((0, 0), (0, 3), (2, 1), -2.0),
        # Reversing the line flips the sign.
        ((4, 0), (0, 0), (2, 1), -1.0),
        # A diagonal a→b along (1, 1): the left is above y = x, at distance |y - x| / √2.
        ((0, 0), (2, 2), (0, 2), np.sqrt(2)),
        ((0, 0), (2, 2), (2, 0), -np.sqrt(2)),
        ((1, 1), (3, 3), (5, 5), 0.0),
    ],
)
def test_signed_distance_is_positive_on_the_left(
    a: tuple[float, float], b: tuple[float, float], point: tuple[float, float], expected: float
) -> None:
    line = CountingLine("door", a, b)
    assert line.signed_distance(np.array([point], dtype=np.float64))[0] == pytest.approx(expected, abs=1e-12)


def test_signed_distance_is_vectorised() -> None:
    line = CountingLine("door", (0, 0), (4, 0))
    distance = line.signed_distance(np.array([[0.0, 1.0], [1.0, -1.5], [NAN, 0.0]]))
    assert distance.shape == (3,)
    assert distance[:2].tolist() == pytest.approx([1.0, -1.5])
    assert np.isnan(distance[2])


def test_line_length_and_in_sign() -> None:
    assert CountingLine("d", (0, 0), (3, 4)).length_m == pytest.approx(5.0)
    assert CountingLine("d", (0, 0), (3, 4)).in_sign() == 1
    assert CountingLine("d", (0, 0), (3, 4), in_side="right").in_sign() == -1


def test_line_cameras() -> None:
    line = CountingLine("d", (0, 0), (1, 0), cameras=frozenset({"cam-a"}))
    assert line.seen_by("cam-a")
    assert not line.seen_by("cam-b")
    assert CountingLine("d", (0, 0), (1, 0)).seen_by("cam-b")


@pytest.mark.parametrize(
    ("p", "q", "extend_m", "expected"),
    [
        ((2, -1), (2, 1), 0.0, True),  # through the middle
        ((4.2, -1), (4.2, 1), 0.0, False),  # past the end b = (4, 0)
        ((4.2, -1), (4.2, 1), 0.3, True),  # ... but within the lengthening
        ((4.4, -1), (4.4, 1), 0.3, False),
        ((-0.2, -1), (-0.2, 1), 0.3, True),  # before a, within the lengthening
        ((-0.4, -1), (-0.4, 1), 0.3, False),
        ((2, 0.5), (3, 1), 0.3, False),  # does not reach the line
        ((0, 1), (4, -1), 0.0, True),  # diagonal through (2, 0)
    ],
)
def test_segment_crosses(p: tuple[float, float], q: tuple[float, float], extend_m: float, expected: bool) -> None:
    line = CountingLine("door", (0, 0), (4, 0))
    assert line.segment_crosses(np.array(p, float), np.array(q, float), extend_m=extend_m) is expected
