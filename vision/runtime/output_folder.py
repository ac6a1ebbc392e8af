"""The output folder of a run: held by one run at a time, checked for writability before anything is analysed, and
recognised when it holds an earlier run, finished or not.

A run holds an exclusive `flock` on the folder itself for as long as it goes on, and keeps a `run.json` there that
says `running` until it ends. A second run on the same folder is refused while the lock is held; a `run.json` that
still says `running` when nobody holds the lock is the record of a run that was killed. Either way an earlier run is
never silently mixed with a new one: it is refused, or with `--overwrite` exactly what it wrote is removed (the files
its `run.json` lists and its own part files, which carry its run id) and nothing else, so a user's own files in the
folder survive.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vision.core.errors import OutputError
from vision.report.inputs import DATASETS as REPORTED_DATASETS

RUN_FILE = "run.json"
DATASETS = ("tracks", "events", "visits")
_PART_NAME = re.compile(r"part-(?P<run_id>[0-9a-f]{12})-\d+-\d{5,}\.parquet")
_TEMPORARY_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


@dataclass(frozen=True, slots=True)
class EarlierRun:
    """What an output folder holds from before: a run's record (`run.json`), or only part files of runs that left
    no record."""

    run_id: str | None
    status: str | None
    started_at: str | None
    outputs: tuple[str, ...]
    stray_parts: tuple[Path, ...]
    kind: str = "run"  # "service": a `footfall serve` output, which a service started again continues
    record: dict | None = None

    def describe(self) -> str:
        if self.status is None:
            return f"footfall part files without a {RUN_FILE} (from a run stopped before it recorded itself)"
        if self.status == "running":
            return f"a run that did not finish (started {self.started_at}; its process is gone)"
        return f"a run ({RUN_FILE}: {self.status}, started {self.started_at})"


def _unwritable(out_dir: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or type(exc).__name__
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    hint = "free some space or choose another --out" if full else "choose another --out"
    return OutputError(f"cannot write to output folder {out_dir} ({reason}); {hint}")


class OutputFolder:
    """An output folder claimed for one run. `claim` locks it and checks it; `clear_earlier_run` removes what an
    earlier run wrote (with `--overwrite`); `release` unlocks it."""

    def __init__(self, path: Path, descriptor: int, created: bool, earlier: EarlierRun | None) -> None:
        self.path = path
        self._descriptor: int | None = descriptor
        self._created = created
        self.earlier = earlier

    @classmethod
    def claim(cls, out_dir: Path, overwrite: bool, kind: str = "run", continuing: bool = False) -> OutputFolder:
        """Creates the folder if needed, checks a file can be written there, locks it against other runs and looks
        for an earlier run, which is refused unless `overwrite`. Raises OutputError with the reason."""
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(f"{out_dir} exists and is not a folder; choose another --out")
        created = not out_dir.exists()
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {out_dir} ({exc.strerror}); choose another --out") from None
        try:
            _check_writable(out_dir)
            descriptor = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            if created:
                _remove_if_empty(out_dir)
            raise _unwritable(out_dir, exc) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise OutputError(
                f"{out_dir} is in use by another footfall run{_holder(out_dir)}; wait for it to finish or choose "
                "another --out"
            ) from None
        folder = cls(out_dir, descriptor, created, find_earlier_run(out_dir))
        if folder.earlier is not None and not overwrite:
            description = folder.earlier.describe()
            folder.release()
            raise OutputError(f"{out_dir} already holds {description}; choose another --out or pass --overwrite")
        if folder.earlier is not None and folder.earlier.kind != kind and not continuing:
            command = "footfall batch" if folder.earlier.kind == "batch" else "footfall serve"
            folder.release()
            raise OutputError(
                f"{out_dir} holds the output of `{command}`, which --overwrite does not remove (it may hold months of "
                "data); choose another --out, or delete that folder first"
            )
        return folder

    @classmethod
    def claim_continuing(cls, out_dir: Path, kind: str, command: str) -> OutputFolder:
        """Claims a folder that a `kind` run continues: empty, or holding an earlier run of that kind, whose
        outputs stay (a live service appends for months; a batch resumes). The hidden leftovers of writes a killed
        process left are removed. The folder of another kind of run is refused."""
        folder = cls.claim(out_dir, overwrite=True, kind=kind, continuing=True)
        earlier = folder.earlier
        if earlier is not None and earlier.kind != kind:
            folder.release()
            raise OutputError(
                f"{out_dir} holds the output of another kind of run ({earlier.describe()}); give `{command}` its own "
                "--out"
            )
        for path in _footfall_files(out_dir, _TEMPORARY_NAME, *REPORTED_DATASETS, "outages"):
            path.unlink(missing_ok=True)
        return folder

    def clear_earlier_run(self) -> None:
        """Removes exactly what the earlier run wrote: the outputs its run.json lists, its part files and the
        hidden temporary files of unfinished writes, then the folders that leaves empty."""
        earlier = self.earlier
        if earlier is None:
            return
        root = self.path.resolve()
        for name in earlier.outputs:
            target = (self.path / name).resolve()
            if target.is_relative_to(root) and target.is_file():
                target.unlink()
        for path in earlier.stray_parts:
            path.unlink(missing_ok=True)
        for path in _footfall_files(self.path, _TEMPORARY_NAME):
            path.unlink(missing_ok=True)
        for dataset in (*DATASETS, "mot", "heatmaps"):
            _prune_empty_folders(self.path / dataset)
        (self.path / RUN_FILE).unlink(missing_ok=True)
        self.earlier = None

    def release(self, keep: bool = True) -> None:
        """Unlocks the folder. With `keep` False (nothing was written), a folder this claim created is removed."""
        if self._descriptor is None:
            return
        os.close(self._descriptor)  # closing the descriptor drops the flock
        self._descriptor = None
        if not keep and self._created:
            _remove_if_empty(self.path)


def find_earlier_run(out_dir: Path) -> EarlierRun | None:
    """The earlier run in `out_dir`, if any: its run.json, plus part files it or an unrecorded run left."""
    record: dict = {}
    run_file = out_dir / RUN_FILE
    if run_file.is_file():
        try:
            record = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            record = {"status": "unreadable"}
        if not isinstance(record, dict):
            record = {"status": "unreadable"}
    parts = _footfall_files(out_dir, _PART_NAME, *DATASETS)
    run_id = record.get("run_id") if isinstance(record.get("run_id"), str) else None
    if record:
        stray = tuple(path for path in parts if _PART_NAME.fullmatch(path.name)["run_id"] == run_id)
    else:
        stray = tuple(parts)
    if not record and not stray:
        return None
    outputs = [*_strings(record.get("site_outputs"))]
    for camera in record.get("cameras") or []:
        if isinstance(camera, dict):
            outputs.extend(_strings(camera.get("outputs")))
    return EarlierRun(
        run_id=run_id,
        status=str(record["status"]) if record.get("status") is not None else ("unreadable" if record else None),
        started_at=str(record.get("started_at")) if record.get("started_at") else None,
        outputs=tuple(outputs),
        stray_parts=stray,
        kind=str(record.get("kind", "run")),
        record=record or None,
    )


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _footfall_files(out_dir: Path, pattern: re.Pattern, *folders: str) -> list[Path]:
    found: list[Path] = []
    for folder in folders or (*DATASETS, "mot", "heatmaps", "."):
        base = out_dir / folder
        if not base.is_dir():
            continue
        candidates = base.glob("*") if folder == "." else base.rglob("*")
        found.extend(path for path in candidates if pattern.fullmatch(path.name) and path.is_file())
    return sorted(found)


def _prune_empty_folders(folder: Path) -> None:
    if not folder.is_dir() or folder.is_symlink():
        return
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            _prune_empty_folders(child)
    _remove_if_empty(folder)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty, or already gone
        folder.rmdir()


def _check_writable(out_dir: Path) -> None:
    """Raises the OSError a write would meet (read-only, no permission, no space), before hours of analysis."""
    descriptor, name = tempfile.mkstemp(prefix=".footfall-write-check.", suffix=".tmp", dir=out_dir)
    try:
        os.write(descriptor, b"\0" * 4096)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
        os.unlink(name)


def _holder(out_dir: Path) -> str:
    """ ", process N" when the running run's record names its process."""
    try:
        record = json.loads((out_dir / RUN_FILE).read_text(encoding="utf-8"))
        return f" (process {int(record['pid'])})" if record.get("status") == "running" else ""
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""
