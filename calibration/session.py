"""One calibration session: the camera frame, the floor plan, the point pairs and the fit, the zones and lines.

Everything the page does goes through a `CalibrationSession`; the HTTP layer (`calibration.server`) only decodes
requests and encodes answers. A session is safe to use from several threads (one lock).

Coordinates: image points are pixels of the camera frame, measured from the top-left corner of its top-left pixel;
floor points are metres. Floor-plan pixels map to floor metres as `vision.core.floorplan` defines (the page gets the
matrices from `state()`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from calibration.site_file import (
    FloorPlanEntry,
    line_document,
    prepare_site_update,
    validate_lines,
    validate_zones,
    zone_document,
)
from calibration.solve import (
    DEFAULT_MAX_RMS_M,
    MIN_PAIRS,
    MIN_PAIRS_FOR_DISTORTION,
    HomographyFit,
    PointPairs,
    estimate_intrinsics,
    fit_homography,
    write_point_pairs_csv,
)
from vision.config.calibration_file import parse_calibration, projector_from_calibration
from vision.core.errors import CalibrationError
from vision.core.floorplan import FloorPlanMapping
from vision.core.geometry import GroundProjector
from vision.core.places import LINE_SIDES, ZONE_KINDS
from vision.sinks.atomic import write_json_atomic

MAX_POINTS = 500
BAD_ERROR_M = 0.2
GRID_STEPS_M = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
GRID_MAX_LINES = 80
GRID_SAMPLES = 160
_GRID_MARGIN = 0.1  # fraction of the frame beyond its edges where grid lines are still drawn


@dataclass(frozen=True)
class FloorPlanImage:
    """The floor-plan picture, where it was read from, and how its pixels map to floor metres."""

    image: np.ndarray
    metres_per_pixel: float
    origin: tuple[float, float] = (0.0, 0.0)
    path: Path | None = None

    mapping: FloorPlanMapping = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Built once: the mapping checks the scale and origin, and every use of the plan goes through it.
        object.__setattr__(self, "mapping", FloorPlanMapping(self.metres_per_pixel, tuple(self.origin)))

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    def extent_m(self) -> tuple[float, float, float, float]:
        return self.mapping.extent(*self.size)


@dataclass(frozen=True)
class _Fitted:
    pairs: PointPairs
    fit: HomographyFit
    projector: GroundProjector  # oriented: points above the horizon come out NaN
    document: dict[str, Any]


def points_csv_path(out: Path) -> Path:
    """Where the point pairs are saved beside a calibration file: `calib.json` → `calib.points.csv`."""
    return out.with_name(f"{out.stem}.points.csv")


def parse_pairs(value: Any) -> PointPairs:
    """Point pairs as the page sends them: a list of [u, v, x, y] (image pixels, floor metres)."""
    if not isinstance(value, list):
        raise ValueError("points must be a list of [u, v, x, y]")
    if len(value) > MAX_POINTS:
        raise ValueError(f"at most {MAX_POINTS} point pairs, got {len(value)}")
    for index, row in enumerate(value):
        if (
            not isinstance(row, list)
            or len(row) != 4
            or not all(isinstance(item, int | float) and not isinstance(item, bool) for item in row)
            or not all(math.isfinite(item) for item in row)
        ):
            raise ValueError(f"points[{index}] must be [u, v, x, y], four finite numbers")
    array = np.asarray(value, dtype=np.float64).reshape(-1, 4)
    return PointPairs(array[:, :2].copy(), array[:, 2:].copy())


class CalibrationSession:
    """The state of one calibration page: the pictures, the current pairs and fit, zones and lines."""

    def __init__(
        self,
        frame: np.ndarray,
        plan: FloorPlanImage,
        out: Path,
        *,
        source_label: str = "",
        camera: str | None = None,
        site: Path | None = None,
        camera_matrix: np.ndarray | None = None,
        distortion: np.ndarray | None = None,
        estimate_distortion: bool = False,
        pairs: PointPairs | None = None,
        zones: Sequence[dict[str, Any]] = (),
        lines: Sequence[dict[str, Any]] = (),
        notes: Sequence[str] = (),
    ) -> None:
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"the camera frame must be a BGR image (H, W, 3), got shape {frame.shape}")
        self.frame = frame
        self.plan = plan
        self.out = out
        self.source_label = source_label
        self.camera = camera
        self.site = site
        self.camera_matrix = camera_matrix
        self.distortion = distortion
        self.estimate_distortion = estimate_distortion and camera_matrix is None
        self.notes = list(notes)
        self._lock = threading.Lock()
        self._pairs = pairs if pairs is not None else PointPairs(np.zeros((0, 2)), np.zeros((0, 2)))
        self._zones = list(zones)
        self._lines = list(lines)
        self._fitted: _Fitted | None = None
        self._undistorted: tuple[bytes, np.ndarray] | None = None
        self.frame_jpeg = _encode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
        self.plan_png = _encode(".png", plan.image, [cv2.IMWRITE_PNG_COMPRESSION, 3])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.frame.shape[1]), int(self.frame.shape[0])

    # ------------------------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What the page needs to start: sizes, plan scale and origin, and the pairs, zones and lines so far."""
        with self._lock:
            pairs = np.column_stack([self._pairs.image_uv, self._pairs.floor_xy]).tolist()
            return {
                "source": self.source_label,
                "image_size": list(self.image_size),
                "plan_size": list(self.plan.size),
                "metres_per_pixel": self.plan.metres_per_pixel,
                "origin": list(self.plan.origin),
                "plan_mapping": self.plan.mapping.to_json(),
                "zone_kinds": list(ZONE_KINDS),
                "line_sides": list(LINE_SIDES),
                "camera": self.camera,
                "out": str(self.out),
                "points_csv": str(points_csv_path(self.out)),
                "site": None if self.site is None else str(self.site),
                "intrinsics": self.camera_matrix is not None,
                "points": pairs,
                "zones": list(self._zones),
                "lines": list(self._lines),
                "notes": list(self.notes),
                "min_pairs": MIN_PAIRS,
            }

    def _lens(self, pairs: PointPairs) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The given intrinsics, or with --estimate-distortion ones estimated from the pairs once there are enough."""
        if self.estimate_distortion and len(pairs) >= MIN_PAIRS_FOR_DISTORTION:
            return estimate_intrinsics(pairs, self.image_size)
        return self.camera_matrix, self.distortion

    def _fit(self, pairs: PointPairs) -> _Fitted:
        camera_matrix, distortion = self._lens(pairs)
        fit = fit_homography(pairs.image_uv, pairs.floor_xy, camera_matrix, distortion, max_rms_m=math.inf)
        document = fit.calibration_document(self.image_size, self.camera)
        projector = projector_from_calibration(parse_calibration(document, "the fit"))
        return _Fitted(pairs, fit, projector, document)

    def fit(self, pairs: PointPairs) -> dict[str, Any]:
        """Fits the pairs and keeps them as the session's; CalibrationError (one line) when they can't be fitted.
        Each pair's error is reported, `bad` marking outliers and errors over 2x the RMS and over 0.2 m."""
        with self._lock:
            self._pairs = pairs
            self._fitted = None
            fitted = self._fit(pairs)
            self._fitted = fitted
        fit = fitted.fit
        errors = fit.errors_m
        bad = ~fit.inliers | ((errors > 2 * fit.rms_m) & (errors > BAD_ERROR_M))
        return {
            "rms_m": fit.rms_m,
            "pairs": len(pairs),
            "inliers": int(fit.inliers.sum()),
            "errors_m": [error if math.isfinite(error) else None for error in errors.tolist()],  # None: off to infinity
            "inlier": fit.inliers.tolist(),
            "bad": bad.tolist(),
            "homography": fitted.document["homography"],
            "max_rms_m": DEFAULT_MAX_RMS_M,
            "lens": self._lens_note(fit),
        }

    def _current(self) -> _Fitted:
        with self._lock:
            fitted = self._fitted
        if fitted is None:
            raise CalibrationError(f"no fit yet: mark at least {MIN_PAIRS} point pairs, spread over the floor")
        return fitted

    def _lens_note(self, fit: HomographyFit) -> str:
        if fit.camera_matrix is None:
            if self.estimate_distortion:
                return f"lens distortion: estimated once there are {MIN_PAIRS_FOR_DISTORTION} pairs"
            return "lens distortion: none assumed"
        k1 = float(np.ravel(fit.distortion)[0])
        origin = "estimated from the pairs" if self.estimate_distortion else "given"
        return f"lens distortion {origin}: k1 = {k1:.3f}, f = {fit.camera_matrix[0, 0]:.0f} px"

    def _undistorted_frame(self, fit: HomographyFit) -> np.ndarray:
        if fit.camera_matrix is None:
            return self.frame
        key = fit.camera_matrix.tobytes() + np.asarray(fit.distortion).tobytes()
        with self._lock:
            if self._undistorted is None or self._undistorted[0] != key:
                self._undistorted = (key, cv2.undistort(self.frame, fit.camera_matrix, fit.distortion))
            return self._undistorted[1]

    def preview(self) -> np.ndarray:
        """The camera frame seen from above: warped onto the floor plan (BGRA, plan size); transparent where the
        frame does not reach and above the horizon."""
        fitted = self._current()
        image = self._undistorted_frame(fitted.fit)
        plan_from_image = self.plan.mapping.pixel_from_floor() @ fitted.projector.image_to_floor
        # OpenCV's pixel (i, j) is centred on (j, i); ours are measured from the pixel's corner.
        half = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
        warp = np.linalg.inv(half) @ plan_from_image @ half
        width, height = self.plan.size
        colour = cv2.warpPerspective(image, warp, (width, height), flags=cv2.INTER_LINEAR)
        inside = cv2.warpPerspective(
            np.full(image.shape[:2], 255, np.uint8), warp, (width, height), flags=cv2.INTER_NEAREST
        )
        # A plan point in front of the camera maps back to the image with a positive homogeneous w.
        image_from_plan = np.linalg.inv(plan_from_image)
        columns = np.arange(width, dtype=np.float64) + 0.5
        rows = np.arange(height, dtype=np.float64)[:, None] + 0.5
        w = image_from_plan[2, 0] * columns + image_from_plan[2, 1] * rows + image_from_plan[2, 2]
        alpha = np.where(w > 0, inside, 0).astype(np.uint8)
        return np.dstack([colour, alpha])

    def preview_png(self) -> bytes:
        return _encode(".png", self.preview(), [cv2.IMWRITE_PNG_COMPRESSION, 1])

    def grid(self) -> dict[str, Any]:
        """The plan's metre grid drawn into the camera frame: polylines in image pixels, one per visible stretch of
        each grid line (x = const and y = const), at a spacing that keeps the lines countable."""
        fitted = self._current()
        projector = fitted.projector
        x0, y0, x1, y1 = self.plan.extent_m()
        step = next((s for s in GRID_STEPS_M if (x1 - x0) / s + (y1 - y0) / s <= GRID_MAX_LINES), GRID_STEPS_M[-1])
        image_from_floor = np.linalg.inv(projector.image_to_floor)
        width, height = self.image_size
        margin_u, margin_v = width * _GRID_MARGIN, height * _GRID_MARGIN
        lines: list[dict[str, Any]] = []
        for axis, fixed_values, span in (
            ("x", np.arange(math.ceil(x0 / step) * step, x1 + 1e-9, step), (y0, y1)),
            ("y", np.arange(math.ceil(y0 / step) * step, y1 + 1e-9, step), (x0, x1)),
        ):
            along = np.linspace(span[0], span[1], GRID_SAMPLES)
            for value in fixed_values:
                fixed = np.full_like(along, value)
                floor = np.column_stack([fixed, along] if axis == "x" else [along, fixed])
                homogeneous = np.column_stack([floor, np.ones(len(floor))]) @ image_from_floor.T
                w = homogeneous[:, 2]
                with np.errstate(divide="ignore", invalid="ignore"):
                    undistorted = homogeneous[:, :2] / w[:, None]
                visible = (
                    (w > 0)
                    & (undistorted[:, 0] >= -margin_u)
                    & (undistorted[:, 0] <= width + margin_u)
                    & (undistorted[:, 1] >= -margin_v)
                    & (undistorted[:, 1] <= height + margin_v)
                )
                if visible.sum() < 2:
                    continue
                image = np.full_like(floor, np.nan)
                image[visible] = projector.to_image(floor[visible])
                for start, stop in _runs(visible):
                    if stop - start >= 2:
                        points = np.round(image[start:stop], 2).tolist()
                        lines.append({"axis": axis, "value_m": round(float(value), 6), "points": points})
        return {"step_m": step, "lines": lines}

    # ------------------------------------------------------------------------------------------------------------

    def save(self, pairs: PointPairs, zones: Sequence[Any] = (), lines: Sequence[Any] = ()) -> dict[str, Any]:
        """Writes the calibration JSON (`out`), the pairs beside it (`<out stem>.points.csv`) and, with a site
        config, the zones, lines and the camera's calibration into it. Everything is checked before anything is
        written: a fit over the RMS limit, a bad zone or a site config that would not validate writes nothing.
        Raises CalibrationError or SiteConfigError (one line)."""
        zone_configs = validate_zones(zones)
        line_configs = validate_lines(lines)
        fitted = self._fit(pairs)
        if fitted.fit.rms_m > DEFAULT_MAX_RMS_M:
            raise CalibrationError(
                f"the fit is off by {fitted.fit.rms_m:.2f} m RMS (more than {DEFAULT_MAX_RMS_M:g} m): move or "
                "delete the pairs marked in red before saving"
            )
        document = fitted.document
        update = None
        if self.site is not None:
            plan_entry = None
            if self.plan.path is not None:
                plan_entry = FloorPlanEntry(self.plan.path, self.plan.mapping)
            update = prepare_site_update(self.site, zone_configs, line_configs, self.camera, self.out, plan_entry)
        points_path = points_csv_path(self.out)
        write_json_atomic(self.out, document)
        write_point_pairs_csv(points_path, pairs)
        saved = [str(self.out), str(points_path)]
        notes: list[str] = []
        if update is not None:
            update.commit()
            saved.append(str(update.path))
            notes.extend(update.notes)
        elif zone_configs or line_configs:
            notes.append("zones and lines were not saved: start footfall calibrate with --site SITE.yaml to keep them")
        with self._lock:
            self._pairs = pairs
            self._fitted = fitted
            self._zones = [zone_document(zone) for zone in zone_configs]
            self._lines = [line_document(line) for line in line_configs]
        return {"saved": saved, "notes": notes, "rms_m": fitted.fit.rms_m}


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in a boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return list(zip(changes[::2].tolist(), changes[1::2].tolist(), strict=True))


def _encode(extension: str, image: np.ndarray, parameters: list[int]) -> bytes:
    ok, encoded = cv2.imencode(extension, image, parameters)
    if not ok:
        raise ValueError(f"could not encode the picture as {extension}")
    return encoded.tobytes()
