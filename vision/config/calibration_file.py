"""The calibration file: a versioned JSON that says how a camera's pixels map onto the floor plan in metres.

Two models are accepted (see README, "Calibration file"):

- `homography`: a 3x3 matrix from image pixels to floor metres, with optional `intrinsics` (`K`, `dist`) whose lens
  distortion is removed from the pixels first;
- `opencv`: OpenCV camera intrinsics `K`, distortion `dist` (k1, k2, p1, p2[, k3[, k4, k5, k6]]) and extrinsics
  (`R` 3x3 or `rvec`, and `t`) with `units` (`mm`, `cm` or `m`) giving the unit of `t` and so of the world frame;
  the floor is the world plane z = 0, reported in metres.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vision.config.problems import dotted_path, first_problem, show_value
from vision.core.errors import CalibrationError
from vision.core.geometry import GroundProjector, ground_homography_from_pose
from vision.core.textfile import read_bounded_text

CALIBRATION_FORMAT = "footfall-calibration"
CALIBRATION_VERSION = 1
_UNIT_TO_METRES = {"mm": 0.001, "cm": 0.01, "m": 1.0}
MAX_CALIBRATION_BYTES = 1_000_000  # a calibration file is under 2 kB; anything this large is the wrong file
MAX_IMAGE_SIDE_PX = 100_000
_FOCAL_PX = (1e-3, 1e7)  # plausible focal lengths, pixels
_MIN_RELATIVE_HEIGHT = 1e-6  # a camera whose height above the floor is under a millionth of its distance: in the floor

MAX_MAGNITUDE = 1e12  # no number in a calibration is larger; beyond it the arithmetic overflows

# Every number must be finite: NaN or Infinity in a matrix would turn every floor position into null.
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
Matrix3 = Annotated[list[Annotated[list[Finite], Field(min_length=3, max_length=3)]], Field(min_length=3, max_length=3)]
Vector3 = Annotated[list[Finite], Field(min_length=3, max_length=3)]
Distortion = Annotated[list[Finite], Field(min_length=4, max_length=8)]
ImageSize = Annotated[list[Annotated[int, Field(ge=1, le=MAX_IMAGE_SIDE_PX)]], Field(min_length=2, max_length=2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Intrinsics(_Strict):
    K: Matrix3
    dist: Distortion = Field(default_factory=lambda: [0.0] * 5)

    @field_validator("K")
    @classmethod
    def _camera_matrix_is_plausible(cls, value: list[list[float]]) -> list[list[float]]:
        matrix = np.asarray(value)
        if matrix[0, 0] <= 0 or matrix[1, 1] <= 0 or not np.allclose(matrix[2], [0, 0, 1]):
            raise ValueError("K must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with positive focal lengths")
        if not (_FOCAL_PX[0] <= matrix[0, 0] <= _FOCAL_PX[1] and _FOCAL_PX[0] <= matrix[1, 1] <= _FOCAL_PX[1]):
            raise ValueError(
                f"K's focal lengths fx = {matrix[0, 0]:g} and fy = {matrix[1, 1]:g} are implausible; they are in "
                f"pixels, between {_FOCAL_PX[0]:g} and {_FOCAL_PX[1]:g}"
            )
        return value


class HomographyCalibration(_Strict):
    format: Literal["footfall-calibration"]
    version: Literal[1]
    model: Literal["homography"]
    camera: str | None = None
    image_size: ImageSize | None = None
    homography: Matrix3 = Field(description="image pixels (undistorted when intrinsics are given) → floor metres")
    intrinsics: Intrinsics | None = None
    rms_error_m: Finite | None = None

    @field_validator("homography")
    @classmethod
    def _invertible(cls, value: list[list[float]]) -> list[list[float]]:
        if not _invertible(np.asarray(value, dtype=np.float64)):
            raise ValueError("homography must be a finite, invertible 3x3 matrix")
        return value


class OpenCVCalibration(_Strict):
    format: Literal["footfall-calibration"]
    version: Literal[1]
    model: Literal["opencv"]
    camera: str | None = None
    image_size: ImageSize | None = None
    units: Literal["mm", "cm", "m"] = Field(description="unit of t, and so of the world frame")
    K: Matrix3
    dist: Distortion
    R: Matrix3 | None = None
    rvec: Vector3 | None = None
    t: Vector3

    @model_validator(mode="after")
    def _pose(self) -> OpenCVCalibration:
        Intrinsics(K=self.K, dist=self.dist)
        if (self.R is None) == (self.rvec is None):
            raise ValueError("give the rotation as exactly one of R (3x3) or rvec (Rodrigues vector)")
        if self.R is not None:
            rotation = np.asarray(self.R)
            if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-4) or np.linalg.det(rotation) < 0:
                raise ValueError("R is not a rotation matrix (it must be orthonormal with determinant +1)")
        rotation = self.rotation_matrix()
        translation = np.asarray(self.t, dtype=np.float64)
        # The camera centre is -Rᵀt; its height above the floor (world z = 0) is -(third column of R)·t.
        height = float(rotation[:, 2] @ translation)
        if not abs(height) > _MIN_RELATIVE_HEIGHT * float(np.linalg.norm(translation)):
            raise ValueError(
                "t puts the camera in the floor plane (height 0 above world z = 0), where no pixel maps to the floor; "
                "check t and the rotation, and that the floor is the world plane z = 0"
            )
        with np.errstate(all="ignore"):
            try:
                mapping = ground_homography_from_pose(np.asarray(self.K, dtype=np.float64), rotation, translation)
            except np.linalg.LinAlgError:
                mapping = np.zeros((3, 3))
            _check_mapping(mapping, "K, the rotation and t")
        return self

    def rotation_matrix(self) -> np.ndarray:
        if self.R is not None:
            return np.asarray(self.R, dtype=np.float64)
        try:
            return cv2.Rodrigues(np.asarray(self.rvec, dtype=np.float64))[0]
        except cv2.error:
            raise ValueError("rvec is not a usable rotation vector (Rodrigues)") from None


_MAX_CONDITION = 1e12


def _invertible(matrix: np.ndarray) -> bool:
    """Whether a 3x3 matrix is finite and safely invertible, whatever the units of pixels and floor: rows and
    columns are scaled to a largest entry of 1 before its condition number is taken."""
    with np.errstate(all="ignore"):
        if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
            return False
        rows = np.abs(matrix).max(axis=1, keepdims=True)
        if not np.all(rows > 0):
            return False
        balanced = matrix / rows
        columns = np.abs(balanced).max(axis=0, keepdims=True)
        if not np.all(columns > 0):
            return False
        condition = np.linalg.cond(balanced / columns)
        return bool(np.isfinite(condition) and condition < _MAX_CONDITION)


def _check_mapping(image_to_floor: np.ndarray, what: str) -> None:
    """ValueError unless the pixels → floor matrix is finite and invertible (numbers so large or small that the
    arithmetic overflows or underflows end here)."""
    if not _invertible(image_to_floor):
        raise ValueError(
            f"{what} give no usable pixel-to-floor mapping (it is singular or overflows); check their values"
        )


CalibrationModel = Annotated[HomographyCalibration | OpenCVCalibration, Field(discriminator="model")]


class _CalibrationDocument(BaseModel):
    calibration: CalibrationModel


def parse_calibration(document: object, source: str = "calibration") -> HomographyCalibration | OpenCVCalibration:
    if isinstance(document, dict) and "format" not in document:
        raise CalibrationError(
            f'{source}: not a footfall calibration (no "format": "{CALIBRATION_FORMAT}"); see README '
            "'Calibration file' for the two accepted layouts"
        )
    if isinstance(document, dict) and document.get("version") not in (None, CALIBRATION_VERSION):
        raise CalibrationError(
            f"{source}: calibration version {show_value(document.get('version'))} is not supported by this footfall "
            f"(it reads version {CALIBRATION_VERSION}); upgrade footfall or re-save the calibration"
        )
    try:
        return _CalibrationDocument(calibration=document).calibration
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] in ("union_tag_not_found", "union_tag_invalid", "model_attributes_type"):
            raise CalibrationError(
                f'{source}: field model: must be "homography" or "opencv" in a JSON object'
            ) from None
        raise CalibrationError(f"{source}: {number_problem(exc, skip=2)}") from None


def number_problem(exc: ValidationError, skip: int = 0, no_path: str = "calibration") -> str:
    """The first problem as `field PATH: what is wrong`, saying plainly when a number is NaN, Infinity or absurdly
    large (pydantic's own words for those are vague)."""
    error = exc.errors()[0]
    kind = error["type"]
    if kind in ("finite_number", "greater_than_equal", "less_than_equal") and isinstance(error.get("input"), float):
        path = dotted_path(tuple(error["loc"])[skip:])
        value = error["input"]
        if kind == "finite_number":
            return f"field {path}: must be a finite number, not {value}; check the file"
        return f"field {path}: {value:g} is beyond ±{MAX_MAGNITUDE:g}, not a plausible calibration value"
    return first_problem(exc, skip=skip, dotted=True, label="field ", no_path=no_path)


def read_json_file(path: Path, what: str, limit: int = MAX_CALIBRATION_BYTES) -> Any:
    """A JSON file's document, or CalibrationError (one line) naming the file as `what` it was meant to be: missing,
    a folder, too large, not UTF-8 or not JSON (a UTF-8 byte-order mark is fine)."""
    text = read_bounded_text(path, what, limit, CalibrationError)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise CalibrationError(f"{path}: not a {what} (JSON nested far too deep)") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        reason = " ".join(str(exc).split(": value has")[0].split())
        raise CalibrationError(f"{path}: not a usable {what} file ({reason})") from None


def load_calibration(path: Path) -> HomographyCalibration | OpenCVCalibration:
    return parse_calibration(read_json_file(path, "calibration"), str(path))


def projector_from_calibration(calibration: HomographyCalibration | OpenCVCalibration) -> GroundProjector:
    """The projector a calibration describes; floor coordinates always come out in metres. A calibration that
    loaded is usable, so this fails only for one built around the checks: CalibrationError, one line."""
    try:
        with np.errstate(all="ignore"):
            return _projector(calibration)
    except (ValueError, np.linalg.LinAlgError, cv2.error) as exc:
        raise CalibrationError(f"the calibration gives no usable pixel-to-floor mapping ({exc})") from None


def _projector(calibration: HomographyCalibration | OpenCVCalibration) -> GroundProjector:
    if isinstance(calibration, OpenCVCalibration):
        camera_matrix = np.asarray(calibration.K, dtype=np.float64)
        to_world = ground_homography_from_pose(
            camera_matrix, calibration.rotation_matrix(), np.asarray(calibration.t, dtype=np.float64)
        )
        scale = _UNIT_TO_METRES[calibration.units]
        image_to_floor = np.diag([scale, scale, 1.0]) @ to_world
        return GroundProjector(image_to_floor, camera_matrix, np.asarray(calibration.dist, dtype=np.float64))

    image_to_floor = np.asarray(calibration.homography, dtype=np.float64)
    camera_matrix = distortion = None
    if calibration.intrinsics is not None:
        camera_matrix = np.asarray(calibration.intrinsics.K, dtype=np.float64)
        distortion = np.asarray(calibration.intrinsics.dist, dtype=np.float64)
    if calibration.image_size is None:
        # Without the picture size there is no pixel known to lie on the floor, so the horizon can't be told apart.
        return GroundProjector(image_to_floor, camera_matrix, distortion, positive_w_in_front=False)
    # A homography is only defined up to scale, sign included; orient it so the bottom-centre of the picture,
    # which is floor in any usable CCTV view, has w > 0, and then points above the horizon have w < 0.
    width, height = calibration.image_size
    oriented = GroundProjector(image_to_floor, camera_matrix, distortion, positive_w_in_front=False)
    bottom_centre = oriented.undistort(np.array([[width / 2.0, height - 1.0]]))[0]
    if (image_to_floor @ np.array([*bottom_centre, 1.0]))[2] < 0:
        image_to_floor = -image_to_floor
    return GroundProjector(image_to_floor, camera_matrix, distortion, positive_w_in_front=True)


def check_image_size(
    calibration: HomographyCalibration | OpenCVCalibration, width: int, height: int, source: str
) -> None:
    if calibration.image_size is not None and list(calibration.image_size) != [width, height]:
        calibrated_w, calibrated_h = calibration.image_size
        raise CalibrationError(
            f"the calibration was made for {calibrated_w}x{calibrated_h} pictures but {source} is {width}x{height}; "
            "calibrate this camera at its own resolution"
        )
