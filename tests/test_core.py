"""The shared vocabulary (vision.core): the floor-plan mapping that every user of plan pictures takes, camera ids
and URLs, places and their kinds; and one-line validation problems (vision.config.problems)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError, field_validator

from calibration.session import CalibrationSession, FloorPlanImage
from vision.config.problems import field_path, first_problem
from vision.config.site import FloorPlan, LineConfig, ZoneConfig
from vision.core.floorplan import FloorPlanMapping, PlanPicture
from vision.core.ids import check_camera_id, default_camera_id, is_camera_id, is_url
from vision.core.places import LINE_SIDES, ZONE_KINDS

# --- the floor-plan mapping ------------------------------------------------------------------------------------


def test_plan_pixels_and_floor_metres_map_both_ways() -> None:
    mapping = FloorPlanMapping(0.05, (-14.0, -16.0))
    pixels = np.array([[0.0, 0.0], [400.0, 300.0], [12.5, 7.25]])
    floor = mapping.to_floor(pixels)

    np.testing.assert_allclose(floor, [[-14.0, -16.0], [6.0, -1.0], [-13.375, -15.6375]])
    np.testing.assert_allclose(mapping.to_pixel(floor), pixels)
    homogeneous = np.column_stack([pixels, np.ones(3)]) @ mapping.floor_from_pixel().T
    np.testing.assert_allclose(homogeneous[:, :2], floor)
    np.testing.assert_allclose(mapping.pixel_from_floor() @ mapping.floor_from_pixel(), np.eye(3), atol=1e-12)
    assert mapping.extent(400, 480) == pytest.approx((-14.0, -16.0, 6.0, 8.0))


@pytest.mark.parametrize(
    ("scale", "origin"), [(0.0, (0, 0)), (-1.0, (0, 0)), (float("nan"), (0, 0)), (1.0, (0, np.inf))]
)
def test_a_mapping_needs_a_positive_scale_and_a_finite_origin(scale: float, origin: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match=r"metres per pixel|origin"):
        FloorPlanMapping(scale, origin)


def test_the_site_config_the_heatmap_and_the_calibration_page_share_one_mapping(tmp_path) -> None:
    import cv2

    image = np.full((480, 400, 3), 255, np.uint8)
    cv2.imwrite(str(tmp_path / "plan.png"), image)
    config_plan = FloorPlan(image=tmp_path / "plan.png", metres_per_pixel=0.05, origin=(-14.0, -16.0))
    page_plan = FloorPlanImage(image, 0.05, (-14.0, -16.0), tmp_path / "plan.png")
    picture = PlanPicture(image, config_plan.mapping())
    session = CalibrationSession(np.zeros((576, 768, 3), np.uint8), page_plan, tmp_path / "calib.json")

    assert config_plan.mapping() == page_plan.mapping == picture.mapping
    assert config_plan.extent_m() == page_plan.extent_m() == picture.extent()
    state = session.state()
    assert state["plan_mapping"] == FloorPlanMapping(0.05, (-14.0, -16.0)).to_json()
    assert state["zone_kinds"] == list(ZONE_KINDS) and state["line_sides"] == list(LINE_SIDES)


def test_the_config_takes_its_zone_kinds_and_line_sides_from_the_places() -> None:
    for kind in ZONE_KINDS:
        assert ZoneConfig(name="z", kind=kind, polygon=[(0, 0), (1, 0), (1, 1)]).kind == kind
    for side in LINE_SIDES:
        assert LineConfig(name="l", a=(0, 0), b=(1, 0), in_side=side).in_side == side
    with pytest.raises(ValidationError):
        ZoneConfig(name="z", kind="lobby", polygon=[(0, 0), (1, 0), (1, 1)])


# --- camera ids and URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("camera", ["c", "Entrance_2", "store-12.cam-3", "x" * 64])
def test_good_camera_ids(camera: str) -> None:
    assert is_camera_id(camera) and check_camera_id(camera) == camera


@pytest.mark.parametrize("camera", ["", "_a", ".a", "a b", "a/b", "x" * 65, "cam\n"])
def test_bad_camera_ids_say_the_rule(camera: str) -> None:
    assert not is_camera_id(camera)
    with pytest.raises(ValueError, match="must start with a letter or digit"):
        check_camera_id(camera)


@pytest.mark.parametrize(
    ("source", "camera"),
    [
        ("videos/entrance.mp4", "entrance"),
        ("/data/PETS09-S2L1/", "PETS09-S2L1"),
        ("/data/ch 01 (front).avi", "ch_01__front_"),
        ("/data/_hidden.mp4", "cam_hidden"),
        ("/data/" + "y" * 80 + ".mp4", "y" * 64),
    ],
)
def test_default_camera_ids_follow_the_rule(source: str, camera: str) -> None:
    assert default_camera_id(source) == camera
    assert is_camera_id(default_camera_id(source))


@pytest.mark.parametrize(
    ("source", "url"),
    [("rtsp://cam/1", True), ("RTSPS://cam/1", True), ("http://nvr/mjpeg", True), ("/videos/a.mp4", False),
     ("videos/rtsp://odd.mp4", False), ("C:\\videos\\a.mp4", False)],
)  # fmt: skip
def test_urls_are_told_from_paths(source: str, url: bool) -> None:
    assert is_url(source) is url


# --- one-line validation problems ------------------------------------------------------------------------------


class _Inner(BaseModel):
    corners: list[tuple[float, float]]

    @field_validator("corners")
    @classmethod
    def _three(cls, value: list) -> list:
        if len(value) < 3:
            raise ValueError("needs 3 corners")
        return value


class _Outer(BaseModel):
    zones: list[_Inner]


def test_first_problem_names_the_field_and_the_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        _Outer.model_validate({"zones": [{"corners": [[0, 0], [1, 1], [2, 0]]}, {"corners": [[0, 0]]}]})
    assert field_path(("zones", 1, "corners")) == "zones[1].corners"
    assert first_problem(caught.value) == "zones[1].corners: needs 3 corners"
    assert first_problem(caught.value, skip=1, prefix=("site",)) == "site[1].corners: needs 3 corners"
    assert first_problem(caught.value, dotted=True, label="field ") == "field zones.1.corners: needs 3 corners"


def test_a_problem_without_a_path_gets_the_stand_in() -> None:
    with pytest.raises(ValidationError) as caught:
        _Outer.model_validate("not a mapping")
    assert first_problem(caught.value, no_path="(top level)").startswith("(top level): ")
