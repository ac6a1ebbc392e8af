"""The calibration page's server, in process on a free port, driven through its JSON API with the real PETS frame
and ground truth: image foot points (box bottom-centres) and their world positions make the point pairs."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from calibration.cli import app, build_session
from calibration.frames import read_camera_frame
from calibration.server import CalibrationServer
from calibration.session import CalibrationSession, FloorPlanImage, points_csv_path
from calibration.solve import PointPairs, read_point_pairs_csv
from tests.helpers import (
    PETS_FIRST_FRAME,
    PETS_SIZE,
    PETS_VIDEO,
    ground_truth_feet,
    pets_ground_truth,
    pets_view001,
)
from vision.config.calibration_file import load_calibration, projector_from_calibration
from vision.config.site import load_site_config
from vision.core.errors import SourceError
from vision.core.geometry import GroundProjector

PLAN_SIZE = (400, 480)  # width, height in pixels
SCALE = 0.05
ORIGIN = (-14.0, -16.0)


def spread_pairs(count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` ground-truth (foot point, world point) pairs spread over the floor (farthest-point sampling)."""
    rows = pets_ground_truth()
    feet, world = ground_truth_feet(rows), rows[:, 7:9]
    chosen = [int(np.argmin(world[:, 0]))]
    for _ in range(count - 1):
        nearest = np.min(np.linalg.norm(world[:, None, :] - world[chosen][None, :, :], axis=2), axis=1)
        chosen.append(int(np.argmax(nearest)))
    return feet[chosen], world[chosen]


def as_rows(feet: np.ndarray, world: np.ndarray) -> list[list[float]]:
    return np.column_stack([feet, world]).tolist()


def write_plan(path: Path) -> Path:
    plan = np.full((PLAN_SIZE[1], PLAN_SIZE[0], 3), 255, np.uint8)
    for column in range(0, PLAN_SIZE[0], 20):
        cv2.line(plan, (column, 0), (column, PLAN_SIZE[1] - 1), (210, 210, 210), 1)
    for row in range(0, PLAN_SIZE[1], 20):
        cv2.line(plan, (0, row), (PLAN_SIZE[0] - 1, row), (210, 210, 210), 1)
    cv2.imwrite(str(path), plan)
    return path


SITE_YAML = """\
# PETS 2009 S2.L1: the square in front of the camera
version: 1
site:
  id: pets-square
  timezone: Europe/London   # where PETS was filmed
cameras:
  - id: view001
    source: {video}
    analysis_fps: 7
zones:
  - name: entry
    kind: entrance
    polygon: [[-12, 0], [-8, 0], [-8, 4], [-12, 4]]
  - name: checkout
    kind: queue
    polygon: [[-8, -10], [-4, -10], [-4, -6], [-8, -6]]
# keep this comment
lines: []
funnels:
  - name: to-checkout
    steps: [entry, checkout]
analytics:
  bucket_s: 30
"""


class Api:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(
        self, path: str, body: object | None = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> tuple[int, bytes, str]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path.lstrip("/"), data=data, method="POST" if data else "GET")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers.get("Content-Type", "")

    def json(self, path: str, body: object | None = None, **kwargs: object) -> tuple[int, dict]:
        status, content, content_type = self.call(path, body, **kwargs)  # type: ignore[arg-type]
        assert content_type == "application/json", content
        return status, json.loads(content)


def start_server(tmp_path: Path, **options: object) -> Iterator[tuple[Api, Path]]:
    plan = write_plan(tmp_path / "plan.png")
    out = tmp_path / "calib" / "view001.json"
    session = build_session(
        str(options.get("source", PETS_FIRST_FRAME)),
        plan,
        SCALE,
        f"{ORIGIN[0]},{ORIGIN[1]}",
        out,
        options.get("site"),  # type: ignore[arg-type]
        options.get("camera"),  # type: ignore[arg-type]
        options.get("intrinsics"),  # type: ignore[arg-type]
    )
    server = CalibrationServer(session, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Api(server.url), out
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Api, Path]]:
    yield from start_server(tmp_path)


@pytest.fixture
def site_api(tmp_path: Path) -> Iterator[tuple[Api, Path, Path]]:
    site = tmp_path / "site.yaml"
    site.write_text(SITE_YAML.format(video=PETS_VIDEO), encoding="utf-8")
    for api, out in start_server(tmp_path, site=site, camera="view001"):
        yield api, out, site


def decode(content: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(content, np.uint8), flags)
    assert image is not None
    return image


# ----------------------------------------------------------------------------------------------------------------


def test_serves_the_page_the_pictures_and_the_state(api: tuple[Api, Path]) -> None:
    client, out = api
    status, page, content_type = client.call("/")
    assert status == 200 and content_type.startswith("text/html") and b'<canvas id="plan"' in page
    for asset in ("app.js", "style.css"):
        status, content, _ = client.call(asset)
        assert status == 200 and len(content) > 1000
    status, frame, content_type = client.call("/api/frame.jpg")
    assert content_type == "image/jpeg" and decode(frame).shape == (PETS_SIZE[1], PETS_SIZE[0], 3)
    status, plan, _ = client.call("/api/plan.png")
    assert decode(plan).shape[:2] == (PLAN_SIZE[1], PLAN_SIZE[0])
    status, state = client.json("/api/state")
    assert status == 200
    assert state["image_size"] == list(PETS_SIZE) and state["plan_size"] == list(PLAN_SIZE)
    assert state["metres_per_pixel"] == SCALE and state["origin"] == list(ORIGIN)
    assert state["points"] == [] and state["zones"] == [] and state["out"] == str(out)


def test_fewer_than_four_pairs_get_a_one_line_message(api: tuple[Api, Path]) -> None:
    client, _ = api
    feet, world = spread_pairs(3)
    status, answer = client.json("/api/fit", {"points": as_rows(feet, world)})
    assert status == 400
    assert "at least 4" in answer["error"] and "\n" not in answer["error"]
    status, answer = client.json("/api/preview.png")
    assert status == 400 and "no fit yet" in answer["error"]


def test_collinear_pairs_are_refused(api: tuple[Api, Path]) -> None:
    client, _ = api
    rows = [[100 + 50 * i, 300, -10 + i, -5] for i in range(5)]
    status, answer = client.json("/api/fit", {"points": rows})
    assert status == 400 and "one line" in answer["error"]


def test_fit_on_pets_ground_truth(api: tuple[Api, Path]) -> None:
    client, _ = api
    feet, world = spread_pairs(8)
    status, fit = client.json("/api/fit", {"points": as_rows(feet, world)})
    assert status == 200
    assert fit["rms_m"] < 0.2
    assert fit["pairs"] == 8 and fit["inliers"] == 8 and not any(fit["bad"])
    assert len(fit["errors_m"]) == 8 and max(fit["errors_m"]) < 0.3


def test_a_wrong_pair_is_marked_bad(api: tuple[Api, Path]) -> None:
    client, _ = api
    feet, world = spread_pairs(9)
    world = world.copy()
    world[4] += (3.0, -2.0)  # clicked in the wrong place on the plan
    status, fit = client.json("/api/fit", {"points": as_rows(feet, world)})
    assert status == 200
    assert fit["bad"][4] and sum(fit["bad"]) == 1
    assert fit["errors_m"][4] > 2.0 and fit["rms_m"] < 0.2


def test_preview_and_grid(api: tuple[Api, Path]) -> None:
    client, _ = api
    feet, world = spread_pairs(8)
    _, fit = client.json("/api/fit", {"points": as_rows(feet, world)})

    status, content, content_type = client.call("/api/preview.png")
    assert status == 200 and content_type == "image/png"
    preview = decode(content)
    assert preview.shape == (PLAN_SIZE[1], PLAN_SIZE[0], 4)
    alpha = preview[:, :, 3]
    assert 0.05 < (alpha > 0).mean() < 0.95  # the camera sees part of the plan, not all of it
    # Every ground-truth position is on the floor the camera sees, so the preview covers it.
    rows = pets_ground_truth()
    plan_px = ((rows[:, 7:9] - ORIGIN) / SCALE).astype(int)
    assert (alpha[plan_px[:, 1], plan_px[:, 0]] > 0).mean() > 0.98
    # Each plan pixel shows the frame's pixel that the fit maps there.
    homography = np.asarray(fit["homography"])
    plan_from_floor = np.array([[1 / SCALE, 0, -ORIGIN[0] / SCALE], [0, 1 / SCALE, -ORIGIN[1] / SCALE], [0, 0, 1]])
    image_from_plan = np.linalg.inv(plan_from_floor @ homography)
    rows_px, columns_px = np.nonzero(alpha)
    pick = np.random.default_rng(0).choice(len(rows_px), 500, replace=False)
    centres = np.column_stack([columns_px[pick] + 0.5, rows_px[pick] + 0.5, np.ones(500)]) @ image_from_plan.T
    image_px = np.floor(centres[:, :2] / centres[:, 2:]).astype(int)
    frame = cv2.imread(str(PETS_FIRST_FRAME), cv2.IMREAD_COLOR).astype(float)
    inside = (image_px >= 0).all(axis=1) & (image_px < PETS_SIZE).all(axis=1)
    assert inside.mean() > 0.99
    shown = preview[rows_px[pick], columns_px[pick], :3].astype(float)[inside]
    expected = frame[image_px[inside, 1], image_px[inside, 0]]
    assert np.median(np.abs(shown - expected)) < 12

    status, grid = client.json("/api/grid.json")
    assert status == 200 and grid["step_m"] == 1.0
    assert len(grid["lines"]) > 10
    projector = GroundProjector(np.asarray(fit["homography"]), positive_w_in_front=False)
    for line in grid["lines"]:
        points = np.asarray(line["points"])
        assert len(points) >= 2 and np.isfinite(points).all()
        floor = projector.to_floor(points)
        column = 0 if line["axis"] == "x" else 1
        assert np.abs(floor[:, column] - line["value_m"]).max() < 1e-3


def test_save_writes_a_calibration_that_maps_ground_truth(api: tuple[Api, Path]) -> None:
    client, out = api
    feet, world = spread_pairs(8)
    status, saved = client.json("/api/save", {"points": as_rows(feet, world)})
    assert status == 200, saved
    assert saved["saved"][:2] == [str(out), str(points_csv_path(out))]
    calibration = load_calibration(out)
    assert calibration.model == "homography" and calibration.image_size == list(PETS_SIZE)
    assert calibration.rms_error_m < 0.2
    projector = projector_from_calibration(calibration)
    rows = pets_ground_truth()
    errors = np.linalg.norm(projector.to_floor(ground_truth_feet(rows)) - rows[:, 7:9], axis=1)
    assert np.median(errors) < 0.3
    pairs = read_point_pairs_csv(points_csv_path(out))
    np.testing.assert_allclose(pairs.image_uv, feet, atol=1e-3)
    np.testing.assert_allclose(pairs.floor_xy, world, atol=1e-4)
    # The saved pairs come back when the page is opened again, and `footfall calibrate solve` redoes the fit.
    result = CliRunner().invoke(app, ["calibrate", "solve", str(points_csv_path(out)), "--out", str(out) + ".2"])
    assert result.exit_code == 0, result.output
    again = json.loads(Path(str(out) + ".2").read_text())
    np.testing.assert_allclose(again["homography"], json.loads(out.read_text())["homography"], rtol=1e-3)


def test_zones_without_a_site_are_not_saved_and_say_so(api: tuple[Api, Path]) -> None:
    client, _ = api
    feet, world = spread_pairs(6)
    zone = {"name": "a", "kind": "area", "polygon": [[0, 0], [1, 0], [1, 1]]}
    status, saved = client.json("/api/save", {"points": as_rows(feet, world), "zones": [zone]})
    assert status == 200 and "--site" in saved["notes"][0]


def test_save_into_the_site_config_keeps_everything_else(site_api: tuple[Api, Path, Path]) -> None:
    client, out, site = site_api
    status, state = client.json("/api/state")
    assert state["camera"] == "view001"
    assert [zone["name"] for zone in state["zones"]] == ["entry", "checkout"]
    feet, world = spread_pairs(8)
    zones = [
        state["zones"][0],
        {"name": "checkout", "kind": "queue", "polygon": [[-9, -10], [-4, -10], [-4, -6], [-9, -6]]},
        {"name": "square", "kind": "area", "polygon": [[-12, -14], [2, -14], [2, 4], [-12, 4]]},
    ]
    lines = [{"name": "crossing", "a": [-6, -12], "b": [-6, 2], "in_side": "right"}]
    status, saved = client.json("/api/save", {"points": as_rows(feet, world), "zones": zones, "lines": lines})
    assert status == 200, saved
    assert saved["saved"][-1] == str(site)

    text = site.read_text(encoding="utf-8")
    assert "# PETS 2009 S2.L1: the square in front of the camera" in text
    assert "# keep this comment" in text and "# where PETS was filmed" in text
    assert "bucket_s: 30" in text and "analysis_fps: 7" in text
    config = load_site_config(site)
    assert [zone.name for zone in config.zones] == ["entry", "checkout", "square"]
    assert config.zones[0].kind == "entrance" and config.zones[1].polygon[0] == (-9.0, -10.0)
    assert config.lines[0].name == "crossing" and config.lines[0].in_side == "right"
    assert config.funnels[0].steps == ["entry", "checkout"] and config.analytics.bucket_s == 30
    assert config.camera("view001").calibration == out.resolve()
    assert config.floor_plan is not None and config.floor_plan.metres_per_pixel == SCALE
    assert config.floor_plan.origin == ORIGIN


def test_a_save_that_would_break_the_site_config_writes_nothing(site_api: tuple[Api, Path, Path]) -> None:
    client, out, site = site_api
    before = site.read_text(encoding="utf-8")
    feet, world = spread_pairs(8)
    renamed = [{"name": "till", "kind": "queue", "polygon": [[-9, -10], [-4, -10], [-4, -6]]}]  # funnel step gone
    status, answer = client.json("/api/save", {"points": as_rows(feet, world), "zones": renamed})
    assert status == 400
    assert "funnels[0].steps" in answer["error"] and "not changed" in answer["error"]
    assert str(site) in answer["error"] or site.name in answer["error"]
    crossing = [{"name": "x", "kind": "area", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}]
    status, answer = client.json("/api/save", {"points": as_rows(feet, world), "zones": crossing})
    assert status == 400 and answer["error"].startswith("zones[0].polygon: the polygon intersects itself")
    assert site.read_text(encoding="utf-8") == before
    assert not out.exists() and not points_csv_path(out).exists()
    assert [path.name for path in site.parent.iterdir() if path.name.startswith(".")] == []


def test_bad_requests_get_one_line_errors(api: tuple[Api, Path]) -> None:
    client, _ = api
    status, answer = client.json("/api/fit", {"points": [[1, 2, 3]]})
    assert status == 400 and "points[0]" in answer["error"]
    status, answer = client.json("/api/fit", {"points": "many"})
    assert status == 400 and "list" in answer["error"]
    status, content, _ = client.call("/api/fit", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert status == 400 and "not valid JSON" in json.loads(content)["error"]
    status, content, _ = client.call("/api/fit", raw=b'{"points": []}', headers={"Content-Type": "text/plain"})
    assert status == 400 and "application/json" in json.loads(content)["error"]
    status, answer = client.json("/api/save", {"points": [], "zones": "none"})
    assert status == 400 and "lists" in answer["error"]
    status, answer = client.json("/api/state", headers={"Host": "evil.example:80"})
    assert status == 403
    status, answer = client.json("/api/nothing")
    assert status == 404


def test_intrinsics_are_used_for_the_fit_the_preview_and_the_file(tmp_path: Path) -> None:
    view = pets_view001()
    intrinsics = tmp_path / "lens.json"
    intrinsics.write_text(json.dumps({"K": view["K"], "dist": view["dist"]}))
    for client, out in start_server(tmp_path, intrinsics=intrinsics):
        feet, world = spread_pairs(8)
        status, fit = client.json("/api/fit", {"points": as_rows(feet, world)})
        assert status == 200 and fit["rms_m"] < 0.2
        status, content, _ = client.call("/api/preview.png")
        assert status == 200 and decode(content)[:, :, 3].any()
        status, grid = client.json("/api/grid.json")
        assert grid["lines"]
        status, saved = client.json("/api/save", {"points": as_rows(feet, world)})
        assert status == 200 and saved["saved"][0] == str(out)
        assert load_calibration(out).intrinsics is not None


def test_camera_frames_from_a_video_and_a_refused_stream() -> None:
    frame = read_camera_frame(str(PETS_VIDEO))
    assert frame.shape == (PETS_SIZE[1], PETS_SIZE[0], 3)
    with pytest.raises(SourceError) as error:
        read_camera_frame("rtsp://admin:hunter2@127.0.0.1:1/stream", timeout_s=3)
    assert "hunter2" not in str(error.value) and "rtsp://***@127.0.0.1:1/stream" in str(error.value)


def test_calibrate_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["calibrate", str(PETS_FIRST_FRAME), "--plan", str(tmp_path / "none.png")])
    assert result.exit_code == 1 and "--scale is required" in result.output
    result = runner.invoke(
        app, ["calibrate", str(PETS_FIRST_FRAME), "--plan", str(tmp_path / "none.png"), "--scale", "0.05"]
    )
    assert result.exit_code == 1 and "no such floor-plan file" in result.output
    result = runner.invoke(app, ["calibrate", "solve", str(tmp_path / "none.csv")])
    assert result.exit_code == 1 and "no such points file" in result.output
    result = runner.invoke(app, ["calibrate", "--help"])
    assert result.exit_code == 0 and "serve" in result.output and "solve" in result.output


def test_estimated_lens_distortion_is_used_for_the_fit_and_recorded(tmp_path):
    """With --estimate-distortion the session fits K and k1 from 8+ pairs: the PETS camera's barrel distortion
    is found, and the calibration records the intrinsics."""
    view = pets_view001()
    camera_matrix, distortion = np.array(view["K"]), np.array(view["dist"])
    floor = np.random.default_rng(3).uniform([-13, -15], [4, 6], size=(40, 2))
    rvec, _ = cv2.Rodrigues(np.array(view["R"]))
    world_mm = np.column_stack([floor * 1000, np.zeros(40)])
    image, _ = cv2.projectPoints(world_mm, rvec, np.array(view["t"]), camera_matrix, distortion)
    image = image.reshape(-1, 2)
    inside = (image[:, 0] > 0) & (image[:, 0] < 768) & (image[:, 1] > 0) & (image[:, 1] < 576)
    frame = cv2.imread(str(PETS_FIRST_FRAME))
    plan = FloorPlanImage(np.full((480, 400, 3), 255, np.uint8), 0.05, (-14.0, -16.0), None)
    session = CalibrationSession(frame, plan, tmp_path / "calib.json", estimate_distortion=True)
    result = session.fit(PointPairs(image[inside], floor[inside]))
    assert result["rms_m"] < 0.05
    assert result["lens"].startswith("lens distortion estimated from the pairs: k1 = ")
    k1 = float(result["lens"].split("k1 = ")[1].split(",")[0])
    assert k1 < -0.03, "the barrel distortion of the PETS lens is found"
    assert session.preview().shape == (480, 400, 4)
