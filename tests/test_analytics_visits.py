"""Zone visits with hysteresis (vision.analytics.visits), from scripted frame-by-frame paths.

Each path is a string with one character per sample, `PERIOD` seconds apart: `I` inside the zone, `O` outside
it, `N` no floor position (NaN). The expected visits are (first index, last index) of the inside samples that
open and close each one, so t_in = index · PERIOD and t_out likewise. PERIOD is 0.25 s, exact in binary floating
point, so a run that lasts exactly `min_inside_s` or `min_outside_s` is tested at the threshold itself.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import sample_times, track_history
from vision.analytics.site import SiteFlow
from vision.analytics.visits import stays, zone_visits
from vision.config.build import FlowPlan
from vision.core.flow import FlowSettings
from vision.core.places import Zone
from vision.runtime.site_outputs import summarise_tracks

PERIOD = 0.25
START = 100.0
ZONE = Zone.from_points("shelf", "area", [(0, 0), (2, 0), (2, 2), (0, 2)])
POINTS = {"I": (1.0, 1.0), "O": (5.0, 5.0), "N": (float("nan"), float("nan"))}


def scripted(pattern: str, camera: str = "cam", track: str = "t1"):
    return track_history(
        sample_times(len(pattern), PERIOD, START), [POINTS[c] for c in pattern], camera=camera, track=track
    )


def at(index: int) -> float:
    return START + PERIOD * index


CASES = [
    # pattern, min_inside_s, min_outside_s, expected (first index, last index) per visit
    pytest.param("OOOOIIIIIIIIOOOOOO", 1.0, 1.0, [(4, 11)], id="clean-enter-and-exit"),
    pytest.param("IIIIIIOOOOO", 1.0, 1.0, [(0, 5)], id="starts-inside"),
    pytest.param("OOIIIIIIOOOIIIIIIOOOOOO", 1.0, 1.0, [(2, 16)], id="flicker-out-while-inside"),
    pytest.param("OOIIIIIIOIOOIIIIIIOOOOOO", 1.0, 1.0, [(2, 17)], id="flickers-out-and-in-while-inside"),
    pytest.param("OOOIIIOOOOO", 1.0, 1.0, [], id="flicker-in-while-outside"),
    pytest.param("OOOIIIOIIIOIIIOOOO", 1.0, 1.0, [], id="repeated-short-flickers-never-enter"),
    pytest.param("IIIOIIIIIOOOOO", 1.0, 1.0, [(4, 8)], id="enter-needs-a-continuous-run"),
    pytest.param("OOOIIIIIII", 1.0, 1.0, [(3, 9)], id="track-ends-inside"),
    pytest.param("OIIIIIIOO", 1.0, 1.0, [(1, 6)], id="track-ends-in-a-short-outside-run"),
    pytest.param("OIIIIIO", 1.0, 1.0, [(1, 5)], id="inside-exactly-min-inside"),
    pytest.param("OIIIIO", 1.0, 1.0, [], id="inside-just-under-min-inside"),
    pytest.param("IIIIIOOOOOIIIII", 1.0, 1.0, [(0, 4), (10, 14)], id="outside-exactly-min-outside-two-visits"),
    pytest.param("IIIIIOOOOIIIII", 1.0, 1.0, [(0, 13)], id="outside-just-under-min-outside-one-visit"),
    pytest.param("IIIIIOOOOOOOOOOIIIIIIIIOOO", 1.0, 1.0, [(0, 4), (15, 22)], id="two-visits-long-gap"),
    pytest.param("OIOOOOOO", 0.0, 1.0, [(1, 1)], id="min-inside-zero-single-sample"),
    pytest.param("OIIOIOOOOOO", 0.0, 1.0, [(1, 4)], id="min-inside-zero-flicker-kept-inside"),
    pytest.param("IIIIIOIIIII", 1.0, 0.0, [(0, 4), (6, 10)], id="min-outside-zero-single-sample-leaves"),
    pytest.param("IOIOI", 0.0, 0.0, [(0, 0), (2, 2), (4, 4)], id="both-zero-every-run"),
    pytest.param("IIIINNNNNNIIIIOOOOO", 1.0, 1.0, [(0, 13)], id="nan-inside-a-stay-is-ignored"),
    pytest.param("OOIINNIIOOOO", 1.0, 1.0, [(2, 7)], id="inside-run-continues-across-nan"),
    pytest.param("OOIINNNNNNNNNNOO", 1.0, 1.0, [], id="nan-does-not-count-as-inside"),
    # NaN samples are dropped, so the outside samples on either side of them form one run: 5 → 13 is 2 s.
    pytest.param("IIIIIONNNNNNNOIIIII", 1.0, 1.0, [(0, 4), (14, 18)], id="outside-run-spans-nan-samples"),
    pytest.param("IIIIIONNOIIIII", 1.0, 1.0, [(0, 13)], id="short-outside-flicker-around-nan"),
    pytest.param("NNNNN", 0.0, 0.0, [], id="all-nan"),
    pytest.param("", 1.0, 1.0, [], id="empty-track"),
    pytest.param("I", 1.0, 1.0, [], id="single-inside-sample"),
    pytest.param("I", 0.0, 1.0, [(0, 0)], id="single-inside-sample-min-zero"),
    pytest.param("OOOOOOO", 0.0, 0.0, [], id="never-inside"),
]


@pytest.mark.parametrize(("pattern", "min_inside_s", "min_outside_s", "expected"), CASES)
def test_zone_visits_scripted(
    pattern: str, min_inside_s: float, min_outside_s: float, expected: list[tuple[int, int]]
) -> None:
    visits = zone_visits(scripted(pattern), ZONE, min_inside_s, min_outside_s)
    assert [(v.t_in, v.t_out) for v in visits] == [(at(first), at(last)) for first, last in expected]


@pytest.mark.parametrize(("pattern", "min_inside_s", "min_outside_s", "expected"), CASES)
def test_stays_matches_zone_visits_on_the_known_samples(
    pattern: str, min_inside_s: float, min_outside_s: float, expected: list[tuple[int, int]]
) -> None:
    known = [i for i, c in enumerate(pattern) if c != "N"]
    time_s = np.array([at(i) for i in known], dtype=np.float64)
    inside = np.array([pattern[i] == "I" for i in known], dtype=bool)
    assert stays(time_s, inside, min_inside_s, min_outside_s) == [(at(a), at(b)) for a, b in expected]


def test_visit_fields_and_dwell() -> None:
    zone = Zone.from_points("till", "queue", [(0, 0), (2, 0), (2, 2), (0, 2)])
    (visit,) = zone_visits(scripted("OOIIIIIIIIOOOOO", camera="cam-7", track="p-42"), zone, 1.0, 1.0)
    assert (visit.camera, visit.track, visit.zone, visit.zone_kind) == ("cam-7", "p-42", "till", "queue")
    assert (visit.t_in, visit.t_out) == (at(2), at(9))
    assert visit.dwell_s == pytest.approx(7 * PERIOD)


def test_stays_at_irregular_sample_times() -> None:
    # Inside from 0 to 1.5 (1.5 s), out at 1.6 .. 1.9 (0.3 s < 0.5), in again 2.0 .. 2.1, out 4.0 .. 5.0 (1 s).
    time_s = np.array([0.0, 0.7, 1.5, 1.6, 1.9, 2.0, 2.1, 4.0, 5.0])
    inside = np.array([True, True, True, False, False, True, True, False, False])
    assert stays(time_s, inside, 1.0, 0.5) == [(0.0, 2.1)]
    # 0.3 s outside is enough to leave at 0.25 s; 0.1 s back inside is then too short to enter again ...
    assert stays(time_s, inside, 1.0, 0.25) == [(0.0, 1.5)]
    # ... unless 0.1 s is enough.
    assert stays(time_s, inside, 0.1, 0.25) == [(0.0, 1.5), (2.0, 2.1)]
    # A long gap between two outside samples counts as time spent outside; a short one does not.
    flags = np.array([True, True, False, False, True])
    assert stays(np.array([0.0, 1.0, 1.1, 3.0, 3.1]), flags, 1.0, 1.0) == [(0.0, 1.0)]
    assert stays(np.array([0.0, 1.0, 1.1, 1.5, 3.1]), flags, 1.0, 1.0) == [(0.0, 3.1)]
    # 0.8 s inside is not enough for 1 s.
    assert stays(np.array([0.0, 0.8, 3.0]), np.array([True, True, False]), 1.0, 1.0) == []


def test_zone_visits_at_five_frames_per_second() -> None:
    # 5 fps: 8 samples inside span 1.4 s; 8 samples outside span 1.4 s; 3 outside samples (0.4 s) are a flicker.
    pattern = "OO" + "I" * 8 + "OOO" + "I" * 8 + "O" * 8 + "I" * 8
    times = sample_times(len(pattern), 0.2, 10.0)
    track = track_history(times, [POINTS[c] for c in pattern])
    visits = zone_visits(track, ZONE, 1.0, 1.0)
    assert [t for v in visits for t in (v.t_in, v.t_out)] == pytest.approx([times[2], times[20], times[29], times[36]])


def reference_stays(time_s: np.ndarray, inside: np.ndarray, min_inside_s: float, min_outside_s: float) -> list:
    """The hysteresis written as a sample-by-sample state machine, to check `stays` against."""
    result = []
    entered, visit_start, last_in = False, 0.0, 0.0
    run_in_start = run_out_start = None
    for t, flag in zip(time_s.tolist(), inside.tolist(), strict=True):
        if flag:
            run_out_start = None
            run_in_start = t if run_in_start is None else run_in_start
            if not entered and t - run_in_start >= min_inside_s:
                entered, visit_start = True, run_in_start
            if entered:
                last_in = t
        else:
            run_in_start = None
            run_out_start = t if run_out_start is None else run_out_start
            if entered and t - run_out_start >= min_outside_s:
                result.append((visit_start, last_in))
                entered = False
    if entered:
        result.append((visit_start, last_in))
    return result


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.integers(1, 12), min_size=0, max_size=60),
    flags=st.lists(st.booleans(), min_size=61, max_size=61),
    min_inside_quarters=st.integers(0, 8),
    min_outside_quarters=st.integers(0, 8),
)
def test_stays_property(
    steps: list[int], flags: list[bool], min_inside_quarters: int, min_outside_quarters: int
) -> None:
    time_s = np.concatenate([[0.0], np.cumsum(np.asarray(steps, dtype=np.float64) * 0.25)])
    inside = np.asarray(flags[: len(time_s)], dtype=bool)
    min_inside_s, min_outside_s = min_inside_quarters * 0.25, min_outside_quarters * 0.25
    result = stays(time_s, inside, min_inside_s, min_outside_s)
    assert result == reference_stays(time_s, inside, min_inside_s, min_outside_s)
    inside_times = set(time_s[inside].tolist())
    previous_end = -np.inf
    for t_in, t_out in result:
        assert previous_end < t_in <= t_out
        assert t_in in inside_times
        assert t_out in inside_times
        previous_end = t_out
    if min_inside_s == 0 and min_outside_s == 0:
        # Without hysteresis a stay is exactly a run of inside samples.
        runs = []
        for t, flag in zip(time_s.tolist(), inside.tolist(), strict=True):
            if flag and (not runs or runs[-1][2] is False):
                runs.append([t, t, True])
            elif flag:
                runs[-1][1] = t
            elif runs:
                runs[-1][2] = False
        assert result == [(a, b) for a, b, _ in runs]


def site(zones: list[Zone], **overrides: float) -> SiteFlow:
    return SiteFlow(zones, [], [], FlowSettings(**overrides), ZoneInfo("UTC"), None)


def test_zone_restricted_to_cameras_only_counts_their_tracks(tmp_path) -> None:
    only_a = Zone.from_points("shelf-a", "area", [(0, 0), (2, 0), (2, 2), (0, 2)], cameras=frozenset({"cam-a"}))
    everyone = Zone.from_points("shelf", "area", [(0, 0), (2, 0), (2, 2), (0, 2)])
    flow = site([only_a, everyone])
    pattern = "OOIIIIIIIIOOOOO"
    seen_by_a = flow.process(scripted(pattern, camera="cam-a", track="a1"))
    seen_by_b = flow.process(scripted(pattern, camera="cam-b", track="b1"))
    assert [(v.zone, v.t_in, v.t_out) for v in seen_by_a.visits] == [
        ("shelf-a", at(2), at(9)),
        ("shelf", at(2), at(9)),
    ]
    assert [(v.zone, v.t_in, v.t_out) for v in seen_by_b.visits] == [("shelf", at(2), at(9))]
    plan = FlowPlan("test", [only_a, everyone], [], [], FlowSettings())
    zones = summarise_tracks(tmp_path, plan, [seen_by_a.track, seen_by_b.track])["zones"]
    assert zones["shelf-a"]["visits"] == 1
    assert zones["shelf"]["visits"] == 2
    assert zones["shelf"]["unique_visitors"] == 2


def test_site_uses_the_hysteresis_settings() -> None:
    pattern = "IIIIIOIIIII"
    assert len(site([ZONE], min_inside_s=1.0, min_outside_s=0.0).process(scripted(pattern)).visits) == 2
    assert len(site([ZONE], min_inside_s=1.0, min_outside_s=1.0).process(scripted(pattern)).visits) == 1
    assert len(site([ZONE], min_inside_s=3.0, min_outside_s=1.0).process(scripted(pattern)).visits) == 0
