"""The flow analytics of a site (vision.analytics.site), the summary computed from what they write to disk
(vision.runtime.site_outputs.summarise_tracks: the Parquet sinks, then vision.report.summary), and the track
assembler (vision.analytics.assemble), on scripted tracks with hand-computed figures.

The site, in metres: an entrance [0, 2]², a shelf [4, 8] x [0, 2], a till queue [10, 12] x [0, 2], a staff-only
back room [0, 4] x [6, 10], and a door line x = 3 (from (3, -1) to (3, 3)) whose "in" side is +x. Samples are
0.25 s apart (exact in binary), so every figure below is exact.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tests.helpers import floor_tracks, sample_times, track_history
from vision.analytics.assemble import TrackAssembler
from vision.analytics.heatmap import presence_seconds
from vision.analytics.site import SiteFlow
from vision.config.build import FlowPlan
from vision.core.flow import FlowSettings
from vision.core.grid import GridGeometry
from vision.core.places import CountingLine, Funnel, Zone
from vision.core.types import TrackHistory
from vision.runtime.site_outputs import summarise_tracks

UTC = ZoneInfo("UTC")
T0 = 1_700_000_040.0  # a whole minute
PERIOD = 0.25

ENTRANCE = Zone.from_points("entrance", "entrance", [(0, 0), (2, 0), (2, 2), (0, 2)])
SHELF = Zone.from_points("shelf", "area", [(4, 0), (8, 0), (8, 2), (4, 2)])
TILL = Zone.from_points("till", "queue", [(10, 0), (12, 0), (12, 2), (10, 2)])
BACK = Zone.from_points("back", "staff", [(0, 6), (4, 6), (4, 10), (0, 10)])
DOOR = CountingLine("door", (3.0, -1.0), (3.0, 3.0), in_side="right")
GRID = GridGeometry.covering(0.0, 0.0, 12.0, 10.0, 1.0)

AT_ENTRANCE, AT_SHELF, AT_TILL, IN_BACK, NOWHERE = (1.0, 1.0), (6.0, 1.0), (11.0, 1.0), (2.0, 8.0), (9.0, 5.0)


def label(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat()


def walk(stops: list[tuple[tuple[float, float], int]], start: float, camera: str, track: str) -> TrackHistory:
    """A track that stands at each point for the given number of samples, PERIOD apart."""
    points = [point for point, count in stops for _ in range(count)]
    return track_history(sample_times(len(points), PERIOD, start), points, camera=camera, track=track)


def make_plan(**settings: float) -> FlowPlan:
    return FlowPlan(
        "test",
        [ENTRANCE, SHELF, TILL, BACK],
        [DOOR],
        [Funnel("buy", ("entrance", "shelf", "till"))],
        FlowSettings(**settings),
        "UTC",
        GRID,
    )


def make_site(**settings: float) -> SiteFlow:
    plan = make_plan(**settings)
    return SiteFlow(plan.zones, plan.lines, plan.funnels, plan.settings, UTC, plan.grid)


# c1: 3 s at the entrance, 4 s at the shelf, 1.5 s at the till (the last sample stands for nothing): 8.5 s.
C1 = walk([(AT_ENTRANCE, 12), (AT_SHELF, 16), (AT_TILL, 7)], T0, "cam-a", "c1")
# c2: 3 s in the till queue, on the other camera.
C2 = walk([(AT_TILL, 13)], T0 + 20, "cam-b", "c2")
# c3: 3 s of 10 in the back room (30 %): a customer who strayed.
C3 = walk([(IN_BACK, 12), (NOWHERE, 29)], T0 + 40, "cam-a", "c3")
# s1: 7 s of 10 in the back room (70 %): staff, then 3 s at the shelf.
S1 = walk([(IN_BACK, 28), (AT_SHELF, 13)], T0 + 100, "cam-a", "s1")


@pytest.fixture()
def site() -> tuple[SiteFlow, dict]:
    flow = make_site()
    flows = {track.track: flow.process(track) for track in (C1, C2, S1, C3)}
    return flow, flows


@pytest.fixture()
def summary(tmp_path) -> dict:
    return summarise_tracks(tmp_path, make_plan(), [C1, C2, S1, C3])


def test_track_flows(site: tuple[SiteFlow, dict]) -> None:
    _, flows = site
    assert [(v.zone, v.t_in, v.t_out) for v in flows["c1"].visits] == [
        ("entrance", T0, T0 + 2.75),
        ("shelf", T0 + 3.0, T0 + 6.75),
        ("till", T0 + 7.0, T0 + 8.5),
    ]
    (crossing,) = flows["c1"].crossings
    # From (1, 1), 2 m before the line, to (6, 1), 3 m past it, in the step starting at T0 + 2.75.
    assert (crossing.line, crossing.direction, crossing.camera, crossing.track) == ("door", "in", "cam-a", "c1")
    assert crossing.t == pytest.approx(T0 + 2.75 + 0.25 * 2 / 5)
    assert [(v.zone, v.t_in, v.t_out) for v in flows["c2"].visits] == [("till", T0 + 20, T0 + 23)]
    assert flows["c2"].crossings == []
    assert flows["c1"].staff_share == 0.0
    assert not flows["c1"].staff


def test_staff_flagged_by_share(site: tuple[SiteFlow, dict]) -> None:
    _, flows = site
    assert flows["s1"].staff_share == pytest.approx(0.7)
    assert flows["s1"].staff
    assert flows["c3"].staff_share == pytest.approx(0.3)
    assert not flows["c3"].staff
    # A staff track's own flow still lists what it did.
    assert [(v.zone, v.t_in, v.t_out) for v in flows["s1"].visits] == [
        ("shelf", T0 + 107.0, T0 + 110.0),
        ("back", T0 + 100.0, T0 + 106.75),
    ]


@pytest.mark.parametrize(
    ("staff_samples", "share", "staff"),
    [(28, 0.7, True), (12, 0.3, False), (20, 0.5, False), (21, 0.525, True), (41, 1.0, True), (0, 0.0, False)],
)
def test_staff_threshold(staff_samples: int, share: float, staff: bool) -> None:
    # 41 samples: 10 s. Each sample in the back room stands for 0.25 s (the last one for none).
    track = walk([(IN_BACK, staff_samples), (NOWHERE, 41 - staff_samples)], T0, "cam-a", "x")
    flow = make_site().process(track)
    assert flow.staff_share == pytest.approx(share)
    assert flow.staff is staff


def test_staff_share_setting() -> None:
    track = walk([(IN_BACK, 12), (NOWHERE, 29)], T0, "cam-a", "x")  # 30 %
    assert make_site(staff_share=0.25).process(track).staff
    assert not make_site(staff_share=0.3).process(track).staff


def test_no_staff_zone_for_the_camera_means_no_staff() -> None:
    back_on_a = Zone.from_points("back", "staff", [(0, 6), (4, 6), (4, 10), (0, 10)], cameras=frozenset({"cam-a"}))
    flow = SiteFlow([ENTRANCE, back_on_a], [], [], FlowSettings(), UTC, None)
    on_a = walk([(IN_BACK, 41)], T0, "cam-a", "x")
    on_b = walk([(IN_BACK, 41)], T0, "cam-b", "y")
    assert flow.process(on_a).staff
    seen_by_b = flow.process(on_b)
    assert seen_by_b.staff_share == 0.0
    assert not seen_by_b.staff
    # Without any staff zone, nobody is staff.
    assert not SiteFlow([ENTRANCE], [], [], FlowSettings(staff_share=0.0), UTC, None).process(on_a).staff


def test_summary_counts_and_staff_exclusion(summary: dict) -> None:
    result = summary
    assert result["period"] == {"start": label(T0), "end": label(T0 + 50)}
    assert result["tracks"]["customers"] == 3
    assert result["tracks"]["staff"] == 1
    zones = result["zones"]
    assert zones["entrance"] == {
        "kind": "entrance",
        "area_m2": 4.0,
        "visits": 1,
        "unique_visitors": 1,
        "dwell_s": {"count": 1, "mean": 2.75, "p50": 2.75, "p90": 2.75, "max": 2.75},
        "person_seconds": 3.0,
        "person_seconds_per_m2": 0.75,
    }
    # The staff member's shelf visit and 3 s there are left out.
    assert zones["shelf"]["visits"] == 1
    assert zones["shelf"]["dwell_s"]["mean"] == 3.75
    assert zones["shelf"]["person_seconds"] == 4.0
    assert zones["shelf"]["person_seconds_per_m2"] == 0.5
    assert zones["till"]["visits"] == 2
    assert zones["till"]["unique_visitors"] == 2
    assert zones["till"]["person_seconds"] == 4.5
    assert zones["till"]["person_seconds_per_m2"] == 1.125
    # Only the customer's 3 s in the back room, not the staff member's 7 s.
    assert zones["back"]["visits"] == 1
    assert zones["back"]["person_seconds"] == 3.0
    assert zones["back"]["person_seconds_per_m2"] == 0.188


def test_summary_zone_ranking_hot_to_cold(summary: dict) -> None:
    # Person-seconds per m²: till 4.5 / 4, entrance 3 / 4, shelf 4 / 8, back 3 / 16.
    assert summary["zones_hot_to_cold"] == ["till", "entrance", "shelf", "back"]


def test_summary_queue_waits(summary: dict) -> None:
    queues = summary["queues"]
    assert list(queues) == ["till"]
    assert queues["till"]["wait_s"] == {"count": 2, "mean": 2.25, "p50": 2.25, "p90": 2.85, "p95": 2.925, "max": 3.0}
    # Queue length: [T0 + 7, T0 + 8.5] and [T0 + 20, T0 + 23] in the minute, averaged over the 50 s of it that the
    # footage covers (no record of the footage here: the cameras' first to last samples, T0 to T0 + 50, stand in).
    assert queues["till"]["length"] == [{"start": label(T0), "mean": 0.09, "max": 1}]


def test_summary_lines_occupancy_paths_and_funnels(summary: dict) -> None:
    result = summary
    assert result["lines"] == {
        "door": {"in": 1, "out": 0, "net": 1, "buckets": [{"start": label(T0), "in": 1, "out": 0}]}
    }
    # In view: 8.5 + 3 + 10 = 21.5 person-seconds in the minute, over the 50 s of it with footage (T0 to T0 + 50).
    assert result["occupancy"]["bucket_s"] == 60
    assert result["occupancy"]["in_view"] == [{"start": label(T0), "mean": 0.43, "max": 1}]
    assert result["occupancy"]["zones"]["till"] == [{"start": label(T0), "mean": 0.09, "max": 1}]
    # The shelf: 3.75 / 50 = 0.075.
    assert result["occupancy"]["zones"]["shelf"] == [{"start": label(T0), "mean": 0.075, "max": 1}]
    assert result["paths"]["transitions"] == [
        {"from": "entrance", "to": "shelf", "count": 1},
        {"from": "shelf", "to": "till", "count": 1},
    ]
    # Most tracks first; ties in the order of the zone names.
    assert result["paths"]["top_sequences"] == [
        {"sequence": ["back"], "tracks": 1},
        {"sequence": ["entrance", "shelf", "till"], "tracks": 1},
        {"sequence": ["till"], "tracks": 1},
    ]
    assert result["funnels"]["buy"] == [
        {"zone": "entrance", "tracks": 1, "conversion_from_previous": None, "conversion_from_start": 1.0},
        {"zone": "shelf", "tracks": 1, "conversion_from_previous": 1.0, "conversion_from_start": 1.0},
        {"zone": "till", "tracks": 1, "conversion_from_previous": 1.0, "conversion_from_start": 1.0},
    ]


def test_merged_heatmap_is_the_sum_of_the_cameras(site: tuple[SiteFlow, dict]) -> None:
    flow, _ = site
    assert set(flow.heatmaps) == {"cam-a", "cam-b"}
    merged = flow.merged_heatmap()
    assert merged is not None
    assert merged.shape == (GRID.rows, GRID.columns)
    np.testing.assert_allclose(merged, flow.heatmaps["cam-a"].person_seconds + flow.heatmaps["cam-b"].person_seconds)
    assert merged.sum() == pytest.approx(8.5 + 3.0 + 10.0)  # the customers' time; none of the staff member's
    expected = np.zeros((GRID.rows, GRID.columns))
    expected[1, 1] = 3.0  # c1 at the entrance
    expected[1, 6] = 4.0  # c1 at the shelf
    expected[1, 11] = 1.5 + 3.0  # c1 (cam-a) and c2 (cam-b) at the till
    expected[8, 2] = 3.0  # c3 in the back room
    expected[5, 9] = 7.0  # c3 elsewhere: 29 samples, the last standing for nothing
    np.testing.assert_allclose(merged, expected)
    np.testing.assert_allclose(flow.heatmaps["cam-b"].person_seconds[1, 11], 3.0)


def test_heatmap_leaves_out_nan_samples_and_long_gaps() -> None:
    flow = make_site()
    times = [T0, T0 + 0.25, T0 + 0.5, T0 + 5.0, T0 + 5.25, T0 + 5.5]
    points = [AT_ENTRANCE, (np.nan, np.nan), AT_ENTRANCE, AT_SHELF, AT_SHELF, AT_SHELF]
    flow.process(track_history(times, points, camera="cam-a", track="g"))
    merged = flow.merged_heatmap()
    # 0.25 s at the entrance (the NaN sample's 0.25 s is nowhere; the 4.5 s gap counts nothing), 0.5 s at the shelf.
    assert merged[1, 1] == pytest.approx(0.25)
    assert merged[1, 6] == pytest.approx(0.5)
    assert merged.sum() == pytest.approx(0.75)


def test_heatmap_property_on_site(site: tuple[SiteFlow, dict]) -> None:
    flow, _ = site
    total = 0.0
    for track in (C1, C2, C3):
        seconds = presence_seconds(track.time_s, flow.settings.max_gap_s)
        _, _, inside = GRID.cells(track.floor_xy)
        total += float(seconds[inside].sum())
    assert flow.merged_heatmap().sum() == pytest.approx(total)


def test_no_grid_no_heatmap() -> None:
    flow = SiteFlow([ENTRANCE], [], [], FlowSettings(), UTC, None)
    flow.process(C1)
    assert flow.merged_heatmap() is None
    assert flow.heatmaps == {}


def test_lines_restricted_to_cameras(tmp_path) -> None:
    door_a = CountingLine("door-a", (3.0, -1.0), (3.0, 3.0), in_side="right", cameras=frozenset({"cam-a"}))
    flow = SiteFlow([], [door_a, DOOR], [], FlowSettings(), UTC, None)
    c1b = dataclasses.replace(C1, camera="cam-b", track="c1b")
    on_a = flow.process(C1)
    on_b = flow.process(c1b)
    assert [(c.line, c.direction) for c in on_a.crossings] == [("door-a", "in"), ("door", "in")]
    assert [(c.line, c.direction) for c in on_b.crossings] == [("door", "in")]
    plan = FlowPlan("test", [], [door_a, DOOR], [], FlowSettings())
    lines = summarise_tracks(tmp_path, plan, [C1, c1b])["lines"]
    assert (lines["door-a"]["in"], lines["door"]["in"]) == (1, 2)


def test_summary_of_nothing(tmp_path) -> None:
    result = summarise_tracks(tmp_path, make_plan(), [])
    assert result["period"] is None
    assert result["tracks"]["customers"] == 0
    assert result["tracks"]["staff"] == 0
    assert result["zones"]["till"]["visits"] == 0
    assert result["zones"]["till"]["dwell_s"]["count"] == 0
    assert result["lines"]["door"] == {"in": 0, "out": 0, "net": 0, "buckets": []}
    assert result["occupancy"]["in_view"] == []
    assert result["queues"]["till"]["length"] == []
    assert result["paths"] == {"transitions": [], "top_sequences": []}
    assert [row["tracks"] for row in result["funnels"]["buy"]] == [0, 0, 0]


def test_only_staff_gives_no_period(tmp_path) -> None:
    flow = make_site()
    flow.process(S1)
    result = summarise_tracks(tmp_path, make_plan(), [S1])
    assert result["period"] is None
    assert result["tracks"] == {**result["tracks"], "customers": 0, "staff": 1}
    assert result["zones"]["shelf"]["visits"] == 0
    assert flow.merged_heatmap().sum() == 0.0


# the assembler ---------------------------------------------------------------------------------------------------


def ending(frame, *names: str):
    return dataclasses.replace(frame, ended_tracks=np.array(list(names), dtype=object))


def xy(*points: tuple[float, float]) -> np.ndarray:
    return np.array(points, dtype=np.float64).reshape(-1, 2)


def test_assembler_returns_ended_tracks_and_drops_their_state() -> None:
    assembler = TrackAssembler("cam-1")
    assert len(assembler) == 0
    assert assembler.add(floor_tracks(0.0, 0, ["a", "b"], xy((0, 0), (5, 5)))) == []
    assert len(assembler) == 2
    assert assembler.add(floor_tracks(0.2, 1, ["a", "b"], xy((1, 0), (5, 6)))) == []
    # A repeated timestamp adds nothing.
    assert assembler.add(floor_tracks(0.2, 2, ["a"], xy((9, 9)))) == []
    (a,) = assembler.add(ending(floor_tracks(0.4, 3, ["a", "b"], xy((2, 0), (5, 7))), "a"))
    assert len(assembler) == 1
    assert (a.camera, a.track) == ("cam-1", "a")
    assert a.time_s.tolist() == pytest.approx([0.0, 0.2, 0.4])
    assert a.frame.tolist() == [0, 1, 3]
    assert a.floor_xy.tolist() == [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]
    assert a.foot_uv.shape == (3, 2)
    assert a.confidence.shape == (3,)
    # An unknown ended track is ignored; a new one starts.
    assert assembler.add(ending(floor_tracks(0.6, 4, ["b", "c"], xy((5, 8), (3, 3))), "nobody")) == []
    assert len(assembler) == 2
    # A track can end on a frame where it is not seen.
    (b,) = assembler.add(ending(floor_tracks(0.8, 5, [], xy()), "b"))
    assert b.track == "b"
    assert b.frame.tolist() == [0, 1, 3, 4]
    assert b.floor_xy[:, 1].tolist() == [5.0, 6.0, 7.0, 8.0]
    assert len(assembler) == 1
    (c,) = assembler.finish()
    assert (c.track, len(c)) == ("c", 1)
    assert len(assembler) == 0
    assert assembler.finish() == []


def test_assembler_a_track_seen_and_ended_on_the_same_frame() -> None:
    assembler = TrackAssembler("cam-1")
    (a,) = assembler.add(ending(floor_tracks(1.0, 7, ["a"], xy((1, 2))), "a"))
    assert a.frame.tolist() == [7]
    assert len(assembler) == 0
    # The same pseudonym seen again is a new track.
    assembler.add(floor_tracks(2.0, 8, ["a"], xy((3, 4))))
    (again,) = assembler.finish()
    assert again.time_s.tolist() == [2.0]


def test_assembler_feeds_the_site() -> None:
    assembler = TrackAssembler("cam-a")
    flow = make_site()
    ended = []
    stops = [AT_ENTRANCE] * 12 + [AT_SHELF] * 16 + [AT_TILL] * 7
    for index, point in enumerate(stops):
        frame = floor_tracks(T0 + PERIOD * index, index, ["c1"], xy(point), camera="cam-a")
        ended += assembler.add(ending(frame, "c1") if index == len(stops) - 1 else frame)
    assert len(assembler) == 0
    (track,) = ended
    np.testing.assert_array_equal(track.time_s, C1.time_s)
    np.testing.assert_array_equal(track.floor_xy, C1.floor_xy)
    result = flow.process(track)
    assert [v.zone for v in result.visits] == ["entrance", "shelf", "till"]
    assert [c.direction for c in result.crossings] == ["in"]


def test_sample_times_helper() -> None:
    np.testing.assert_array_equal(sample_times(3, 0.25, 10.0), [10.0, 10.25, 10.5])
