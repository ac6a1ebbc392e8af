"""Activity gating: the detector is skipped on frames where nothing moved and nobody is being tracked, because it
cannot find anyone new there who was not already in the scene.

The motion test is cheap: the frame is shrunk to a small greyscale picture (`width_px` wide) and blurred, which
also averages out sensor noise, and compared with the previous analysed frame. A small pixel counts as changed when
its grey level moved by more than `diff_levels`; the frame is active when the changed pixels cover at least
`min_area_px` pixels of the full-size frame (the default, 800, is a 20 x 40 px patch, a distant person's torso). A
frame is sent to the detector anyway at least every `max_skip_s` seconds, so a scene that changed too slowly to
register (lights, a person who crept in) is looked at again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_MIN_AREA_PX = 800.0
DEFAULT_MAX_SKIP_S = 10.0


@dataclass(frozen=True, slots=True)
class GateSettings:
    enabled: bool = True
    width_px: int = 160
    diff_levels: int = 18
    min_area_px: float = DEFAULT_MIN_AREA_PX
    max_skip_s: float = DEFAULT_MAX_SKIP_S

    def __post_init__(self) -> None:
        if not 16 <= self.width_px <= 1920:
            raise ValueError(f"gate picture width must be 16–1920 pixels, got {self.width_px}")
        if not 1 <= self.diff_levels <= 254:
            raise ValueError(f"gate difference threshold must be 1–254 grey levels, got {self.diff_levels}")
        if not (math.isfinite(self.min_area_px) and self.min_area_px > 0):
            raise ValueError(f"gate minimum area must be a positive number of pixels, got {self.min_area_px}")
        if not (math.isfinite(self.max_skip_s) and self.max_skip_s > 0):
            raise ValueError(f"gate's longest skip must be a positive number of seconds, got {self.max_skip_s}")


class MotionGate:
    """One per camera; `moved` is asked once per analysed frame, in order."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        self._previous: np.ndarray | None = None
        self._last_detected_s: float | None = None

    def _small(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        height, width = image.shape[:2]
        scale = min(1.0, self.settings.width_px / width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(grey, (5, 5), 0), scale

    def moved(self, image: np.ndarray) -> bool:
        """Whether the picture changed enough since the previous one; the first picture counts as a change."""
        small, scale = self._small(image)
        previous, self._previous = self._previous, small
        if previous is None or previous.shape != small.shape:
            return True
        changed = int(np.count_nonzero(cv2.absdiff(small, previous) > self.settings.diff_levels))
        return changed >= self.settings.min_area_px * scale * scale

    def needs_detection(self, image: np.ndarray, time_s: float, tracking: bool) -> bool:
        """Whether this frame goes to the detector: when gating is off, when someone is being tracked, when the
        picture moved, or when the detector has not looked for `max_skip_s` seconds."""
        if not self.settings.enabled or tracking:
            # No motion test while it cannot change the answer. The next one compares with the last picture tested:
            # anything that changed since then counts as movement, which at worst costs one more detection.
            self._last_detected_s = time_s
            return True
        due = self._last_detected_s is None or time_s - self._last_detected_s >= self.settings.max_skip_s
        if self.moved(image) or due:
            self._last_detected_s = time_s
            return True
        return False
