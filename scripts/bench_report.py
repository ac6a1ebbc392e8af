"""Times `footfall report` on a large synthetic output set and prints its wall time and peak memory.

    python scripts/bench_report.py [--cameras 20] [--days 90] [--tracks-per-day 560] [--folder /tmp/footfall-big]

The set is written once (reused when it is already there) as the Parquet datasets a run writes: per camera and
day, `--tracks-per-day` tracks of 10 one-second samples each walking through two zones, with their visits, line
crossings, time per zone and heatmap cells; the defaults give 10 million track rows and 1 million visits over 90
days and 20 cameras.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision.core.cpus import available_cpus, cpu_description
from vision.sinks.atomic import write_json_atomic
from vision.sinks.parquet import (
    EVENTS_SCHEMA,
    HEAT_CELLS_SCHEMA,
    TRACKS_SCHEMA,
    VISITS_SCHEMA,
    ZONE_SECONDS_SCHEMA,
    epoch_us,
)

SAMPLES = 10
SITE = {
    "site": "bench",
    "timezone": "Europe/London",
    "settings": {"max_gap_s": 2.0, "bucket_s": 60, "top_sequences": 10},
    "zones": [
        {"name": "door", "kind": "entrance", "area_m2": 4.0, "polygon": [[0, 0], [2, 0], [2, 2], [0, 2]]},
        {"name": "till", "kind": "queue", "area_m2": 4.0, "polygon": [[4, 0], [6, 0], [6, 2], [4, 2]]},
    ],
    "lines": [{"name": "entry", "a": [0, 3], "b": [6, 3], "in_side": "left"}],
    "funnels": [{"name": "buy", "steps": ["door", "till"]}],
    "grid": {"x0_m": 0.0, "y0_m": 0.0, "cell_m": 0.25, "columns": 32, "rows": 16},
}


def write_camera_day(out: Path, camera: str, day: datetime, tracks: int, rng: np.random.Generator) -> None:
    opening = day.replace(hour=9).timestamp()
    starts = np.sort(opening + rng.uniform(0, 11 * 3600, tracks))
    names = np.array([f"{camera}{day:%m%d}{index:05d}" for index in range(tracks)])
    times = (starts[:, None] + np.arange(SAMPLES)[None, :]).ravel()
    xs = np.tile(np.linspace(0.5, 5.5, SAMPLES), tracks) + rng.normal(0, 0.2, tracks * SAMPLES)
    ys = np.tile(np.full(SAMPLES, 1.0), tracks) + rng.normal(0, 0.3, tracks * SAMPLES)
    count = tracks * SAMPLES
    folder = f"camera={camera}/date={day:%Y-%m-%d}/part-000000000000-0-00000.parquet"
    track_table = pa.Table.from_arrays(
        [
            pa.array(np.repeat(names, SAMPLES)), epoch_us(times), pa.array(np.arange(count), pa.int64()),
            pa.array(np.zeros(count), pa.float32()), pa.array(np.zeros(count), pa.float32()), pa.array(xs),
            pa.array(ys), pa.array(np.ones(count), pa.float32()), pa.array(np.zeros(count, bool)),
        ],
        schema=TRACKS_SCHEMA,
    )  # fmt: skip
    dwell = rng.exponential(30.0, tracks)
    visit_table = pa.Table.from_arrays(
        [
            pa.array(names), pa.array(["till"] * tracks), pa.array(["queue"] * tracks), epoch_us(starts + 5),
            epoch_us(starts + 5 + dwell), pa.array(dwell), pa.array(np.zeros(tracks, bool)),
        ],
        schema=VISITS_SCHEMA,
    )  # fmt: skip
    event_table = pa.Table.from_arrays(
        [
            pa.array(names), epoch_us(starts + 2.5), pa.array(["in"] * tracks), pa.array(["entry"] * tracks),
            pa.array(["line"] * tracks), pa.array(np.zeros(tracks, bool)),
        ],
        schema=EVENTS_SCHEMA,
    )  # fmt: skip
    minute = np.floor((starts + 5) / 60) * 60
    zone_table = pa.Table.from_arrays(
        [
            pa.array(np.concatenate([names, names])), pa.array(["door"] * tracks + ["till"] * tracks),
            pa.array(["entrance"] * tracks + ["queue"] * tracks), epoch_us(np.concatenate([minute, minute])),
            pa.array(np.concatenate([np.full(tracks, 2.0), dwell])), pa.array(np.zeros(2 * tracks, bool)),
        ],
        schema=ZONE_SECONDS_SCHEMA,
    )  # fmt: skip
    cell_m, columns = SITE["grid"]["cell_m"], SITE["grid"]["columns"]
    quarter = (np.floor(times / 900) * 900).astype(np.int64)
    cell = np.clip(np.floor(ys / cell_m), 0, 15).astype(np.int64) * columns + np.clip(np.floor(xs / cell_m), 0, 31)
    keys, inverse = np.unique(np.column_stack([quarter, cell.astype(np.int64)]), axis=0, return_inverse=True)
    seconds = np.bincount(inverse.ravel(), weights=np.ones(count), minlength=len(keys))
    cell_table = pa.Table.from_arrays(
        [
            epoch_us(keys[:, 0]), pa.array(keys[:, 1] // columns, pa.int32()),
            pa.array(keys[:, 1] % columns, pa.int32()), pa.array(seconds),
        ],
        schema=HEAT_CELLS_SCHEMA,
    )  # fmt: skip
    tables = (
        ("tracks", track_table), ("visits", visit_table), ("events", event_table), ("zone_seconds", zone_table),
        ("heatmap_cells", cell_table),
    )  # fmt: skip
    for name, table in tables:
        path = out / name / folder
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="zstd")


def generate(out: Path, cameras: int, days: int, tracks_per_day: int) -> None:
    if (out / "run.json").is_file() and (out / "heatmap_cells").is_dir():
        return
    shutil.rmtree(out, ignore_errors=True)  # a set from an older version of this script
    rng = np.random.default_rng(7)
    first = datetime(2026, 8, 1, tzinfo=ZoneInfo("Europe/London"))
    started = time.perf_counter()
    for index in range(days):
        day = first + timedelta(days=index)
        for camera in range(cameras):
            write_camera_day(out, f"cam{camera:02d}", day, tracks_per_day, rng)
    write_json_atomic(out / "site.json", SITE)
    write_json_atomic(out / "run.json", {"run_id": "000000000000", "status": "complete", "cameras": []})
    print(f"generated {out} in {time.perf_counter() - started:.0f} s")


def add_set_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that size the synthetic set (shared with scripts/bench_dashboard.py)."""
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--tracks-per-day", type=int, default=560)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/footfall-big"))


def prepare_set(args: argparse.Namespace) -> None:
    """Writes the set (unless it is there) and prints the CPU and the set's size."""
    generate(args.folder, args.cameras, args.days, args.tracks_per_day)
    tracks = args.cameras * args.days * args.tracks_per_day
    print(f"CPU {cpu_description()}, {available_cpus()} CPUs for this process")
    print(f"set: {args.cameras} cameras x {args.days} days: {tracks * SAMPLES:,} track rows, {tracks:,} visits")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_set_arguments(parser)
    parser.add_argument("--bucket", default="day")
    args = parser.parse_args()
    prepare_set(args)
    report = args.folder.parent / f"{args.folder.name}-report"
    command = [
        sys.executable,
        "-m",
        "vision",
        "report",
        str(args.folder),
        "--out",
        str(report),
        "--bucket",
        args.bucket,
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"report failed: {result.stderr.strip()}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    baseline = scan_seconds(args.folder)
    print(f"footfall report: {wall:.1f} s wall, peak memory {peak_mb:.0f} MB")
    print(
        f"baseline, same run: one DuckDB scan of the tracks (count, first and last time) {baseline:.1f} s; "
        f"the report costs {wall / baseline:.1f} such scans"
    )


def scan_seconds(folder: Path) -> float:
    """The cheapest useful read of the set, for scale: a fresh process scanning the tracks' time column once."""
    files = str(folder / "tracks" / "**" / "*.parquet").replace("'", "''")
    code = (
        "import duckdb; con = duckdb.connect(config={'threads': 2}); "
        f"con.execute(\"SELECT count(*), epoch_us(min(t)), epoch_us(max(t)) FROM read_parquet('{files}')\").fetchall()"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
