"""Recorded footage for `footfall batch`: inputs given as paths, globs, folders and list files expanded into video
files, each file given its camera (by the site's `recordings` patterns, else by its name) and its start time (read
from its name, as NVR exports write it, in the recorder's time zone)."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from zoneinfo import ZoneInfo

from vision.config.build import CameraJob
from vision.config.site import DEFAULT_START_PATTERN, SiteConfig
from vision.core.ids import default_camera_id, is_camera_id
from vision.core.times import is_plausible_start

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".ts", ".m4v", ".mpg", ".mpeg", ".webm", ".flv"})
_GLOB_CHARACTERS = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class StartFromName:
    """Reads a recording's start time from its file name."""

    pattern: re.Pattern
    format: str
    timezone: ZoneInfo

    @classmethod
    def of(cls, config: SiteConfig | None) -> StartFromName:
        if config is None:
            return cls(re.compile(DEFAULT_START_PATTERN), "%Y%m%d%H%M%S", ZoneInfo("UTC"))
        recordings = config.recordings
        zone = ZoneInfo(recordings.timezone or config.site.timezone)
        return cls(re.compile(recordings.start_pattern), recordings.start_format, zone)

    def start(self, path: Path) -> datetime | None:
        """The start time the name gives, or None when it gives none (the file's own metadata is used then).
        A name the pattern matches but whose time does not fit the format raises ValueError saying so: dating
        the file by its modification time instead would put its figures on the wrong day."""
        found = self.pattern.search(path.name)
        if found is None:
            return None
        try:
            start = datetime.strptime(found.group(1), self.format).replace(tzinfo=self.timezone)
        except ValueError:
            raise ValueError(
                f"{path}: its name holds the start time {found.group(1)!r}, which recordings.start_format "
                f"{self.format!r} does not read; fix start_format (or start_pattern) in the site config"
            ) from None
        if not is_plausible_start(start):
            raise ValueError(
                f"{path}: its name gives the start time {start:%Y-%m-%d %H:%M:%S}, which is not plausible; check "
                "recordings.start_pattern and start_format in the site config"
            )
        return start


def expand_inputs(items: list[str], list_files: list[Path] | None = None) -> tuple[list[Path], list[str]]:
    """Video files from paths, glob patterns, folders (searched recursively for video files) and list files (one
    input per line; `#` comments; relative to the list file). Returns the files, each once and in order, and a
    line per input that named nothing."""
    entries: list[tuple[str, Path | None]] = [(item, None) for item in items]
    problems: list[str] = []
    for list_file in list_files or []:
        try:
            lines = list_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{list_file}: cannot read the list file ({getattr(exc, 'strerror', None) or exc})")
            continue
        entries += [
            (line.strip(), list_file.parent) for line in lines if line.strip() and not line.lstrip().startswith("#")
        ]
    files: dict[Path, None] = {}
    seen: set[Path] = set()  # real paths: a file reached twice (symbolic links, a link loop under **) is one file

    def add(found: list[Path]) -> None:
        for path in found:
            real = path.resolve()
            if real not in seen:
                seen.add(real)
                files[path] = None

    for item, base in entries:
        path = Path(item) if base is None or Path(item).is_absolute() else base / item
        if _GLOB_CHARACTERS.search(item):
            found = [Path(p) for p in sorted(glob.glob(str(path), recursive=True)) if Path(p).is_file()]
            if not found:
                problems.append(f"{item}: the pattern matches no file")
            add(found)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                problems.append(f"{item}: the folder holds no video files ({', '.join(sorted(VIDEO_SUFFIXES))})")
            add(found)
        elif path.is_file():
            add([path])
        else:
            problems.append(f"{item}: no such file or folder")
    return list(files), problems


def camera_from_name(path: Path, start_from_name: StartFromName) -> str:
    """A camera id from a file name without its start time: `ch01_20261122100000.mp4` → `ch01`."""
    stem = start_from_name.pattern.sub("", path.stem)
    stem = re.sub(r"[_\-. ]{2,}", "_", stem).strip("_-. ")
    return stem if stem and is_camera_id(stem) else default_camera_id(stem or str(path))


def recording_jobs(
    files: list[Path], config: SiteConfig | None, camera: str | None = None, calibration: Path | None = None
) -> tuple[list[CameraJob], list[str]]:
    """A camera job per file: with a site config, the camera whose `recordings` pattern the file matches (its
    calibration and analysis rate with it); without one, `camera` or a camera id from the file name. The start time
    comes from the file name where it has one. Returns the jobs and a line per file no camera claims."""
    start_from_name = StartFromName.of(config)
    jobs: list[CameraJob] = []
    problems: list[str] = []
    patterns = [(c, c.recordings) for c in config.cameras if c.recordings] if config is not None else []
    if config is not None and not patterns:
        return [], ["the site config gives no camera a `recordings` pattern (e.g. recordings: 'ch01_*.mp4')"]
    for path in files:
        try:
            start = start_from_name.start(path)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if config is None:
            jobs.append(
                CameraJob(str(path), camera or camera_from_name(path, start_from_name), calibration, None, start)
            )
            continue
        matches = [c for c, pattern in patterns if PurePath(path).match(pattern)]
        if len(matches) != 1:
            which = "no camera's" if not matches else f"several cameras' ({', '.join(c.id for c in matches)})"
            problems.append(f"{path}: matches {which} recordings pattern; check the site config's `recordings`")
            continue
        match = matches[0]
        jobs.append(CameraJob(str(path), match.id, match.calibration, match.analysis_fps, start))
    return jobs, problems
