"""How tall a standing person looks at each point of a calibrated camera's picture.

A floor calibration is the homography G from floor metres to (undistorted) pixels, and G is K·[r1 r2 t] up to
scale for a pinhole camera. With the camera matrix K (an OpenCV calibration, or a homography with intrinsics) the
pose follows directly; without it K is taken as square pixels with the principal point at the picture's centre,
and the focal length is the one that makes r1 and r2 orthogonal (or, where that is ill-posed, of equal length), as
in Zhang's calibration. The third axis r3 = r1 × r2 points up from the floor (towards the camera), so a person
of height h standing at floor point X has the head at X + h·up, which projects to the pixel above the feet.
"""

from __future__ import annotations

import numpy as np

from vision.core.geometry import GroundProjector

PERSON_HEIGHT_M = 1.7


class PersonScale:
    """Pixel height of a standing person whose feet are at given pixels, for one calibrated camera."""

    def __init__(self, camera_matrix: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> None:
        self.camera_matrix = camera_matrix
        self.rotation = rotation  # columns: floor x, floor y and up, in camera coordinates
        self.translation = translation

    @classmethod
    def from_projector(cls, projector: GroundProjector, image_size: tuple[int, int]) -> PersonScale | None:
        """The person scale of a calibration; None where its homography fits no pinhole camera looking at the
        floor (then person sizes are unknown and callers fall back to fixed pixel sizes)."""
        floor_to_pixels = np.linalg.inv(projector.image_to_floor)
        width, height = image_size
        if projector.camera_matrix is not None:
            camera_matrix = np.asarray(projector.camera_matrix, dtype=np.float64)
        else:
            focal = _focal_length(floor_to_pixels, width / 2.0, height / 2.0)
            if focal is None:
                return None
            camera_matrix = np.array([[focal, 0, width / 2.0], [0, focal, height / 2.0], [0, 0, 1.0]])
        columns = np.linalg.solve(camera_matrix, floor_to_pixels)
        scale = 2.0 / (np.linalg.norm(columns[:, 0]) + np.linalg.norm(columns[:, 1]))
        r1, r2, translation = columns[:, 0] * scale, columns[:, 1] * scale, columns[:, 2] * scale
        if translation[2] < 0:  # the floor lies in front of the camera: positive depth
            r1, r2, translation = -r1, -r2, -translation
        up = np.cross(r1, r2)
        rotation = np.column_stack([r1, r2, up])
        if -(up @ translation) < 0:  # the camera is above the floor: `up` points from the floor towards it
            up = -up
            rotation = np.column_stack([r1, r2, up])
        if not np.all(np.isfinite(rotation)):
            return None
        return cls(camera_matrix, rotation, translation)

    def height_px(
        self, feet_uv: np.ndarray, projector: GroundProjector, height_m: float = PERSON_HEIGHT_M
    ) -> np.ndarray:
        """(N,) pixel height of a person of `height_m` standing at each foot pixel; NaN off the floor."""
        floor = projector.to_floor(np.asarray(feet_uv, dtype=np.float64).reshape(-1, 2))
        known = np.isfinite(floor).all(axis=1)
        heights = np.full(len(floor), np.nan)
        if not known.any():
            return heights
        points = np.column_stack([floor[known], np.zeros(known.sum())])
        feet = self._project(points)
        heads = self._project(points + np.array([0.0, 0.0, height_m]))
        heights[known] = np.linalg.norm(heads - feet, axis=1)
        return heights

    def _project(self, world: np.ndarray) -> np.ndarray:
        camera = world @ self.rotation.T + self.translation
        pixels = camera @ self.camera_matrix.T
        return pixels[:, :2] / pixels[:, 2:3]


def _focal_length(floor_to_pixels: np.ndarray, cx: float, cy: float) -> float | None:
    centred = floor_to_pixels.copy()
    centred[0] -= cx * floor_to_pixels[2]
    centred[1] -= cy * floor_to_pixels[2]
    h1, h2 = centred[:, 0], centred[:, 1]
    candidates = []
    if abs(h1[2] * h2[2]) > 1e-12:  # r1 ⟂ r2
        candidates.append(-(h1[0] * h2[0] + h1[1] * h2[1]) / (h1[2] * h2[2]))
    if abs(h2[2] ** 2 - h1[2] ** 2) > 1e-12:  # |r1| = |r2|
        candidates.append((h1[0] ** 2 + h1[1] ** 2 - h2[0] ** 2 - h2[1] ** 2) / (h2[2] ** 2 - h1[2] ** 2))
    for squared in candidates:
        if np.isfinite(squared) and squared > 0:
            return float(np.sqrt(squared))
    return None
