"""Activity gating: the detector is skipped on frames where nothing moved and nobody is being tracked, because it
cannot find anyone new there who was not already in the scene.

The motion test is cheap: the frame is shrunk to a small greyscale picture (`width_px` wide) and blurred, which
also averages out sensor noise, and compared with the previous analysed frame. A small pixel counts as changed when
its grey level moved by more than `diff_levels`; the frame is active when the changed pixels add up to a tenth of a
person where they are. With a calibration, a person's size at each point of the picture is known
(`vision.core.person_scale`: a 1.7 m person standing there, 0.4 of their height wide), so a small far person who
moves a little counts as much as a near one who moves a lot; the threshold without a calibration caps that tenth.
Without one, the frame is active when the changed pixels cover `min_area_px` pixels of the full-size frame
(default: 800 on a 768x576 picture, a 20 x 40 px patch, a distant person's torso; in proportion on others).

A frame is sent to the detector anyway at least every `max_skip_s` seconds (default 1 s), so a person who stands
still, or crept in too slowly to register, is found within about a second: the gate can delay finding someone by
that much, never lose them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vision.core.geometry import GroundProjector
from vision.core.person_scale import PersonScale

DEFAULT_MIN_AREA_PX = 800.0  # on a REFERENCE_AREA_PX picture without a calibration
REFERENCE_AREA_PX = 768 * 576
DEFAULT_MAX_SKIP_S = 1.0
PERSON_SHARE = 0.1  # of a person's picture area that must change, where a calibration gives it
PERSON_WIDTH_RATIO = 0.4


@dataclass(frozen=True, slots=True)
class GateSettings:
    enabled: bool = True
    width_px: int = 160
    diff_levels: int = 18
    min_area_px: float | None = None  # None: DEFAULT_MIN_AREA_PX, in proportion to the picture's area
    max_skip_s: float = DEFAULT_MAX_SKIP_S

    def __post_init__(self) -> None:
        if not 16 <= self.width_px <= 1920:
            raise ValueError(f"gate picture width must be 16–1920 pixels, got {self.width_px}")
        if not 1 <= self.diff_levels <= 254:
            raise ValueError(f"gate difference threshold must be 1–254 grey levels, got {self.diff_levels}")
        if self.min_area_px is not None and not (math.isfinite(self.min_area_px) and self.min_area_px > 0):
            raise ValueError(f"gate minimum area must be a positive number of pixels, got {self.min_area_px}")
        if not (math.isfinite(self.max_skip_s) and self.max_skip_s > 0):
            raise ValueError(f"gate's longest skip must be a positive number of seconds, got {self.max_skip_s}")


class MotionGate:
    """One per camera; `moved` is asked once per analysed frame, in order. A calibrated camera's `projector` sizes
    the motion test to the people at each point of the picture."""

    def __init__(
        self,
        settings: GateSettings,
        projector: GroundProjector | None = None,
    ) -> None:
        self.settings = settings
        self._projector = projector
        self._previous: np.ndarray | None = None
        self._last_detected_s: float | None = None
        self._weights: np.ndarray | None = None  # per small pixel: the share of the threshold one changed pixel is
        self._latest: np.ndarray | None = None
        self._tracked_picture: np.ndarray | None = None  # the last picture seen while tracking, shrunk only if needed

    def _small(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        height, width = image.shape[:2]
        scale = min(1.0, self.settings.width_px / width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(grey, (5, 5), 0), scale

    def thresholds_px(self, width: int, height: int, shape: tuple[int, int]) -> np.ndarray:
        """Per small pixel (`shape`), the changed full-size pixels that make a frame active."""
        cap = self.settings.min_area_px
        fixed = cap if cap is not None else DEFAULT_MIN_AREA_PX * width * height / REFERENCE_AREA_PX
        thresholds = np.full(shape, fixed, dtype=np.float64)
        if self._projector is None:
            return thresholds
        scale = PersonScale.from_projector(self._projector, (width, height))
        if scale is None:
            return thresholds
        rows, columns = shape
        u = (np.arange(columns) + 0.5) * width / columns
        v = (np.arange(rows) + 0.5) * height / rows
        grid_u, grid_v = np.meshgrid(u, v)
        heights = scale.height_px(np.column_stack([grid_u.ravel(), grid_v.ravel()]), self._projector)
        person = PERSON_SHARE * PERSON_WIDTH_RATIO * heights.reshape(shape) ** 2
        # Off the floor (walls, sky, above the horizon) a body stands on the floor below: carry the size up.
        for row in range(rows - 2, -1, -1):
            missing = ~np.isfinite(person[row])
            person[row, missing] = person[row + 1, missing]
        person = np.where(np.isfinite(person), person, fixed)
        return np.minimum(person, fixed)  # never less sensitive than without a calibration

    def moved(self, image: np.ndarray) -> bool:
        """Whether the picture changed enough since the detector last looked (the reference picture); the first
        picture counts as a change and becomes the reference. Comparing with the last detection's picture rather
        than the previous frame's lets slow movement add up: at 25 analysed frames a second a slow walker moves a
        pixel a frame, and a metre by the time the detector looks again."""
        small, scale = self._small(image)
        self._latest = small
        if self._tracked_picture is not None:
            self._previous, _ = self._small(self._tracked_picture)
            self._tracked_picture = None
        reference = self._previous
        if reference is None or reference.shape != small.shape:
            height, width = image.shape[:2]
            self._weights = 1.0 / (self.thresholds_px(width, height, small.shape) * scale * scale)
            self._previous = small
            return True
        changed = cv2.absdiff(small, reference) > self.settings.diff_levels
        return float(self._weights[changed].sum()) >= 1.0

    def needs_detection(self, image: np.ndarray, time_s: float, tracking: bool) -> bool:
        """Whether this frame goes to the detector: when gating is off, when someone is being tracked (or was just
        seen: `tracking` covers a person found once, whom the tracker confirms at the next sighting), when the
        picture moved since the detector last looked, or when it has not looked for `max_skip_s` seconds."""
        if not self.settings.enabled:
            return True
        if tracking:  # no motion test: it cannot change the answer; the picture becomes the reference all the same
            self._last_detected_s = time_s
            self._tracked_picture = image  # kept, not shrunk: only the last one before tracking ends is ever needed
            return True
        due = self._last_detected_s is None or time_s - self._last_detected_s >= self.settings.max_skip_s
        if self.moved(image) or due:
            self._last_detected_s = time_s
            self._previous = self._latest  # the detector looks at this picture: later ones are compared with it
            return True
        return False
