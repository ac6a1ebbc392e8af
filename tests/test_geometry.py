"""Image ⇄ floor geometry and the calibration file, checked against the PETS09-S2L1 calibration and ground truth."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers import PETS_SIZE, ground_truth_feet, pets_calibration_document, pets_ground_truth, pets_view001
from vision.config.calibration_file import (
    HomographyCalibration,
    OpenCVCalibration,
    check_image_size,
    load_calibration,
    parse_calibration,
    projector_from_calibration,
)
from vision.core.errors import CalibrationError
from vision.core.geometry import GroundProjector

# Measured on the 2222 scored ground-truth rows: the published OpenCV calibration puts the ground-truth foot points
# (box bottom-centres) 0.114 m (median) from the ground-truth world positions, 0.177 m at the 99th percentile; a
# homography fitted to the same points is 0.021 m (median) off, and the two models differ by 0.122 m (median),
# 0.246 m at most.
OPENCV_MEDIAN_ERROR_M = 0.15
HOMOGRAPHY_MEDIAN_ERROR_M = 0.03
MODELS_MEDIAN_DIFFERENCE_M = 0.15
MODELS_MAX_DIFFERENCE_M = 0.3


@pytest.fixture(scope="module")
def gt() -> np.ndarray:
    return pets_ground_truth()


@pytest.fixture(scope="module")
def feet(gt: np.ndarray) -> np.ndarray:
    return ground_truth_feet(gt)


@pytest.fixture(scope="module")
def world(gt: np.ndarray) -> np.ndarray:
    return gt[:, 7:9]


@pytest.fixture(scope="module")
def pets() -> GroundProjector:
    return projector_from_calibration(parse_calibration(pets_calibration_document()))


def view_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    view = pets_view001()
    return tuple(np.asarray(view[key], dtype=np.float64) for key in ("K", "dist", "R", "t"))  # type: ignore[return-value]


def homography_document(matrix: np.ndarray, image_size: bool = True) -> dict:
    camera_matrix, distortion, _, _ = view_arrays()
    document = {
        "format": "footfall-calibration",
        "version": 1,
        "model": "homography",
        "homography": matrix.tolist(),
        "intrinsics": {"K": camera_matrix.tolist(), "dist": distortion.tolist()},
    }
    if image_size:
        document["image_size"] = list(PETS_SIZE)
    return document


def ray_depth(pixels: np.ndarray) -> np.ndarray:
    """How far along the optical axis each pixel's ray meets the ground plane z = 0; negative: behind the camera,
    i.e. the pixel is above the horizon. Computed from K, dist, R, t directly, without the projector."""
    camera_matrix, distortion, rotation, translation = view_arrays()
    normalised = cv2.undistortPoints(pixels.reshape(-1, 1, 2), camera_matrix, distortion).reshape(-1, 2)
    rays = np.column_stack([normalised, np.ones(len(normalised))]) @ rotation  # R^T · (x, y, 1) per row
    centre = -rotation.T @ translation
    return -centre[2] / rays[:, 2]


# --- the OpenCV model on PETS -----------------------------------------------------------------------------------


def test_parsed_document(pets: GroundProjector) -> None:
    calibration = parse_calibration(pets_calibration_document())

    assert isinstance(calibration, OpenCVCalibration)
    assert calibration.units == "mm"
    assert pets.camera_matrix is not None
    assert pets.positive_w_in_front


def test_floor_to_image_to_floor_round_trip(pets: GroundProjector, world: np.ndarray) -> None:
    back = pets.to_floor(pets.to_image(world))

    assert np.abs(back - world).max() < 1e-6


def test_ground_truth_feet_land_on_ground_truth_world(
    pets: GroundProjector, feet: np.ndarray, world: np.ndarray
) -> None:
    floor = pets.to_floor(feet)

    assert not np.isnan(floor).any()
    errors = np.linalg.norm(floor - world, axis=1)
    assert np.median(errors) < OPENCV_MEDIAN_ERROR_M  # measured 0.114 m
    assert np.percentile(errors, 99) < 0.25  # measured 0.177 m


def test_to_image_agrees_with_cv2_project_points(pets: GroundProjector, world: np.ndarray, feet: np.ndarray) -> None:
    camera_matrix, distortion, rotation, translation = view_arrays()
    world_mm = np.column_stack([world * 1000.0, np.zeros(len(world))])
    projected, _ = cv2.projectPoints(world_mm, cv2.Rodrigues(rotation)[0], translation, camera_matrix, distortion)

    image = pets.to_image(world)

    np.testing.assert_allclose(image, projected.reshape(-1, 2), atol=1e-6)
    assert np.median(np.linalg.norm(image - feet, axis=1)) < 3.0  # pixels; measured 2.17, README "about 2 px"


ABOVE_HORIZON = [(384.0, -200.0), (0.0, -300.0), (767.0, -150.0), (384.0, -1000.0)]
BELOW_HORIZON = [(384.0, 0.0), (0.0, 0.0), (767.0, 0.0), (384.0, 288.0), (0.0, 575.0), (767.0, 575.0)]


def test_horizon_test_pixels_are_where_the_depth_says() -> None:
    assert np.all(ray_depth(np.array(ABOVE_HORIZON)) < 0)
    assert np.all(ray_depth(np.array(BELOW_HORIZON)) > 0)  # this steep camera sees floor across its whole picture


@pytest.mark.parametrize("pixel", ABOVE_HORIZON)
def test_pixels_above_the_horizon_are_nan(pets: GroundProjector, pixel: tuple[float, float]) -> None:
    floor = pets.to_floor(np.array([pixel]))

    assert np.isnan(floor).all()


@pytest.mark.parametrize("pixel", BELOW_HORIZON)
def test_pixels_below_the_horizon_are_on_the_floor(pets: GroundProjector, pixel: tuple[float, float]) -> None:
    floor = pets.to_floor(np.array([pixel]))

    assert np.isfinite(floor).all()
    # The floor point seen at that pixel projects back onto it.
    np.testing.assert_allclose(pets.to_image(floor), [pixel], atol=1e-6)


def test_mixed_batch_keeps_rows_in_order(pets: GroundProjector, feet: np.ndarray) -> None:
    pixels = np.vstack([feet[:3], ABOVE_HORIZON[:1], feet[3:5]])

    floor = pets.to_floor(pixels)

    assert np.isnan(floor).any(axis=1).tolist() == [False, False, False, True, False, False]
    np.testing.assert_allclose(floor[[0, 1, 2, 4, 5]], pets.to_floor(feet[:5]))


def test_empty_and_malformed_point_arrays(pets: GroundProjector) -> None:
    assert pets.to_floor(np.zeros((0, 2))).shape == (0, 2)
    assert pets.to_image(np.zeros((0, 2))).shape == (0, 2)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        pets.to_floor(np.zeros((3, 3)))


def test_rotation_vector_equals_rotation_matrix(pets: GroundProjector, feet: np.ndarray) -> None:
    document = pets_calibration_document()
    document["rvec"] = cv2.Rodrigues(np.asarray(document.pop("R")))[0].ravel().tolist()

    projector = projector_from_calibration(parse_calibration(document))

    np.testing.assert_allclose(projector.to_floor(feet), pets.to_floor(feet), atol=1e-9)


@pytest.mark.parametrize(("units", "per_metre"), [("m", 1.0), ("cm", 100.0), ("mm", 1000.0)])
def test_units_scale_consistently(units: str, per_metre: float, pets: GroundProjector, feet: np.ndarray) -> None:
    document = pets_calibration_document()
    document["units"] = units
    document["t"] = (np.asarray(document["t"]) / 1000.0 * per_metre).tolist()
    projector = projector_from_calibration(parse_calibration(document))
    world = pets.to_floor(feet)

    np.testing.assert_allclose(projector.to_floor(feet), world, atol=1e-9)
    np.testing.assert_allclose(projector.to_image(world), feet, atol=1e-6)


def test_wrong_units_scale_the_floor(pets: GroundProjector, feet: np.ndarray) -> None:
    document = pets_calibration_document()
    document["units"] = "cm"  # t is in millimetres: declaring cm makes the world ten times larger

    projector = projector_from_calibration(parse_calibration(document))

    np.testing.assert_allclose(projector.to_floor(feet), 10 * pets.to_floor(feet), rtol=1e-9)


# --- the homography model --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def undistorted_feet(feet: np.ndarray) -> np.ndarray:
    camera_matrix, distortion, _, _ = view_arrays()
    return cv2.undistortPoints(feet.reshape(-1, 1, 2), camera_matrix, distortion, P=camera_matrix).reshape(-1, 2)


@pytest.fixture(scope="module")
def fitted_homography(undistorted_feet: np.ndarray, world: np.ndarray) -> np.ndarray:
    matrix, _ = cv2.findHomography(undistorted_feet, world)
    return matrix


def test_homography_fitted_on_ground_truth(fitted_homography: np.ndarray, feet: np.ndarray, world: np.ndarray) -> None:
    calibration = parse_calibration(homography_document(fitted_homography))
    assert isinstance(calibration, HomographyCalibration)

    floor = projector_from_calibration(calibration).to_floor(feet)

    assert np.median(np.linalg.norm(floor - world, axis=1)) < HOMOGRAPHY_MEDIAN_ERROR_M  # measured 0.021 m


def test_fitted_homography_agrees_with_the_opencv_model(
    fitted_homography: np.ndarray, pets: GroundProjector, feet: np.ndarray
) -> None:
    """Both models map the same pixels to nearly the same floor points; what is left is the OpenCV calibration's
    own error against the ground truth (the homography was fitted to the ground truth)."""
    homography = projector_from_calibration(parse_calibration(homography_document(fitted_homography)))

    difference = np.linalg.norm(homography.to_floor(feet) - pets.to_floor(feet), axis=1)

    assert np.median(difference) < MODELS_MEDIAN_DIFFERENCE_M  # measured 0.122 m
    assert difference.max() < MODELS_MAX_DIFFERENCE_M  # measured 0.246 m


def test_homography_of_the_opencv_model_gives_the_same_floor(
    pets: GroundProjector, undistorted_feet: np.ndarray, feet: np.ndarray
) -> None:
    """A homography fitted to the OpenCV model's own floor points: the homography path (undistort, map, orient)
    must then reproduce the OpenCV model to well under a centimetre."""
    matrix, _ = cv2.findHomography(undistorted_feet, pets.to_floor(feet))
    homography = projector_from_calibration(parse_calibration(homography_document(matrix)))

    difference = np.linalg.norm(homography.to_floor(feet) - pets.to_floor(feet), axis=1)

    assert difference.max() < 0.005
    np.testing.assert_allclose(homography.to_image(pets.to_floor(feet)), feet, atol=0.1)


@pytest.mark.parametrize("image_size", [True, False])
def test_homography_sign_does_not_matter(fitted_homography: np.ndarray, feet: np.ndarray, image_size: bool) -> None:
    plus = projector_from_calibration(parse_calibration(homography_document(fitted_homography, image_size)))
    minus = projector_from_calibration(parse_calibration(homography_document(-fitted_homography, image_size)))
    scaled = projector_from_calibration(parse_calibration(homography_document(-3.5 * fitted_homography, image_size)))

    np.testing.assert_allclose(minus.to_floor(feet), plus.to_floor(feet), atol=1e-9)
    np.testing.assert_allclose(scaled.to_floor(feet), plus.to_floor(feet), atol=1e-9)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_homography_with_image_size_finds_the_horizon_whatever_its_sign(
    fitted_homography: np.ndarray, sign: float
) -> None:
    projector = projector_from_calibration(parse_calibration(homography_document(sign * fitted_homography)))

    assert np.isnan(projector.to_floor(np.array(ABOVE_HORIZON))).all()
    assert np.isfinite(projector.to_floor(np.array(BELOW_HORIZON))).all()


def test_homography_without_intrinsics_maps_raw_pixels(feet: np.ndarray, world: np.ndarray) -> None:
    matrix, _ = cv2.findHomography(feet, world)
    document = {"format": "footfall-calibration", "version": 1, "model": "homography", "homography": matrix.tolist()}

    projector = projector_from_calibration(parse_calibration(document))

    assert projector.camera_matrix is None
    np.testing.assert_allclose(projector.undistort(feet), feet)
    assert np.median(np.linalg.norm(projector.to_floor(feet) - world, axis=1)) < 0.05  # lens ignored; measured 0.02


def test_check_image_size() -> None:
    calibration = parse_calibration(pets_calibration_document())

    check_image_size(calibration, 768, 576, "the PETS video")
    with pytest.raises(CalibrationError, match=r"768x576.*480x360"):
        check_image_size(calibration, 480, 360, "vtest")


# --- malformed calibrations ------------------------------------------------------------------------------------


def drop(field: str) -> Callable[[dict], dict]:
    def change(document: dict) -> dict:
        del document[field]
        return document

    return change


def put(field: str, value: object) -> Callable[[dict], dict]:
    def change(document: dict) -> dict:
        document[field] = value
        return document

    return change


def as_homography(matrix: list[list[float]]) -> Callable[[dict], dict]:
    return lambda _: {"format": "footfall-calibration", "version": 1, "model": "homography", "homography": matrix}


MALFORMED = [
    pytest.param(drop("t"), ["field t", "required"], id="missing-t"),
    pytest.param(drop("K"), ["field K", "required"], id="missing-K"),
    pytest.param(drop("units"), ["field units", "required"], id="missing-units"),
    pytest.param(drop("model"), ["field model", "homography", "opencv"], id="missing-model"),
    pytest.param(drop("R"), ["R", "rvec"], id="missing-rotation"),
    pytest.param(put("rvec", [0.0, 0.0, 0.0]), ["exactly one of R", "rvec"], id="both-rotations"),
    pytest.param(put("K", [[1000.0, 0.0, 384.0], [0.0, 1000.0, 288.0]]), ["field K", "3"], id="K-2x3"),
    pytest.param(put("K", [[1000.0, 0.0], [0.0, 1000.0, 288.0], [0, 0, 1]]), ["field K.0", "3"], id="K-short-row"),
    pytest.param(put("K", [[-1000.0, 0.0, 384.0], [0.0, 1000.0, 288.0], [0, 0, 1]]), ["K", "focal"], id="K-neg-f"),
    pytest.param(put("K", "identity"), ["field K", "list"], id="K-string"),
    pytest.param(put("t", [1.0, 2.0]), ["field t", "3"], id="t-two-values"),
    pytest.param(put("dist", [0.1, 0.0, 0.0]), ["field dist", "4"], id="dist-three-values"),
    pytest.param(put("dist", [0.0] * 9), ["field dist", "8"], id="dist-nine-values"),
    pytest.param(put("image_size", [768, 576, 3]), ["field image_size", "2"], id="image-size-three"),
    pytest.param(put("R", [[2.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]), ["R is not a rotation"], id="R-scaled"),
    pytest.param(put("R", [[-1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]), ["R is not a rotation"], id="R-reflection"),
    pytest.param(put("units", "inch"), ["field units", "'mm'"], id="unknown-units"),
    pytest.param(put("model", "fisheye"), ["field model", "homography", "opencv"], id="unknown-model"),
    pytest.param(put("colour", "red"), ["field colour", "Extra inputs"], id="unknown-field"),
    pytest.param(put("version", 2), ["version 2", "not supported"], id="version-2"),
    pytest.param(put("version", "1"), ["version '1'", "not supported"], id="version-string"),
    pytest.param(drop("version"), ["field version", "required"], id="missing-version"),
    pytest.param(put("format", "pets-calibration"), ["field format", "footfall-calibration"], id="wrong-format"),
    pytest.param(lambda d: {"View_001": pets_view001()}, ["not a footfall calibration"], id="raw-opencv-file"),
    pytest.param(lambda d: [1, 2, 3], ["model", "JSON object"], id="json-list"),
    pytest.param(as_homography([[1, 2, 3], [2, 4, 6], [0, 0, 1]]), ["field homography", "invertible"], id="H-rank-2"),
    pytest.param(as_homography([[0, 0, 0], [0, 0, 0], [0, 0, 0]]), ["field homography", "invertible"], id="H-zero"),
    pytest.param(
        as_homography([[float("nan"), 0, 0], [0, 1, 0], [0, 0, 1]]), ["field homography", "finite"], id="H-nan"
    ),
    pytest.param(as_homography([[1, 0, 0], [0, 1, 0]]), ["field homography", "3"], id="H-2x3"),
    pytest.param(
        lambda d: as_homography([[1, 0, 0], [0, 1, 0], [0, 0, 1]])(d) | {"intrinsics": {"K": d["K"], "lens": 1}},
        ["field intrinsics.lens", "Extra inputs"],
        id="unknown-intrinsics-field",
    ),
]


@pytest.mark.parametrize(("change", "fragments"), MALFORMED)
def test_malformed_documents_say_what_is_wrong(change: Callable[[dict], object], fragments: list[str]) -> None:
    document = change(copy.deepcopy(pets_calibration_document()))

    with pytest.raises(CalibrationError) as raised:
        parse_calibration(document, "view001.json")

    message = str(raised.value)
    assert message.startswith("view001.json: ")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_load_calibration_reads_a_file(tmp_path: Path, pets: GroundProjector, feet: np.ndarray) -> None:
    path = tmp_path / "view001.json"
    path.write_text(json.dumps(pets_calibration_document(), indent=2), encoding="utf-8")

    projector = projector_from_calibration(load_calibration(path))

    np.testing.assert_allclose(projector.to_floor(feet), pets.to_floor(feet))


@pytest.mark.parametrize(
    ("write", "fragments"),
    [
        pytest.param(None, ["no such calibration file"], id="missing-file"),
        pytest.param('{"format": "footfall-calibration",\n "version": 1,', ["not valid JSON", "line 2"], id="bad-json"),
        pytest.param("", ["not valid JSON", "line 1"], id="empty-file"),
        pytest.param(b"\xff\xfe\x00garbage", ["not a text file (not UTF-8)"], id="not-utf8"),
        pytest.param('{"model": "opencv"}', ["not a footfall calibration"], id="no-format"),
    ],
)
def test_load_calibration_errors(tmp_path: Path, write: str | bytes | None, fragments: list[str]) -> None:
    path = tmp_path / "calibration.json"
    if isinstance(write, bytes):
        path.write_bytes(write)
    elif write is not None:
        path.write_text(write, encoding="utf-8")

    with pytest.raises(CalibrationError) as raised:
        load_calibration(path)

    message = str(raised.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_projector_refuses_bad_matrices() -> None:
    with pytest.raises(ValueError, match="finite 3x3"):
        GroundProjector(np.eye(2))
    with pytest.raises(ValueError, match="finite 3x3"):
        GroundProjector(np.full((3, 3), np.inf))
    with pytest.raises(ValueError, match="together"):
        GroundProjector(np.eye(3), camera_matrix=np.eye(3))
