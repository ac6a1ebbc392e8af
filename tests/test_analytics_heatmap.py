"""Dwell heatmaps (vision.analytics.heatmap): presence seconds, grid geometry and accumulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vision.analytics.heatmap import HeatmapAccumulator, presence_seconds
from vision.core.grid import GridGeometry

NAN = float("nan")
MAX_GAP = 2.0


@pytest.mark.parametrize(
    ("time_s", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param([5.0], [0.0], id="single"),
        pytest.param([0.0, 0.2, 0.4, 0.6], [0.2, 0.2, 0.2, 0.0], id="regular"),
        pytest.param([0.0, 0.5, 3.0, 3.5], [0.5, 0.0, 0.5, 0.0], id="gap-over-max-counts-nothing"),
        pytest.param([0.0, 2.0, 2.5], [2.0, 0.5, 0.0], id="gap-equal-to-max-counts"),
        pytest.param([0.0, 2.25, 2.5], [0.0, 0.25, 0.0], id="gap-just-over-max"),
    ],
)
def test_presence_seconds(time_s: list[float], expected: list[float]) -> None:
    seconds = presence_seconds(np.asarray(time_s, dtype=np.float64), MAX_GAP)
    assert seconds.shape == (len(time_s),)
    assert seconds.tolist() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("extent", "cell_m", "columns", "rows"),
    [
        ((0.0, 0.0, 10.0, 8.0), 0.5, 20, 16),
        ((0.0, 0.0, 10.1, 8.0), 0.5, 21, 16),  # a part cell still gets a column
        ((-3.0, 2.0, 3.0, 3.0), 1.0, 6, 1),
        ((0.0, 0.0, 1.0, 0.7), 0.1, 10, 7),  # 1 / 0.1 and 0.7 / 0.1 are not exact in binary
        ((0.0, 0.0, 0.3, 0.3), 1.0, 1, 1),  # smaller than one cell
    ],
)
def test_covering_dimensions(extent: tuple[float, float, float, float], cell_m: float, columns: int, rows: int) -> None:
    grid = GridGeometry.covering(*extent, cell_m)
    assert (grid.x0, grid.y0, grid.cell_m) == (extent[0], extent[1], cell_m)
    assert (grid.columns, grid.rows) == (columns, rows)
    assert grid.x0 + grid.columns * grid.cell_m >= extent[2] - 1e-9
    assert grid.y0 + grid.rows * grid.cell_m >= extent[3] - 1e-9
    assert HeatmapAccumulator(grid).person_seconds.shape == (rows, columns)


@pytest.mark.parametrize(
    ("extent", "cell_m"),
    [
        ((0.0, 0.0, 1.0, 1.0), 0.0),
        ((0.0, 0.0, 1.0, 1.0), -0.5),
        ((1.0, 0.0, 1.0, 1.0), 0.5),
        ((0.0, 1.0, 1.0, 0.0), 0.5),
    ],
)
def test_covering_rejects_empty_grids(extent: tuple[float, float, float, float], cell_m: float) -> None:
    with pytest.raises(ValueError):
        GridGeometry.covering(*extent, cell_m)


GRID = GridGeometry(x0=1.0, y0=2.0, cell_m=0.5, columns=4, rows=2)  # x in [1, 3), y in [2, 3)


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ((1.0, 2.0), (0, 0)),  # the grid's corner is in the first cell
        ((1.5, 2.0), (0, 1)),  # a cell's lower x edge belongs to it
        ((1.4999, 2.4999), (0, 0)),
        ((1.5, 2.5), (1, 1)),
        ((2.9999, 2.9999), (1, 3)),
        ((2.5, 2.0), (0, 3)),
        ((3.0, 2.0), None),  # the grid's upper x edge is outside
        ((1.0, 3.0), None),  # the grid's upper y edge is outside
        ((0.9999, 2.0), None),
        ((1.0, 1.9999), None),
        ((-100.0, -100.0), None),
        ((NAN, 2.5), None),
        ((1.5, NAN), None),
        ((NAN, NAN), None),
        ((np.inf, 2.5), None),
    ],
)
def test_cells_at_edges(point: tuple[float, float], expected: tuple[int, int] | None) -> None:
    row, col, inside = GRID.cells(np.array([point], dtype=np.float64))
    assert row.dtype == np.int64
    assert col.dtype == np.int64
    if expected is None:
        assert not inside[0]
    else:
        assert inside[0]
        assert (row[0], col[0]) == expected


def test_cells_vectorised_rows_follow_y_and_columns_follow_x() -> None:
    xy = np.array([[1.2, 2.7], [2.7, 2.2], [5.0, 5.0]])
    row, col, inside = GRID.cells(xy)
    assert inside.tolist() == [True, True, False]
    assert row[:2].tolist() == [1, 0]
    assert col[:2].tolist() == [0, 3]


def test_cells_of_no_points() -> None:
    row, col, inside = GRID.cells(np.zeros((0, 2)))
    assert len(row) == len(col) == len(inside) == 0


def test_standing_still_fills_one_cell() -> None:
    # 11 samples at 5 fps standing at (1.7, 2.6): 2 s in cell (row 1, col 1); then 2 s walking off the grid.
    time_s = 0.2 * np.arange(21)
    xy = np.array([[1.7, 2.6]] * 11 + [[3.5 + 0.1 * i, 2.6] for i in range(10)])
    heatmap = HeatmapAccumulator(GRID)
    counted = heatmap.add(xy, presence_seconds(time_s, MAX_GAP))
    assert counted == pytest.approx(2.2)  # the 11 samples, each standing for the 0.2 s until the next
    expected = np.zeros((2, 4))
    expected[1, 1] = 2.2
    np.testing.assert_allclose(heatmap.person_seconds, expected)


def test_add_accumulates() -> None:
    heatmap = HeatmapAccumulator(GRID)
    xy = np.array([[1.2, 2.2], [2.2, 2.7], [9.0, 9.0]])
    assert heatmap.add(xy, np.array([1.0, 2.0, 4.0])) == pytest.approx(3.0)
    assert heatmap.add(xy[:1], np.array([0.5])) == pytest.approx(0.5)
    expected = np.zeros((2, 4))
    expected[0, 0], expected[1, 2] = 1.5, 2.0
    np.testing.assert_allclose(heatmap.person_seconds, expected)
    assert heatmap.add(np.zeros((0, 2)), np.zeros(0)) == 0.0
    np.testing.assert_allclose(heatmap.person_seconds, expected)


def test_to_json() -> None:
    document = GRID.to_json()
    assert {k: document[k] for k in ("x0_m", "y0_m", "cell_m", "columns", "rows")} == {
        "x0_m": 1.0,
        "y0_m": 2.0,
        "cell_m": 0.5,
        "columns": 4,
        "rows": 2,
    }


PROPERTY_GRID = GridGeometry.covering(0.0, 0.0, 10.0, 8.0, 0.5)

coordinate = st.one_of(
    st.floats(-3.0, 13.0, allow_nan=False),  # some points off the grid
    st.just(NAN),
    st.sampled_from([0.0, 0.5, 7.5, 8.0, 9.5, 10.0]),  # cell and grid edges
)


@st.composite
def tracks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    count = draw(st.integers(0, 40))
    steps = draw(
        st.lists(
            st.one_of(st.floats(0.01, 1.0), st.floats(2.0001, 30.0), st.just(MAX_GAP)),
            min_size=count,
            max_size=count,
        )
    )
    start = draw(st.floats(0.0, 1.8e9))
    time_s = start + np.concatenate([[0.0], np.cumsum(steps)])[:count]
    xy = np.array([[draw(coordinate), draw(coordinate)] for _ in range(count)], dtype=np.float64).reshape(-1, 2)
    return time_s, xy


@settings(max_examples=300, deadline=None)
@given(track=tracks())
def test_heatmap_total_is_the_time_spent_inside_the_grid(track: tuple[np.ndarray, np.ndarray]) -> None:
    time_s, xy = track
    assume(len(time_s) < 2 or bool(np.all(np.diff(time_s) > 0)))  # TrackHistory times strictly increase
    seconds = presence_seconds(time_s, MAX_GAP)
    assert seconds.shape == time_s.shape
    assert np.all(seconds >= 0)
    assert np.all(seconds <= MAX_GAP)
    if len(time_s):
        assert seconds[-1] == 0.0
        assert seconds.sum() <= time_s[-1] - time_s[0] + 1e-6
        steps = np.diff(time_s)
        if np.all(steps <= MAX_GAP):
            assert seconds.sum() == pytest.approx(time_s[-1] - time_s[0], rel=1e-9, abs=1e-6)

    grid = PROPERTY_GRID
    on_grid = (xy[:, 0] >= 0.0) & (xy[:, 0] < 10.0) & (xy[:, 1] >= 0.0) & (xy[:, 1] < 8.0)  # NaN: False
    heatmap = HeatmapAccumulator(grid)
    counted = heatmap.add(xy, seconds)
    expected = float(seconds[on_grid].sum())
    assert counted == pytest.approx(expected, abs=1e-6)
    assert heatmap.person_seconds.sum() == pytest.approx(expected, abs=1e-6)
    assert np.all(heatmap.person_seconds >= 0)
    if len(time_s):
        assert heatmap.person_seconds.sum() <= time_s[-1] - time_s[0] + 1e-6

    row, col, inside = grid.cells(xy)
    assert inside.tolist() == on_grid.tolist()
    for (x, y), r, c in zip(xy[inside], row[inside], col[inside], strict=True):
        assert grid.x0 + c * grid.cell_m <= x < grid.x0 + (c + 1) * grid.cell_m
        assert grid.y0 + r * grid.cell_m <= y < grid.y0 + (r + 1) * grid.cell_m
    # Each cell holds exactly the seconds of the samples that fall in it.
    expected_grid = np.zeros((grid.rows, grid.columns))
    np.add.at(expected_grid, (row[inside], col[inside]), seconds[inside])
    np.testing.assert_allclose(heatmap.person_seconds, expected_grid, atol=1e-9)
