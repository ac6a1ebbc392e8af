"""Flow figures of a `footfall run --site` against the same figures computed from ground-truth world tracks.

    python scripts/eval_flow.py --site SITE.yaml --gt GT.txt --run OUT [--camera ID] [--json]

The ground truth (2DMOT2015: world x, y in columns 8-9, metres) is sampled at the frames the engine analysed and
put through the same zones, lines, thresholds and summary (vision.analytics, the Parquet sinks and
vision.report.summary), so any difference is the engine's: detection, tracking and floor projection. Prints, per
zone, visits, unique visitors and dwell (engine, truth, error), per counting line the in and out crossings, and
the zone-to-zone moves.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path

try:
    import vision  # noqa: F401
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision.config.build import flow_plan
from vision.config.site import load_site_config
from vision.core.errors import FootfallError
from vision.evaluate import flow_comparison, ground_truth_tracks
from vision.runtime.site_outputs import summarise_tracks
from vision.sources.base import EvenTimeSampler


def analysed_frames(frame_count: int, source_fps: float, analysis_fps: float) -> list[int]:
    """1-based frame numbers the engine analyses in a constant-rate video (the sampler on the same times)."""
    sampler = EvenTimeSampler(analysis_fps)
    return [index + 1 for index in range(frame_count) if sampler.keep(index / source_fps)]


def truth_summary(args: argparse.Namespace) -> tuple[dict, dict]:
    config = load_site_config(args.site)
    run = json.loads((args.run / "run.json").read_text())
    cameras = [c for c in run["cameras"] if args.camera in (None, c["camera"])]
    if len(cameras) != 1:
        raise FootfallError(f"{args.run}/run.json: choose one camera with --camera (found {len(cameras)})")
    camera = cameras[0]
    info = camera["source_info"]
    analysis_fps = next(c.analysis_fps for c in config.cameras if c.id == camera["camera"])
    frames = analysed_frames(info["frame_count"], info["nominal_fps"], analysis_fps)
    start_s = datetime.fromisoformat(info["start_time"]).timestamp()
    truth = ground_truth_tracks(args.gt, camera["camera"], start_s, info["nominal_fps"], frames)
    engine = json.loads((args.run / "summary.json").read_text())
    with tempfile.TemporaryDirectory(prefix="footfall-truth-") as folder:
        return engine, summarise_tracks(Path(folder), flow_plan(config), truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", required=True, type=Path)
    parser.add_argument("--gt", required=True, type=Path)
    parser.add_argument("--run", required=True, type=Path, help="the OUT folder of `footfall run --site`")
    parser.add_argument("--camera")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        engine, truth = truth_summary(args)
    except (FootfallError, OSError, ValueError, KeyError) as exc:
        sys.exit(f"error: {exc}")
    comparison = flow_comparison(engine, truth)
    if args.json:
        print(json.dumps(comparison, indent=2))
        return
    print(f"{'zone':<12} {'figure':<16} {'engine':>9} {'truth':>9} {'error':>9}")
    for zone, figures in comparison["zones"].items():
        for figure, row in figures.items():
            print(f"{zone:<12} {figure:<16} {row['engine']!s:>9} {row['truth']!s:>9} {row['error']!s:>9}")
    print(f"\n{'line':<12} {'direction':<16} {'engine':>9} {'truth':>9} {'error':>9}")
    for line, figures in comparison["lines"].items():
        for direction, row in figures.items():
            print(f"{line:<12} {direction:<16} {row['engine']!s:>9} {row['truth']!s:>9} {row['error']!s:>9}")
    print(f"\n{'move':<29} {'engine':>9} {'truth':>9} {'error':>9}")
    for move, row in comparison["moves"].items():
        print(f"{move:<29} {row['engine']!s:>9} {row['truth']!s:>9} {row['error']!s:>9}")


if __name__ == "__main__":
    main()
