"""Writing the page's zones and counting lines into a site config (YAML) without losing anything else in it.

The file is edited round-trip with ruamel.yaml, so its comments, key order and the fields the page does not know
(funnels, analytics, other cameras, …) stay as they were: only the `zones:` and `lines:` sequences are replaced,
the camera's `calibration:` entry is set, and `floor_plan:` is added when the file has none. The new text is
validated with `vision.config.site.load_site_config` before it replaces the old file (atomically), so a change that
would make the site config invalid leaves the file untouched.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

from vision.config.problems import first_problem
from vision.config.site import (
    MAX_SITE_CONFIG_BYTES,
    LineConfig,
    SiteConfig,
    ZoneConfig,
    load_site_config,
    resolve_path,
)
from vision.core.errors import SiteConfigError
from vision.core.floorplan import FloorPlanMapping
from vision.core.ids import is_url
from vision.sinks.atomic import write_text_atomic

_DECIMALS = 3


def _round(value: float) -> float | int:
    rounded = round(float(value), _DECIMALS)
    return int(rounded) if rounded.is_integer() else rounded


def validate_zones(items: Sequence[Any]) -> list[ZoneConfig]:
    """Zones as the page sends them ({name, kind, polygon in metres, cameras?}), checked one by one."""
    zones = []
    for index, item in enumerate(items):
        try:
            zones.append(ZoneConfig.model_validate(item))
        except ValidationError as exc:
            raise SiteConfigError(first_problem(exc, prefix=("zones", index))) from None
    return zones


def validate_lines(items: Sequence[Any]) -> list[LineConfig]:
    """Counting lines as the page sends them ({name, a, b, in_side, cameras?}), checked one by one."""
    lines = []
    for index, item in enumerate(items):
        try:
            lines.append(LineConfig.model_validate(item))
        except ValidationError as exc:
            raise SiteConfigError(first_problem(exc, prefix=("lines", index))) from None
    return lines


def zone_document(zone: ZoneConfig) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": zone.name,
        "kind": zone.kind,
        "polygon": [[_round(x), _round(y)] for x, y in zone.polygon],
    }
    if zone.cameras is not None:
        document["cameras"] = list(zone.cameras)
    return document


def line_document(line: LineConfig) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": line.name,
        "a": [_round(value) for value in line.a],
        "b": [_round(value) for value in line.b],
        "in_side": line.in_side,
    }
    if line.cameras is not None:
        document["cameras"] = list(line.cameras)
    return document


def camera_for_source(config: SiteConfig, source: str) -> str | None:
    """The id of the site's camera whose source is `source` (same resolved path or same URL), if any."""
    wanted = source if is_url(source) else str(resolve_path(source, Path.cwd()))
    matches = [camera.id for camera in config.cameras if camera.source == wanted]
    return matches[0] if len(matches) == 1 else None


# ----------------------------------------------------------------------------------------------------------------
# Round-trip editing


def _flow(values: Sequence[Any]) -> CommentedSeq:
    sequence = CommentedSeq(values)
    sequence.fa.set_flow_style()
    return sequence


def _zone_node(zone: dict[str, Any]) -> CommentedMap:
    node = CommentedMap()
    node["name"] = zone["name"]
    node["kind"] = zone["kind"]
    node["polygon"] = _flow([_flow(point) for point in zone["polygon"]])
    if "cameras" in zone:
        node["cameras"] = _flow(zone["cameras"])
    return node


def _line_node(line: dict[str, Any]) -> CommentedMap:
    node = CommentedMap()
    node["name"] = line["name"]
    node["a"] = _flow(line["a"])
    node["b"] = _flow(line["b"])
    node["in_side"] = line["in_side"]
    if "cameras" in line:
        node["cameras"] = _flow(line["cameras"])
    return node


def _trailing_comment_lines(node: Any) -> list[str]:
    """Whole-line comments that follow a node's last item (ruamel attaches them to the deepest last item, or to the
    sequence's end), so that they can be kept when the node is replaced. The comment at the end of the last item's
    own line belongs to that item and goes with it."""
    found: list[str] = []
    while isinstance(node, CommentedMap | CommentedSeq) and len(node):
        last = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
        for token in node.ca.end or []:
            found.append(token.value)
        entry = node.ca.items.get(last)
        if entry:
            for token in entry:
                if isinstance(token, CommentToken):
                    _, _, after_line = token.value.partition("\n")
                    found.append(after_line)
        node = node[last]
    lines = []
    for text in found:
        lines.extend(line.strip() for line in text.splitlines() if line.strip().startswith("#"))
    return lines


def _replace(document: CommentedMap, key: str, value: CommentedSeq, insert_after: Sequence[str]) -> None:
    if key in document:
        kept = _trailing_comment_lines(document[key])
        document[key] = value
        keys = list(document)
        position = keys.index(key)
        if kept and position + 1 < len(keys):
            entry = document.ca.items.setdefault(keys[position + 1], [None, None, None, None])
            tokens = [CommentToken(f"{line}\n", CommentMark(0)) for line in kept]
            entry[1] = tokens + list(entry[1] or [])
        elif kept:
            document.yaml_end_comment_extend([line.lstrip("#").strip() for line in kept], clear=False)
        return
    keys = list(document)
    anchors = [keys.index(name) for name in insert_after if name in keys]
    document.insert(max(anchors) + 1 if anchors else len(keys), key, value)


def _relative(path: Path, folder: Path) -> str:
    try:
        return Path(os.path.relpath(path.absolute(), folder.absolute())).as_posix()
    except ValueError:  # another drive on Windows
        return str(path.absolute())


@dataclass(frozen=True)
class FloorPlanEntry:
    image: Path
    mapping: FloorPlanMapping


@dataclass
class SiteUpdate:
    """The new text of a site config, validated, and what changed besides zones and lines."""

    path: Path
    text: str
    notes: list[str] = field(default_factory=list)

    def commit(self) -> None:
        """Replaces the file atomically (written under a hidden name in its folder, then renamed)."""
        write_text_atomic(self.path, self.text)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def prepare_site_update(
    path: Path,
    zones: Sequence[ZoneConfig],
    lines: Sequence[LineConfig],
    camera: str | None = None,
    calibration: Path | None = None,
    floor_plan: FloorPlanEntry | None = None,
) -> SiteUpdate:
    """The site config at `path` with its zones and lines replaced by these, the calibration file set for `camera`
    (when the file has that camera) and `floor_plan` added when it has none; validated, not yet written. Raises
    SiteConfigError (one line) when the file can't be read or the result would not be a valid site config."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SITE_CONFIG_BYTES + 1)
        if len(data) > MAX_SITE_CONFIG_BYTES:
            raise SiteConfigError(f"{path}: too large for a site config; nothing was changed")
        original = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise SiteConfigError(f"{path}: cannot read the site config ({reason}); nothing was changed") from None
    yaml = _yaml()
    try:
        document = yaml.load(original)
    except YAMLError as exc:
        reason = " ".join(str(exc).split())[:300]
        raise SiteConfigError(f"{path}: not valid YAML ({reason}); fix it first") from None
    except (RecursionError, ValueError, OverflowError):
        raise SiteConfigError(
            f"{path}: not a usable site config (nested too deeply, or a value that can't be read); fix it first"
        ) from None
    if not isinstance(document, CommentedMap):
        raise SiteConfigError(f"{path}: not a site config (a mapping with version:, site:, cameras:, …)")

    folder = path.parent
    notes: list[str] = []
    zone_nodes = CommentedSeq([_zone_node(zone_document(zone)) for zone in zones])
    line_nodes = CommentedSeq([_line_node(line_document(line)) for line in lines])
    if not zones:
        zone_nodes.fa.set_flow_style()
    if not lines:
        line_nodes.fa.set_flow_style()
    _replace(document, "zones", zone_nodes, ("cameras", "floor_plan", "site", "version"))
    _replace(document, "lines", line_nodes, ("zones", "cameras"))

    if camera is not None and calibration is not None:
        cameras = document.get("cameras")
        entry = next(
            (item for item in cameras or [] if isinstance(item, CommentedMap) and item.get("id") == camera), None
        )
        value = _relative(calibration, folder)
        if entry is None:
            notes.append(f"camera {camera!r} is not in {path.name}; add it there with calibration: {value}")
        else:
            if "calibration" in entry:
                entry["calibration"] = value
            else:
                keys = list(entry)
                entry.insert(keys.index("source") + 1 if "source" in keys else len(keys), "calibration", value)
            notes.append(f"camera {camera} now uses calibration {value}")

    if floor_plan is not None and "floor_plan" not in document:
        plan = CommentedMap()
        plan["image"] = _relative(floor_plan.image, folder)
        plan["metres_per_pixel"] = floor_plan.mapping.metres_per_pixel
        plan["origin"] = _flow([_round(value) for value in floor_plan.mapping.origin])
        keys = list(document)
        document.insert(keys.index("site") + 1 if "site" in keys else len(keys), "floor_plan", plan)
        notes.append(f"floor_plan added ({plan['image']})")

    buffer = io.StringIO()
    yaml.dump(document, buffer)
    text = buffer.getvalue()
    _validate(path, text)
    return SiteUpdate(path, text, notes)


def _validate(path: Path, text: str) -> None:
    """load_site_config on the new text, read from a hidden file beside the real one so that relative paths in
    it resolve the same way; its messages name the real file."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check.yaml", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        load_site_config(Path(temporary))
    except SiteConfigError as exc:
        message = str(exc).replace(temporary, str(path))
        raise SiteConfigError(f"{message} (in the updated config; the site config was not changed)") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
