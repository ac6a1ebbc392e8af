"""Identity figures and tracker speed on PETS S2L1 1-400: each tracker at each analysis rate, on the same detections.

    python scripts/eval_tracking.py [--trackers floor,botsort,bytetrack] [--rates 7,5] [--model M] [--json]

The detector runs once over the clip (its detections are cached in FOOTFALL_CACHE_DIR, keyed by the model's
bytes), then each tracker is fed the frames footfall's sampler keeps at each rate, with their media times, exactly as
`footfall run` feeds it. Scores are MOTA / IDF1 / HOTA / identity switches on the analysed frames (vision.evaluate,
the scoring of scripts/eval_mot.py); tracker time is per analysed frame, the mean over the clip. The CPU is printed:
times hold only beside the other trackers' in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision.config.calibration_file import load_calibration, projector_from_calibration
from vision.core.cpus import cpu_description
from vision.core.types import Detections
from vision.evaluate import score_mot
from vision.perception.detect import DEFAULT_MODEL, DetectorSettings, build_detector
from vision.perception.track import TrackerSettings, build_tracker
from vision.sources.base import EvenTimeSampler

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOOTFALL_SHARED", REPO.parent / "shared"))
PETS = SHARED / "data" / "pets09-s2l1"
FPS = 7.0


def pets_calibration(path: Path) -> Path:
    """PETS View 001's published OpenCV calibration as a footfall calibration file."""
    published = PETS / "calibration" / "view001_opencv.json"
    if published.is_file():
        view = json.loads(published.read_text(encoding="utf-8"))["View_001"]
        document = {"format": "footfall-calibration", "version": 1, "model": "opencv", "units": "mm"}
        path.write_text(json.dumps(document | {"image_size": [768, 576]} | view))
    return path


def detections_of_clip(video: Path, model: str) -> list[Detections]:
    """The detector's output for every frame of `video`, computed once and cached."""
    import av

    settings = DetectorSettings(model=model)
    key = hashlib.sha256(Path(model).read_bytes() if Path(model).is_file() else model.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("FOOTFALL_CACHE_DIR", Path.home() / ".cache" / "footfall")) / "eval-detections"
    path = cache / f"{video.stem}-{key}-conf{settings.conf}.npz"
    if path.exists():
        stored = np.load(path)
        return [
            Detections(stored[f"xyxy{i}"], stored[f"conf{i}"], stored[f"cls{i}"]) for i in range(int(stored["count"]))
        ]
    detector = build_detector(settings)
    found: list[Detections] = []
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            found.append(detector(frame.to_ndarray(format="bgr24")))
    arrays: dict[str, np.ndarray] = {"count": np.array(len(found))}
    for i, item in enumerate(found):
        arrays |= {f"xyxy{i}": item.xyxy, f"conf{i}": item.confidence, f"cls{i}": item.class_id}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return found


def evaluate(kind: str, rate: float, found: list[Detections], projector, gt: Path) -> dict:
    sampler = EvenTimeSampler(rate)
    tracker = build_tracker(TrackerSettings(kind=kind), rate, projector)
    rows, analysed, spent = [], [], 0.0
    for index, detections in enumerate(found):
        time_s = index / FPS
        if not sampler.keep(time_s):
            continue
        started = time.perf_counter()
        tracks = tracker.update(detections, None, time_s=time_s)
        spent += time.perf_counter() - started
        analysed.append(index + 1)
        for track_id, box, confidence in zip(tracks.track_id, tracks.xyxy, tracks.confidence, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            box_text = f"{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f}"
            rows.append(f"{index + 1},{track_id},{box_text},{confidence:.3f},-1,-1,-1")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(rows) + "\n")
    try:
        scores = score_mot(gt, handle.name, frames=analysed)
    finally:
        os.unlink(handle.name)
    return {
        "tracker": kind,
        "analysis_fps": rate,
        "frames": len(analysed),
        "MOTA": round(scores.mota, 4),
        "IDF1": round(scores.idf1, 4),
        "HOTA": round(scores.hota, 4),
        "ID switches": scores.id_switches,
        "FP": scores.fp,
        "FN": scores.fn,
        "tracks": scores.num_pred_ids,
        "tracker ms/frame": round(1000 * spent / len(analysed), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=PETS / "pets09-s2l1_0001-0400.mp4")
    parser.add_argument("--gt", type=Path, default=PETS / "gt_0001-0400.txt")
    parser.add_argument("--calibration", type=Path, help="footfall calibration (default: PETS View 001's own)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--trackers", default="floor,botsort,bytetrack")
    parser.add_argument("--rates", default="7,5", help="analysis frames per second (7: every PETS frame)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.calibration is None:
        args.calibration = pets_calibration(Path(tempfile.mkdtemp()) / "view001.json")
    for path in (args.video, args.gt, args.calibration):
        if not path.is_file():
            hint = "set FOOTFALL_SHARED, or pass --video/--gt/--calibration"
            print(f"error: {path}: no such file ({hint})", file=sys.stderr)
            return 2
    projector = projector_from_calibration(load_calibration(args.calibration))
    found = detections_of_clip(args.video, args.model)
    results = [
        evaluate(kind, float(rate), found, projector, args.gt)
        for rate in args.rates.split(",")
        for kind in args.trackers.split(",")
    ]
    if args.json:
        print(json.dumps({"cpu": cpu_description(), "results": results}, indent=2))
        return 0
    print(f"CPU: {cpu_description()}; {args.video.name}, {len(found)} frames")
    header = list(results[0])
    print(" | ".join(header))
    for result in results:
        print(" | ".join(str(result[name]) for name in header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
