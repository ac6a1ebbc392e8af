"""The detection plan (vision.perception.detection_plan): the region a calibrated camera's floor area gives, the
crop, two frames a call and far-field tiles, each run through the real detector on real PETS frames and scored
against the ground truth; and `footfall run` with an image polygon from the site file, recorded in run.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers import PETS_VIDEO, TFLITE_MODEL, pets_calibration_document, pets_ground_truth
from vision.config.calibration_file import load_calibration, projector_from_calibration
from vision.config.site import load_site_config
from vision.core.boxes import iou_xyxy
from vision.core.errors import SiteConfigError
from vision.core.geometry import GroundProjector
from vision.perception.detect import DetectorSettings, YoloDetector
from vision.perception.detection_plan import (
    USEFUL_PERSON_PX,
    DetectionPlan,
    PixelBox,
    PlannedDetector,
    plan_detection,
)
from vision.perception.regions import DetectionArea, FloorBox

SIZE = (768, 576)
SITE_FLOOR = FloorBox(-14.0, -16.0, 6.0, 8.0)  # examples/pets/site.yaml's floor plan
FRAMES = (1, 41, 81, 121, 161, 201, 241, 281, 321, 361)


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> GroundProjector:
    path = tmp_path_factory.mktemp("calibration") / "view001.json"
    path.write_text(json.dumps(pets_calibration_document()))
    return projector_from_calibration(load_calibration(path))


@pytest.fixture(scope="module")
def detector() -> YoloDetector:
    return YoloDetector(DetectorSettings(model=str(TFLITE_MODEL), threads=1))


@pytest.fixture(scope="module")
def frames() -> dict[int, np.ndarray]:
    capture = cv2.VideoCapture(str(PETS_VIDEO))
    found, number = {}, 0
    while len(found) < len(FRAMES):
        ok, image = capture.read()
        assert ok
        number += 1
        if number in FRAMES:
            found[number] = image
    return found


def truth(frame: int, scale: float = 1.0, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    rows = pets_ground_truth()
    rows = rows[rows[:, 0] == frame]
    xyxy = np.column_stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]]) * scale
    return xyxy + np.array([*offset, *offset])


def matched(found: np.ndarray, expected: np.ndarray) -> int:
    """Ground-truth boxes with a found box at IoU 0.5 or more, one box each."""
    if len(found) == 0 or len(expected) == 0:
        return 0
    iou = iou_xyxy(expected, found)
    count = 0
    while iou.size and iou.max() >= 0.5:
        row, column = np.unravel_index(iou.argmax(), iou.shape)
        iou[row, :], iou[:, column] = -1, -1
        count += 1
    return count


def test_without_a_floor_area_the_calibrated_pets_camera_is_one_whole_frame_a_call(projector) -> None:
    plan = plan_detection(SIZE, 640, DetectionArea(projector))
    assert plan.whole_frame and plan.frames_per_call == 1 and plan.tiles == ()
    assert plan.region_source == "calibration" and plan.model_calls_per_frame == 1.0


def test_the_site_floor_area_crops_pets_and_pairs_its_frames(projector) -> None:
    plan = plan_detection(SIZE, 640, DetectionArea(projector, SITE_FLOOR))
    assert not plan.whole_frame and plan.crop.width == SIZE[0]
    assert 0.5 < plan.region_share < 0.8  # the sky and the near kerb are left out
    assert plan.frames_per_call == 2 and plan.model_calls_per_frame == 0.5 and plan.tiles == ()
    assert plan.smallest_person_px is not None and plan.smallest_person_px >= USEFUL_PERSON_PX
    # every ground-truth person standing on the floor area is inside the crop, head and feet
    rows = pets_ground_truth()
    on_area = SITE_FLOOR.contains(rows[:, 7:9] / 1000.0)
    boxes = rows[on_area]
    assert len(boxes) > 1000
    inside = (boxes[:, 3] >= plan.crop.y0 - 2) & (boxes[:, 3] + boxes[:, 5] <= plan.crop.y1 + 2)
    assert inside.mean() >= 0.99
    record = plan.summary()
    assert record["model_calls_per_frame"] == 0.5 and record["crop"]["y1"] == plan.crop.y1


def test_an_image_polygon_is_the_region(projector) -> None:
    polygon = ((100.0, 150.0), (700.0, 160.0), (650.0, 500.0), (120.0, 480.0))
    plan = plan_detection(SIZE, 640, DetectionArea(projector, None, polygon))
    assert plan.region_source == "site polygon"
    cell = max(SIZE) / 128
    assert abs(plan.crop.x0 - 100) <= cell and abs(plan.crop.x1 - 700) <= cell
    assert abs(plan.crop.y0 - 150) <= cell and abs(plan.crop.y1 - 500) <= cell


def test_an_image_polygon_outside_the_frame_says_so_and_keeps_the_whole_frame(projector) -> None:
    plan = plan_detection(SIZE, 640, DetectionArea(projector, None, ((1000.0, 0.0), (1900.0, 0.0), (1900.0, 900.0))))
    assert plan.whole_frame
    assert "lies outside the 768x576 frame" in plan.reasons[0]


def test_two_frames_in_one_call_find_each_frames_own_people(detector, frames, projector) -> None:
    """Two frames 40 apart (people moved): each box goes back to its own frame, and the pair finds as many people
    as a call per frame does."""
    plan = plan_detection(SIZE, 640, DetectionArea(projector, SITE_FLOOR))
    planned = PlannedDetector(detector, DetectionArea(projector, SITE_FLOOR), 640)
    assert planned.pairs(frames[1])
    single = paired = own = other = total = 0
    for first, second in zip(FRAMES[::2], FRAMES[1::2], strict=True):
        found_a, found_b = planned.detect_pair(frames[first], frames[second])
        for number, found, other_number in ((first, found_a, second), (second, found_b, first)):
            keep = found.confidence >= 0.4
            expected = truth(number)
            expected = expected[(expected[:, 3] >= plan.crop.y0) & (expected[:, 3] <= plan.crop.y1)]
            total += len(expected)
            paired += matched(found.xyxy[keep], expected)
            alone = detector(frames[number])
            single += matched(alone.xyxy[alone.confidence >= 0.4], expected)
            own += matched(found.xyxy[keep], truth(number))
            other += matched(found.xyxy[keep], truth(other_number))
    assert total > 50
    assert paired >= single - 0.03 * total, (paired, single, total)
    assert own > 3 * other  # boxes land on their own frame, not the other one


def corridor_projector(
    width: int, height: int, focal: float, camera_height_m: float, tilt_deg: float
) -> GroundProjector:
    """A pinhole camera `camera_height_m` above the floor, looking along +y and down by `tilt_deg`."""
    tilt = np.radians(tilt_deg)
    forward = np.array([0.0, np.cos(tilt), -np.sin(tilt)])
    right = np.array([1.0, 0.0, 0.0])
    rotation = np.vstack([right, np.cross(forward, right), forward])  # floor axes to camera axes
    translation = -rotation @ np.array([0.0, 0.0, camera_height_m])
    matrix = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])
    floor_to_pixels = matrix @ np.column_stack([rotation[:, 0], rotation[:, 1], translation])
    return GroundProjector(np.linalg.inv(floor_to_pixels))


def test_a_long_corridor_seen_in_4k_gets_a_far_field_tile(tmp_path: Path) -> None:
    """A 4K camera 3 m up, looking 12 degrees down a corridor 8 m wide and 60 m long: at the whole crop's scale
    (640/3840) a person at the far end is under the useful height, so a tile covers the far end; the near part is
    left to the crop pass."""
    width, height = 3840, 2160
    projector = corridor_projector(width, height, 2800.0, 3.0, 12.0)
    plan = plan_detection((width, height), 640, DetectionArea(projector, FloorBox(-4.0, 2.0, 4.0, 60.0)))
    assert plan.tiles and len(plan.tiles) <= 4 and plan.frames_per_call == 1
    assert plan.model_calls_per_frame == 1 + len(plan.tiles)
    assert plan.smallest_person_px is not None and plan.smallest_person_px < USEFUL_PERSON_PX
    far_end = projector.to_floor(np.array([[width / 2, plan.crop.y0 + 40.0]]))  # the far end of the region
    assert far_end[0, 1] > 30
    for tile in plan.tiles:
        assert tile.width == tile.height < plan.crop.height  # square, at a finer scale than the crop's
        assert plan.crop.x0 <= tile.x0 and tile.x1 <= plan.crop.x1 and plan.crop.y0 <= tile.y0
        assert tile.y1 <= plan.crop.y1
    assert any(tile.x0 < width / 2 < tile.x1 and tile.y0 <= plan.crop.y0 + 40 for tile in plan.tiles)


def test_far_field_tiles_find_people_the_whole_frame_pass_misses(detector, frames) -> None:
    """PETS frames at a quarter of their size at the top left of a 3072x2304 picture: at the whole frame's scale
    (640/3072) a person is 15-20 px at the model input and mostly missed; tiles over that corner find them, once
    each."""
    canvas_size = (3072, 2304)
    tiles = (PixelBox(0, 0, 768, 768),)
    plan = DetectionPlan(frame_size=canvas_size, model_input_px=640, crop=PixelBox(0, 0, *canvas_size), tiles=tiles)
    planned = PlannedDetector(detector, DetectionArea(), 640)
    planned.plan = plan
    whole = tiled = total = 0
    for number in FRAMES[:6]:
        canvas = np.full((canvas_size[1], canvas_size[0], 3), 114, dtype=np.uint8)
        canvas[: SIZE[1], : SIZE[0]] = frames[number]
        expected = truth(number)
        total += len(expected)
        alone = detector(canvas)
        whole += matched(alone.xyxy[alone.confidence >= 0.25], expected)
        found = planned(canvas)
        keep = found.confidence >= 0.25
        tiled += matched(found.xyxy[keep], expected)
        duplicates = iou_xyxy(found.xyxy[keep], found.xyxy[keep]) > 0.5
        assert duplicates.sum() == keep.sum()  # each box overlaps itself only
    assert total > 30
    assert tiled >= whole + 0.3 * total, (tiled, whole, total)


def test_a_detection_region_in_the_site_file_must_be_a_polygon_of_pixels(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    for region, message in (
        ("[[0, 0], [10, 10]]", "at least 3 corners"),
        ("[[-5, 0], [100, 0], [100, 100]]", "none can be negative"),
        ("[[0, 0], [100, 100], [100, 0], [0, 100]]", "intersects itself"),
    ):
        site.write_text(
            f"version: 1\nsite: {{id: s}}\ncameras:\n  - id: cam\n    source: {PETS_VIDEO}\n"
            f"    detection_region: {region}\n"
        )
        with pytest.raises(SiteConfigError, match=message):
            load_site_config(site)


def test_run_with_a_site_polygon_detects_only_there_and_records_the_plan(tmp_path: Path) -> None:
    """The left half of PETS as the region: every tracked box lies in it, and run.json records the crop."""
    site = tmp_path / "site.yaml"
    site.write_text(
        f"version: 1\nsite: {{id: s}}\ncameras:\n  - id: cam\n    source: {PETS_VIDEO}\n    analysis_fps: 2\n"
        "    detection_region: [[0, 0], [384, 0], [384, 576], [0, 576]]\n"
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vision", "run", "--site", str(site), "--model", str(TFLITE_MODEL),
               "--out", str(out), "--export-mot"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    camera = json.loads((out / "run.json").read_text())["cameras"][0]
    plan = camera["detection_plan"]
    assert plan["region_source"] == "site polygon"
    assert plan["crop"] == {"x0": 0, "y0": 0, "x1": 384, "y1": 576}
    assert plan["frames_per_call"] == 1  # a tall half-frame: two side by side would shrink it
    rows = np.loadtxt(out / "mot" / "cam.txt", delimiter=",", ndmin=2)
    assert len(rows) > 100
    assert (rows[:, 2] + rows[:, 4] <= 384 + 1).all()
    assert camera["frames_analysed"] == 115 and camera["tracks"] >= 4
