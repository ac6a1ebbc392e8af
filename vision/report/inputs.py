"""What a report reads: one or many run output folders (each with its `run.json`, and for a site run its
`site.json`), the period asked for in the site's time zone, and the cameras to include."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from vision.core.errors import FootfallError

Bucket = Literal["hour", "day", "week"]
BUCKETS: tuple[str, ...] = ("hour", "day", "week")
DATASETS = ("tracks", "events", "visits", "zone_seconds", "heatmap_cells")
FUSED_DATASETS = DATASETS  # what the fusion pass writes under SITE_FOLDER for site tracks
SITE_FOLDER = "site"
Level = Literal["site", "cameras"]  # site tracks where a folder has them, or always the cameras' own tracks


class ReportError(FootfallError):
    """Output folders, dates or options a report cannot be made from."""


@dataclass(frozen=True, slots=True)
class Site:
    """The site the runs analysed, from their `site.json` (or a bare camera run's defaults)."""

    site_id: str
    timezone: str
    zones: list[dict]
    lines: list[dict]
    funnels: list[dict]
    grid: dict | None
    settings: dict  # the flow thresholds (vision.core.flow.FlowSettings as a dict)
    floor_plan: dict | None = None  # its `image` made an absolute path

    @property
    def has_floor(self) -> bool:
        return bool(self.zones or self.lines or self.grid)


@dataclass(frozen=True, slots=True)
class RunFolders:
    folders: list[Path]
    site: Site
    unfinished: tuple[str, ...] = ()  # a line per folder whose run did not finish (killed, interrupted, failed)

    def cameras(self) -> list[str]:
        """Every camera with a tracks partition in any of the folders."""
        names = {
            path.name.removeprefix("camera=")
            for folder in self.folders
            for path in (folder / "tracks").glob("camera=*")
            if path.is_dir()
        }
        return sorted(names)

    def dataset(self, name: str, level: Level = "site") -> list[str]:
        """Globs of one dataset's part files over every folder that has it (DuckDB reads them as one table). At the
        `site` level a folder's site tracks (`site/`, written by the fusion pass of a multi-camera site) stand in for
        its camera tracks; a folder without them gives its camera tracks. The folder's own name is escaped:
        `site[ab]` names that folder, not a pattern matching `sitea`."""
        return [f"{duckdb_glob_literal(str(folder))}/**/*.parquet" for folder in self.dataset_folders(name, level)]

    def dataset_folders(self, name: str, level: Level = "site") -> list[Path]:
        """The folders `dataset` reads (see there)."""
        folders = []
        for folder in self.folders:
            if level == "site" and name in FUSED_DATASETS and _has_site_tracks(folder):
                if _has_parts(folder / SITE_FOLDER / name):  # a live service may not have written every one yet
                    folders.append(folder / SITE_FOLDER / name)
            elif (folder / name).is_dir():
                folders.append(folder / name)
        return folders

    def clock_offsets(self) -> dict[str, dict]:
        """Per camera, the clock offsets the folders' fusion passes estimated (run.json's `fusion`): the median of
        their medians, and the lowest and highest."""
        found: dict[str, list[dict]] = {}
        for folder in self.folders:
            try:
                fusion = json.loads((folder / "run.json").read_text(encoding="utf-8")).get("fusion") or {}
            except (OSError, ValueError, AttributeError):
                continue
            for camera, figures in (fusion.get("estimated_offset_s") or {}).items():
                if isinstance(figures, dict) and isinstance(figures.get("median"), int | float):
                    found.setdefault(str(camera), []).append(figures)
        return {
            camera: {
                "median": sorted(f["median"] for f in figures)[len(figures) // 2],
                "min": min(f.get("min", f["median"]) for f in figures),
                "max": max(f.get("max", f["median"]) for f in figures),
            }
            for camera, figures in sorted(found.items())
        }

    def footage_spans(self) -> list[FootageSpan]:
        """What each folder's record says its footage covered, per camera: a file run's camera from its start
        time for the seconds analysed, a batch task likewise for its stretch of its file, a live service's camera
        from its first sample (None here) until the record was last written (its gaps are the outages dataset).
        A camera whose start time is unknown gets `start` None too: its first to last sample stands in."""
        spans: list[FootageSpan] = []
        for folder in self.folders:
            try:
                record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(record, dict):
                continue
            if record.get("kind") == "service":
                until = parse_when(record.get("stopped_at")) or parse_when(record.get("updated_at"))
                for camera in record.get("cameras") or []:
                    if isinstance(camera, dict) and isinstance(camera.get("camera"), str):
                        spans.append(FootageSpan(camera["camera"], None, until))
            elif record.get("kind") == "batch":
                spans += _batch_spans(folder)
            else:
                for camera in record.get("cameras") or []:
                    if not isinstance(camera, dict) or not isinstance(camera.get("camera"), str):
                        continue
                    info = camera.get("source_info") or {}
                    start = parse_when(info.get("start_time")) if isinstance(info, dict) else None
                    seconds = camera.get("media_seconds_analysed")
                    if start is None or not isinstance(seconds, int | float) or seconds <= 0:
                        spans.append(FootageSpan(camera["camera"], None, None))
                    else:
                        spans.append(FootageSpan(camera["camera"], start, start + timedelta(seconds=seconds)))
        return spans

    @property
    def fused(self) -> bool:
        """Whether any folder holds site tracks: its figures count a person seen by several cameras once."""
        return any(_has_site_tracks(folder) for folder in self.folders)

    def part_files(self) -> list[Path]:
        """Every part file of every dataset in the folders."""
        return [
            path
            for folder in self.folders
            for dataset in (*DATASETS, "outages", *(f"{SITE_FOLDER}/{name}" for name in FUSED_DATASETS))
            if (folder / dataset).is_dir()
            for path in sorted((folder / dataset).rglob("*.parquet"))
            if not path.name.startswith(".")
        ]


@dataclass(frozen=True, slots=True)
class FootageSpan:
    """A stretch of time a camera's footage covered; None where the record does not say (the camera's first or
    last sample stands in)."""

    camera: str
    start: datetime | None
    end: datetime | None


def parse_when(value: object) -> datetime | None:
    """A time a record wrote (ISO 8601, `Z` allowed; UTC where it names no zone), or None where it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _batch_spans(folder: Path) -> list[FootageSpan]:
    """The stretch of footage each finished task of a batch stands for (its manifest entry)."""
    spans = []
    for path in sorted((folder / "_manifest").glob("*.json")):
        try:
            task = json.loads(path.read_text(encoding="utf-8"))
            camera, start = str(task["camera"]), parse_when(task.get("start"))
            from_s = float(task.get("from_s") or 0.0)
            to_s = task.get("to_s") if task.get("to_s") is not None else task.get("duration_s")
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if start is None or not isinstance(to_s, int | float):
            spans.append(FootageSpan(camera, None, None))
        else:
            spans.append(FootageSpan(camera, start + timedelta(seconds=from_s), start + timedelta(seconds=to_s)))
    return spans


def _has_parts(dataset: Path) -> bool:
    return next(dataset.glob("*/*/*.parquet"), None) is not None


def _has_site_tracks(folder: Path) -> bool:
    return _has_parts(folder / SITE_FOLDER / "tracks")


def duckdb_glob_literal(path: str) -> str:
    """`path` as a DuckDB glob that matches only itself: each of `[`, `*`, `?` in brackets."""
    return "".join(f"[{char}]" if char in "[*?" else char for char in path)


def _read_json(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: cannot be read ({exc}); the output folder is damaged") from None
    if not isinstance(document, dict):
        raise ReportError(f"{path}: not a footfall record; the output folder is damaged")
    return document


def _site_of(folder: Path) -> Site:
    site_file = folder / "site.json"
    if not site_file.is_file():
        return Site(site_id="", timezone="UTC", zones=[], lines=[], funnels=[], grid=None, settings={})
    site = site_from_description(_read_json(site_file), folder)
    try:
        for zone in site.zones:
            str(zone["name"]), str(zone["kind"]), float(zone["area_m2"])
        for line in site.lines:
            str(line["name"])
        if site.grid is not None:
            float(site.grid["cell_m"])
    except (TypeError, KeyError, ValueError):
        raise ReportError(f"{site_file}: its zones, lines or grid are not as footfall writes them; the output "
                          "folder is damaged (run it again, or restore site.json)") from None  # fmt: skip
    return site


def site_from_description(document: dict, folder: Path) -> Site:
    """The site of a `site.json` document read from `folder` (which its floor-plan picture is relative to)."""
    timezone = str(document.get("timezone", "UTC"))
    try:
        ZoneInfo(timezone)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ReportError(
            f"{folder / 'site.json'}: unknown time zone {timezone!r}; the output folder is damaged"
        ) from None
    settings = document.get("settings")
    return Site(
        site_id=str(document.get("site", "")),
        timezone=timezone,
        zones=list(document.get("zones") or []),
        lines=list(document.get("lines") or []),
        funnels=list(document.get("funnels") or []),
        grid=document.get("grid"),
        settings=dict(settings) if isinstance(settings, dict) else {},
        floor_plan=_plan_of(folder, document.get("floor_plan")),
    )


def _plan_of(folder: Path, plan: object) -> dict | None:
    if not isinstance(plan, dict) or not isinstance(plan.get("image"), str):
        return None
    image = (folder / plan["image"]).resolve()
    if not image.is_relative_to(folder.resolve()) or not image.is_file():
        return None
    return {**plan, "image": str(image)}


def open_run_folders(folders: list[Path]) -> RunFolders:
    """The run output folders, checked: each is a footfall output (its run.json), and all describe one site."""
    if not folders:
        raise ReportError("no output folders given; name one or more folders that `footfall run` wrote")
    sites: list[Site] = []
    seen: dict[Path, Path] = {}
    run_ids: dict[str, Path] = {}
    unfinished: list[str] = []
    for folder in folders:
        if "\\" in str(folder):
            raise ReportError(f"{folder}: a folder name with a backslash cannot be read by the report; rename it")
        real = folder.resolve()
        if real in seen:
            raise ReportError(
                f"{folder}: given twice (as {seen[real]} too); its figures would count twice, so give each folder once"
            )
        seen[real] = folder
        if not folder.is_dir():
            raise ReportError(f"{folder}: no such folder; give a folder that `footfall run` wrote (--out)")
        if not (folder / "run.json").is_file():
            raise ReportError(f"{folder}: not a footfall output (no run.json); give a folder that `footfall run` wrote")
        record = _read_json(folder / "run.json")  # a run still going on (or killed) is reported on what reached disk
        run_id = record.get("run_id")
        if isinstance(run_id, str) and run_id:
            if run_id in run_ids:
                raise ReportError(
                    f"{folder}: holds run {run_id}, as {run_ids[run_id]} does (a copy of one run?); its figures "
                    "would count twice, so give one of them"
                )
            run_ids[run_id] = folder
        status = record.get("status")
        if record.get("kind") != "service" and status in ("running", "interrupted", "failed"):
            how = "has not finished (it is still going, or was killed)" if status == "running" else f"ended {status}"
            unfinished.append(f"{folder}: its run {how}; the figures hold what reached disk, not the whole footage")
        if not any((folder / name).is_dir() for name in DATASETS):
            raise ReportError(f"{folder}: holds no datasets (tracks/, events/, visits/…); the run analysed nothing")
        sites.append(_site_of(folder))
    first = sites[0]
    for folder, site in zip(folders[1:], sites[1:], strict=True):
        if (site.site_id, site.timezone) != (first.site_id, first.timezone):
            raise ReportError(
                f"{folder}: is a run of site {site.site_id or '(none)'} ({site.timezone}), not of "
                f"{first.site_id or '(none)'} ({first.timezone}) like {folders[0]}; report one site at a time"
            )
    floored = [(folder, site) for folder, site in zip(folders, sites, strict=True) if site.has_floor]
    for folder, site in floored[1:]:
        if _layout(site) != _layout(floored[0][1]):
            raise ReportError(
                f"{folder}: is a run of site {site.site_id or '(none)'} with other zones, lines or heatmap grid than "
                f"{floored[0][0]}; figures of two layouts cannot be added up, so report each layout on its own"
            )
    with_floor = floored[0][1] if floored else first
    return RunFolders(folders=list(folders), site=with_floor, unfinished=tuple(unfinished))


def _layout(site: Site) -> tuple[str, ...]:
    return tuple(json.dumps(part, sort_keys=True) for part in (site.zones, site.lines, site.funnels, site.grid))


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) as time-zone-aware times; `label` as the user gave it."""

    start: datetime
    end: datetime
    label: str


def parse_day_or_time(value: str, option: str, zone: ZoneInfo, end: bool) -> datetime:
    """A date (`2026-11-22`: the whole day, so an end date includes its day) or a time (`2026-11-22T12:00`), in
    the site's time zone unless it names its own."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), zone)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except OverflowError:
        raise ReportError(f"{option} {value!r} is beyond the last date a report can reach") from None
    except ValueError:
        raise ReportError(
            f"{option} {value!r} is not a date or time; write e.g. 2026-11-22 or 2026-11-22T12:00"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def parse_period(start: str | None, end: str | None, zone: ZoneInfo, options: tuple[str, str]) -> Period | None:
    """The period between two optional bounds; None when neither is given (everything on disk)."""
    if start is None and end is None:
        return None
    low = parse_day_or_time(start, options[0], zone, end=False) if start else datetime(1970, 1, 2, tzinfo=zone)
    high = parse_day_or_time(end, options[1], zone, end=True) if end else datetime(2200, 1, 1, tzinfo=zone)
    if not (datetime(1970, 1, 2, tzinfo=UTC) <= low and high <= datetime(2200, 1, 1, tzinfo=UTC)):
        raise ReportError(f"{options[0]} {start} to {options[1]} {end} reaches outside 1970-2199; give dates in it")
    if high <= low:
        raise ReportError(f"{options[1]} {end} is not after {options[0]} {start}; the period would be empty")
    return Period(low, high, f"{start or '…'} to {end or '…'}")
