"""Score site tracks on the floor plane: a `footfall run --site` of the two-camera set (scripts/make_two_camera_set.py)
against its floor ground truth, with and without fusing the cameras (vision.analytics.fusion).

    footfall run --site SET/site.yaml --out OUT
    python scripts/eval_fusion.py SET OUT [--json]

Each person is matched within 1 m on the floor, at the analysed times of the first camera (a person is where each of
their camera tracks puts them then, averaged over the cameras that see them). Printed: MOTA, IDF1 and identity
switches (py-motmetrics), unique visitors against the ground truth's people, and the estimated clock offset against
the true one. With the run's own site tracks (`OUT/site/`), also its flow figures against the ground truth's put
through the same analytics (as scripts/eval_flow.py does for one camera): visits, unique visitors, dwell and
person-seconds per zone, crossings per line and zone-to-zone moves, for the site tracks and for the cameras' own
tracks added up (what a site without fusion reports).
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


def flow_figures(dataset: Path, out: Path, truth: np.ndarray) -> dict:
    """Flow figures of the run's site tracks and of its cameras' tracks added up, against the ground truth's."""
    import tempfile

    from vision.config.build import flow_plan
    from vision.config.site import load_site_config
    from vision.core.types import TrackHistory
    from vision.evaluate import flow_comparison
    from vision.runtime.site_outputs import summarise_tracks
    from vision.sources.base import EvenTimeSampler

    config = load_site_config(dataset / "site.yaml")
    sampler = EvenTimeSampler(config.cameras[0].analysis_fps)
    analysed = [frame for frame in range(1, 401) if sampler.keep((frame - 1) / FPS)]
    rows = truth[np.isin(truth[:, 0], analysed)]
    people = []
    for identity in np.unique(rows[:, 1]):
        mine = rows[rows[:, 1] == identity]
        mine = mine[np.argsort(mine[:, 0])]
        frames = (mine[:, 0] - 1).astype(np.int64)
        people.append(
            TrackHistory("site", f"gt-{int(identity)}", START + frames / FPS, frames, np.full((len(mine), 2), np.nan),
                         mine[:, 2:4].astype(np.float64), np.ones(len(mine), np.float32))
        )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="footfall-truth-") as folder:
        expected = summarise_tracks(Path(folder), flow_plan(config), people)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    cameras = list(summary["cameras"].values())
    added = {
        "zones": {
            name: {
                "visits": sum(c["zones"][name]["visits"] for c in cameras),
                "unique_visitors": sum(c["zones"][name]["unique_visitors"] for c in cameras),
                "person_seconds": round(sum(c["zones"][name]["person_seconds"] for c in cameras), 3),
                "dwell_s": {
                    "count": sum(c["zones"][name]["dwell_s"]["count"] for c in cameras),
                    "mean": _pooled_mean([c["zones"][name]["dwell_s"] for c in cameras]),
                },
            }
            for name in expected["zones"]
        },
        "lines": {
            name: {d: sum(c["lines"][name][d] for c in cameras) for d in ("in", "out")} for name in expected["lines"]
        },
    }

    def moves(document: dict) -> int:
        return sum(move["count"] for move in document["paths"]["transitions"])

    def mean_abs_error(comparison: dict) -> float:
        errors = [abs(row["error"]) for zone in comparison["zones"].values() for key, row in zone.items()
                  if key in ("visits", "unique_visitors") and row["error"] is not None]  # fmt: skip
        errors += [abs(row["error"]) for line in comparison["lines"].values() for row in line.values()]
        return round(float(np.mean(errors)), 2)

    fused, apart = flow_comparison(summary, expected), flow_comparison(added, expected)
    return {
        "site tracks": fused,
        "cameras added up": apart,
        "zone-to-zone moves": {
            "truth": moves(expected),
            "site tracks": moves(summary),
            "cameras added up": sum(moves(c) for c in cameras),
        },
        "mean absolute error of visits, visitors and crossings": {
            "site tracks": mean_abs_error(fused),
            "cameras added up": mean_abs_error(apart),
        },
    }


def _pooled_mean(stats: list[dict]) -> float | None:
    count = sum(s["count"] for s in stats)
    return round(sum((s["mean"] or 0.0) * s["count"] for s in stats) / count, 3) if count else None


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
    if (args.out / "summary.json").is_file() and (args.out / "site").is_dir():
        results["flow"] = flow_figures(args.set, args.out, truth)
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
