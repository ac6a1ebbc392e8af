"""The heatmap pictures (vision.sinks.pictures): the floor heatmap's smoothing, shared colour scale, title, metre
axes, legible labels and the counting lines' "in" arrows (checked against vision.analytics.lines), and the camera
view's heatmap in the same colours. Measured on the pictures' pixels."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from tests.helpers import sample_times, track_history
from vision.analytics.lines import line_crossings
from vision.core.floorplan import FloorPlanMapping, PlanPicture
from vision.core.grid import GridGeometry
from vision.core.heat_colours import heat_colours_bgr
from vision.core.places import CountingLine, Zone
from vision.runtime.site_outputs import heatmap_title
from vision.sinks.pictures import (
    AXIS_BOTTOM_PX,
    AXIS_LEFT_PX,
    AXIS_TOP_PX,
    _colour_scale,
    _tick_step_m,
    _ticks,
    heatmap_picture,
    image_heatmap_picture,
    in_arrow,
    place_labels,
)

CELL_M = 0.25
PX_PER_M = 40  # the plain plan's scale
GEOMETRY = GridGeometry(0.0, 0.0, CELL_M, 40, 32)  # 10 x 8 m: a plain plan of 400 x 320 pixels
PLAN_SIZE = (400, 320)
PLAIN = 245  # the plain plan's background, between its grid lines
FLOOR_OPACITY = 0.85


def plot(picture: np.ndarray, size: tuple[int, int] = PLAN_SIZE, title_px: int = 0) -> np.ndarray:
    """The floor part of a heatmap picture (without title, axes and colour scale)."""
    top = title_px + AXIS_TOP_PX
    return picture[top : top + size[1], AXIS_LEFT_PX : AXIS_LEFT_PX + size[0]]


def pixel_of(x_m: float, y_m: float) -> tuple[int, int]:
    """(row, col) of the plain plan's pixel at a floor point."""
    return int(y_m * PX_PER_M), int(x_m * PX_PER_M)


def cells(x0_m: float, y0_m: float, x1_m: float, y1_m: float) -> tuple[slice, slice]:
    return slice(round(y0_m / CELL_M), round(y1_m / CELL_M)), slice(round(x0_m / CELL_M), round(x1_m / CELL_M))


def blended(fraction: float, opacity: float, background: int = PLAIN) -> np.ndarray:
    colour = heat_colours_bgr(np.array(fraction)).astype(float)
    return np.round(background * (1 - opacity) + colour * opacity)


def darkness(pixel: np.ndarray) -> float:
    return 765.0 - float(np.sum(pixel, dtype=float))


def test_busy_places_are_darker_in_the_shared_scale_and_empty_floor_untouched():
    grid = np.zeros((GEOMETRY.rows, GEOMETRY.columns))
    grid[cells(1, 1, 4, 4)] = 10.0  # 3 m square: its middle is the scale's top after 0.5 m smoothing
    grid[cells(6, 1, 9, 4)] = 3.0
    floor = plot(heatmap_picture(grid, GEOMETRY, None))
    busy, quiet = floor[pixel_of(2.5, 2.5)], floor[pixel_of(7.5, 2.5)]
    assert darkness(busy) > darkness(quiet) > darkness(np.array([PLAIN] * 3)) + 60
    np.testing.assert_allclose(busy, blended(1.0, FLOOR_OPACITY), atol=1)  # dark red: YlOrRd's top
    np.testing.assert_allclose(quiet, blended(0.3, FLOOR_OPACITY), atol=2)
    assert busy[2] > busy[1] and busy[2] > busy[0], "red, not inferno's yellow"
    np.testing.assert_array_equal(floor[pixel_of(5.5, 6.5)], [PLAIN] * 3)  # 2.5 m from any presence


def test_smoothing_fills_holes_between_busy_cells_and_leaves_no_cell_edges():
    grid = np.zeros((GEOMETRY.rows, GEOMETRY.columns))
    grid[16, 16] = grid[16, 18] = 5.0  # two busy cells with an empty one between
    hole = pixel_of(17.5 * CELL_M, 16.5 * CELL_M)
    raw = plot(heatmap_picture(grid, GEOMETRY, None, sigma_m=0.0))
    np.testing.assert_array_equal(raw[hole], [PLAIN] * 3)  # unsmoothed: a hole
    smooth = plot(heatmap_picture(grid, GEOMETRY, None))
    assert darkness(smooth[hole]) > 200, smooth[hole]
    assert smooth[hole][2] > max(smooth[hole][0], smooth[hole][1]) + 50, "heat coloured: red"

    rng = np.random.default_rng(3)
    speckle = np.where(rng.random(grid.shape) < 0.3, rng.exponential(2.0, grid.shape), 0.0)
    row = 4 * PX_PER_M + PX_PER_M // 2  # a row of pixels between the plain plan's grid lines

    def largest_step(picture: np.ndarray) -> float:
        steps = np.abs(np.diff(plot(picture)[row].astype(float), axis=0)).max(axis=1)
        off_lines = np.ones(len(steps), bool)
        for metre in range(11):  # ignore the plan's own grid lines
            off_lines[max(0, metre * PX_PER_M - 2) : metre * PX_PER_M + 2] = False
        return float(steps[off_lines].max())

    assert largest_step(heatmap_picture(speckle, GEOMETRY, None, sigma_m=0.0)) > 40, "speckle"
    assert largest_step(heatmap_picture(speckle, GEOMETRY, None)) < 12, "a smooth field"


def test_faint_values_fade_to_transparent():
    grid = np.zeros((GEOMETRY.rows, GEOMETRY.columns))
    grid[16, 20] = 10.0
    floor = plot(heatmap_picture(grid, GEOMETRY, None))
    centre_row = floor[pixel_of(0, 16.5 * CELL_M)[0]].astype(float)
    darkness_along = 765 - centre_row[PX_PER_M * 5 + 10 : PX_PER_M * 7].sum(axis=1)  # from the peak outwards
    assert darkness_along[0] > 150
    grid_lines = [index for index in range(len(darkness_along)) if (PX_PER_M * 5 + 10 + index) % PX_PER_M in (0, 39)]
    fading = np.delete(darkness_along, grid_lines)
    assert (np.diff(fading) <= 1).all(), "fades out without a step"
    assert fading[-1] == 765 - 3 * PLAIN


def test_title_band_above_and_metre_axes():
    grid = np.zeros((GEOMETRY.rows, GEOMETRY.columns))
    grid[cells(1, 1, 3, 3)] = 4.0
    title = ["Dwell heatmap, site s1", "2009-03-12 10:00 to 10:01"]
    plain = heatmap_picture(grid, GEOMETRY, None)
    titled = heatmap_picture(grid, GEOMETRY, None, title=title)
    band = titled.shape[0] - plain.shape[0]
    assert band == 52, "two title lines"
    np.testing.assert_array_equal(titled[band:], plain)
    text = titled[:band].min(axis=2) < 100
    assert text[:22].sum() > 100 and text[22:].sum() > 100, "both lines written in dark text"
    assert not text[:, titled.shape[1] // 2 :].any(), "short lines stay on the left"

    assert plain.shape[0] == AXIS_TOP_PX + PLAN_SIZE[1] + AXIS_BOTTOM_PX
    assert [label for _, label in _ticks(0.0, 400, 1 / PX_PER_M)] == ["0", "2", "4", "6", "8", "10"]
    assert _ticks(-14.0, 800, 1 / PX_PER_M)[:2] == [(0, "-14"), (80, "-12")]
    assert [_tick_step_m(pixels) for pixels in (400, 40, 10, 4, 0.5)] == [0.2, 2, 5, 20, 100]
    below = AXIS_TOP_PX + PLAN_SIZE[1] + 2  # a row through the x axis's tick marks
    marks = np.flatnonzero(plain[below, AXIS_LEFT_PX : AXIS_LEFT_PX + PLAN_SIZE[0]].max(axis=1) < 60)
    assert marks.tolist() == [0, 80, 160, 240, 320, 399]
    beside = AXIS_LEFT_PX - 3  # a column through the y axis's tick marks
    marks = np.flatnonzero(plain[AXIS_TOP_PX : AXIS_TOP_PX + PLAN_SIZE[1], beside].max(axis=1) < 60)
    assert marks.tolist() == [0, 80, 160, 240, 319]
    labels = plain[below + 5 : below + 20, AXIS_LEFT_PX - 10 : AXIS_LEFT_PX + 10].min(axis=2) < 100
    assert labels.any(), "the 0 below the first tick"


def test_labels_stay_legible_on_white_boxes_over_the_heat():
    zone = Zone.from_points("till", "queue", [(1, 1), (6, 1), (6, 5), (1, 5)])
    line = CountingLine("door", (2.0, 6.5), (8.0, 6.5), in_side="left")
    quiet = plot(heatmap_picture(np.zeros((GEOMETRY.rows, GEOMETRY.columns)), GEOMETRY, None, [zone], [line]))
    busy_grid = np.full((GEOMETRY.rows, GEOMETRY.columns), 5.0)
    busy = plot(heatmap_picture(busy_grid, GEOMETRY, None, [zone], [line]))
    mapping = FloorPlanMapping(1 / PX_PER_M)
    labels = place_labels(mapping, PLAN_SIZE, [zone], [line])
    assert [label.text for label in labels] == ["till (queue)", "door", "in"]
    for label in labels:
        x0, y0, x1, y1 = label.box
        assert 0 <= x0 < x1 < PLAN_SIZE[0] and 0 <= y0 < y1 < PLAN_SIZE[1]
        np.testing.assert_array_equal(busy[y0 : y1 + 1, x0 : x1 + 1], quiet[y0 : y1 + 1, x0 : x1 + 1])
        inside = busy[y0 + 1 : y1, x0 + 1 : x1]
        assert (inside == 255).all(axis=2).mean() > 0.6, "a white box"
        assert (np.abs(inside.astype(int) - label.colour).sum(axis=2) < 60).any(), "text in the place's colour"
    x0, y0, x1, y1 = labels[0].box
    assert darkness(busy[y1 + 30, x0 + 10]) > darkness(quiet[y1 + 30, x0 + 10]) + 100, "heat all around"


@pytest.mark.parametrize(
    ("a", "b", "in_side"),
    [
        ((2.0, 4.0), (8.0, 4.0), "right"),
        ((2.0, 4.0), (8.0, 4.0), "left"),
        ((5.0, 1.0), (5.0, 7.0), "left"),
        ((2.0, 1.5), (8.0, 6.5), "right"),
        ((8.0, 6.5), (2.0, 1.5), "right"),
    ],
)
def test_the_arrow_points_into_the_side_lines_counts_as_in(a, b, in_side):
    line = CountingLine("door", a, b, in_side=in_side)
    floor = plot(heatmap_picture(np.zeros((GEOMETRY.rows, GEOMETRY.columns)), GEOMETRY, None, lines=[line]))
    mapping = FloorPlanMapping(1 / PX_PER_M)
    tail, tip = in_arrow(line, mapping)
    np.testing.assert_allclose(tail, mapping.to_pixel(np.array([a, b]).mean(axis=0, keepdims=True))[0])
    assert np.hypot(*(tip - tail)) == pytest.approx(40)
    assert line.in_sign() * line.signed_distance(mapping.to_floor(tip[None]))[0] == pytest.approx(1.0), "1 m in"
    rows, cols = np.indices(floor.shape[:2])
    blue, green, red = np.moveaxis(floor.astype(int), 2, 0)
    green = (green > blue + 40) & (green > red + 40)
    for label in place_labels(mapping, PLAN_SIZE, [], [line]):
        x0, y0, x1, y1 = label.box
        green[y0 : y1 + 1, x0 : x1 + 1] = False
    points = mapping.to_floor(np.column_stack([cols[green] + 0.5, rows[green] + 0.5]))
    near = np.hypot(*(mapping.to_pixel(points) - tail).T) < 50
    distance = line.signed_distance(points[near])
    arrow = points[near][np.abs(distance) > 0.2]  # off the line itself
    assert len(arrow) > 40, "an arrow is drawn"
    assert (line.in_sign() * line.signed_distance(arrow) > 0).all(), "all on one side"
    head = arrow.mean(axis=0)
    middle = np.mean([a, b], axis=0)
    path = np.linspace(2 * middle - head, head, 12)  # from the other side, past the middle, to the arrow
    crossings = line_crossings(track_history(sample_times(len(path)), path), line, margin_m=0.1)
    assert [crossing.direction for crossing in crossings] == ["in"]


def test_floor_plan_picture_with_an_offset_origin():
    geometry = GridGeometry(0.0, 0.0, 0.5, 8, 6)  # 4 x 3 m
    plan = PlanPicture(np.full((100, 120), 200, np.uint8), FloorPlanMapping(0.05, (-1.0, -1.0)))  # 6 x 5 m, grey
    grid = np.zeros((geometry.rows, geometry.columns))
    grid[2:4, 4:6] = 8.0  # floor x 2-3 m, y 1-2 m
    floor = plot(heatmap_picture(grid, geometry, plan), plan.size)
    hot = floor[round((1.5 + 1) / 0.05), round((2.5 + 1) / 0.05)]
    np.testing.assert_allclose(hot, blended(1.0, FLOOR_OPACITY, 200), atol=1)
    np.testing.assert_array_equal(floor[:, :19], 200)  # x < 0: off the grid
    np.testing.assert_array_equal(floor[:19], 200)  # y < 0


def test_colour_scales_run_light_at_the_bottom_to_dark_at_the_top():
    scale = _colour_scale(300, 10.0, clipped=True)
    bar = scale[30:280, 20]
    np.testing.assert_array_equal(bar[-1], heat_colours_bgr(np.array(0.0)))
    np.testing.assert_array_equal(bar[0], heat_colours_bgr(np.array(1.0)))
    assert all(darkness(upper) >= darkness(lower) for upper, lower in itertools.pairwise(bar))
    assert (scale[:, 36:].min(axis=2) < 100).sum() > 100, "labelled"


def test_camera_view_heatmap_uses_the_same_scale():
    grid = np.zeros((48, 64))
    grid[10:30, 10:30] = 6.0  # a large busy block: its middle is the scale's top after smoothing
    background = np.full((480, 640, 3), 120, np.uint8)
    picture = image_heatmap_picture(grid, 10, (640, 480), background, ["cam", "period"])
    body = picture[52:, :640]
    np.testing.assert_allclose(body[200, 200], blended(1.0, 0.7, 120), atol=1)
    np.testing.assert_array_equal(body[400, 500], [120] * 3)


def test_title_names_the_site_or_camera_the_period_and_the_smoothing():
    plan = SimpleNamespace(site_id="pets-campus", timezone="Europe/London", grid=SimpleNamespace(cell_m=0.25))
    period = {"start": "2009-03-12T10:00:00.285714+00:00", "end": "2009-03-12T10:00:57+00:00"}
    summary = {"period": period, "cameras": {"cam-b": {"period": {**period, "start": "2009-03-11T23:00:00+00:00"}}}}
    assert heatmap_title(plan, "site", summary) == [
        "Dwell heatmap, site pets-campus",
        "2009-03-12 10:00:00 to 10:00:57 (Europe/London), smoothed 0.5 m, person-seconds per 0.25 m cell",
    ]
    assert heatmap_title(plan, "cam-b", summary)[1].startswith("2009-03-11 23:00:00 to 2009-03-12 10:00:57 ")
    assert heatmap_title(plan, "cam-a", summary)[0] == "Dwell heatmap, site pets-campus, camera cam-a"
    assert heatmap_title(plan, "site", {"period": None})[1].startswith("no tracks (Europe/London)")
