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
from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vision.config.problems import first_problem
from vision.core.errors import CalibrationError
from vision.core.geometry import GroundProjector, ground_homography_from_pose

CALIBRATION_FORMAT = "footfall-calibration"
CALIBRATION_VERSION = 1
_UNIT_TO_METRES = {"mm": 0.001, "cm": 0.01, "m": 1.0}

Matrix3 = Annotated[list[Annotated[list[float], Field(min_length=3, max_length=3)]], Field(min_length=3, max_length=3)]
Vector3 = Annotated[list[float], Field(min_length=3, max_length=3)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Intrinsics(_Strict):
    K: Matrix3
    dist: Annotated[list[float], Field(min_length=4, max_length=8)] = Field(default_factory=lambda: [0.0] * 5)

    @field_validator("K")
    @classmethod
    def _camera_matrix_is_plausible(cls, value: list[list[float]]) -> list[list[float]]:
        matrix = np.asarray(value)
        if matrix[0, 0] <= 0 or matrix[1, 1] <= 0 or not np.allclose(matrix[2], [0, 0, 1]):
            raise ValueError("K must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with positive focal lengths")
        return value


class HomographyCalibration(_Strict):
    format: Literal["footfall-calibration"]
    version: Literal[1]
    model: Literal["homography"]
    camera: str | None = None
    image_size: Annotated[list[int], Field(min_length=2, max_length=2)] | None = None
    homography: Matrix3 = Field(description="image pixels (undistorted when intrinsics are given) → floor metres")
    intrinsics: Intrinsics | None = None
    rms_error_m: float | None = None

    @field_validator("homography")
    @classmethod
    def _invertible(cls, value: list[list[float]]) -> list[list[float]]:
        matrix = np.asarray(value, dtype=np.float64)
        scale = np.abs(matrix).max() if np.all(np.isfinite(matrix)) else 0.0
        if scale == 0 or abs(np.linalg.det(matrix / scale)) < 1e-12:
            raise ValueError("homography must be a finite, invertible 3x3 matrix")
        return value


class OpenCVCalibration(_Strict):
    format: Literal["footfall-calibration"]
    version: Literal[1]
    model: Literal["opencv"]
    camera: str | None = None
    image_size: Annotated[list[int], Field(min_length=2, max_length=2)] | None = None
    units: Literal["mm", "cm", "m"] = Field(description="unit of t, and so of the world frame")
    K: Matrix3
    dist: Annotated[list[float], Field(min_length=4, max_length=8)]
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
        return self

    def rotation_matrix(self) -> np.ndarray:
        if self.R is not None:
            return np.asarray(self.R, dtype=np.float64)
        return cv2.Rodrigues(np.asarray(self.rvec, dtype=np.float64))[0]


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
            f"{source}: calibration version {document.get('version')!r} is not supported by this footfall "
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
        problem = first_problem(exc, skip=2, dotted=True, label="field ", no_path="calibration")
        raise CalibrationError(f"{source}: {problem}") from None


def load_calibration(path: Path) -> HomographyCalibration | OpenCVCalibration:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalibrationError(f"{path}: no such calibration file; check the path given to --calibration") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path}: cannot read the calibration file ({exc})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return parse_calibration(document, str(path))


def projector_from_calibration(calibration: HomographyCalibration | OpenCVCalibration) -> GroundProjector:
    """The projector a calibration describes; floor coordinates always come out in metres."""
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
