"""End to end with a site: `footfall run --site` on PETS 2009 with zones and a counting line in world metres,
compared with the same figures computed from the ground-truth world tracks through the same analytics.

Measured (7 fps, yolov8n_int8.tflite): visits north 16/16, centre 19/15, south 4/4; total dwell north +5.3 s of
69.9 s, centre -21.1 s of 117.7 s, south +0.3 s of 31.1 s; crossings in 5/5, out 7/8 (engine/truth).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.helpers import PETS_GT
from vision.sinks.pictures import AXIS_BOTTOM_PX, AXIS_TOP_PX

SITE_YAML = """\
version: 1
site:
  id: pets-campus
  timezone: Europe/London
floor_plan:
  origin: [-14.0, -16.0]
  size_m: [20.0, 24.0]
cameras:
  - id: view001
    source: {video}
    calibration: view001.json
    analysis_fps: 7
    start: 2009-03-12T10:00:00+00:00
zones:
  - name: north
    kind: entrance
    polygon: [[-13, -15.5], [-6, -15.5], [-6, -10], [-13, -10]]
  - name: centre
    polygon: [[-10, -9], [-3, -9], [-3, -3], [-10, -3]]
  - name: south
    kind: queue
    polygon: [[-10, -2], [-5, -2], [-5, 6], [-10, 6]]
lines:
  - name: crossing
    a: [-13, -5]
    b: [0, -5]
    in_side: right
funnels:
  - name: north-to-south
    steps: [north, centre, south]
"""


@pytest.fixture(scope="module")
def site_run(pets_site_run: tuple[Path, Path]) -> tuple[Path, Path]:
    return pets_site_run


@pytest.fixture(scope="module")
def comparison(site_run: tuple[Path, Path]) -> dict:
    site, out = site_run
    repo = Path(__file__).resolve().parents[1]
    script = repo / "scripts" / "eval_flow.py"
    command = [sys.executable, str(script), "--site", str(site), "--gt", str(PETS_GT), "--run", str(out), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("zone", ["north", "centre", "south"])
def test_zone_visits_and_dwell_match_the_ground_truth(comparison, zone):
    figures = comparison["zones"][zone]
    truth_visits = figures["visits"]["truth"]
    assert truth_visits > 0, "the zone must see people for the test to mean anything"
    assert abs(figures["visits"]["error"]) <= max(2, 0.3 * truth_visits), figures
    truth_dwell = figures["dwell_total_s"]["truth"]
    assert abs(figures["dwell_total_s"]["error"]) <= 0.3 * truth_dwell, figures
    assert abs(figures["person_seconds"]["error"]) <= 0.3 * figures["person_seconds"]["truth"], figures


@pytest.mark.parametrize("direction", ["in", "out"])
def test_line_crossings_match_the_ground_truth(comparison, direction):
    row = comparison["lines"]["crossing"][direction]
    assert row["truth"] >= 3
    assert abs(row["error"]) <= 2, row


def test_events_and_visits_tables(site_run):
    _, out = site_run
    visits = pq.read_table(out / "visits").to_pandas()
    assert set(visits.columns) == {"track", "zone", "zone_kind", "t_in", "t_out", "dwell_s", "staff", "camera", "date"}
    assert set(visits["zone"]) == {"north", "centre", "south"}
    np.testing.assert_allclose((visits["t_out"] - visits["t_in"]).dt.total_seconds(), visits["dwell_s"], atol=1e-5)
    assert (visits["dwell_s"] >= 1.0).all(), "min_inside_s is 1 s"
    events = pq.read_table(out / "events").to_pandas()
    assert set(events["event"]) == {"enter", "exit", "in", "out"}
    enters = events[events["event"] == "enter"]
    assert len(enters) == len(visits) == (events["event"] == "exit").sum()
    assert set(events.loc[events["event"].isin(["in", "out"]), "place"]) == {"crossing"}
    tracks = set(pq.read_table(out / "tracks").column("track").to_pylist())
    assert set(visits["track"]) <= tracks and set(events["track"]) <= tracks


def test_summary_and_heatmaps(site_run):
    _, out = site_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["site"] == "pets-campus"
    assert summary["timezone"] == "Europe/London"
    assert summary["period"]["start"].startswith("2009-03-12T10:00")
    assert set(summary["zones_hot_to_cold"]) == {"north", "centre", "south"}
    densities = [summary["zones"][name]["person_seconds_per_m2"] for name in summary["zones_hot_to_cold"]]
    assert densities == sorted(densities, reverse=True)
    assert [step["zone"] for step in summary["funnels"]["north-to-south"]] == ["north", "centre", "south"]
    assert summary["queues"]["south"]["wait_s"]["count"] == summary["zones"]["south"]["visits"]
    in_view = summary["occupancy"]["in_view"]
    assert len(in_view) == 1, "57 s from 10:00:00 fit in one 60 s bucket"
    assert in_view[0]["start"] == "2009-03-12T10:00:00+00:00"
    assert 3 <= in_view[0]["mean"] <= in_view[0]["max"] <= 12, in_view
    assert summary["paths"]["transitions"], "people walk from zone to zone"

    grid = np.load(out / "heatmaps" / "site.npy")
    geometry = json.loads((out / "heatmaps" / "site.json").read_text())
    assert grid.shape == (geometry["rows"], geometry["columns"]) == (96, 80)
    assert geometry["total_person_seconds"] == pytest.approx(grid.sum())
    np.testing.assert_allclose(grid, np.load(out / "heatmaps" / "view001.npy"))
    zone_seconds = sum(zone["person_seconds"] for zone in summary["zones"].values())
    assert grid.sum() > zone_seconds, "people are also seen outside the zones"
    picture = cv2.imread(str(out / "heatmaps" / "site.png"))
    title_px = 52  # two title lines
    floor_px = picture.shape[0] - title_px - AXIS_TOP_PX - AXIS_BOTTOM_PX
    assert floor_px == 960, "40 px a metre over 24 m"
    assert (picture[:title_px] < 128).any(), "a title"
