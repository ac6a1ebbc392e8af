"""A record's datasets held in memory for the dashboard, kept up to date partition by partition.

Each dataset folder (`tracks/`, `visits/`, … of an output folder, or of its `site/`) becomes one DuckDB table,
loaded once. Before each use, every `camera=…/date=…` partition is listed with its files' names, sizes and
modification times: a partition whose files changed (a service writing today's, a batch adding a day) is read
again, one that went is dropped, and the others (finished days) are not read at all. Figures then come from memory.
A partition folder whose own modification time is unchanged, and was already some seconds old when it was last
listed, is not listed again: footfall adds, replaces and removes part files only by renaming, which changes it.

The track samples, the bulk of any record, are kept as each track's first and last time and sample count per hour
(UTC), which is all the figures need of them, and the heatmap's quarter-hour cells as hourly ones: a period of
whole hours gives exactly the figures of the files themselves (`serves`). Other periods are read from the files
(`vision.report.queries.connect` decides). The database is compressed (checkpointed after each change): a 90-day,
20-camera record of 10 million track rows takes about 100 MB.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from vision.report.inputs import DATASETS, ReportError, RunFolders

Fingerprint = tuple[tuple[str, int, int], ...]
# A folder modified this close to its listing may change again within its file system's time resolution (a second or
# two on some) without its time moving: such a folder is listed again next time.
_SETTLED_NS = 3_000_000_000

_HOUR = "to_timestamp(floor(epoch(t) / 3600) * 3600)"
_SUMMARIES = {  # what the cache keeps of a dataset, where not its rows
    "tracks": (
        f"SELECT camera, track, staff, {_HOUR} AS hour, min(t) AS t_first, max(t) AS t_last, count(*) AS samples, "
        "_part FROM ({rows}) GROUP BY ALL"
    ),
    "heatmap_cells": (
        f'SELECT camera, {_HOUR} AS t, "row", col, sum(seconds) AS seconds, _part FROM ({{rows}}) GROUP BY ALL'
    ),
}
CATALOG = "record"
_KEPT_FIGURES = 512


@dataclass(slots=True)
class _Table:
    name: str
    parts: dict[str, Fingerprint] = field(default_factory=dict)
    created: bool = False
    settled: dict[str, int] = field(default_factory=dict)  # partition folder → its modification time, when settled


class RecordCache:
    """One in-memory DuckDB database with a table per dataset folder. Not for several threads at once: callers
    hold `lock` around `refresh` and the queries that follow."""

    def __init__(self, memory_limit: str = "4GB") -> None:
        self.db = duckdb.connect(config={"memory_limit": memory_limit, "threads": 2})
        self.db.execute(f"ATTACH ':memory:' AS {CATALOG} (COMPRESS)")
        self.lock = threading.RLock()
        self._tables: dict[Path, _Table] = {}
        self.unreadable: dict[str, str] = {}  # partition folder: why it was left out
        self.reads = 0  # partitions read from disk so far (for the tests and the benchmark)
        self.generation = 0  # goes up whenever a table changes
        self._kept: OrderedDict[tuple, list] = OrderedDict()

    def remember(self, key: tuple, compute: Callable[[], list]) -> list:
        """`compute()`'s figures, kept for `key` until the record changes (the caller's question must fix them)."""
        key = (self.generation, *key)
        if key not in self._kept:
            self._kept[key] = compute()
            while len(self._kept) > _KEPT_FIGURES:
                self._kept.popitem(last=False)
        self._kept.move_to_end(key)
        return copy.deepcopy(self._kept[key])

    @staticmethod
    def serves(start: datetime | None, end: datetime | None) -> bool:
        """Whether a period's bounds are whole UTC hours (or open), which the hourly track table answers exactly."""
        return all(bound is None or bound.timestamp() % 3600 == 0 for bound in (start, end))

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.db.cursor()

    def table(self, folder: Path, dataset: str) -> str | None:
        """The table of one dataset folder as of the last `refresh` (a folder it has not seen yet is read now);
        None while the folder holds no part files."""
        if folder not in self._tables:
            self._sync(folder, dataset)
        table = self._tables[folder]
        return table.name if table.parts else None

    def refresh(self, runs: RunFolders) -> int:
        """Lists every dataset folder of the record and reads what changed; returns the generation (which answers
        that rested on the record before can be told by)."""
        for level in ("site", "cameras"):
            for dataset in (*DATASETS, "outages"):
                for folder in runs.dataset_folders(dataset, level):  # type: ignore[arg-type]
                    self._sync(folder, dataset)
        return self.generation

    def _sync(self, folder: Path, dataset: str) -> None:
        table = self._tables.get(folder)
        if table is None:
            table = self._tables[folder] = _Table(f"{CATALOG}.dataset_{len(self._tables)}")
        current = _partitions(folder, table)
        changed = [part for part, print_ in current.items() if table.parts.get(part) != print_]
        gone = [part for part in table.parts if part not in current]
        if gone or changed:
            self._update(table, dataset, {part: current[part] for part in changed}, gone)
            self.db.execute(f"CHECKPOINT {CATALOG}")  # compresses what changed
            self.generation += 1

    def _update(self, table: _Table, dataset: str, changed: dict[str, Fingerprint], gone: list[str]) -> None:
        stale = [*gone, *changed]
        if table.created and stale:
            self.db.execute(f"DELETE FROM {table.name} WHERE _part IN (SELECT hash(unnest(?)))", [stale])
        for part in stale:
            table.parts.pop(part, None)
            self.unreadable.pop(part, None)
        for part in gone:
            table.settled.pop(part, None)
        if not changed:
            return
        try:
            self._load(table, dataset, changed)
        except duckdb.Error:  # one damaged or vanished file: read the partitions one by one, leaving out bad ones
            for part, print_ in changed.items():
                try:
                    self._load(table, dataset, {part: print_})
                except duckdb.Error as exc:
                    self.unreadable[part] = str(exc).splitlines()[0]

    def _load(self, table: _Table, dataset: str, parts: dict[str, Fingerprint]) -> None:
        files = [os.path.join(part, name) for part, print_ in parts.items() for name, _, _ in print_]
        rows = (
            "SELECT * EXCLUDE (filename, date), hash(regexp_replace(filename, '/[^/]*$', '')) AS _part FROM "
            f"read_parquet({files!r}, hive_partitioning = true, union_by_name = true, filename = true)"
        )
        select = _SUMMARIES[dataset].format(rows=rows) if dataset in _SUMMARIES else rows
        if table.created:
            self.db.execute(f"INSERT INTO {table.name} BY NAME {select}")
        else:
            self.db.execute(f"CREATE TABLE {table.name} AS {select}")
            table.created = True
        self.reads += len(parts)
        table.parts.update(parts)


def _partitions(folder: Path, table: _Table) -> dict[str, Fingerprint]:
    """Each `camera=…/date=…` folder under a dataset folder with its part files' (name, size, mtime); a folder that
    `table` holds and that has settled since is taken as it was, unlisted (`table.settled` is updated)."""
    found: dict[str, Fingerprint] = {}
    listed_ns = time.time_ns()
    try:
        cameras = [entry for entry in os.scandir(folder) if entry.is_dir() and entry.name.startswith("camera=")]
    except FileNotFoundError:
        return found
    except OSError as exc:
        raise ReportError(f"{folder}: cannot be listed ({exc.strerror})") from None
    for camera in cameras:
        try:
            days = [entry for entry in os.scandir(camera.path) if entry.is_dir() and entry.name.startswith("date=")]
        except OSError:
            continue  # went while listing (a service's tidy-up): nothing to read
        for day in days:
            try:
                modified_ns = day.stat().st_mtime_ns
            except OSError:
                continue
            if table.settled.get(day.path) == modified_ns and day.path in table.parts:
                found[day.path] = table.parts[day.path]
                continue
            table.settled.pop(day.path, None)
            try:
                files = tuple(
                    sorted(
                        (entry.name, stat.st_size, stat.st_mtime_ns)
                        for entry in os.scandir(day.path)
                        if entry.name.endswith(".parquet") and not entry.name.startswith(".")
                        for stat in (entry.stat(),)
                    )
                )
            except OSError:
                continue
            if files:
                found[day.path] = files
                if listed_ns - modified_ns > _SETTLED_NS:
                    table.settled[day.path] = modified_ns
    return found
