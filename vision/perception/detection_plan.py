"""How the detector looks at one camera's frames: the plan, chosen once per camera from its detection region and
person sizes (`vision.perception.regions`), and the detector that carries it out.

The model takes a square picture (640 px for the default model; exports with a fixed input take nothing else),
so what a frame costs is the number of model calls, and what a small person gets is the scale from frame pixels to
model pixels. The plan chooses per camera:

- **the crop**: the bounding rectangle of the region. A frame whose region covers most of it (80 %) is passed
  whole, as before.
- **two frames a call**: where two crops side by side or stacked fill the square input at 85 % or more of the scale
  one crop gets alone (a 16:9 picture letterboxed into a square wastes 44 % of it on grey), and where the smallest
  person in the region stays at a useful height, the crops of two consecutive analysed frames share one call.
  `CameraRun` pairs frames only while someone is tracked (when every frame goes to the detector anyway).
- **far-field tiles**: where a 1.7 m person in the region is under `USEFUL_PERSON_PX` at the crop pass's scale,
  square tiles over that part of the region are run as well, each sized to bring those people to `TILE_PERSON_PX`
  (at most `MAX_TILE_ZOOM` times native size; at most `MAX_TILES`). Boxes from tiles and the crop pass are merged
  as SAHI merges slices: the best-scoring box of each group overlapping by intersection over the smaller box, and a
  tile's box cut by the tile's inner edge is left to the pass that sees the person whole.

Why 24 px: on PETS 2009 (every 4th frame, ground truth matched at IoU 0.5, scores ≥ 0.4, the default model), recall
is 0.86–0.96 for people 24–120 px tall at the model input but 0.55 at 16–24 px and 0.18 under 16 px
(`python scripts/eval_regions.py --only sizes` measures it).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from vision.core.geometry import GroundProjector
from vision.core.grid import GridGeometry
from vision.core.types import Detections
from vision.perception.detect import Detector
from vision.perception.regions import DetectionArea, FloorBox, people_map

log = logging.getLogger(__name__)

USEFUL_PERSON_PX = 24.0  # at the model input: below it recall falls from 0.86 or more to a half and less
TILE_PERSON_PX = 40.0  # what a tile brings a far person to, well inside the plateau
MAX_TILE_ZOOM = 3.0  # a tile is shown at most at 3x its native size; people smaller than that are out of reach
MAX_TILES = 4
TILE_OVERLAP = 0.2  # SAHI's default overlap ratio
WHOLE_FRAME_SHARE = 0.8
PAIR_SCALE_RATIO = 0.85
GAP_SHARE = 0.02  # grey between two frames' crops on one input, of the input's side: no box spans both
MERGE_OVERLAP = 0.6  # intersection over the smaller box above which two boxes are one person
EDGE_PX = 2.0  # a tile's box within this of an inner tile edge is cut by it
PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class PixelBox:
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


@dataclass(frozen=True, slots=True)
class DetectionPlan:
    frame_size: tuple[int, int]
    model_input_px: int
    crop: PixelBox
    frames_per_call: int = 1  # 2: two consecutive frames' crops share one call ("pair" layout below)
    pair_layout: str | None = None  # "side by side" or "stacked"
    tiles: tuple[PixelBox, ...] = ()
    crop_scale: float = 1.0  # frame pixels to model pixels in the crop pass
    smallest_person_px: float | None = None  # at the model input in the crop pass; None without a calibration
    region_source: str = "full frame"
    region_share: float = 1.0  # of the frame's area inside the crop
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def whole_frame(self) -> bool:
        return self.crop == PixelBox(0, 0, *self.frame_size)

    @property
    def model_calls_per_frame(self) -> float:
        return 1.0 / self.frames_per_call + len(self.tiles)

    def summary(self) -> dict:
        """What run.json records: the crop, tiles, pairing and the model calls each frame costs."""
        record = asdict(self)
        record["model_calls_per_frame"] = round(self.model_calls_per_frame, 3)
        record["crop_scale"] = round(self.crop_scale, 4)
        record["region_share"] = round(self.region_share, 3)
        if self.smallest_person_px is not None:
            record["smallest_person_px"] = round(self.smallest_person_px, 1)
        record["reasons"] = list(self.reasons)
        return record


def _fit(width: float, height: float, side: int) -> float:
    return min(side / width, side / height)


def plan_detection(frame_size: tuple[int, int], model_input_px: int, area: DetectionArea) -> DetectionPlan:
    width, height = frame_size
    people = people_map(frame_size, area)
    reasons: list[str] = []
    box = people.pixel_box(people.region, frame_size) or (0, 0, width, height)
    if area.image_polygon is not None:  # exactly the polygon's bounds, not the grid's cells
        corners = np.asarray(area.image_polygon, dtype=np.float64)
        low, high = np.floor(corners.min(axis=0)), np.ceil(corners.max(axis=0))
        box = (max(0, int(low[0])), max(0, int(low[1])), min(width, int(high[0])), min(height, int(high[1])))
        if box[2] <= box[0] or box[3] <= box[1]:
            box = (0, 0, width, height)
            reasons.append(
                f"the site file's detection_region lies outside the {width}x{height} frame (its corners are pixels "
                "of this camera's pictures): the whole frame"
            )
    crop = PixelBox(*box)
    share = crop.width * crop.height / (width * height)
    if reasons:  # the polygon is off the frame, as said
        crop, share = PixelBox(0, 0, width, height), 1.0
    elif people.source == "full frame":
        reasons.append("no calibration or site polygon: the whole frame")
    elif share >= WHOLE_FRAME_SHARE:
        crop, share = PixelBox(0, 0, width, height), 1.0
        reasons.append(f"the region covers {WHOLE_FRAME_SHARE:.0%} or more of the frame: the whole frame")
    else:
        reasons.append(f"the {people.source} region's bounding crop, {share:.0%} of the frame")
    side = model_input_px
    alone = _fit(crop.width, crop.height, side)
    gap = math.ceil(GAP_SHARE * side)  # model pixels
    side_by_side = min((side - gap) / (2 * crop.width), side / crop.height)
    stacked = min(side / crop.width, (side - gap) / (2 * crop.height))
    paired = max(side_by_side, stacked)
    layout = "side by side" if side_by_side >= stacked else "stacked"

    inside = people.region.copy()
    x0, y0, x1, y1 = (c / people.cell_px for c in (crop.x0, crop.y0, crop.x1, crop.y1))
    rows, columns = np.indices(inside.shape)
    inside &= (columns >= math.floor(x0)) & (columns < math.ceil(x1))
    inside &= (rows >= math.floor(y0)) & (rows < math.ceil(y1))
    sizes = people.smallest_px[inside]
    sizes = sizes[np.isfinite(sizes)]
    reachable = sizes[sizes * MAX_TILE_ZOOM >= USEFUL_PERSON_PX]
    bounded = area.floor is not None or area.image_polygon is not None
    smallest = float(reachable.min()) if len(reachable) and bounded else None  # unbounded: the horizon's people

    tiles: tuple[PixelBox, ...] = ()
    far = inside & np.isfinite(people.smallest_px)
    with np.errstate(invalid="ignore"):
        far &= people.smallest_px * alone < USEFUL_PERSON_PX
        far &= people.smallest_px * MAX_TILE_ZOOM >= USEFUL_PERSON_PX
    if far.any() and not bounded:
        reasons.append("no far-field tiles: without the site's floor area the floor runs to the horizon")
    elif far.any():
        far_sizes = people.smallest_px[far]
        far_box = people.pixel_box(far, frame_size)
        assert far_box is not None
        tiles = _tiles(PixelBox(*far_box), float(np.percentile(far_sizes, 10)), side, crop)
        if tiles:
            reasons.append(
                f"{len(tiles)} far-field tile(s): people there are {far_sizes.min() * alone:.0f}-"
                f"{USEFUL_PERSON_PX:.0f} px at the crop pass's scale"
            )
    frames_per_call, pair_layout = 1, None
    if not tiles and paired >= PAIR_SCALE_RATIO * alone:
        if smallest is None or smallest * paired >= USEFUL_PERSON_PX:
            frames_per_call, pair_layout = 2, layout
            reasons.append(f"two frames a call ({layout}) at {paired / alone:.0%} of the single-frame scale")
        else:
            reasons.append("one frame a call: paired, the smallest people would fall under the useful height")
    return DetectionPlan(
        frame_size=(width, height),
        model_input_px=side,
        crop=crop,
        frames_per_call=frames_per_call,
        pair_layout=pair_layout,
        tiles=tiles,
        crop_scale=paired if frames_per_call == 2 else alone,
        smallest_person_px=None if smallest is None else smallest * (paired if frames_per_call == 2 else alone),
        region_source=people.source,
        region_share=share,
        reasons=tuple(reasons),
    )


def _tiles(far: PixelBox, small_person_px: float, side: int, crop: PixelBox) -> tuple[PixelBox, ...]:
    """Square tiles over `far`, within `crop`, overlapping by TILE_OVERLAP, sized so a `small_person_px` person
    reaches TILE_PERSON_PX at the input (no smaller than side / MAX_TILE_ZOOM nor than two person heights); grown
    until at most MAX_TILES cover it."""
    width, height = crop.width, crop.height
    tile = max(side * small_person_px / TILE_PERSON_PX, side / MAX_TILE_ZOOM, 2 * small_person_px)
    tile = min(tile, width, height)
    while True:
        columns = max(1, math.ceil((far.width - tile * TILE_OVERLAP) / (tile * (1 - TILE_OVERLAP))))
        rows = max(1, math.ceil((far.height - tile * TILE_OVERLAP) / (tile * (1 - TILE_OVERLAP))))
        if columns * rows <= MAX_TILES or tile >= min(width, height):
            break
        tile = min(tile * 1.25, width, height)
    size = round(tile)
    xs = _starts(far.x0, far.x1, size, columns)
    ys = _starts(far.y0, far.y1, size, rows)
    boxes = []
    for y in ys:
        for x in xs:
            x = min(max(crop.x0, x), crop.x1 - size)
            y = min(max(crop.y0, y), crop.y1 - size)
            boxes.append(PixelBox(int(x), int(y), int(x) + size, int(y) + size))
    return tuple(dict.fromkeys(boxes))


def _starts(low: int, high: int, size: int, count: int) -> np.ndarray:
    """Where `count` tiles of `size` begin to cover [low, high): spread evenly, or one centred on a shorter span."""
    if high - low <= size:
        return np.array([round((low + high - size) / 2)])
    return np.linspace(low, high - size, count).round().astype(int)


class PlannedDetector:
    """A detector that carries out a camera's plan: `__call__` for one frame, `detect_pair` for two consecutive
    frames in one call where the plan pairs them. The plan is made at the first frame (and again if the frame size
    changes)."""

    def __init__(self, detector: Detector, area: DetectionArea, model_input_px: int) -> None:
        self.detector = detector
        self.area = area
        self.model_input_px = model_input_px
        self.plan: DetectionPlan | None = None

    def plan_for(self, image: np.ndarray) -> DetectionPlan:
        size = (int(image.shape[1]), int(image.shape[0]))
        if self.plan is None or self.plan.frame_size != size:
            self.plan = plan_detection(size, self.model_input_px, self.area)
            log.info("detection plan for %dx%d frames: %s", *size, "; ".join(self.plan.reasons))
            if "outside" in self.plan.reasons[0]:
                log.warning("%s", self.plan.reasons[0])
        return self.plan

    def pairs(self, image: np.ndarray) -> bool:
        return self.plan_for(image).frames_per_call == 2

    def __call__(self, image: np.ndarray) -> Detections:
        plan = self.plan_for(image)
        crop = plan.crop
        pieces = [(crop, _drop_cut(self.detector(_cut(image, crop)), crop, image.shape, keep_top=True))]
        for tile in plan.tiles:
            pieces.append((tile, self.detector(_cut(image, tile))))
        if len(pieces) == 1:
            return _shifted(pieces[0][1], crop)
        return _merge(
            [_shifted(found if box == crop else _drop_cut(found, box, image.shape), box) for box, found in pieces]
        )

    def detect_pair(self, first: np.ndarray, second: np.ndarray) -> tuple[Detections, Detections]:
        plan = self.plan_for(first)
        if first.shape != second.shape or plan.frames_per_call != 2:
            return self(first), self(second)
        crop = plan.crop
        # The canvas is made at the model's scale, so the detector only pads it: shrinking one 4-megapixel canvas
        # would cost more than the two crops' own resizes.
        scale = plan.crop_scale
        size = (max(1, math.floor(crop.width * scale)), max(1, math.floor(crop.height * scale)))
        gap = math.ceil(GAP_SHARE * plan.model_input_px)
        a = cv2.resize(_cut(first, crop), size, interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(_cut(second, crop), size, interpolation=cv2.INTER_LINEAR)
        width, height = size
        if plan.pair_layout == "side by side":
            canvas = np.full((height, 2 * width + gap, 3), PAD_VALUE, dtype=np.uint8)
            canvas[:, :width], canvas[:, width + gap :] = a, b
            offset, axis = width + gap, 0
        else:
            canvas = np.full((2 * height + gap, width, 3), PAD_VALUE, dtype=np.uint8)
            canvas[:height], canvas[height + gap :] = a, b
            offset, axis = height + gap, 1
        found = self.detector(canvas)
        centre = (found.xyxy[:, axis] + found.xyxy[:, axis + 2]) / 2
        in_second = centre >= offset - gap / 2
        shift = np.zeros(4, dtype=np.float32)
        shift[[axis, axis + 2]] = offset
        first_found = _subset(found, ~in_second)
        second_found = _subset(found, in_second)
        second_found = Detections(second_found.xyxy - shift, second_found.confidence, second_found.class_id)
        found_a = _drop_cut(_scaled(_clipped(first_found, size), scale), crop, first.shape, keep_top=True)
        found_b = _drop_cut(_scaled(_clipped(second_found, size), scale), crop, second.shape, keep_top=True)
        return _shifted(found_a, crop), _shifted(found_b, crop)


def _scaled(found: Detections, scale: float) -> Detections:
    return Detections((found.xyxy / np.float32(scale)).astype(np.float32), found.confidence, found.class_id)


def _cut(image: np.ndarray, box: PixelBox) -> np.ndarray:
    if box.x0 == 0 and box.y0 == 0 and box.x1 == image.shape[1] and box.y1 == image.shape[0]:
        return image
    return np.ascontiguousarray(image[box.y0 : box.y1, box.x0 : box.x1])


def _subset(found: Detections, keep: np.ndarray) -> Detections:
    return Detections(found.xyxy[keep], found.confidence[keep], found.class_id[keep])


def _clipped(found: Detections, size: tuple[int, int]) -> Detections:
    xyxy = found.xyxy.copy()
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, size[0])
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, size[1])
    return Detections(xyxy, found.confidence, found.class_id)


def _shifted(found: Detections, box: PixelBox) -> Detections:
    if box.x0 == 0 and box.y0 == 0:
        return found
    offset = np.array([box.x0, box.y0, box.x0, box.y0], dtype=np.float32)
    return Detections(found.xyxy + offset, found.confidence, found.class_id)


def _drop_cut(found: Detections, box: PixelBox, shape: tuple[int, ...], keep_top: bool = False) -> Detections:
    """The boxes found in `box` less those touching an edge of it that is not the frame's edge: that person is cut,
    and the box's foot point would be wrong. A tile leaves them to the pass that sees them whole; the region's crop
    (`keep_top`) drops those cut at the sides or bottom, whose feet are off the floor area, and keeps those cut at
    the top, whose feet are on it."""
    height, width = shape[:2]
    left, top, right, bottom = box.x0 > 0, box.y0 > 0 and not keep_top, box.x1 < width, box.y1 < height
    if not (left or top or right or bottom):
        return found  # no inner edge: nothing is cut
    xyxy = found.xyxy
    cut = np.zeros(len(xyxy), dtype=bool)
    if left:
        cut |= xyxy[:, 0] <= EDGE_PX
    if top:
        cut |= xyxy[:, 1] <= EDGE_PX
    if right:
        cut |= xyxy[:, 2] >= box.width - EDGE_PX
    if bottom:
        cut |= xyxy[:, 3] >= box.height - EDGE_PX
    return _subset(found, ~cut)


def _merge(parts: list[Detections]) -> Detections:
    """One box per person from overlapping passes: greedy by score, a box overlapping a kept one by more than
    MERGE_OVERLAP of the smaller box is the same person (SAHI's greedy NMM match rule, keeping the best box)."""
    xyxy = np.concatenate([part.xyxy for part in parts])
    confidence = np.concatenate([part.confidence for part in parts])
    class_id = np.concatenate([part.class_id for part in parts])
    if len(xyxy) == 0:
        return Detections.empty()
    order = np.argsort(-confidence, kind="stable")
    areas = (xyxy[:, 2] - xyxy[:, 0]).clip(0) * (xyxy[:, 3] - xyxy[:, 1]).clip(0)
    kept: list[int] = []
    for index in order:
        if kept:
            others = xyxy[kept]
            inter_w = (np.minimum(others[:, 2], xyxy[index, 2]) - np.maximum(others[:, 0], xyxy[index, 0])).clip(0)
            inter_h = (np.minimum(others[:, 3], xyxy[index, 3]) - np.maximum(others[:, 1], xyxy[index, 1])).clip(0)
            smaller = np.minimum(areas[kept], areas[index]).clip(1e-6)
            same_class = class_id[kept] == class_id[index]
            if np.any(same_class & (inter_w * inter_h / smaller > MERGE_OVERLAP)):
                continue
        kept.append(int(index))
    keep = np.asarray(kept, dtype=np.int64)
    return Detections(xyxy[keep], confidence[keep], class_id[keep])


def planned_detector(
    detector: Detector,
    projector: GroundProjector | None,
    site_grid: GridGeometry | None,
    image_polygon: tuple[tuple[float, float], ...] | None,
    enabled: bool = True,
) -> Detector:
    """The camera's detector: its plan over `detector`, or `detector` itself for the whole frame (`enabled` off).
    The site's heatmap grid gives the floor area."""
    if not enabled:
        return detector
    area = DetectionArea(projector, FloorBox.of_grid(site_grid), image_polygon)
    return PlannedDetector(detector, area, model_input_px(detector))


def model_input_px(detector: Detector, default: int = 640) -> int:
    """The side of the square picture the detector's model takes."""
    size = getattr(detector, "imgsz", None)
    return int(size) if isinstance(size, int | np.integer) and size > 0 else default


__all__ = ["DetectionPlan", "PixelBox", "PlannedDetector", "model_input_px", "plan_detection", "planned_detector"]
