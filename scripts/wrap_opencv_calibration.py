"""Turns an OpenCV camera calibration (K, dist, R or rvec, t) into a footfall calibration file.

    python scripts/wrap_opencv_calibration.py view001_opencv.json --units mm --image-size 768x576 --out view001.json

The input is a JSON object with those keys, or one such object per view (`{"View_001": {...}}`; pick with
--view). `--units` is the unit of t, and so of the world frame (floor positions always come out in metres).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision.config.calibration_file import CALIBRATION_FORMAT, CALIBRATION_VERSION, parse_calibration
from vision.core.errors import CalibrationError
from vision.sinks.atomic import write_json_atomic

POSE_KEYS = ("K", "dist", "R", "rvec", "t")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("--units", required=True, choices=["mm", "cm", "m"])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--view", help="which view of a multi-view file")
    parser.add_argument("--image-size", help="WxH of the camera's pictures, e.g. 768x576 (recommended)")
    parser.add_argument("--camera", help="camera id to record in the file")
    args = parser.parse_args()
    try:
        document = json.loads(args.source.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        sys.exit(f"error: {args.source}: cannot read JSON ({exc})")
    if "K" not in document:
        views = sorted(key for key, value in document.items() if isinstance(value, dict) and "K" in value)
        if args.view is None and len(views) != 1:
            sys.exit(f"error: {args.source}: choose a view with --view (found: {', '.join(views) or 'none'})")
        view = args.view or views[0]
        if view not in document:
            sys.exit(f"error: {args.source}: no view {view!r} (found: {', '.join(views)})")
        document = document[view]
    calibration = {
        "format": CALIBRATION_FORMAT,
        "version": CALIBRATION_VERSION,
        "model": "opencv",
        "units": args.units,
        **{key: document[key] for key in POSE_KEYS if key in document},
    }
    if args.camera:
        calibration["camera"] = args.camera
    if args.image_size:
        calibration["image_size"] = [int(part) for part in args.image_size.lower().split("x")]
    try:
        parse_calibration(calibration, str(args.source))
    except CalibrationError as exc:
        sys.exit(f"error: {exc}")
    write_json_atomic(args.out, calibration)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
