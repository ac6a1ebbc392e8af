"""The units of work of `footfall batch`: one recorded file, or one time chunk of a long one, per task; the manifest
of finished tasks that makes a batch resumable; and publishing a task's files into the output all at once.

A task is named by a hash of what decides its result: the file (path, size, modification time), its chunk and the
settings. Its part files carry that name, so publishing a task again (after a crash between publishing and
recording it) replaces its files instead of adding to them, and a finished task is known by its manifest entry
(`_manifest/<task id>.json`, one small file per task, written last). A rerun skips the tasks the manifest holds and
redoes the rest; `kill -9` at any moment leaves at worst a task published but not recorded, which the rerun
publishes again over itself: no partial, corrupt or duplicated output.

The output location is a folder or a pyarrow filesystem URI (`s3://bucket/prefix`, `gs://…`, `file:///…`); a task
is staged in a local temporary folder and copied there file by file, each file written whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from vision import __version__
from vision.config.build import CameraJob
from vision.core.errors import OutputError
from vision.report.inputs import DATASETS
from vision.sinks.atomic import write_text_atomic

MANIFEST = "_manifest"
CHUNKABLE_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mpegts"})


@dataclass(frozen=True, slots=True)
class Task:
    """One file, or the chunk [from_s, to_s) of it (seconds from its start), of one camera."""

    task_id: str
    camera: str
    path: str
    size: int
    mtime_ns: int
    chunk: int
    chunks: int
    from_s: float
    to_s: float | None
    lead_in_s: float
    duration_s: float | None
    calibration: str | None
    analysis_fps: float | None
    start: datetime | None
    settings: str  # the hash of the settings that decide its rows
    detection_region: tuple[tuple[float, float], ...] | None = None

    @property
    def media_s(self) -> float:
        """Seconds of footage the task stands for (for progress and throughput)."""
        end = self.to_s if self.to_s is not None else (self.duration_s or 0.0)
        return max(0.0, end - self.from_s)

    @property
    def label(self) -> str:
        if self.chunks == 1:
            return self.path
        end = f"{self.to_s:.0f}" if self.to_s is not None else "end"
        return f"{self.path} [{self.from_s:.0f}-{end} s]"

    def job(self) -> CameraJob:
        calibration = Path(self.calibration) if self.calibration else None
        return CameraJob(self.path, self.camera, calibration, self.analysis_fps, self.start)


def settings_hash(settings: dict) -> str:
    """A short hash of the settings that decide a task's result (with footfall's version)."""
    text = json.dumps({"version": __version__, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_tasks(
    job: CameraJob, duration_s: float | None, container_format: str, chunk_s: float | None, lead_in_s: float,
    settings_key: str,
) -> list[Task]:  # fmt: skip
    """The tasks of one recorded file: the whole file, or chunks of `chunk_s` when it is longer than one and a
    half chunks and its container can be seeked precisely (MP4, MKV, MPEG-TS)."""
    path = Path(job.source)
    stat = path.stat()
    chunked = (
        chunk_s is not None and duration_s is not None and duration_s > 1.5 * chunk_s
        and container_format in CHUNKABLE_FORMATS
    )  # fmt: skip
    bounds: list[tuple[float, float | None]] = [(0.0, None)]
    if chunked:
        assert chunk_s is not None and duration_s is not None
        count = max(1, round(duration_s / chunk_s))
        edges = [i * duration_s / count for i in range(count)]
        bounds = [(edge, edges[i + 1] if i + 1 < count else None) for i, edge in enumerate(edges)]
    tasks = []
    for index, (from_s, to_s) in enumerate(bounds):
        identity = (
            f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{job.camera}|{index}/{len(bounds)}|{settings_key}"
            f"|{job.detection_region}"
        )
        tasks.append(
            Task(
                task_id=hashlib.sha256(identity.encode()).hexdigest()[:12],
                camera=job.camera,
                path=str(path),
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                chunk=index,
                chunks=len(bounds),
                from_s=round(from_s, 3),
                to_s=round(to_s, 3) if to_s is not None else None,
                lead_in_s=lead_in_s if index > 0 else 0.0,
                duration_s=duration_s,
                calibration=str(job.calibration) if job.calibration else None,
                analysis_fps=job.analysis_fps,
                start=job.start,
                settings=settings_key,
                detection_region=job.detection_region,
            )
        )
    return tasks


class Destination:
    """Where a batch writes: a local folder or a pyarrow filesystem URI."""

    def __init__(self, location: str) -> None:
        import pyarrow as pa
        import pyarrow.fs as pafs

        self.location = location
        self.local: Path | None = None
        if "://" in location and not location.startswith("file://"):
            try:
                self.filesystem, self.root = pafs.FileSystem.from_uri(location)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise OutputError(f"{location}: not an output location footfall can write ({exc})") from None
        else:
            path = Path(location.removeprefix("file://"))
            self.local = path
            self.filesystem, self.root = pafs.LocalFileSystem(), str(path.resolve())

    def path(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{relative}"

    def finished(self) -> set[str]:
        """Ids of the tasks the manifest holds."""
        import pyarrow.fs as pafs

        try:
            infos = self.filesystem.get_file_info(pafs.FileSelector(self.path(MANIFEST), allow_not_found=True))
        except OSError as exc:
            raise OutputError(f"{self.location}: cannot read the manifest ({exc})") from None
        return {Path(info.path).stem for info in infos if info.path.endswith(".json")}

    def manifest(self) -> dict[str, dict]:
        """The manifest: task id → its record (an unreadable record counts as a finished task of unknown file)."""
        import pyarrow.fs as pafs

        records: dict[str, dict] = {}
        try:
            infos = self.filesystem.get_file_info(pafs.FileSelector(self.path(MANIFEST), allow_not_found=True))
            for info in infos:
                if not info.path.endswith(".json"):
                    continue
                try:
                    with self.filesystem.open_input_stream(info.path) as stream:
                        record = json.loads(stream.read().decode())
                except (OSError, ValueError):
                    record = {}
                records[Path(info.path).stem] = record if isinstance(record, dict) else {}
        except OSError as exc:
            raise OutputError(f"{self.location}: cannot read the manifest ({exc})") from None
        return records

    def remove_tasks(self, task_ids: set[str]) -> int:
        """Removes what the tasks published (their part files), then their manifest entries, in that order: a
        removal cut short leaves entries that a rerun removes again, never rows without an entry. Returns the
        number of part files removed."""
        import pyarrow.fs as pafs

        if not task_ids:
            return 0
        removed = 0
        try:
            for dataset in (*DATASETS, "outages"):
                selector = pafs.FileSelector(self.path(dataset), recursive=True, allow_not_found=True)
                for info in self.filesystem.get_file_info(selector):
                    name = info.path.rsplit("/", 1)[-1]
                    if info.type == pafs.FileType.File and name.startswith("part-") and name[5:17] in task_ids:
                        self.filesystem.delete_file(info.path)
                        removed += 1
            for task_id in sorted(task_ids):
                with contextlib.suppress(FileNotFoundError):
                    self.filesystem.delete_file(self.path(f"{MANIFEST}/{task_id}.json"))
        except OSError as exc:
            raise OutputError(f"{self.location}: cannot remove the outputs of earlier tasks ({exc})") from None
        return removed

    def publish(self, task: Task, staging: Path, record: dict) -> list[str]:
        """Moves a finished task's files from `staging` into place (replacing what an earlier attempt at the same
        task published), then records it in the manifest; returns the published paths, relative."""
        new = sorted(str(path.relative_to(staging)) for path in staging.rglob("*") if path.is_file())
        for dataset in DATASETS:
            self._remove_earlier(dataset, task, set(new))
        for relative in new:
            self._put(staging / relative, relative)
        self._write_text(f"{MANIFEST}/{task.task_id}.json", json.dumps(record, default=str))
        return new

    def _remove_earlier(self, dataset: str, task: Task, keep: set[str]) -> None:
        import pyarrow.fs as pafs

        base = f"{dataset}/camera={task.camera}"
        infos = self.filesystem.get_file_info(pafs.FileSelector(self.path(base), recursive=True, allow_not_found=True))
        prefix = f"part-{task.task_id}-"
        for info in infos:
            name = info.path.rsplit("/", 1)[-1]
            relative = f"{base}/{info.path.split(base + '/', 1)[-1]}"
            if info.type == pafs.FileType.File and name.startswith(prefix) and relative not in keep:
                self.filesystem.delete_file(info.path)

    def _put(self, source: Path, relative: str) -> None:
        target = self.path(relative)
        try:
            if self.local is not None:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)  # same file system as the staging folder: atomic
            else:
                self.filesystem.create_dir(target.rsplit("/", 1)[0], recursive=True)
                with source.open("rb") as reading, self.filesystem.open_output_stream(target) as writing:
                    shutil.copyfileobj(reading, writing, 1 << 20)
        except OSError as exc:
            raise OutputError(f"cannot write {target} ({exc})") from None

    def _write_text(self, relative: str, text: str) -> None:
        target = self.path(relative)
        try:
            if self.local is not None:
                write_text_atomic(Path(target), text)
            else:
                self.filesystem.create_dir(target.rsplit("/", 1)[0], recursive=True)
                with self.filesystem.open_output_stream(target) as writing:
                    writing.write(text.encode())
        except OSError as exc:
            raise OutputError(f"cannot write {target} ({exc})") from None

    def write_json(self, relative: str, document: dict) -> None:
        self._write_text(relative, json.dumps(document, indent=1, default=str))


def task_record(task: Task, rows: int, media_s: float, wall_s: float) -> dict:
    return {**asdict(task), "rows": rows, "media_s": round(media_s, 3), "wall_s": round(wall_s, 3)}
