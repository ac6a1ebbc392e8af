"""Image ⇄ floor geometry: foot points in pixels to floor positions in metres, through an optional lens
undistortion and a ground-plane homography. Every call works on whole arrays of points."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-9)
_MIN_ABS_W = 1e-12


def _as_points(points: np.ndarray) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {array.shape}")
    return array


def ground_homography_from_pose(camera_matrix: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """The homography from undistorted pixels to ground-plane (z = 0) world coordinates, in the translation's units.

    A world point (X, Y, 0) is seen at s·(u, v, 1) = K·[r1 r2 t]·(X, Y, 1) with s its depth, so the inverse of
    K·[r1 r2 t] maps pixels back to the ground with a positive third coordinate (1/depth) in front of the camera.
    """
    world_to_image = camera_matrix @ np.column_stack([rotation[:, 0], rotation[:, 1], translation])
    return np.linalg.inv(world_to_image)


@dataclass(frozen=True, slots=True)
class GroundProjector:
    """Maps image pixels to floor metres and back.

    `image_to_floor` acts on undistorted pixels. When `camera_matrix` and `distortion` are given, pixels are
    undistorted first. When `positive_w_in_front` is set, a pixel whose homogeneous floor coordinate has w <= 0
    lies above the horizon (its ray never meets the floor in front of the camera) and maps to NaN.
    """

    image_to_floor: np.ndarray
    camera_matrix: np.ndarray | None = None
    distortion: np.ndarray | None = None
    positive_w_in_front: bool = True

    def __post_init__(self) -> None:
        if self.image_to_floor.shape != (3, 3) or not np.all(np.isfinite(self.image_to_floor)):
            raise ValueError("image_to_floor must be a finite 3x3 matrix")
        if (self.camera_matrix is None) != (self.distortion is None):
            raise ValueError("camera_matrix and distortion must be given together")

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        points = _as_points(pixels)
        if self.camera_matrix is None or len(points) == 0:
            return points
        source = points.reshape(-1, 1, 2)
        if hasattr(cv2, "undistortPointsIter"):  # OpenCV 4 keeps the iteration criteria in a separate function
            undistorted = cv2.undistortPointsIter(
                source, self.camera_matrix, self.distortion, None, self.camera_matrix, _UNDISTORT_CRITERIA
            )
        else:
            undistorted = cv2.undistortPoints(
                source, self.camera_matrix, self.distortion, R=None, P=self.camera_matrix, criteria=_UNDISTORT_CRITERIA
            )
        return undistorted.reshape(-1, 2)

    def to_floor(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 2) image pixels → (N, 2) floor metres; NaN rows for points off the ground plane."""
        points = self.undistort(pixels)
        homogeneous = np.column_stack([points, np.ones(len(points))]) @ self.image_to_floor.T
        w = homogeneous[:, 2]
        valid = w > _MIN_ABS_W if self.positive_w_in_front else np.abs(w) > _MIN_ABS_W
        floor = np.full((len(points), 2), np.nan)
        floor[valid] = homogeneous[valid, :2] / w[valid, None]
        return floor

    def to_image(self, floor_xy: np.ndarray) -> np.ndarray:
        """(N, 2) floor metres → (N, 2) image pixels, lens distortion applied."""
        points = _as_points(floor_xy)
        homogeneous = np.column_stack([points, np.ones(len(points))]) @ np.linalg.inv(self.image_to_floor).T
        undistorted = homogeneous[:, :2] / homogeneous[:, 2:3]
        if self.camera_matrix is None or len(points) == 0:
            return undistorted
        normalised = np.column_stack([undistorted, np.ones(len(points))]) @ np.linalg.inv(self.camera_matrix).T
        distorted, _ = cv2.projectPoints(
            normalised.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), self.camera_matrix, self.distortion
        )
        return distorted.reshape(-1, 2)
