"""`footfall serve` of the two-camera set (scripts/make_two_camera_set.py) from a real RTSP server on 127.0.0.1: the
live tracks of both cameras are fused into site tracks while it runs, each within 30 s of its camera tracks' end,
and every camera track is linked to one when it stops. The live event feed stays per camera."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from tests.helpers import REPO
from tests.rtsp import RtspServer
from tests.test_serve import Serve, serves, wait_for  # noqa: F401 (serves is a fixture)

pytest_plugins = ("tests.rtsp",)

MAX_DELAY_S = 30.0


def parquet(folder: Path) -> str:
    return f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true, union_by_name = true)"


def rows(sql: str) -> list[tuple]:
    try:
        return duckdb.sql(sql).fetchall()
    except duckdb.IOException:  # no file yet
        return []


@pytest.fixture(scope="module")
def two_camera_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("two-cameras") / "set"
    built = subprocess.run([sys.executable, str(REPO / "scripts" / "make_two_camera_set.py"), str(folder)],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert built.returncode == 0, built.stderr
    return folder


def test_live_tracks_of_two_cameras_become_site_tracks_within_30_s(
    two_camera_set: Path,
    rtsp_server_factory: Callable[..., RtspServer],
    serves: list[Serve],  # noqa: F811
    tmp_path: Path,
) -> None:
    server = rtsp_server_factory({"left": two_camera_set / "left.mp4", "right": two_camera_set / "right.mp4"})
    text = (two_camera_set / "site.yaml").read_text()
    for camera in ("left", "right"):
        text = text.replace(f"source: {camera}.mp4", f"source: {server.url(camera)}")
        text = text.replace(f"calibration: {camera}.json", f"calibration: {two_camera_set / camera}.json")
    text = "\n".join(line for line in text.splitlines() if "start:" not in line) + "\n"  # live: the wall clock
    site = tmp_path / "site.yaml"
    site.write_text(text)
    out = tmp_path / "out"
    serve = Serve(site, out)
    serves.append(serve)
    serve.wait_connected("left", "right", timeout_s=90)

    # While it runs: a camera track that ended more than 30 s ago is linked to its site track, unless that person
    # was still seen then by a track of the other camera (a site track ends with its last camera track).
    checked, unlinked = 0, []
    deadline = time.monotonic() + 50
    while time.monotonic() < deadline:
        time.sleep(5)
        now = time.time()
        ends = rows(f"SELECT camera, track, epoch(max(t)) FROM {parquet(out / 'tracks')} GROUP BY ALL")
        linked = {(c, t) for c, t in rows(f"SELECT camera, track FROM {parquet(out / 'site' / 'links')}")}
        due = [(camera, track) for camera, track, end in ends if end < now - MAX_DELAY_S]
        unlinked += [(key, now) for key in due if key not in linked]
        checked = max(checked, len(due))
    assert checked >= 3, f"only {checked} camera tracks were old enough to check; log: {serve.log_text()}"

    fusion = json.loads((out / "run.json").read_text())["fusion"]
    code, _ = serve.terminate(timeout_s=15)
    assert code == 0, serve.log_text()
    record = json.loads((out / "run.json").read_text())["fusion"]
    assert fusion["longest_wait_s"] <= MAX_DELAY_S - 15, fusion  # the wait, then at most one flush of 15 s

    # Stopped: every camera track is linked to one site track, and the site counts fewer people than the cameras.
    camera_tracks = set(rows(f"SELECT DISTINCT camera, track FROM {parquet(out / 'tracks')}"))
    links = rows(f"SELECT camera, track, site_track FROM {parquet(out / 'site' / 'links')}")
    assert {(c, t) for c, t, _ in links} == camera_tracks and len(links) == len(camera_tracks)
    site_tracks = {s for _, _, s in links}
    site_of = {(c, t): s for c, t, s in links}
    spans = {(c, t): (first, last) for c, t, first, last in rows(
        f"SELECT camera, track, epoch(min(t)), epoch(max(t)) FROM {parquet(out / 'tracks')} GROUP BY ALL")}  # fmt: skip
    for key, seen_at in unlinked:
        partners = [other for other in camera_tracks if other[0] != key[0] and site_of[other] == site_of[key]]
        assert any(spans[other][1] > seen_at - MAX_DELAY_S for other in partners), (key, seen_at, spans[key])
    assert set(r[0] for r in rows(f"SELECT DISTINCT track FROM {parquet(out / 'site' / 'tracks')}")) == site_tracks
    # On this set, offline: 27 camera tracks, 18 site tracks, for 10 people.
    assert len(site_tracks) <= 0.8 * len(camera_tracks), (len(site_tracks), len(camera_tracks), record)
    assert record["site_tracks"] == len(site_tracks) and record["waiting_camera_tracks"] == 0
    estimate = record["estimated_offset_s"]["right"]
    assert estimate["estimates"] >= 1 and -0.5 <= estimate["latest"] <= 3.0, record  # 1 s, plus the connections'

    # The live feed stays per camera (decided on each camera's frames at once, before any fusion could be).
    events = [json.loads(line) for path in sorted((out / "live").rglob("*.jsonl")) for line in path.open()]
    assert events and {event["camera"] for event in events} <= {"left", "right"}
