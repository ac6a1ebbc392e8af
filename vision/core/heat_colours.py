"""The one colour scale of every dwell heatmap, on the report's pages and in the PNG pictures: ColorBrewer's YlOrRd,
light yellow for little time spent to dark red for the most, so that over a light floor plan the busiest places are
the darkest, and the pictures and the pages read the same way."""

from __future__ import annotations

import numpy as np

# ColorBrewer YlOrRd (9 classes), low to high, as RGB
HEAT_STOPS_RGB: tuple[tuple[int, int, int], ...] = (
    (255, 255, 204),
    (255, 237, 160),
    (254, 217, 118),
    (254, 178, 76),
    (253, 141, 60),
    (252, 78, 42),
    (227, 26, 28),
    (189, 0, 38),
    (128, 0, 38),
)


def plotly_colorscale() -> list[list]:
    """The scale as Plotly's `colorscale` (fraction, 'rgb(r,g,b)') pairs."""
    last = len(HEAT_STOPS_RGB) - 1
    return [[index / last, f"rgb({r},{g},{b})"] for index, (r, g, b) in enumerate(HEAT_STOPS_RGB)]


def heat_lut_bgr() -> np.ndarray:
    """The scale as a 256x1x3 uint8 BGR lookup table for `cv2.applyColorMap` (level 0 = least, 255 = most)."""
    stops = np.asarray(HEAT_STOPS_RGB, dtype=np.float64)[:, ::-1]
    where = np.linspace(0.0, 1.0, len(stops))
    levels = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(levels, where, stops[:, channel]) for channel in range(3)], axis=1)
    return table.round().astype(np.uint8).reshape(256, 1, 3)


def heat_colours_bgr(fraction: np.ndarray) -> np.ndarray:
    """BGR colours (uint8, shape + (3,)) of fractions 0..1 of the scale's top (clipped)."""
    levels = (np.clip(np.nan_to_num(fraction), 0.0, 1.0) * 255).round().astype(np.uint8)
    return heat_lut_bgr()[levels.reshape(-1), 0].reshape(*levels.shape, 3)
