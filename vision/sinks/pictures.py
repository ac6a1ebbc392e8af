"""Pictures people can read: a dwell heatmap over the floor plan (or over a plain metric grid), and one over the
camera's own picture, each with its colour scale in seconds."""

from __future__ import annotations

import cv2
import numpy as np

from vision.core.floorplan import FloorPlanMapping, PlanPicture
from vision.core.grid import GridGeometry
from vision.core.places import CountingLine, Zone

_PLAIN_PIXELS_PER_METRE = 40
_PLAIN_MAX_SIDE = 4000
_GRID_STEPS_M = (1, 5, 10, 50, 100, 500)
_SCALE_WIDTH = 100
_LOWEST_LEVEL = 50  # the faintest presence still shows against the plan
_SCALE_PERCENTILE = 99  # one very busy cell should not wash out the rest


def _plain_plan(geometry: GridGeometry) -> PlanPicture:
    """A light background with a grid line every metre (every 5, 10, … m on a large floor), standing in for a
    missing floor plan; at most `_PLAIN_MAX_SIDE` pixels a side, however large the floor."""
    width_m, depth_m = geometry.columns * geometry.cell_m, geometry.rows * geometry.cell_m
    pixels_per_metre = min(_PLAIN_PIXELS_PER_METRE, _PLAIN_MAX_SIDE / max(width_m, depth_m, 1e-9))
    width, height = max(1, round(width_m * pixels_per_metre)), max(1, round(depth_m * pixels_per_metre))
    step_m = next(step for step in _GRID_STEPS_M if step * pixels_per_metre >= 20 or step == _GRID_STEPS_M[-1])
    image = np.full((height, width, 3), 245, np.uint8)
    for metre in np.arange(0.0, width_m + 1e-9, step_m):
        x = round(metre * pixels_per_metre)
        cv2.line(image, (x, 0), (x, height), (215,) * 3)
    for metre in np.arange(0.0, depth_m + 1e-9, step_m):
        y = round(metre * pixels_per_metre)
        cv2.line(image, (0, y), (width, y), (215,) * 3)
    return PlanPicture(image, FloorPlanMapping(1.0 / pixels_per_metre, (geometry.x0, geometry.y0)))


def _cell_values_per_pixel(person_seconds: np.ndarray, geometry: GridGeometry, plan: PlanPicture) -> np.ndarray:
    """The grid sampled at every plan pixel's centre (NaN off the grid)."""
    width, height = plan.size
    xs = plan.mapping.to_floor(np.column_stack([np.arange(width) + 0.5, np.zeros(width)]))[:, 0]
    ys = plan.mapping.to_floor(np.column_stack([np.zeros(height), np.arange(height) + 0.5]))[:, 1]
    cols = np.floor((xs - geometry.x0) / geometry.cell_m).astype(np.int64)
    rows = np.floor((ys - geometry.y0) / geometry.cell_m).astype(np.int64)
    col_ok = (cols >= 0) & (cols < geometry.columns)
    row_ok = (rows >= 0) & (rows < geometry.rows)
    values = np.full((height, width), np.nan)
    values[np.ix_(row_ok, col_ok)] = person_seconds[np.ix_(rows[row_ok], cols[col_ok])]
    return values


def _colour_scale(height: int, top_seconds: float, clipped: bool) -> np.ndarray:
    scale = np.full((height, _SCALE_WIDTH, 3), 255, np.uint8)
    bar_top, bar_bottom = 30, height - 20
    if bar_bottom - bar_top < 20:
        return scale
    levels = np.linspace(255, _LOWEST_LEVEL, bar_bottom - bar_top).astype(np.uint8).reshape(-1, 1)
    bar = cv2.applyColorMap(np.repeat(levels, 20, axis=1), cv2.COLORMAP_INFERNO)
    scale[bar_top:bar_bottom, 10:30] = bar
    cv2.putText(scale, "seconds", (5, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = int(bar_bottom - fraction * (bar_bottom - bar_top - 1))
        label = f"{fraction * top_seconds:.1f}" if top_seconds < 100 else f"{fraction * top_seconds:.0f}"
        label = f">={label}" if clipped and fraction == 1.0 else label
        cv2.putText(scale, label, (34, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return scale


def heatmap_picture(
    person_seconds: np.ndarray,
    geometry: GridGeometry,
    plan: PlanPicture | None,
    zones: list[Zone] = (),
    lines: list[CountingLine] = (),
) -> np.ndarray:
    """BGR picture: cells with presence coloured (inferno) over the plan, zones and counting lines outlined and
    named, and a colour scale in seconds on the right. The scale tops out at the 99th percentile of busy cells;
    busier cells share the top colour."""
    plan = plan or _plain_plan(geometry)
    values = _cell_values_per_pixel(person_seconds, geometry, plan)
    busy = person_seconds[person_seconds > 0]
    top = float(np.percentile(busy, _SCALE_PERCENTILE)) if len(busy) else 0.0
    picture = plan.image.copy() if plan.image.ndim == 3 else cv2.cvtColor(plan.image, cv2.COLOR_GRAY2BGR)
    if top > 0:
        fraction = np.clip(np.nan_to_num(values) / top, 0, 1)
        levels = (_LOWEST_LEVEL + fraction * (255 - _LOWEST_LEVEL)).astype(np.uint8)
        colours = cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO)
        present = np.nan_to_num(values) > 0
        picture[present] = (0.25 * picture[present] + 0.75 * colours[present]).astype(np.uint8)
    _draw_places(picture, plan, zones, lines)
    return np.hstack([picture, _colour_scale(picture.shape[0], top, clipped=len(busy) > 0 and busy.max() > top)])


def _to_pixels(plan: PlanPicture, points: np.ndarray) -> np.ndarray:
    return np.round(plan.mapping.to_pixel(points)).astype(np.int32)


def _draw_places(picture: np.ndarray, plan: PlanPicture, zones: list[Zone], lines: list[CountingLine]) -> None:
    for zone in zones:
        corners = _to_pixels(plan, np.asarray(zone.polygon.exterior.coords))
        cv2.polylines(picture, [corners.reshape(-1, 1, 2)], True, (200, 120, 0), 2, cv2.LINE_AA)
        x, y = corners.min(axis=0)
        cv2.putText(picture, f"{zone.name} ({zone.kind})", (int(x) + 4, int(y) + 16), cv2.FONT_HERSHEY_SIMPLEX,
                    0.45, (200, 120, 0), 1, cv2.LINE_AA)  # fmt: skip
    for line in lines:
        a, b = _to_pixels(plan, np.array([line.a, line.b]))
        cv2.line(picture, tuple(int(v) for v in a), tuple(int(v) for v in b), (40, 160, 40), 2, cv2.LINE_AA)
        cv2.putText(picture, f"{line.name} (in: {line.in_side})", (int(a[0]) + 4, int(a[1]) - 6),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (40, 160, 40), 1, cv2.LINE_AA)  # fmt: skip


IMAGE_SIGMA_CELLS = 1.5  # the image heatmap is smoothed with a Gaussian of this sigma, in cells, before drawing
_FAINT = 0.05  # below this fraction of the scale's top, the image heatmap is transparent
_FULL = 0.2  # from this fraction up, it is drawn at _OPACITY; in between, it fades in
_OPACITY = 0.7
_TITLE_LINE_PX = 22


def image_heatmap_picture(
    person_seconds: np.ndarray, cell_px: int, picture_size: tuple[int, int], background: np.ndarray, title: list[str]
) -> np.ndarray:
    """BGR picture: the grid (cells of `cell_px` in a picture of `picture_size` = (width, height) pixels),
    smoothed with a Gaussian of IMAGE_SIGMA_CELLS cells, drawn semi-transparent in inferno over `background` (the
    camera's picture, at any size with the same aspect), faint cells left transparent; `title` lines above, the
    colour scale in seconds on the right. The scale tops out at the 99th percentile of busy cells, as on the floor."""
    height, width = background.shape[:2]
    smoothed = cv2.GaussianBlur(person_seconds.astype(np.float32), (0, 0), IMAGE_SIGMA_CELLS)
    busy = smoothed[smoothed > 0]
    top = float(np.percentile(busy, _SCALE_PERCENTILE)) if len(busy) else 0.0
    picture = background.copy()
    if top > 0:
        # each background pixel's centre, in cell coordinates (cell centres at integers), sampled bilinearly
        step_x, step_y = picture_size[0] / width / cell_px, picture_size[1] / height / cell_px
        to_cells = np.float32([[step_x, 0, 0.5 * step_x - 0.5], [0, step_y, 0.5 * step_y - 0.5]])
        values = cv2.warpAffine(
            smoothed, to_cells, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip
        fraction = np.clip(values / top, 0, 1)
        levels = (_LOWEST_LEVEL + fraction * (255 - _LOWEST_LEVEL)).astype(np.uint8)
        colours = cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO).astype(np.float32)
        alpha = (_OPACITY * np.clip((fraction - _FAINT) / (_FULL - _FAINT), 0, 1))[..., None]
        picture = (picture * (1 - alpha) + colours * alpha).round().astype(np.uint8)
    body = np.hstack([picture, _colour_scale(height, top, clipped=len(busy) > 0 and busy.max() > top)])
    return np.vstack([_title_band(body.shape[1], title), body])


def _title_band(width: int, lines: list[str]) -> np.ndarray:
    band = np.full((_TITLE_LINE_PX * len(lines) + 8, width, 3), 255, np.uint8)
    for index, line in enumerate(lines):
        scale = 0.5 if index == 0 else 0.42
        (text_width, _), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        scale *= min(1.0, (width - 12) / max(text_width, 1))  # a long line shrinks to fit
        y = _TITLE_LINE_PX * (index + 1)
        cv2.putText(band, line, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return band
