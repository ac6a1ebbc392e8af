"""Fitting the image → floor homography from matching point pairs, with the error of every pair in metres.

With five or more pairs the fit is robust: RANSAC (OpenCV) finds the pairs that agree within `RANSAC_THRESHOLD_M`
and the homography is refitted on them by least squares; the others are reported as outliers. Lens distortion is
removed from the image points first when intrinsics are given, and the calibration file records them.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.config.calibration_file import CALIBRATION_FORMAT, CALIBRATION_VERSION
from vision.core.errors import CalibrationError
from vision.core.geometry import GroundProjector
from vision.core.textfile import read_bounded_text
from vision.sinks.atomic import atomic_output

MIN_PAIRS = 4
MAX_PAIRS = 500
MAX_POINTS_CSV_BYTES = 1_000_000
MAX_COORDINATE = 1e7  # pixels or metres: beyond it a point is a typo, and the fit's arithmetic loses all precision
RANSAC_THRESHOLD_M = 0.5
DEFAULT_MAX_RMS_M = 1.0
_DUPLICATE_PX = 1.0
_DUPLICATE_M = 0.01


@dataclass(frozen=True, slots=True)
class PointPairs:
    image_uv: np.ndarray
    floor_xy: np.ndarray

    def __post_init__(self) -> None:
        for name, array in (("image_uv", self.image_uv), ("floor_xy", self.floor_xy)):
            if array.ndim != 2 or array.shape[1] != 2:
                raise ValueError(f"{name} must have shape (N, 2), got {array.shape}")
        if len(self.image_uv) != len(self.floor_xy):
            raise ValueError("image_uv and floor_xy must hold the same number of points")

    def __len__(self) -> int:
        return len(self.image_uv)


@dataclass(frozen=True, slots=True)
class HomographyFit:
    homography: np.ndarray
    errors_m: np.ndarray
    rms_m: float
    inliers: np.ndarray
    camera_matrix: np.ndarray | None = None
    distortion: np.ndarray | None = None

    def projector(self) -> GroundProjector:
        return GroundProjector(self.homography, self.camera_matrix, self.distortion, positive_w_in_front=False)

    def calibration_document(self, image_size: tuple[int, int] | None, camera: str | None = None) -> dict:
        """The fit as a footfall calibration file (version 1, homography model)."""
        document: dict = {
            "format": CALIBRATION_FORMAT,
            "version": CALIBRATION_VERSION,
            "model": "homography",
            "homography": (self.homography / self.homography[2, 2]).tolist(),
            "rms_error_m": round(self.rms_m, 4),
        }
        if image_size is not None:
            document["image_size"] = [int(image_size[0]), int(image_size[1])]
        if camera:
            document["camera"] = camera
        if self.camera_matrix is not None and self.distortion is not None:
            document["intrinsics"] = {"K": self.camera_matrix.tolist(), "dist": self.distortion.ravel().tolist()}
        return document


def _undistort(points: np.ndarray, camera_matrix: np.ndarray | None, distortion: np.ndarray | None) -> np.ndarray:
    if camera_matrix is None:
        return points
    projector = GroundProjector(np.eye(3), camera_matrix, distortion, positive_w_in_front=False)
    return projector.undistort(points)


def _check_geometry(points: np.ndarray, what: str, unit: str, duplicate_distance: float) -> None:
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    first, second = np.nonzero(np.triu(distances < duplicate_distance, k=1))
    if len(first):
        raise CalibrationError(
            f"pairs {first[0] + 1} and {second[0] + 1} have the same {what} point; every pair needs its own place"
        )
    centred = points - points.mean(axis=0)
    singular_values = np.linalg.svd(centred, compute_uv=False)
    spread = singular_values[0]
    if spread == 0 or singular_values[1] / spread < 0.02:
        raise CalibrationError(
            f"the {what} points lie on one line; spread them over the floor (at least 4 not in a line), "
            f"e.g. near the corners of the area you use ({unit})"
        )


def _project(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    homogeneous = np.column_stack([points, np.ones(len(points))]) @ homography.T
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def fit_homography(
    image_uv: np.ndarray,
    floor_xy: np.ndarray,
    camera_matrix: np.ndarray | None = None,
    distortion: np.ndarray | None = None,
    max_rms_m: float = DEFAULT_MAX_RMS_M,
) -> HomographyFit:
    """Fits image pixels → floor metres. Refuses fewer than four pairs, duplicated or collinear points, and a fit
    whose RMS error over its inliers exceeds `max_rms_m`, each with a one-line CalibrationError."""
    pairs = PointPairs(np.asarray(image_uv, dtype=np.float64), np.asarray(floor_xy, dtype=np.float64))
    if len(pairs) < MIN_PAIRS:
        raise CalibrationError(
            f"{len(pairs)} point pair{'s' if len(pairs) != 1 else ''} given; at least {MIN_PAIRS} are needed "
            "(more, spread over the floor, give a better fit)"
        )
    if len(pairs) > MAX_PAIRS:
        raise CalibrationError(f"{len(pairs)} point pairs given; at most {MAX_PAIRS} (a few dozen are plenty)")
    if not (np.isfinite(pairs.image_uv).all() and np.isfinite(pairs.floor_xy).all()):
        raise CalibrationError("a point has a missing or non-numeric coordinate")
    if max(np.abs(pairs.image_uv).max(), np.abs(pairs.floor_xy).max()) > MAX_COORDINATE:
        raise CalibrationError(
            f"a point has a coordinate beyond ±{MAX_COORDINATE:g}; image points are pixels and floor points metres"
        )
    try:
        with np.errstate(all="ignore"):
            return _fit(pairs, camera_matrix, distortion, max_rms_m)
    except (cv2.error, np.linalg.LinAlgError):
        raise CalibrationError("no homography fits these points; check that each pair marks the same place") from None


def _fit(
    pairs: PointPairs, camera_matrix: np.ndarray | None, distortion: np.ndarray | None, max_rms_m: float
) -> HomographyFit:
    _check_geometry(pairs.image_uv, "image", "pixels", _DUPLICATE_PX)
    _check_geometry(pairs.floor_xy, "floor", "metres", _DUPLICATE_M)
    image = _undistort(pairs.image_uv, camera_matrix, distortion)
    if not np.isfinite(image).all():
        raise CalibrationError("the lens model sends a point off to infinity; check the intrinsics (K and dist)")
    inliers = np.ones(len(pairs), dtype=bool)
    if len(pairs) > MIN_PAIRS:
        _, mask = cv2.findHomography(image, pairs.floor_xy, cv2.RANSAC, RANSAC_THRESHOLD_M)
        if mask is not None:
            inliers = mask.ravel().astype(bool)
        # Any four pairs fit some homography exactly, so a fit that most pairs disagree with proves nothing.
        needed = max(MIN_PAIRS, math.ceil(2 * len(pairs) / 3))
        if inliers.sum() < needed:
            raise CalibrationError(
                f"only {int(inliers.sum())} of {len(pairs)} pairs agree on one mapping (within "
                f"{RANSAC_THRESHOLD_M:g} m), {needed} needed; check that each pair marks the same place in the "
                "picture and on the plan"
            )
    homography, _ = cv2.findHomography(image[inliers], pairs.floor_xy[inliers], 0)
    if homography is None or not np.isfinite(homography).all():
        raise CalibrationError("no homography fits these points; check that each pair marks the same place")
    errors = np.linalg.norm(_project(homography, image) - pairs.floor_xy, axis=1)
    rms = float(np.sqrt(np.mean(errors[inliers] ** 2)))
    if not np.isfinite(rms) or rms > max_rms_m:
        worst = int(np.argmax(np.where(inliers, errors, -1)))
        raise CalibrationError(
            f"the fit is off by {rms:.2f} m RMS (limit {max_rms_m:g} m), worst at pair {worst + 1} "
            f"({errors[worst]:.2f} m); check that pair, or that image and floor points are in the same order"
        )
    return HomographyFit(homography, errors, rms, inliers, camera_matrix, distortion)


MIN_PAIRS_FOR_DISTORTION = 8


def estimate_intrinsics(pairs: PointPairs, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Focal length and radial distortion (k1) from the pairs of one view of the floor plane, with the principal
    point at the picture's centre, square pixels and no tangential distortion: what a single planar view can
    support. Needs at least 8 pairs spread over the picture."""
    if len(pairs) < MIN_PAIRS_FOR_DISTORTION:
        raise CalibrationError(
            f"estimating lens distortion needs at least {MIN_PAIRS_FOR_DISTORTION} point pairs spread over the "
            f"picture; {len(pairs)} given"
        )
    width, height = image_size
    guess = np.array([[float(width), 0, width / 2.0], [0, float(width), height / 2.0], [0, 0, 1]])
    flags = (
        cv2.CALIB_USE_INTRINSIC_GUESS
        | cv2.CALIB_FIX_PRINCIPAL_POINT
        | cv2.CALIB_FIX_ASPECT_RATIO
        | cv2.CALIB_ZERO_TANGENT_DIST
        | cv2.CALIB_FIX_K2
        | cv2.CALIB_FIX_K3
    )
    world = np.column_stack([pairs.floor_xy, np.zeros(len(pairs))]).astype(np.float32)
    try:
        _, camera_matrix, distortion, _, _ = cv2.calibrateCamera(
            [world], [pairs.image_uv.astype(np.float32)], (int(width), int(height)), guess, np.zeros(5), flags=flags
        )
    except cv2.error as exc:
        raise CalibrationError(f"lens distortion could not be estimated from these points ({exc.err})") from None
    return camera_matrix, distortion.ravel()


def read_point_pairs_csv(path: Path) -> PointPairs:
    """Point pairs from a CSV with a header `u,v,x,y` (image pixels, floor metres); other columns are ignored. A
    UTF-8 byte-order mark (as spreadsheet programs write) is fine; anything that is not MAX_PAIRS rows or fewer of
    finite numbers is a CalibrationError naming the file and line."""
    text = read_bounded_text(path, "points", MAX_POINTS_CSV_BYTES, CalibrationError)
    rows = []
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        fieldnames = [name.strip() for name in reader.fieldnames or [] if isinstance(name, str)]
        reader.fieldnames = fieldnames
        missing = {"u", "v", "x", "y"} - set(fieldnames)
        if missing:
            raise CalibrationError(
                f"{path}: needs a header with columns u,v,x,y (missing {', '.join(sorted(missing))})"
            )
        for line_number, row in enumerate(reader, start=2):
            if len(rows) == MAX_PAIRS:
                raise CalibrationError(f"{path}: more than {MAX_PAIRS} point pairs; a few dozen are plenty")
            try:
                values = [float(row[key]) for key in ("u", "v", "x", "y")]
            except (TypeError, ValueError):
                raise CalibrationError(f"{path}:{line_number}: u, v, x and y must be numbers") from None
            if not all(math.isfinite(value) and abs(value) <= MAX_COORDINATE for value in values):
                raise CalibrationError(
                    f"{path}:{line_number}: u, v, x and y must be finite numbers within ±{MAX_COORDINATE:g}"
                )
            rows.append(values)
    except csv.Error as exc:
        raise CalibrationError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from None
    array = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return PointPairs(array[:, :2], array[:, 2:])


def write_point_pairs_csv(path: Path, pairs: PointPairs) -> None:
    with atomic_output(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(["u", "v", "x", "y"])
        for (u, v), (x, y) in zip(pairs.image_uv.tolist(), pairs.floor_xy.tolist(), strict=True):
            writer.writerow([f"{u:.3f}", f"{v:.3f}", f"{x:.4f}", f"{y:.4f}"])


def error_table(fit: HomographyFit) -> str:
    """A readable table of each pair's error, outliers marked."""
    lines = ["pair   error (m)   status"]
    for index, (error, inlier) in enumerate(zip(fit.errors_m.tolist(), fit.inliers.tolist(), strict=True)):
        lines.append(f"{index + 1:>4}   {error:>9.3f}   {'ok' if inlier else 'OUTLIER (left out of the fit)'}")
    lines.append(f"RMS over {int(fit.inliers.sum())} inliers: {fit.rms_m:.3f} m")
    return "\n".join(lines)
