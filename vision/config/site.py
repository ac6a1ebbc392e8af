"""The site config: one YAML file describing a site — its cameras, floor plan, zones, counting lines, funnels and
analytics settings — validated with pydantic (every model forbids unknown fields and is frozen).

`load_site_config(path)` reads and validates the file. Every problem raises `SiteConfigError` with one line naming
the file, the YAML line and the field path, e.g.
`site.yaml:14: zones[1].polygon: the polygon intersects itself near (2, 3); list its corners in order around the
edge`. Relative paths in the file (camera sources, calibrations, the floor-plan image) are taken relative to the
YAML file's folder and come back absolute; stream URLs (`rtsp://…`) are kept as written.

Floor coordinates are metres; the floor-plan image maps onto them as `vision.core.floorplan` defines.

`vision.config.build` turns a loaded config into the engine's domain objects; `vision.runtime.preflight` checks
the files it names (sources open, calibrations load and fit) without running anything.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np
import yaml
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vision.config.problems import Loc, clean_message, field_path, show_value
from vision.core.errors import SiteConfigError
from vision.core.floorplan import MAX_PLAN_PIXELS, Extent, FloorPlanMapping
from vision.core.grid import HEATMAP_MARGIN_M, MAX_FLOOR_SIDE_M, MIN_CELL_M, grid_size_problem
from vision.core.ids import CAMERA_ID_RULE, is_camera_id, is_url
from vision.core.places import MIN_LINE_LENGTH_M, LineSide, ZoneKind
from vision.core.textfile import read_bounded_text
from vision.core.times import PLAUSIBLE_RANGE, is_plausible_start

SITE_CONFIG_VERSION = 1
_MIN_AREA_M2 = 1e-9
_SECONDS_PER_DAY = 86_400

# Limits on the file itself, far above any real site config (a few kilobytes), so that a hostile or mistaken file
# (an alias bomb, a huge or deeply nested document) is refused in well under a second instead of filling memory.
MAX_SITE_CONFIG_BYTES = 1_000_000
MAX_YAML_NODES = 50_000  # values in the document with every alias expanded
MAX_YAML_ALIASES = 100
MAX_YAML_DEPTH = 50
MIN_METRES_PER_PIXEL = 0.0001
MAX_METRES_PER_PIXEL = 100.0


# ----------------------------------------------------------------------------------------------------------------
# Problems that know where they are


class _FieldProblem(ValueError):
    """A validation problem raised from a model validator at a field below the model (`loc`, relative to the model
    being validated). `{other}` in the message stands for `related`, another place in the file (a duplicate's first
    use); the loader writes it with its line number."""

    def __init__(self, loc: Loc, message: str, related: Loc | None = None) -> None:
        self.loc = loc
        self.message = message
        self.related = related
        # Outside the loader (a model built in code) the message still says where: `zones[1].name: …`.
        super().__init__(f"{field_path(loc)}: {self.render(field_path)}" if loc else self.render(field_path))

    def render(self, describe: Callable[[Loc], str]) -> str:
        if self.related is None:
            return self.message
        return self.message.replace("{other}", describe(self.related))


# ----------------------------------------------------------------------------------------------------------------
# Field types


def _listing(names: list[str], limit: int = 10) -> str:
    """Names for a message: the first `limit`, each shortened, and how many there are in all."""
    shown = ", ".join(
        name if name.isprintable() and len(name) <= 32 else show_value(name, 32) for name in names[:limit]
    )
    return shown if len(names) <= limit else f"{shown}, … ({len(names)} in all)"


def _number_not_text(value: Any) -> Any:
    # pydantic's lax mode would read "1" and `yes` as numbers; in a config file both are mistakes.
    if isinstance(value, bool | str):
        raise ValueError(f"expected a number, got {show_value(value)}")
    return value


def _pair(what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError(f"{what}, got {show_value(value)}")
        return value

    return check


def _identifier(value: str) -> str:
    if not is_camera_id(value):
        raise ValueError(f"{show_value(value)} {CAMERA_ID_RULE}")
    return value


def _name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _path_text(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty; give a path, or leave the field out")
    return value


Number = Annotated[float, BeforeValidator(_number_not_text), Field(allow_inf_nan=False)]
PositiveNumber = Annotated[Number, Field(gt=0)]
WholeNumber = Annotated[int, BeforeValidator(_number_not_text)]
Point = Annotated[tuple[Number, Number], BeforeValidator(_pair("a point is [x, y] in metres"))]
ImagePoint = Annotated[tuple[Number, Number], BeforeValidator(_pair("an image point is [x, y] in pixels"))]
Size = Annotated[tuple[PositiveNumber, PositiveNumber], BeforeValidator(_pair("a size is [width, depth] in metres"))]
Identifier = Annotated[str, AfterValidator(_identifier)]
Name = Annotated[str, AfterValidator(_name)]
FilePath = Annotated[Path, BeforeValidator(_path_text)]


def resolve_path(value: str | Path, base: Path | None) -> Path:
    """`value` made absolute against `base` (kept as is when already absolute or when there is no base)."""
    path = Path(value).expanduser()
    if path.is_absolute() or base is None:
        return path
    return Path(os.path.normpath(Path(base).absolute() / path))


def _base(info: ValidationInfo) -> Path | None:
    context = info.context
    if isinstance(context, dict) and context.get("base") is not None:
        return Path(context["base"])
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------------------------------------------
# The models


class SiteInfo(_Strict):
    id: Identifier = Field(description="site id: letters, digits, '_', '-' and '.'")
    timezone: str = Field("UTC", description="IANA time zone of the site, e.g. Asia/Shanghai")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_time_zone(value)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(value, sorted(available_timezones()), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(
            f"unknown time zone {show_value(value)}{hint}; give an IANA name such as Europe/Paris, Asia/Shanghai or UTC"
        ) from None
    return value


DEFAULT_START_PATTERN = r"(?<!\d)(\d{14})(?!\d)"


class RecordingsConfig(_Strict):
    """How `footfall batch` reads recorded files' start times from their names (NVR exports such as
    `ch01_20261122100000.mp4` or `192.168.1.20_01_20261122100000_20261122110000.mp4`)."""

    start_pattern: str = Field(
        DEFAULT_START_PATTERN,
        description="regular expression whose first group is the start time in the file name (default: the first "
        "run of 14 digits)",
    )
    start_format: str = Field("%Y%m%d%H%M%S", description="strptime format of that group")
    timezone: str | None = Field(None, description="time zone of the recorder's clock (default: the site's)")

    @field_validator("start_pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        try:
            groups = re.compile(value).groups
        except re.error as exc:
            raise ValueError(f"is not a regular expression ({exc})") from None
        if groups < 1:
            raise ValueError("needs a group around the start time, e.g. _(\\d{14})")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else known_time_zone(value)

    @model_validator(mode="after")
    def _format_reads_what_the_pattern_finds(self) -> RecordingsConfig:
        """A start time written with start_format must be found by start_pattern and read back: a format that
        does not fit the names would date every file by its modification time."""
        reference = datetime(2026, 11, 22, 10, 30, 45)
        try:
            written = reference.strftime(self.start_format)
        except ValueError as exc:
            raise ValueError(f"start_format {self.start_format!r} is not a strptime format ({exc})") from None
        found = re.search(self.start_pattern, f"ch01_{written}.mp4")
        if found is None:
            if self.start_pattern == DEFAULT_START_PATTERN:
                raise ValueError(
                    f"start_format {self.start_format!r} writes times as {written!r}, but the default start_pattern "
                    "reads a run of 14 digits (20261122103045); give a start_pattern for your names, or fix the format"
                )
            return self  # a pattern that needs more of a name than a time: judged on the files by `footfall batch`
        try:
            datetime.strptime(found.group(1), self.start_format)
        except ValueError:
            raise ValueError(
                f"start_pattern finds {found.group(1)!r} in a name holding {written!r}, which start_format "
                f"{self.start_format!r} does not read back; make them agree"
            ) from None
        return self


def check_picture_size(path: Path, what: str) -> None:
    """Raises ValueError naming the picture when its header declares more than MAX_PLAN_PIXELS pixels. Pillow reads
    the header only, so a small file that declares a gigapixel picture costs nothing; a file Pillow can't identify
    passes here and is judged when it is decoded."""
    from PIL import Image, UnidentifiedImageError

    def too_large(size: str) -> ValueError:
        limit = MAX_PLAN_PIXELS // 1_000_000
        return ValueError(
            f"{path}: the {what} is {size}, more than the {limit} megapixels footfall reads; scale it down"
        )

    try:
        with Image.open(path) as image:  # lazy: the header only
            width, height = image.size
    except Image.DecompressionBombError as exc:  # Pillow's own, far larger, limit: the message gives the pixels
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        raise too_large(f"{int(pixels[1]) / 1e6:,.0f} megapixels" if pixels else "huge") from None
    except (OSError, UnidentifiedImageError, ValueError, ImportError):
        # ImportError: once Ultralytics is imported, its patched Image.open tries a HEIF plugin on unknown files
        return
    if width * height > MAX_PLAN_PIXELS:
        raise too_large(f"{width} x {height} pixels")


@functools.lru_cache(maxsize=16)
def _image_size(path: str, _mtime_ns: int, _size: int) -> tuple[int, int] | None:
    import cv2

    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    return None if image is None else (int(image.shape[1]), int(image.shape[0]))


def floor_plan_image_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels of a floor-plan image; SiteConfigError if it is missing, unreadable or larger than
    MAX_PLAN_PIXELS."""
    try:
        stat = path.stat()
    except OSError:
        raise SiteConfigError(f"{path}: no such floor-plan image; check floor_plan.image") from None
    if path.is_file():
        try:
            check_picture_size(path, "floor-plan image")
        except ValueError as exc:
            raise SiteConfigError(f"{exc} (floor_plan.image)") from None
    size = _image_size(str(path), stat.st_mtime_ns, stat.st_size) if path.is_file() else None
    if size is None:
        raise SiteConfigError(f"{path}: not a readable image (PNG, JPEG, …); check floor_plan.image")
    if size[0] * size[1] > MAX_PLAN_PIXELS:
        raise SiteConfigError(
            f"{path}: the floor-plan image is {size[0]} x {size[1]} pixels, more than the "
            f"{MAX_PLAN_PIXELS // 1_000_000} megapixels footfall reads; scale it down (floor_plan.image)"
        )
    return size


class FloorPlan(_Strict):
    image: FilePath | None = Field(None, description="floor-plan picture, relative to the YAML file's folder")
    metres_per_pixel: PositiveNumber | None = Field(None, description="metres one image pixel spans")
    origin: Point = Field((0.0, 0.0), description="floor point (metres) of the image's top-left corner")
    size_m: Size | None = Field(None, description="floor extent [width, depth] in metres when there is no image")

    @field_validator("image")
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, _base(info))

    @field_validator("metres_per_pixel")
    @classmethod
    def _plausible_scale(cls, value: float | None) -> float | None:
        if value is not None and not MIN_METRES_PER_PIXEL <= value <= MAX_METRES_PER_PIXEL:
            raise ValueError(
                f"{value:g} metres per pixel is implausible (allowed {MIN_METRES_PER_PIXEL:g} to "
                f"{MAX_METRES_PER_PIXEL:g}); give how many metres one pixel of the plan spans, e.g. 0.05"
            )
        return value

    @field_validator("size_m")
    @classmethod
    def _at_most_max_side(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and max(value) > MAX_FLOOR_SIDE_M:
            raise ValueError(
                f"{value[0]:g} x {value[1]:g} m is larger than the {MAX_FLOOR_SIDE_M:g} m a side footfall handles; "
                "give the floor's size in metres"
            )
        return value

    @model_validator(mode="after")
    def _image_or_size(self) -> FloorPlan:
        if self.image is not None:
            if self.metres_per_pixel is None:
                raise _FieldProblem(
                    ("metres_per_pixel",), "required with image: how many metres one pixel of the plan spans"
                )
            if self.size_m is not None:
                raise _FieldProblem(
                    ("size_m",), "leave size_m out when image is given: the extent is the image size × metres_per_pixel"
                )
        else:
            if self.size_m is None:
                raise _FieldProblem(
                    ("size_m",), "give the floor's size in metres as [width, depth], or an image with metres_per_pixel"
                )
            if self.metres_per_pixel is not None:
                raise _FieldProblem(
                    ("metres_per_pixel",), "only applies to an image; give image too, or leave metres_per_pixel out"
                )
        return self

    def mapping(self) -> FloorPlanMapping:
        """How the image's pixels map to floor metres. Needs an image."""
        if self.metres_per_pixel is None:
            raise ValueError("this floor plan has no image, so no pixel scale")
        return FloorPlanMapping(self.metres_per_pixel, tuple(self.origin))

    def image_size_px(self, folder: Path | None = None) -> tuple[int, int] | None:
        """(width, height) of the image in pixels, or None without an image. Relative paths (a model built without
        `load_site_config`) are taken against `folder`."""
        return None if self.image is None else floor_plan_image_size(resolve_path(self.image, folder))

    def extent_m(self, folder: Path | None = None) -> Extent:
        """(xmin, ymin, xmax, ymax) of the floor in metres; reads the image's size when there is one."""
        size_px = self.image_size_px(folder)
        if size_px is None:
            origin_x, origin_y = self.origin
            width_m, depth_m = self.size_m  # type: ignore[misc]  # validated: size_m is set without an image
            return (origin_x, origin_y, origin_x + width_m, origin_y + depth_m)
        problem = self.image_extent_problem(size_px)
        if problem is not None:
            raise SiteConfigError(f"{self.image}: {problem} (floor_plan.metres_per_pixel)")
        return self.mapping().extent(*size_px)

    def image_extent_problem(self, size_px: tuple[int, int]) -> str | None:
        """Why the plan picture of `size_px` pixels at this scale spans too large a floor, or None."""
        width_m, depth_m = (side * (self.metres_per_pixel or 0.0) for side in size_px)
        if max(width_m, depth_m) <= MAX_FLOOR_SIDE_M:
            return None
        return (
            f"the plan picture, {size_px[0]} x {size_px[1]} pixels at {self.metres_per_pixel:g} m per pixel, spans "
            f"{width_m:g} x {depth_m:g} m, more than the {MAX_FLOOR_SIDE_M:g} m a side footfall handles; check "
            "metres_per_pixel"
        )

    def floor_to_pixel(self, xy: np.ndarray) -> np.ndarray:
        """Floor points (N, 2) in metres → image points (N, 2) (col, row) in pixels. Needs an image."""
        return self.mapping().to_pixel(xy)

    def pixel_to_floor(self, col_row: np.ndarray) -> np.ndarray:
        """Image points (N, 2) (col, row) in pixels → floor points (N, 2) in metres. Needs an image."""
        return self.mapping().to_floor(col_row)


class CameraConfig(_Strict):
    id: Identifier = Field(description="camera id: letters, digits, '_', '-' and '.'")
    source: str = Field(description="video file or image-sequence folder (relative to the YAML file), or a URL")
    calibration: FilePath | None = Field(None, description="calibration JSON, relative to the YAML file's folder")
    analysis_fps: PositiveNumber = Field(5.0, description="frames analysed per second of video")
    start: AwareDatetime | None = Field(None, description="wall-clock time of the first frame; overrides the file's")
    clock_offset_s: float = Field(
        0.0,
        ge=-3600,
        le=3600,
        description="seconds to add to this camera's times to agree with the site's other cameras (a recorder "
        "channel whose clock is off); the fusion of several cameras estimates what remains, within 5 s",
    )
    detection_region: list[ImagePoint] | None = Field(
        None,
        description="where people can be in this camera's picture: corners in pixels of its frames, in order around "
        "the edge; the detector looks only there (default: worked out from the calibration and the floor area)",
    )
    recordings: str | None = Field(
        None,
        description="`footfall batch`: which recorded files are this camera's, a file-name or folder pattern such as "
        "'ch01_*.mp4' or 'entrance/*.mp4'",
    )

    @field_validator("source")
    @classmethod
    def _resolve_source(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise ValueError("must not be empty; give a video file, an image-sequence folder or a stream URL")
        return value if is_url(value) else str(resolve_path(value, _base(info)))

    @field_validator("detection_region")
    @classmethod
    def _region_polygon(cls, value: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if value is None:
            return None
        if any(x < 0 or y < 0 for x, y in value):
            raise ValueError("image points are pixels from the picture's top-left corner: none can be negative")
        return simple_polygon(value)

    @field_validator("calibration")
    @classmethod
    def _resolve_calibration(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, _base(info))

    @field_validator("start")
    @classmethod
    def _plausible_start(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None and not is_plausible_start(value):
            raise ValueError(f"{value.isoformat()} is not a plausible recording time ({PLAUSIBLE_RANGE})")
        return value


def _camera_list(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not value:
        raise ValueError("lists no camera; name at least one, or leave cameras out to use every camera")
    for index, camera in enumerate(value):
        if camera in value[:index]:
            raise _FieldProblem((index,), f"camera {show_value(camera)} is listed twice")
    return value


CameraList = Annotated[list[str] | None, AfterValidator(_camera_list)]


def simple_polygon(value: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The corners of a simple polygon (a closing corner equal to the first dropped); ValueError says what is wrong."""
    import shapely
    from shapely.validation import explain_validity

    corners = list(value)
    if len(corners) > 1 and corners[0] == corners[-1]:
        corners = corners[:-1]  # a closing point equal to the first is allowed, and dropped
    if len(corners) < 3:
        raise ValueError(f"a polygon needs at least 3 corners, got {len(corners)}")
    if shapely.MultiPoint(corners).convex_hull.area <= _MIN_AREA_M2:
        raise ValueError("the polygon has no area (its corners lie on one line or on one point)")
    polygon = shapely.Polygon(corners)
    if not polygon.is_valid or polygon.area <= _MIN_AREA_M2:
        reason = explain_validity(polygon)
        where = re.search(r"\[(\S+) (\S+)\]", reason)
        near = f" near ({float(where[1]):g}, {float(where[2]):g})" if where else ""
        if "intersection" in reason.lower() or polygon.area <= _MIN_AREA_M2:
            raise ValueError(f"the polygon intersects itself{near}; list its corners in order around the edge")
        raise ValueError(f"not a simple polygon ({reason}); list its corners in order around the edge")
    return corners


class ZoneConfig(_Strict):
    name: Name
    kind: ZoneKind = "area"
    polygon: list[Point] = Field(description="corners in metres, in order around the edge")
    cameras: CameraList = Field(None, description="cameras that count this zone (default: all)")

    @field_validator("polygon")
    @classmethod
    def _simple_polygon(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return simple_polygon(value)

    def counts_on(self, camera: str) -> bool:
        return self.cameras is None or camera in self.cameras


class LineConfig(_Strict):
    name: Name
    a: Point
    b: Point
    in_side: LineSide = Field("left", description='side of the directed line a→b that counts as "in"')
    cameras: CameraList = Field(None, description="cameras that count this line (default: all)")

    @model_validator(mode="after")
    def _has_length(self) -> LineConfig:
        if math.dist(self.a, self.b) <= MIN_LINE_LENGTH_M:
            raise ValueError("a and b are the same point; a counting line needs two distinct points")
        return self

    def counts_on(self, camera: str) -> bool:
        return self.cameras is None or camera in self.cameras


class FunnelConfig(_Strict):
    name: Name
    steps: list[Name] = Field(description="zone names, in the order visitors are expected to pass them")

    @field_validator("steps")
    @classmethod
    def _two_steps(cls, value: list[str]) -> list[str]:
        if len(value) < 2:
            raise ValueError(f"a funnel needs at least 2 steps (zone names), got {len(value)}")
        for index in range(1, len(value)):
            if value[index] == value[index - 1]:
                raise _FieldProblem((index,), f"repeats the step before it ({show_value(value[index])})")
        return value


class AnalyticsConfig(_Strict):
    min_inside_s: Annotated[Number, Field(ge=0)] = Field(1.0, description="seconds inside before a visit starts")
    min_outside_s: Annotated[Number, Field(ge=0)] = Field(1.0, description="seconds outside before a visit ends")
    line_margin_m: PositiveNumber = Field(0.3, description="jitter band around a counting line, metres")
    bucket_s: Annotated[WholeNumber, Field(gt=0)] = Field(60, description="time bucket of counts, seconds")
    staff_share: Annotated[Number, Field(gt=0, le=1)] = Field(
        0.5, description="share of a track's time in staff zones above which it is taken for staff"
    )
    heatmap_cell_m: PositiveNumber = Field(0.25, description="heatmap cell size, metres")
    max_gap_s: PositiveNumber = Field(2.0, description="longer gaps between a track's samples are not presence")
    top_sequences: Annotated[WholeNumber, Field(ge=1)] = Field(10, description="zone sequences reported")

    @field_validator("heatmap_cell_m")
    @classmethod
    def _cell_not_tiny(cls, value: float) -> float:
        if value < MIN_CELL_M:
            raise ValueError(
                f"a heatmap cell of {value:g} m is smaller than the {MIN_CELL_M:g} m footfall allows (floor "
                "positions are not that precise); give the cell size in metres, e.g. 0.25"
            )
        return value

    @field_validator("bucket_s")
    @classmethod
    def _divides_day(cls, value: int) -> int:
        if _SECONDS_PER_DAY % value:
            raise ValueError(f"must divide a day (86400 s) evenly, e.g. 60, 300, 900 or 3600; got {value}")
        return value


class SiteConfig(_Strict):
    version: int = Field(description=f"site config format version; this footfall reads {SITE_CONFIG_VERSION}")
    site: SiteInfo
    floor_plan: FloorPlan | None = None
    cameras: list[CameraConfig]
    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list)
    funnels: list[FunnelConfig] = Field(default_factory=list)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    recordings: RecordingsConfig = Field(default_factory=RecordingsConfig)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        # `zones:` with everything below commented out is an empty list, not an error.
        if isinstance(data, dict):
            data = dict(data)
            for key in ("zones", "lines", "funnels"):
                if key in data and data[key] is None:
                    data[key] = []
            for key in ("analytics", "recordings"):
                if key in data and data[key] is None:
                    data[key] = {}
        return data

    @field_validator("version", mode="before")
    @classmethod
    def _supported_version(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be {SITE_CONFIG_VERSION} (the site config format version), got {show_value(value)}")
        if value != SITE_CONFIG_VERSION:
            raise ValueError(
                f"site config version {value} is not supported; this footfall reads version {SITE_CONFIG_VERSION}: "
                "upgrade footfall or rewrite the file"
            )
        return value

    @field_validator("cameras")
    @classmethod
    def _some_camera(cls, value: list[CameraConfig]) -> list[CameraConfig]:
        if not value:
            raise ValueError("list at least one camera (id and source)")
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> SiteConfig:
        camera_ids: dict[str, Loc] = {}
        for index, camera in enumerate(self.cameras):
            if camera.id in camera_ids:
                raise _FieldProblem(
                    ("cameras", index, "id"),
                    f"camera id {camera.id!r} is already used by {{other}}; give each camera its own id",
                    camera_ids[camera.id],
                )
            camera_ids[camera.id] = ("cameras", index)
        known_cameras = _listing(list(camera_ids))

        names: dict[str, Loc] = {}
        for group, items in (("zones", self.zones), ("lines", self.lines)):
            for index, item in enumerate(items):
                if item.name in names:
                    raise _FieldProblem(
                        (group, index, "name"),
                        f"{show_value(item.name)} is already the name of {{other}}; zones and lines each need their "
                        "own name",
                        names[item.name],
                    )
                names[item.name] = (group, index)
                for position, camera in enumerate(item.cameras or ()):
                    if camera not in camera_ids:
                        raise _FieldProblem(
                            (group, index, "cameras", position),
                            f"no camera has the id {show_value(camera)} (cameras: {known_cameras})",
                        )

        zone_names = [zone.name for zone in self.zones]
        line_names = {line.name for line in self.lines}
        known_zones = f"zones: {_listing(zone_names)}" if zone_names else "no zones are defined"
        funnel_names: dict[str, Loc] = {}
        for index, funnel in enumerate(self.funnels):
            if funnel.name in funnel_names:
                raise _FieldProblem(
                    ("funnels", index, "name"),
                    f"{show_value(funnel.name)} is already the name of {{other}}; give each funnel its own name",
                    funnel_names[funnel.name],
                )
            funnel_names[funnel.name] = ("funnels", index)
            for position, step in enumerate(funnel.steps):
                if step in line_names:
                    raise _FieldProblem(
                        ("funnels", index, "steps", position),
                        f"{show_value(step)} is a counting line; funnel steps are zone names ({known_zones})",
                    )
                if step not in zone_names:
                    raise _FieldProblem(
                        ("funnels", index, "steps", position), f"no zone is named {show_value(step)} ({known_zones})"
                    )
        return self

    @model_validator(mode="after")
    def _floor_fits(self) -> SiteConfig:
        """The floor (the plan, or without one the zones and lines) is at most MAX_FLOOR_SIDE_M a side, and the
        heatmap grid over it at most MAX_GRID_CELLS cells: a run must hold it in memory."""
        plan = self.floor_plan
        if plan is not None and plan.size_m is not None:
            width_m, depth_m = plan.size_m
        elif plan is not None:
            size_px = _readable_image_size(plan.image)
            if size_px is None:
                return self  # a missing or unreadable picture is reported when the files are checked
            problem = plan.image_extent_problem(size_px)
            if problem is not None:
                raise _FieldProblem(("floor_plan", "metres_per_pixel"), problem)
            width_m, depth_m = (side * plan.metres_per_pixel for side in size_px)  # type: ignore[operator]
        else:
            places: list[tuple[Loc, np.ndarray]] = [
                (("zones", index), np.asarray(zone.polygon, dtype=np.float64)) for index, zone in enumerate(self.zones)
            ]
            places += [(("lines", index), np.array([line.a, line.b])) for index, line in enumerate(self.lines)]
            if not places:
                return self
            points = np.concatenate([corners for _, corners in places])
            with np.errstate(all="ignore"):  # coordinates near the float limit overflow to an infinite span
                span = points.max(axis=0) - points.min(axis=0)
                if span.max() > MAX_FLOOR_SIDE_M:
                    axis = int(np.argmax(span))
                    centre = float(np.median(points[:, axis]))
                    farthest = max(places, key=lambda place: float(np.abs(place[1][:, axis] - centre).max()))
                    raise _FieldProblem(
                        farthest[0],
                        f"the zones and lines span {span[0]:g} x {span[1]:g} m, more than the {MAX_FLOOR_SIDE_M:g} m "
                        "a side footfall handles, and this one lies farthest out; check its coordinates are metres",
                    )
            width_m, depth_m = (float(side) + 2 * HEATMAP_MARGIN_M for side in span)
        problem = grid_size_problem(width_m, depth_m, self.analytics.heatmap_cell_m)
        if problem is not None:
            # Point at the cell size where the file gives one, else at what sets the floor's size.
            if "heatmap_cell_m" in self.analytics.model_fields_set:
                where: Loc = ("analytics", "heatmap_cell_m")
            elif plan is not None:
                where = ("floor_plan", "size_m" if plan.size_m is not None else "metres_per_pixel")
            else:
                where = ("zones",) if self.zones else ("lines",)
            raise _FieldProblem(where, problem)
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(camera_id)

    def zones_for(self, camera_id: str) -> list[ZoneConfig]:
        return [zone for zone in self.zones if zone.counts_on(camera_id)]

    def lines_for(self, camera_id: str) -> list[LineConfig]:
        return [line for line in self.lines if line.counts_on(camera_id)]


def _readable_image_size(image: Path | None) -> tuple[int, int] | None:
    """The plan picture's size if it can be read now, else None (the file checks report why)."""
    if image is None:
        return None
    try:
        return floor_plan_image_size(image)
    except SiteConfigError:
        return None


def floor_extent(config: SiteConfig, folder: Path | None = None) -> Extent | None:
    """(xmin, ymin, xmax, ymax) of the floor in metres, or None when the config has no floor plan."""
    return None if config.floor_plan is None else config.floor_plan.extent_m(folder)


# ----------------------------------------------------------------------------------------------------------------
# Loading


def load_site_config(path: Path) -> SiteConfig:
    """Reads and validates a site config YAML file; relative paths in it are resolved against its folder.
    Raises SiteConfigError, one line naming the file, line and field, for any problem."""
    path = Path(path)
    name = str(path)
    text = read_bounded_text(path, "site config", MAX_SITE_CONFIG_BYTES, SiteConfigError, "; a real one is a few kB")

    root, data = _parse_yaml(text, name)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"the single value {show_value(data)}"
        raise SiteConfigError(
            f"{name}:{root.start_mark.line + 1}: a site config is a mapping of fields (version:, site:, cameras:, …); "
            f"this file holds {kind}"
        )
    try:
        return SiteConfig.model_validate(data, context={"base": path.parent.absolute()})
    except ValidationError as exc:
        raise SiteConfigError(_describe(exc, root, name)) from None


_YAML12_FLOAT = re.compile(
    r"""^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$""",
)


class _SiteLoader(yaml.SafeLoader):
    """PyYAML's safe loader with two changes for site configs.

    Numbers in scientific notation without a dot or an exponent sign (`2e1`, `1e-3`, `1.5e3`) are floats, as in
    YAML 1.2 (YAML 1.1 reads them as text). And the document is bounded while it is composed: at most
    MAX_YAML_ALIASES alias uses, MAX_YAML_NODES values with every alias expanded (so a "billion laughs" alias bomb
    stops at once, before anything is built from it) and MAX_YAML_DEPTH levels of nesting. A value YAML reads but
    Python can't build (an invalid date, a 5000-digit number) is a YAML error at its line, not an exception."""

    def __init__(self, text: str, name: str) -> None:
        super().__init__(text)
        self._name = name
        self._depth = 0
        self._aliases = 0
        self._expanded = 0
        self._sizes: dict[int, int] = {}  # id(anchored node) → its size with aliases expanded, once composed

    def _refuse(self, mark: yaml.Mark, problem: str) -> SiteConfigError:
        return SiteConfigError(f"{self._name}:{mark.line + 1}: {problem}; check that this is the site config")

    def _count(self, nodes: int, mark: yaml.Mark) -> None:
        self._expanded += nodes
        if self._expanded > MAX_YAML_NODES:
            raise self._refuse(
                mark,
                f"the document holds more than {MAX_YAML_NODES:,} values (aliases expanded), too many for a site "
                "config",
            )

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            anchored = self.anchors.get(event.anchor)
            if anchored is not None:
                self._aliases += 1
                if self._aliases > MAX_YAML_ALIASES:
                    raise self._refuse(event.start_mark, f"more than {MAX_YAML_ALIASES} aliases (*name)")
                size = self._sizes.get(id(anchored))
                if size is None:
                    raise self._refuse(event.start_mark, f"the alias *{event.anchor} refers to a value it is part of")
                self._count(size, event.start_mark)
            return super().compose_node(parent, index)
        event = self.peek_event()
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise self._refuse(event.start_mark, f"nested more than {MAX_YAML_DEPTH} levels deep")
        before = self._expanded
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._sizes[id(node)] = self._expanded - before
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:  # e.g. `!!int` with no digits
            shown = show_value(node.value) if isinstance(node, yaml.ScalarNode) else "this value"
            reason = " ".join(str(exc).split(": value has")[0].split())[:120]
            raise SiteConfigError(
                f"{self._name}:{node.start_mark.line + 1}: {shown} cannot be read ({reason}); correct it, or put it in "
                "quotes if it is text"
            ) from None


_SiteLoader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+.0123456789"))


def _parse_yaml(text: str, name: str) -> tuple[yaml.Node, Any]:
    loader: _SiteLoader | None = None
    try:
        loader = _SiteLoader(text, name)  # the reader refuses control characters here already
        root = loader.get_single_node()
        if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
            raise SiteConfigError(
                f"{name}: the file is empty; a site config needs at least version: 1, site: and cameras:"
            )
        _check_duplicate_keys(root, name)
        return root, loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        column = f" at column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "syntax error"
        started = exc.context_mark if exc.problem and exc.context else None
        if started is not None and mark is not None and started.line != mark.line:
            column += f" ({exc.context} on line {started.line + 1})"
        raise SiteConfigError(
            f"{where}: not valid YAML: {problem}{column}; check the indentation, colons and brackets there"
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        character = f"#x{exc.character:04x}" if isinstance(exc.character, int) else "character"
        raise SiteConfigError(
            f"{name}:{line}: not valid YAML: the control character {character} is not allowed in YAML text; remove it"
        ) from None
    except yaml.YAMLError as exc:
        raise SiteConfigError(f"{name}: not valid YAML ({' '.join(str(exc).split())})") from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_duplicate_keys(root: yaml.Node, name: str) -> None:
    """YAML loaders keep the last of two equal keys silently; a config with one is almost surely a mistake."""
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    visited: set[int] = set()
    while stack:
        node, loc = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, yaml.Node] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in first:
                        raise SiteConfigError(
                            f"{name}:{key.start_mark.line + 1}: {field_path((*loc, key.value))}: given twice (first "
                            f"on line {first[key.value].start_mark.line + 1}); keep one"
                        )
                    first[key.value] = key
                    stack.append((value, (*loc, key.value)))
                else:
                    stack.append((value, loc))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*loc, index)) for index, item in enumerate(node.value))


def _line_of(root: yaml.Node, loc: Loc) -> int:
    """1-based line of the deepest node along `loc` that exists in the file (a missing field: its parent's)."""
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = [
                (key, value) for key, value in node.value if isinstance(key, yaml.ScalarNode) and key.value == part
            ]
            if not found:
                break
            key, node = found[-1]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _model_at(loc: Loc) -> type[BaseModel] | None:
    model: type[BaseModel] = SiteConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _find_model(field.annotation) if field is not None else None
        if inner is None:
            return None
        model = inner
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _find_model(argument)
        if found is not None:
            return found
    return None


def _explain(error: dict, loc: Loc) -> str:
    kind, value, message = error["type"], error.get("input"), error["msg"]
    if kind == "missing":
        return "required, but missing" + (
            f"; add version: {SITE_CONFIG_VERSION} at the top" if loc == ("version",) else ""
        )
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        if model is None:
            return "unknown field"
        allowed = list(model.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"unknown field (allowed: {', '.join(allowed)}){hint}"
    if kind == "value_error":
        return clean_message(message)
    if value is None:
        return "has no value; give one, or leave the field out if it is optional"
    if kind == "string_type":
        return f"expected text, got {show_value(value)}; put it in quotes"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {show_value(value)}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {show_value(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of fields (key: value lines), got {show_value(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {show_value(value)}"
    if kind == "timezone_aware":
        return f"{show_value(value)} has no time zone; add one, e.g. 2026-11-22T09:00:00+08:00"
    text = re.sub(r"^Input should", "must", message)
    text = re.sub(r"^Input is", "is", text)
    if not isinstance(value, dict | list):
        text += f", got {show_value(value)}"
    return text


def _describe(exc: ValidationError, root: yaml.Node, name: str) -> str:
    """The first problem (by line) as `file:line: field.path: what is wrong`, with a count of the others."""
    found: list[tuple[int, str]] = []
    for error in exc.errors():
        loc: Loc = tuple(error["loc"])
        problem = (error.get("ctx") or {}).get("error")
        if isinstance(problem, _FieldProblem):
            base = loc
            loc = (*base, *problem.loc)
            text = problem.render(
                lambda other, base=base: f"{field_path((*base, *other))} (line {_line_of(root, (*base, *other))})"
            )
        else:
            text = _explain(error, loc)
        line = _line_of(root, loc)
        path = field_path(loc)
        found.append((line, f"{name}:{line}: {path}: {text}" if path else f"{name}:{line}: {text}"))
    found.sort(key=lambda item: item[0])
    message = found[0][1]
    if len(found) > 1:
        others = len(found) - 1
        message += f" (and {others} more problem{'s' if others > 1 else ''})"
    return message
