"""Build a two-camera development set from PETS S2L1 View 001 (frames 1-400): two overlapping crops of the one view,
each with its own calibration, one of them late by a known clock offset, and ground truth for both.

    python scripts/make_two_camera_set.py OUT [--left 0-480] [--right 300-768] [--offset-frames 7]

footfall has one real view of PETS; cutting it into two overlapping cameras gives a set where the truth of every
question cross-camera fusion has to answer is known:

- the same person in the overlap (x 300-480 px here) is seen by both cameras at once;
- a person walking from one crop into the other must keep one identity;
- the right camera's recording starts `--offset-frames` frames (1 s at 7 fps) after the left's, while the site file
  written here says both start at 10:00:00: its clock is off by that much, as a drifting NVR channel's would be.

Written to OUT:

- `left.mp4`, `right.mp4`: the crops (H.264, every frame kept; the right one without its first frames);
- `left.json`, `right.json`: footfall calibrations, PETS' own (K, distortion, R, t) with the principal point moved
  by the crop, so both map onto the same floor frame in metres;
- `gt_left.txt`, `gt_right.txt`: MOTChallenge ground truth of each crop (boxes moved into it, people whose foot point
  lies outside it left out; frames numbered from each video's first), with the world x, y in columns 8-9;
- `gt_floor.txt`: the site's truth: frame (of the left video), person id, world x, y in metres, for every person in
  either view, for scoring site tracks on the floor plane (match within 1 m) and counting unique visitors;
- `site.yaml`: both cameras, the zones, line and funnel of the PETS example site, analysis at 5 frames/s;
- `truth.json`: the crops, the true clock offset, and the number of distinct people in each view and in the site.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOOTFALL_SHARED", REPO.parent / "shared"))
PETS = SHARED / "data" / "pets09-s2l1"
FPS = 7
WIDTH, HEIGHT = 768, 576

EXAMPLE_SITE = REPO / "examples" / "pets" / "site.yaml"
CAMERAS_YAML = """\
version: 1
site:
  id: pets-two-cameras
  timezone: Europe/London
cameras:
  - id: left
    source: left.mp4
    calibration: left.json
    analysis_fps: 5
    start: 2009-03-12T10:00:00+00:00
  - id: right
    source: right.mp4
    calibration: right.json
    analysis_fps: 5
    start: 2009-03-12T10:00:00+00:00  # in truth {offset_s} s later: its clock is off
"""


def site_yaml(offset_s: float) -> str:
    """Both cameras, with the floor plan, zones, lines and funnels of the PETS example site (the same floor frame)."""
    example = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    shared = {key: example[key] for key in ("floor_plan", "zones", "lines", "funnels")}
    return CAMERAS_YAML.format(offset_s=offset_s) + yaml.safe_dump(shared, sort_keys=False, default_flow_style=None)


def span(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    start, end = int(first), int(last)
    if not 0 <= start < end <= WIDTH or (end - start) % 2:
        raise argparse.ArgumentTypeError(f"{text}: want FIRST-LAST pixel columns within 0-{WIDTH}, an even width")
    return start, end


def crop_video(video: Path, target: Path, columns: tuple[int, int], skip_frames: int) -> None:
    start, end = columns
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(video),
         "-vf", f"select=gte(n\\,{skip_frames}),setpts=PTS-STARTPTS,crop={end - start}:{HEIGHT}:{start}:0",
         "-r", str(FPS), "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", str(target)],
        check=True,
    )  # fmt: skip


def crop_calibration(target: Path, columns: tuple[int, int], camera: str) -> None:
    view = json.loads((PETS / "calibration" / "view001_opencv.json").read_text(encoding="utf-8"))["View_001"]
    matrix = np.asarray(view["K"], dtype=np.float64)
    matrix[0, 2] -= columns[0]  # the principal point, in the crop's pixels
    document = {
        "format": "footfall-calibration",
        "version": 1,
        "model": "opencv",
        "units": "mm",
        "camera": camera,
        "image_size": [columns[1] - columns[0], HEIGHT],
        **view,
        "K": matrix.tolist(),
    }
    target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def crop_truth(gt: np.ndarray, columns: tuple[int, int], skip_frames: int) -> np.ndarray:
    """Ground-truth rows of the people whose foot point lies in the crop, boxes in the crop's pixels (clipped to
    it), frames numbered from the crop video's first."""
    start, end = columns
    foot_x = gt[:, 2] + gt[:, 4] / 2
    rows = gt[(foot_x >= start) & (foot_x < end) & (gt[:, 0] > skip_frames)].copy()
    left = np.clip(rows[:, 2] - start, 0, end - start)
    right = np.clip(rows[:, 2] + rows[:, 4] - start, 0, end - start)
    rows[:, 2], rows[:, 4] = left, right - left
    rows[:, 0] -= skip_frames
    return rows


def save_mot(path: Path, rows: np.ndarray) -> None:
    lines = [
        f"{int(r[0])},{int(r[1])},{r[2]:.3f},{r[3]:.3f},{r[4]:.3f},{r[5]:.3f},{int(r[6])},{r[7]:.4f},{r[8]:.4f},0"
        for r in rows[np.lexsort((rows[:, 1], rows[:, 0]))]
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--left", type=span, default=(0, 480), help="pixel columns of the left camera (0-480)")
    parser.add_argument("--right", type=span, default=(300, 768), help="pixel columns of the right camera (300-768)")
    parser.add_argument("--offset-frames", type=int, default=7, help="how late the right camera starts (7: 1 s)")
    args = parser.parse_args(argv)
    video, gt_path = PETS / "pets09-s2l1_0001-0400.mp4", PETS / "gt_0001-0400.txt"
    if not video.is_file() or not gt_path.is_file():
        print(f"error: {video} or {gt_path} is missing; set FOOTFALL_SHARED to the shared/ folder", file=sys.stderr)
        return 2
    if not 0 <= args.offset_frames < 100:
        print("error: --offset-frames must be 0-99", file=sys.stderr)
        return 2
    if args.left[1] <= args.right[0]:
        print("error: the crops must overlap (--left must end after --right starts)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    gt = np.loadtxt(gt_path, delimiter=",", ndmin=2)
    gt = gt[gt[:, 6] == 1]

    people = {}
    for camera, columns, skip in (("left", args.left, 0), ("right", args.right, args.offset_frames)):
        crop_video(video, args.out / f"{camera}.mp4", columns, skip)
        crop_calibration(args.out / f"{camera}.json", columns, camera)
        rows = crop_truth(gt, columns, skip)
        save_mot(args.out / f"gt_{camera}.txt", rows)
        people[camera] = sorted({int(identity) for identity in rows[:, 1]})
    in_site = sorted(set(people["left"]) | set(people["right"]))
    floor = gt[np.isin(gt[:, 1], in_site)]
    np.savetxt(args.out / "gt_floor.txt", floor[:, [0, 1, 7, 8]], fmt=["%d", "%d", "%.4f", "%.4f"], delimiter=",")
    offset_s = args.offset_frames / FPS
    (args.out / "site.yaml").write_text(site_yaml(round(offset_s, 3)), encoding="utf-8")
    truth = {
        "source": "PETS 2009 S2L1 View 001, frames 1-400",
        "crops_px": {"left": list(args.left), "right": list(args.right)},
        "overlap_px": [args.right[0], args.left[1]],
        "right_clock_late_by_s": offset_s,
        "people": {"left": len(people["left"]), "right": len(people["right"]), "site": len(in_site)},
        "people_in_both": len(set(people["left"]) & set(people["right"])),
    }
    (args.out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(truth, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
