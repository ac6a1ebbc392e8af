"""Counting-line crossings (vision.analytics.lines), in the style of supervision's line-counter tests: tables of
scripted paths, one floor point per frame at 5 fps, with the exact crossings expected.

The line runs from a = (0, 0) to b = (4, 0), so the left of a→b (the default "in" side) is +y. The margin is
0.3 m: points with |y| <= 0.3 are undecided.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import sample_times, track_history
from vision.analytics.lines import line_crossings
from vision.core.places import CountingLine

PERIOD = 0.2
START = 1000.0
MARGIN = 0.3
NAN = float("nan")


def door(in_side: str = "left") -> CountingLine:
    return CountingLine("door", (0.0, 0.0), (4.0, 0.0), in_side=in_side)


def across(ys: list[float], x: float = 2.0) -> list[tuple[float, float]]:
    """A path at a fixed x through the given y, one point per frame."""
    return [(x, y) for y in ys]


def crossings_of(points: list[tuple[float, float]], line: CountingLine | None = None, margin: float = MARGIN):
    track = track_history(sample_times(len(points), PERIOD, START), points, camera="cam-3", track="p-9")
    return line_crossings(track, line or door(), margin)


@pytest.mark.parametrize(
    ("points", "in_side", "expected"),
    [
        pytest.param(across([-1, -0.6, -0.2, 0.2, 0.6, 1]), "left", ["in"], id="cross-once-in"),
        pytest.param(across([1, 0.6, 0.2, -0.2, -0.6, -1]), "left", ["out"], id="cross-once-out"),
        pytest.param(across([-1, -0.6, -0.2, 0.2, 0.6, 1]), "right", ["out"], id="in-side-right-to-left-is-out"),
        pytest.param(across([1, 0.6, 0.2, -0.2, -0.6, -1]), "right", ["in"], id="in-side-right-left-to-right-is-in"),
        pytest.param(across([-1, 1]), "left", ["in"], id="one-step-across"),
        pytest.param(
            across([-1, -0.5, 0.5, 1, 0.5, -0.5, -1, -0.5, 0.5, 1]),
            "left",
            ["in", "out", "in"],
            id="back-and-forth",
        ),
        pytest.param(
            across([-1, -0.5, -0.2, 0.1, -0.1, 0.25, -0.25, 0.2, -0.3, -0.5, -1]),
            "left",
            [],
            id="jitter-within-the-margin",
        ),
        pytest.param(
            across([-1, -0.2, 0.1, -0.1, 0.2, -0.25, 0.3, 0.5, 1]),
            "left",
            ["in"],
            id="jitter-then-commits",
        ),
        pytest.param(across([-1, -0.6, -0.31, 0.29, 0.31, 0.6]), "left", ["in"], id="decided-just-beyond-margin"),
        pytest.param(across([-1, -0.6, -0.31, 0.3, -0.31, -1]), "left", [], id="band-edge-is-undecided"),
        pytest.param(across([0.1, 0.0, -0.2, -0.5, -1]), "left", [], id="starts-in-the-band-and-leaves"),
        pytest.param(across([0.25, -0.25, 0.5, 1]), "left", [], id="starts-in-the-band-leaves-on-the-other-side"),
        pytest.param(across([-1, -0.5, -0.1, 0.1, 0.2]), "left", [], id="ends-in-the-band"),
        pytest.param(across([0.2, -0.2, 0.1, 0.0]), "left", [], id="only-in-the-band"),
        pytest.param(across([-1, -0.5, -0.4, -1]), "left", [], id="approaches-and-turns-back"),
        pytest.param(across([-1, -0.5, 0.0, 0.5, 1], x=5.0), "left", [], id="around-the-far-end"),
        pytest.param(across([1, 0.5, 0.0, -0.5, -1], x=-1.0), "left", [], id="around-the-near-end"),
        pytest.param(across([-1, -0.5, 0.0, 0.5, 1], x=4.2), "left", ["in"], id="past-b-within-the-margin"),
        pytest.param(across([-1, -0.5, 0.0, 0.5, 1], x=-0.2), "left", ["in"], id="before-a-within-the-margin"),
        pytest.param(across([-1, -0.5, 0.0, 0.5, 1], x=4.4), "left", [], id="past-b-beyond-the-margin"),
        pytest.param(
            [(5.0, -2.0), (5.0, -1.0), (5.0, 1.0), (4.0, 2.0), (2.0, 2.0), (2.0, 1.0), (2.0, -1.0)],
            "left",
            ["out"],
            id="around-the-end-then-back-through",
        ),
        pytest.param(
            [(0.5, -1.0), (1.1, -0.6), (1.7, -0.2), (2.3, 0.2), (2.9, 0.6), (3.5, 1.0)],
            "left",
            ["in"],
            id="diagonal",
        ),
        pytest.param(
            [(2.0, -1.0), (NAN, NAN), (2.0, -0.5), (NAN, NAN), (2.0, 0.5), (2.0, 1.0)],
            "left",
            ["in"],
            id="nan-samples-ignored",
        ),
        pytest.param([(2.0, -1.0), (NAN, NAN), (NAN, NAN)], "left", [], id="one-known-sample"),
        pytest.param([(2.0, -1.0)], "left", [], id="single-sample"),
        pytest.param([], "left", [], id="empty"),
        pytest.param(across([-1, -1, -1, -1]), "left", [], id="standing-still"),
        pytest.param(
            [(x, 0.0) for x in np.linspace(-2, 6, 9)],
            "left",
            [],
            id="walks-along-the-line",
        ),
    ],
)
def test_line_crossings_scripted(points: list[tuple[float, float]], in_side: str, expected: list[str]) -> None:
    crossings = crossings_of(points, door(in_side))
    assert [c.direction for c in crossings] == expected
    times = [c.t for c in crossings]
    assert times == sorted(times)
    assert all(START <= t <= START + PERIOD * max(len(points) - 1, 0) for t in times)


def test_crossing_fields() -> None:
    (crossing,) = crossings_of(across([-1, 1]))
    assert (crossing.camera, crossing.track, crossing.line, crossing.direction) == ("cam-3", "p-9", "door", "in")


@pytest.mark.parametrize(
    ("ys", "expected_t"),
    [
        # One step from d = -0.6 to d = +0.4: zero is 60 % of the way, 0.12 s into the 0.2 s step.
        pytest.param([-0.6, 0.4], START + 0.12, id="one-step"),
        pytest.param([-1.0, -1.0, -0.5, 1.5, 2.0], START + 0.4 + 0.2 * 0.25, id="later-step"),
        # Symmetric band samples: the crossing is midway between the two decided samples either way.
        pytest.param([-0.5, -0.2, 0.2, 0.5], START + 0.3, id="through-the-band-symmetric"),
        pytest.param([1.0, -1.0], START + 0.1, id="midway-out"),
    ],
)
def test_crossing_time_is_interpolated_on_signed_distance(ys: list[float], expected_t: float) -> None:
    (crossing,) = crossings_of(across(ys))
    assert crossing.t == pytest.approx(expected_t, abs=1e-9)


def test_back_and_forth_times_and_order() -> None:
    ys = [-1, -0.5, 0.5, 1, 0.5, -0.5, -1, -0.5, 0.5, 1]
    crossings = crossings_of(across(ys))
    assert [(c.direction, c.t) for c in crossings] == [
        ("in", pytest.approx(START + 0.3)),
        ("out", pytest.approx(START + 0.9)),
        ("in", pytest.approx(START + 1.5)),
    ]


def test_diagonal_line_and_diagonal_path() -> None:
    # a→b along (1, 1): the left is above y = x. The path goes from below (2, 0) to above (0, 2) at 45°.
    line = CountingLine("diag", (0.0, 0.0), (2.0, 2.0))
    points = [(2.0, 0.0), (1.5, 0.5), (1.0, 1.0), (0.5, 1.5), (0.0, 2.0)]
    (crossing,) = crossings_of(points, line)
    assert crossing.direction == "in"
    # Signed distances: -√2, -√2/2, 0, +√2/2, +√2. Margin 0.3: decided at frames 1 and 3, zero halfway.
    assert crossing.t == pytest.approx(START + 0.4)
    assert [c.direction for c in crossings_of(points[::-1], line)] == ["out"]


def test_margin_zero_counts_a_step_that_touches_nothing_but_the_line() -> None:
    # With no margin every non-zero distance is decided.
    crossings = crossings_of(across([-0.05, 0.05, -0.05]), margin=0.0)
    assert [c.direction for c in crossings] == ["in", "out"]
    assert crossings_of(across([-0.05, 0.05, -0.05])) == []


def test_reversing_the_line_swaps_the_direction() -> None:
    path = across([-1, -0.5, 0.5, 1])
    assert [c.direction for c in crossings_of(path, CountingLine("door", (0, 0), (4, 0)))] == ["in"]
    assert [c.direction for c in crossings_of(path, CountingLine("door", (4, 0), (0, 0)))] == ["out"]
    assert [c.direction for c in crossings_of(path, CountingLine("door", (4, 0), (0, 0), in_side="right"))] == ["in"]


def test_walking_around_the_end_through_the_band_is_not_a_crossing() -> None:
    """A 2 m doorway from (0, 0) to (2, 0); lengthened by the 0.3 m margin it ends at x = 2.3. The person (2 fps
    here, walking pace) comes down on the left side at x = 1, walks along the doorway inside the band and past its
    end, and steps to the right side at x = 4: the path meets the infinite line at x ≈ 3.33, never the doorway.
    The straight chord between the two decided samples around the band walk, (1, 0.5) → (4, -1), would pass
    through (2, 0), but that is not where the person walked."""
    doorway = CountingLine("doorway", (0.0, 0.0), (2.0, 0.0))
    path = [(1.0, 1.0), (1.0, 0.5), (2.0, 0.25), (3.0, 0.1), (4.0, -0.2), (4.0, -1.0), (4.0, -1.5)]
    track = track_history(sample_times(len(path), 0.5, START), path)
    assert line_crossings(track, doorway, MARGIN) == []
    # Control: the same walk 1.5 m further left does go through the doorway (at x ≈ 3.33 - 1.5 = 1.83).
    shifted = track_history(sample_times(len(path), 0.5, START), [(x - 1.5, y) for x, y in path])
    assert [c.direction for c in line_crossings(shifted, doorway, MARGIN)] == ["out"]


def test_going_through_the_doorway_then_along_the_band_is_a_crossing() -> None:
    """The converse: the person steps through the 2 m doorway at x = 1 (from y = +0.5 to y = -0.1), then walks
    along it inside the band and past its end, deciding the right side only at (4, -0.5). The path meets the
    doorway at (1, 0); the chord between the decided samples, (1, 0.5) → (4, -0.5), meets the infinite line at
    x = 2.5, past the lengthened end (2.3), and must not be what decides."""
    doorway = CountingLine("doorway", (0.0, 0.0), (2.0, 0.0))
    path = [(1.0, 1.0), (1.0, 0.5), (1.0, 0.1), (1.0, -0.1), (2.0, -0.2), (3.0, -0.25), (4.0, -0.5), (4.0, -1.0)]
    track = track_history(sample_times(len(path), 0.5, START), path)
    assert [c.direction for c in line_crossings(track, doorway, MARGIN)] == ["out"]
