"""The live event feed decides, frame by frame, exactly the events the finished-track analytics decide when the
track ends; credentials in stream URLs; the reconnect backoff."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import floor_tracks, track_history
from vision.analytics.lines import line_crossings
from vision.analytics.live import LiveEvents
from vision.analytics.visits import zone_visits
from vision.core.flow import FlowSettings
from vision.core.ids import expand_url_credentials, redact_url, scrub_secrets, url_placeholders, url_secrets
from vision.core.places import CountingLine, Zone
from vision.runtime.service import Backoff

ZONES = [
    Zone.from_points("shelf", "area", [(0, 0), (3, 0), (3, 2), (0, 2)]),
    Zone.from_points("till", "queue", [(4, -1), (6, -1), (6, 3), (4, 3)]),
]
LINES = [CountingLine("door", (2, -3), (2, 5), "left"), CountingLine("aisle", (-1, 1), (7, 1), "right")]
FLOW = FlowSettings(min_inside_s=1.0, min_outside_s=1.0, line_margin_m=0.3)


def expected_events(times: np.ndarray, xy: np.ndarray) -> list[tuple]:
    track = track_history(times, xy, camera="cam-1", track="a")
    events = []
    for zone in ZONES:
        for visit in zone_visits(track, zone, FLOW.min_inside_s, FLOW.min_outside_s):
            events += [("enter", zone.name, visit.t_in), ("exit", zone.name, visit.t_out)]
    for line in LINES:
        events += [(c.direction, line.name, c.t) for c in line_crossings(track, line, FLOW.line_margin_m)]
    return sorted(events, key=lambda e: (e[2], e[0], e[1]))


def live_events(times: np.ndarray, xy: np.ndarray) -> list[tuple]:
    live = LiveEvents("cam-1", ZONES, LINES, FLOW)
    decided = []
    for index, (t, point) in enumerate(zip(times, xy, strict=True)):
        decided += live.add(floor_tracks(float(t), index, ["a"], np.array([point], dtype=np.float64)))
    decided += live.finish(float(times[-1]) + 10)
    for event in decided:
        assert event.decided_t >= event.t - 1e-9  # an event is never announced before it happened
    return sorted([(e.event, e.place, e.t) for e in decided], key=lambda e: (e[2], e[0], e[1]))


def same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(x[:2] == y[:2] and abs(x[2] - y[2]) < 1e-9 for x, y in zip(a, b, strict=True))


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(-0.6, 0.6), st.floats(-0.6, 0.6)), min_size=2, max_size=120),
    period=st.sampled_from([0.2, 0.25, 1 / 7]),
    start=st.tuples(st.floats(-1, 7), st.floats(-3, 4)),
)
def test_live_events_equal_the_finished_track_analytics_on_random_walks(steps, period, start) -> None:
    xy = np.asarray(start) + np.cumsum(np.asarray(steps), axis=0)
    times = 1_800_000_000.0 + period * np.arange(len(xy))
    assert same(live_events(times, xy), expected_events(times, xy))


def test_a_walk_through_the_door_and_a_stay_at_the_till() -> None:
    times = 1_800_000_000.0 + 0.2 * np.arange(60)
    x = np.concatenate([np.linspace(0.5, 5.0, 20), np.full(30, 5.0), np.linspace(5.0, 8.0, 10)])
    xy = np.column_stack([x, np.full(60, 2.5)])
    live = live_events(times, xy)
    assert [(e[0], e[1]) for e in live] == [("out", "door"), ("enter", "till"), ("exit", "till")]
    assert same(live, expected_events(times, xy))


def test_the_feed_keeps_no_state_for_ended_tracks() -> None:
    live = LiveEvents("cam-1", ZONES, LINES, FLOW)
    for index in range(50):
        frame = floor_tracks(1_800_000_000.0 + index * 0.2, index, [f"t{index}"], np.array([[1.0, 1.0]]))
        ended = np.array([f"t{index - 1}"], dtype=object) if index else np.array([], dtype=object)
        live.add(dataclasses.replace(frame, ended_tracks=ended))
    assert len(live) == 1


def test_credentials_come_from_the_environment_and_never_show() -> None:
    url = "rtsp://${NVR_USER}:${NVR_PASSWORD}@10.0.0.2:554/Streaming/Channels/102"
    assert url_placeholders(url) == ["NVR_USER", "NVR_PASSWORD"]
    expanded = expand_url_credentials(url, {"NVR_USER": "admin", "NVR_PASSWORD": "p@ss:w/rd"})
    assert expanded == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.2:554/Streaming/Channels/102"
    assert redact_url(expanded) == "rtsp://***@10.0.0.2:554/Streaming/Channels/102"
    message = "could not open rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.2 (password p@ss:w/rd rejected)"
    scrubbed = scrub_secrets(message, url_secrets(expanded))
    assert "p@ss" not in scrubbed and "p%40ss" not in scrubbed
    with pytest.raises(KeyError, match="NVR_PASSWORD"):
        expand_url_credentials(url, {"NVR_USER": "admin"})
    assert redact_url("http://cam/video.cgi?channel=1&user=admin&pwd=secret") == (
        "http://cam/video.cgi?channel=1&user=***&pwd=***"
    )


def test_backoff_doubles_to_its_cap_with_jitter() -> None:
    backoff = Backoff(initial_s=1.0, max_s=30.0, jitter=0.25)
    assert [backoff.delay(n, lambda: 0.5) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(0, lambda: 0.0) == 0.75 and backoff.delay(0, lambda: 1.0) == 1.25
    assert backoff.delay(10, lambda: 1.0) == 30.0  # never above the cap
    with pytest.raises(ValueError):
        Backoff(initial_s=0)
