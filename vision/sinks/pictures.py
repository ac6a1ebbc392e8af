"""Pictures people can read: a dwell heatmap over the floor plan (or over a plain metric grid), and one over the
camera's own picture, each with its colour scale in seconds. Both use the one heat scale of vision.core.heat_colours
(YlOrRd: light yellow for little time, dark red for the most), as the report's pages do."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vision.core.floorplan import FloorPlanMapping, PlanPicture
from vision.core.grid import GridGeometry
from vision.core.heat_colours import heat_colours_bgr
from vision.core.places import CountingLine, Zone

_PLAIN_PIXELS_PER_METRE = 40
_PLAIN_MAX_SIDE = 4000
_GRID_STEPS_M = (1, 5, 10, 50, 100, 500)
_SCALE_WIDTH = 100
_SCALE_PERCENTILE = 99  # one very busy cell should not wash out the rest

FLOOR_SIGMA_M = 0.5  # the floor heatmap is smoothed with a Gaussian of this sigma, in metres, before drawing
IMAGE_SIGMA_CELLS = 1.5  # the image heatmap is smoothed with a Gaussian of this sigma, in cells, before drawing
_FAINT = 0.05  # below this fraction of the scale's top, a heatmap is transparent
_FULL = 0.2  # from this fraction up, it is drawn at its opacity; in between, it fades in
_OPACITY = 0.7  # over the camera's picture
_FLOOR_OPACITY = 0.85  # over a light floor plan: the colours read as on the scale
_TITLE_LINE_PX = 22

AXIS_LEFT_PX = 58  # the floor picture's margins for its metre axes
AXIS_BOTTOM_PX = 38
AXIS_TOP_PX = 12  # room above and to the right of the floor picture for the last ticks' labels
_TICK_STEPS_M = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
_MIN_TICK_GAP_PX = 45
_TICK_PX = 5

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BLACK = (0, 0, 0)
_LABEL_SCALE = 0.45
_LABEL_PAD_PX = 3
_ZONE_COLOUR = (200, 120, 0)
_LINE_COLOUR = (40, 150, 40)
_ARROW_PX = 40  # the length of a counting line's "in" arrow
Colour = tuple[int, int, int]
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, inclusive


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


def smoothed_grid(person_seconds: np.ndarray, sigma_cells: float) -> np.ndarray:
    """The grid (float32) smoothed with a Gaussian of `sigma_cells` cells (none for 0), mirrored at its edges."""
    grid = person_seconds.astype(np.float32)
    if sigma_cells <= 0:
        return grid
    return cv2.GaussianBlur(grid, (0, 0), sigma_cells, borderType=cv2.BORDER_REFLECT)


def _sample_axis(values: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    """`values` linearly interpolated at the fractional indices `coords` along `axis` (held at the ends)."""
    coords = np.clip(coords, 0, values.shape[axis] - 1)
    low = np.floor(coords).astype(np.int64)
    high = np.minimum(low + 1, values.shape[axis] - 1)
    shape = [1, 1]
    shape[axis] = -1
    weight = (coords - low).astype(np.float32).reshape(shape)
    return np.take(values, low, axis=axis) * (1 - weight) + np.take(values, high, axis=axis) * weight


def _cell_coords(pixels: int, origin_m: float, start_m: float, metres_per_pixel: float, cell_m: float) -> np.ndarray:
    """Each pixel's centre in cell units along one axis (cell centres at integers)."""
    return ((np.arange(pixels) + 0.5) * metres_per_pixel + origin_m - start_m) / cell_m - 0.5


def _grid_per_pixel(grid: np.ndarray, geometry: GridGeometry, plan: PlanPicture) -> np.ndarray:
    """The grid sampled bilinearly at every plan pixel's centre, 0 off the grid."""
    width, height = plan.size
    scale, (origin_x, origin_y) = plan.mapping.metres_per_pixel, plan.mapping.origin
    cols = _cell_coords(width, origin_x, geometry.x0, scale, geometry.cell_m)
    rows = _cell_coords(height, origin_y, geometry.y0, scale, geometry.cell_m)
    values = _sample_axis(_sample_axis(grid, cols, axis=1), rows, axis=0)
    values[:, (cols < -0.5) | (cols >= geometry.columns - 0.5)] = 0
    values[(rows < -0.5) | (rows >= geometry.rows - 0.5)] = 0
    return values


def _scale_top(smoothed: np.ndarray) -> tuple[float, bool]:
    """The colour scale's top (the 99th percentile of cells with any presence) and whether busier cells exist."""
    busy = smoothed[smoothed > 0]
    if not len(busy):
        return 0.0, False
    top = float(np.percentile(busy, _SCALE_PERCENTILE))
    return top, bool(busy.max() > top)


def _overlay_heat(picture: np.ndarray, values: np.ndarray, top: float, opacity: float) -> np.ndarray:
    """`values` (per pixel) in heat colours over `picture`: transparent below _FAINT of `top`, fading in up to
    _FULL, then at `opacity`."""
    if top <= 0:
        return picture.copy()
    fraction = np.clip(values / top, 0, 1)
    alpha = (opacity * np.clip((fraction - _FAINT) / (_FULL - _FAINT), 0, 1))[..., None]
    blended = picture * (1 - alpha) + heat_colours_bgr(fraction).astype(np.float32) * alpha
    return blended.round().astype(np.uint8)


def _nice_step(span: float, count: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that divides `span` into at most about `count` parts."""
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1, 2, 2.5, 5, 10) if factor * power >= raw * (1 - 1e-9))


def _decimals(step: float) -> int:
    """The fewest decimals (at most 4) that write multiples of `step` exactly."""
    return next((places for places in range(5) if abs(round(step, places) - step) <= 1e-9 * step), 4)


def _scale_ticks(top_seconds: float, clipped: bool) -> list[tuple[float, str]]:
    """(fraction of the bar, label) of the colour scale's ticks: round values from 0, and the top itself."""
    step = _nice_step(top_seconds)
    places = _decimals(step)
    ticks = [(value / top_seconds, f"{value:.{places}f}") for value in np.arange(0.0, top_seconds * 0.9, step)]
    return [*ticks, (1.0, (">=" if clipped else "") + f"{top_seconds:.3g}")]


def _colour_scale(height: int, top_seconds: float, clipped: bool, bottom_px: int = 20) -> np.ndarray:
    """The heat scale as a bar, light (0 s) at the bottom to dark (`top_seconds`) at the top, labelled in seconds;
    the bar ends `bottom_px` above the bottom."""
    scale = np.full((height, _SCALE_WIDTH, 3), 255, np.uint8)
    bar_top, bar_bottom = 30, height - bottom_px
    if bar_bottom - bar_top < 20:
        return scale
    fractions = np.linspace(1.0, 0.0, bar_bottom - bar_top).reshape(-1, 1)
    scale[bar_top:bar_bottom, 10:30] = heat_colours_bgr(np.repeat(fractions, 20, axis=1))
    cv2.rectangle(scale, (9, bar_top - 1), (30, bar_bottom), (120, 120, 120), 1)
    cv2.putText(scale, "seconds", (5, 18), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for fraction, label in _scale_ticks(top_seconds, clipped) if top_seconds > 0 else [(0.0, "0")]:
        y = int(bar_bottom - 1 - fraction * (bar_bottom - bar_top - 1))
        cv2.line(scale, (30, y), (34, y), (0, 0, 0), 1)
        cv2.putText(scale, label, (37, y + 4), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return scale


def heatmap_picture(
    person_seconds: np.ndarray,
    geometry: GridGeometry,
    plan: PlanPicture | None,
    zones: Sequence[Zone] = (),
    lines: Sequence[CountingLine] = (),
    title: Sequence[str] = (),
    sigma_m: float = FLOOR_SIGMA_M,
) -> np.ndarray:
    """BGR picture: the grid smoothed with a Gaussian of `sigma_m` metres, sampled bilinearly at every pixel and
    drawn in the heat scale over the plan (faint values fade to transparent); zones and counting lines outlined,
    each line with an arrow into its "in" side, all named on white boxes; metre axes on the left and at the
    bottom, the colour scale in seconds on the right and the `title` lines (if any) above. The scale tops out at
    the 99th percentile of cells with presence; busier places share the top colour."""
    plan = plan or _plain_plan(geometry)
    smoothed = smoothed_grid(person_seconds, sigma_m / geometry.cell_m)
    top, clipped = _scale_top(smoothed)
    background = plan.image if plan.image.ndim == 3 else cv2.cvtColor(plan.image, cv2.COLOR_GRAY2BGR)
    picture = _overlay_heat(background, _grid_per_pixel(smoothed, geometry, plan), top, _FLOOR_OPACITY)
    _draw_places(picture, plan.mapping, zones, lines)
    body = np.hstack(
        [
            _with_axes(picture, plan.mapping),
            _colour_scale(picture.shape[0] + AXIS_TOP_PX + AXIS_BOTTOM_PX, top, clipped, AXIS_BOTTOM_PX),
        ]
    )
    return np.vstack([_title_band(body.shape[1], list(title)), body]) if title else body


def _tick_step_m(pixels_per_metre: float) -> float:
    return next((step for step in _TICK_STEPS_M if step * pixels_per_metre >= _MIN_TICK_GAP_PX), _TICK_STEPS_M[-1])


def _ticks(start_m: float, length_px: int, metres_per_pixel: float) -> list[tuple[int, str]]:
    """(pixel, label) of the ticks along one axis of a picture whose first pixel's edge is at `start_m`."""
    step = _tick_step_m(1.0 / metres_per_pixel)
    first, last = math.ceil(start_m / step - 1e-9), math.floor((start_m + length_px * metres_per_pixel) / step + 1e-9)
    ticks = []
    for index in range(first, last + 1):
        value = round(index * step, 6) + 0.0  # no "-0"
        ticks.append((round((value - start_m) / metres_per_pixel), f"{value:g}"))
    return ticks


def _with_axes(picture: np.ndarray, mapping: FloorPlanMapping) -> np.ndarray:
    """`picture` framed on white, with a metre axis for floor y on its left and one for floor x below it (and a
    little room above and to the right for the last ticks' labels)."""
    height, width = picture.shape[:2]
    left, top = AXIS_LEFT_PX, AXIS_TOP_PX
    framed = np.full((top + height + AXIS_BOTTOM_PX, left + width + AXIS_TOP_PX, 3), 255, np.uint8)
    framed[top : top + height, left : left + width] = picture
    cv2.rectangle(framed, (left - 1, top - 1), (left + width, top + height), (90, 90, 90), 1)
    bottom = top + height
    for x, label in _ticks(mapping.origin[0], width, mapping.metres_per_pixel):
        x = left + min(x, width - 1)
        cv2.line(framed, (x, bottom), (x, bottom + _TICK_PX), _BLACK, 1)
        _put_centred(framed, label, x, bottom + 19, 0.4)
    for y, label in _ticks(mapping.origin[1], height, mapping.metres_per_pixel):
        y = top + min(y, height - 1)
        cv2.line(framed, (left - 1 - _TICK_PX, y), (left - 1, y), _BLACK, 1)
        (text_width, _), _ = cv2.getTextSize(label, _FONT, 0.4, 1)
        cv2.putText(framed, label, (left - 9 - text_width, y + 5), _FONT, 0.4, _BLACK, 1, cv2.LINE_AA)
    _put_centred(framed, "x (m)", left + width // 2, bottom + 34, 0.45)
    _put_upright(framed, "y (m)", 4, top + height // 2)
    return framed


def _put_centred(picture: np.ndarray, text: str, centre_x: int, baseline_y: int, scale: float) -> None:
    (text_width, _), _ = cv2.getTextSize(text, _FONT, scale, 1)
    cv2.putText(picture, text, (centre_x - text_width // 2, baseline_y), _FONT, scale, _BLACK, 1, cv2.LINE_AA)


def _put_upright(picture: np.ndarray, text: str, x: int, centre_y: int) -> None:
    """`text` written bottom to top, its left edge at `x`, centred on `centre_y` (kept inside the picture)."""
    (text_width, text_height), baseline = cv2.getTextSize(text, _FONT, 0.45, 1)
    patch = np.full((text_height + baseline + 2, text_width + 2, 3), 255, np.uint8)
    cv2.putText(patch, text, (1, text_height + 1), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    patch = cv2.rotate(patch, cv2.ROTATE_90_COUNTERCLOCKWISE)
    top = min(max(0, centre_y - patch.shape[0] // 2), max(0, picture.shape[0] - patch.shape[0]))
    region = picture[top : top + patch.shape[0], x : x + patch.shape[1]]
    region[:] = patch[: region.shape[0], : region.shape[1]]


@dataclass(frozen=True, slots=True)
class PlaceLabel:
    """A name drawn on a white box whose top-left corner is (x, y), in the place's colour."""

    text: str
    x: int
    y: int
    colour: Colour

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the box in pixels."""
        (width, height), baseline = cv2.getTextSize(self.text, _FONT, _LABEL_SCALE, 1)
        return width + 2 * _LABEL_PAD_PX, height + baseline + 2 * _LABEL_PAD_PX

    @property
    def box(self) -> Box:
        width, height = self.size
        return self.x, self.y, self.x + width, self.y + height

    def draw(self, picture: np.ndarray) -> None:
        x0, y0, x1, y1 = self.box
        cv2.rectangle(picture, (x0, y0), (x1, y1), (255, 255, 255), -1)
        cv2.rectangle(picture, (x0, y0), (x1, y1), self.colour, 1)
        (_, height), _ = cv2.getTextSize(self.text, _FONT, _LABEL_SCALE, 1)
        origin = (x0 + _LABEL_PAD_PX, y0 + _LABEL_PAD_PX + height)
        cv2.putText(picture, self.text, origin, _FONT, _LABEL_SCALE, self.colour, 1, cv2.LINE_AA)


def _label_at(text: str, centre: np.ndarray, colour: Colour, size: tuple[int, int]) -> PlaceLabel:
    """A label centred on `centre` (pixels), moved inside a picture of `size` = (width, height)."""
    width, height = PlaceLabel(text, 0, 0, colour).size
    x = min(max(0, round(centre[0] - width / 2)), max(0, size[0] - 1 - width))
    y = min(max(0, round(centre[1] - height / 2)), max(0, size[1] - 1 - height))
    return PlaceLabel(text, int(x), int(y), colour)


def _half_extent(text: str, direction: np.ndarray) -> float:
    """How far a label's box reaches from its centre along the unit `direction`."""
    width, height = PlaceLabel(text, 0, 0, _LINE_COLOUR).size
    return abs(direction[0]) * width / 2 + abs(direction[1]) * height / 2


def in_arrow(line: CountingLine, mapping: FloorPlanMapping) -> tuple[np.ndarray, np.ndarray]:
    """(tail, tip) in plan pixels of the arrow from the line's midpoint into its "in" side: along the normal that
    `CountingLine.signed_distance` measures (positive on the left of a→b), times `in_sign()`."""
    a, b = np.asarray(line.a, np.float64), np.asarray(line.b, np.float64)
    middle = (a + b) / 2
    towards_in = line.in_sign() * line.signed_distance(middle + np.eye(2))  # the normal, to the in side
    tail = mapping.to_pixel(middle[None])[0]
    return tail, tail + _ARROW_PX * towards_in / np.hypot(*towards_in)


def place_labels(
    mapping: FloorPlanMapping, size: tuple[int, int], zones: Sequence[Zone], lines: Sequence[CountingLine]
) -> list[PlaceLabel]:
    """Each zone's name and kind at its top-left corner inside it; each line's name beside its end a, on its out
    side; "in" beyond the tip of each line's arrow."""
    labels = []
    for zone in zones:
        corner = mapping.to_pixel(np.asarray(zone.polygon.exterior.coords)).min(axis=0)
        text = f"{zone.name} ({zone.kind})"
        width, height = PlaceLabel(text, 0, 0, _ZONE_COLOUR).size
        labels.append(_label_at(text, corner + np.array([4 + width / 2, 4 + height / 2]), _ZONE_COLOUR, size))
    for line in lines:
        a, b = mapping.to_pixel(np.array([line.a, line.b]))
        along = (b - a) / np.hypot(*(b - a))
        tail, tip = in_arrow(line, mapping)
        towards_in = (tip - tail) / _ARROW_PX
        centre = a + along * _half_extent(line.name, along) - towards_in * (_half_extent(line.name, towards_in) + 4)
        labels.append(_label_at(line.name, centre, _LINE_COLOUR, size))
        labels.append(_label_at("in", tip + towards_in * (_half_extent("in", towards_in) + 3), _LINE_COLOUR, size))
    return labels


def _to_pixels(mapping: FloorPlanMapping, points: np.ndarray) -> np.ndarray:
    return np.round(mapping.to_pixel(points)).astype(np.int32)


def _draw_places(
    picture: np.ndarray, mapping: FloorPlanMapping, zones: Sequence[Zone], lines: Sequence[CountingLine]
) -> None:
    """Outlines first, then each line's "in" arrow, then every name on its white box, so all stay legible."""
    for zone in zones:
        corners = _to_pixels(mapping, np.asarray(zone.polygon.exterior.coords))
        cv2.polylines(picture, [corners.reshape(-1, 1, 2)], True, _ZONE_COLOUR, 2, cv2.LINE_AA)
    for line in lines:
        a, b = (tuple(int(v) for v in point) for point in _to_pixels(mapping, np.array([line.a, line.b])))
        tail, tip = (tuple(int(v) for v in np.round(point)) for point in in_arrow(line, mapping))
        for colour, thickness in (((255, 255, 255), 6), (_LINE_COLOUR, 3)):  # a white halo, then the line
            cv2.line(picture, a, b, colour, thickness, cv2.LINE_AA)
            cv2.arrowedLine(picture, tail, tip, colour, thickness, cv2.LINE_AA, tipLength=0.35)
    height, width = picture.shape[:2]
    for label in place_labels(mapping, (width, height), zones, lines):
        label.draw(picture)


def image_heatmap_picture(
    person_seconds: np.ndarray, cell_px: int, picture_size: tuple[int, int], background: np.ndarray, title: list[str]
) -> np.ndarray:
    """BGR picture: the grid (cells of `cell_px` in a picture of `picture_size` = (width, height) pixels),
    smoothed with a Gaussian of IMAGE_SIGMA_CELLS cells, drawn semi-transparent in the heat scale over `background`
    (the camera's picture, at any size with the same aspect), faint cells left transparent; `title` lines above,
    the colour scale in seconds on the right. The scale tops out at the 99th percentile of busy cells, as on the
    floor."""
    height, width = background.shape[:2]
    smoothed = cv2.GaussianBlur(person_seconds.astype(np.float32), (0, 0), IMAGE_SIGMA_CELLS)
    top, clipped = _scale_top(smoothed)
    # each background pixel's centre, in cell coordinates (cell centres at integers), sampled bilinearly
    step_x, step_y = picture_size[0] / width / cell_px, picture_size[1] / height / cell_px
    to_cells = np.float32([[step_x, 0, 0.5 * step_x - 0.5], [0, step_y, 0.5 * step_y - 0.5]])
    values = cv2.warpAffine(
        smoothed, to_cells, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    picture = _overlay_heat(background, values, top, _OPACITY)
    body = np.hstack([picture, _colour_scale(height, top, clipped)])
    return np.vstack([_title_band(body.shape[1], title), body])


def _title_band(width: int, lines: list[str]) -> np.ndarray:
    band = np.full((_TITLE_LINE_PX * len(lines) + 8, width, 3), 255, np.uint8)
    for index, line in enumerate(lines):
        scale = 0.5 if index == 0 else 0.42
        (text_width, _), _ = cv2.getTextSize(line, _FONT, scale, 1)
        scale *= min(1.0, (width - 12) / max(text_width, 1))  # a long line shrinks to fit
        y = _TITLE_LINE_PX * (index + 1)
        cv2.putText(band, line, (6, y), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return band
