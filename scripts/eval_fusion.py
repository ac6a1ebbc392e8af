"""Score site tracks on the floor plane: a `footfall run --site` of the two-camera set (scripts/make_two_camera_set.py)
against its floor ground truth, with and without fusing the cameras (vision.analytics.fusion).

    footfall run --site SET/site.yaml --out OUT
    python scripts/eval_fusion.py SET OUT [--json]

Each person is matched within 1 m on the floor, at the analysed times of the first camera (a person is where each of
their camera tracks puts them then, averaged over the cameras that see them). Printed: MOTA, IDF1 and identity
switches (py-motmetrics), unique visitors against the ground truth's people, and the estimated clock offset against
the true one.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision.analytics.fusion import FloorPath, fuse
from vision.core.cpus import cpu_description

START = datetime(2009, 3, 12, 10, 0, tzinfo=UTC).timestamp()
FPS = 7
MATCH_M = 1.0
NEAREST_SAMPLE_S = 0.35  # a camera track counts at a time only with a sample this close to it


def load_paths(out: Path, dataset: str = "tracks") -> list[FloorPath]:
    import duckdb

    rows = duckdb.sql(
        f"SELECT camera, track, epoch(t), x, y FROM read_parquet('{out}/{dataset}/**/*.parquet', hive_partitioning = "
        "true) WHERE x IS NOT NULL ORDER BY camera, track, t"
    ).fetchall()
    grouped: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for camera, track, time_s, x, y in rows:
        grouped.setdefault((str(camera), str(track)), []).append((time_s - START, x, y))
    return [
        FloorPath(camera, track, np.array([r[0] for r in samples]), np.array([[r[1], r[2]] for r in samples]))
        for (camera, track), samples in grouped.items()
    ]


def score(paths: list[FloorPath], identity: dict[tuple[str, str], int], offsets: dict[str, float], truth: np.ndarray):
    import motmetrics as mm

    aligned = [path.shifted(offsets.get(path.camera, 0.0)) for path in paths]
    first = aligned[0].camera
    times = np.unique(np.concatenate([path.time_s for path in aligned if path.camera == first]))
    if first == "site":  # site tracks: scored at the first camera's analysed times would need them; every 0.2 s
        times = np.arange(times.min(), times.max() + 1e-9, 0.2)
    accumulator = mm.MOTAccumulator(auto_id=True)
    for time_s in times:
        frame = round(float(time_s) * FPS) + 1
        rows = truth[truth[:, 0] == frame]
        places: dict[int, list[np.ndarray]] = {}
        for path in aligned:
            if np.min(np.abs(path.time_s - time_s)) <= NEAREST_SAMPLE_S:
                places.setdefault(identity[(path.camera, path.track)], []).append(path.at(np.array([time_s]))[0])
        hypotheses = sorted(places)
        points = np.array([np.mean(places[h], axis=0) for h in hypotheses]).reshape(-1, 2)
        distance = np.linalg.norm(rows[:, None, 2:4] - points[None, :, :], axis=2) if len(rows) else np.zeros((0, 0))
        distance = np.where(distance <= MATCH_M, distance, np.nan)
        accumulator.update(rows[:, 1].astype(int).tolist(), hypotheses, distance)
    metrics = mm.metrics.create().compute(accumulator, metrics=["mota", "idf1", "num_switches"], name="site")
    return {
        "MOTA": round(float(metrics["mota"].iloc[0]), 4),
        "IDF1": round(float(metrics["idf1"].iloc[0]), 4),
        "ID switches": int(metrics["num_switches"].iloc[0]),
        "visitors": len(set(identity.values())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", type=Path, help="the folder scripts/make_two_camera_set.py wrote")
    parser.add_argument("out", type=Path, help="the OUT of `footfall run --site SET/site.yaml`")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (args.set / "gt_floor.txt").is_file() or not (args.out / "tracks").is_dir():
        print(f"error: want {args.set}/gt_floor.txt and {args.out}/tracks (see --help)", file=sys.stderr)
        return 2
    truth_facts = json.loads((args.set / "truth.json").read_text(encoding="utf-8"))
    truth = np.loadtxt(args.set / "gt_floor.txt", delimiter=",", ndmin=2)
    paths = load_paths(args.out)
    apart = {(path.camera, path.track): number for number, path in enumerate(paths, start=1)}
    cameras = list(dict.fromkeys(path.camera for path in paths))
    fused = fuse(paths)
    results = {
        "cpu": cpu_description(),
        "people": truth_facts["people"]["site"],
        "true clock offset s": {camera: 0.0 for camera in cameras} | {"right": truth_facts["right_clock_late_by_s"]},
        "estimated clock offset s": fused.clock_offset_s,
        "cameras apart": score(paths, apart, dict.fromkeys(cameras, 0.0), truth),
        "fused": score(paths, fused.site_track, fused.clock_offset_s, truth),
    }
    if (args.out / "site" / "tracks").is_dir():  # what the run itself wrote: its site tracks, on the site clock
        site = load_paths(args.out, "site/tracks")
        written = json.loads((args.out / "run.json").read_text(encoding="utf-8")).get("fusion") or {}
        results["site tracks written by the run"] = {
            **score(site, {(p.camera, p.track): n for n, p in enumerate(site, 1)}, {"site": 0.0}, truth),
            "estimated clock offset s": written.get("estimated_offset_s"),
            "fusion pass s": written.get("wall_s"),
        }
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
