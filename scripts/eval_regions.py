"""What the detection plan (crops, two frames a call, far-field tiles) gains and costs, against the whole-frame pass
(`--whole-frame`, footfall's detector before the plan), each as one `footfall run` process.

    python scripts/eval_regions.py [--model M] [--only pets,pets1080,lowres,caviar,sizes] [--json]

- `pets`: PETS 2009 S2L1 frames 1-400 (768x576) against its ground truth: once as `footfall run VIDEO
  --calibration` (no floor area), once with the example site (`examples/pets/site.yaml`: its floor plan is the
  floor area), each with the plan and with `--whole-frame`: MOTA, IDF1, recall, precision, model calls per frame,
  wall time.
- `lowres`: the same clip downscaled to 384x288 (a low-resolution camera; ffmpeg, area filter), its ground truth
  and calibration scaled with it, run with the example site's floor area: the same figures.
- `pets1080`: the clip upscaled to 1920x1080 and resampled to 25 frames/s (`scripts/bench.py`'s speed file), no
  calibration, at the defaults and with `--whole-frame`; each analysed frame's boxes are mapped back to the
  original frame it shows and 768x576, and scored against the ground truth.
- `caviar`: the CAVIAR shop-front clips of ../shared (384x288 MPEG-1, no calibration, no ground truth): detections
  per analysed frame, their median height, and the plan chosen.
- `sizes`: recall against the height of a person at the model's input (PETS, every 4th frame, each frame shrunk
  into grey margins): where the plan's 24 px useful height comes from.

The CPU is printed; timings hold only beside each other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vision.core.cpus import cpu_description  # noqa: E402
from vision.evaluate import score_mot  # noqa: E402

SHARED = Path(os.environ.get("FOOTFALL_SHARED", REPO.parent / "shared"))
PETS = SHARED / "data" / "pets09-s2l1"
PETS_VIDEO = PETS / "pets09-s2l1_0001-0400.mp4"
PETS_GT = PETS / "gt_0001-0400.txt"
CAVIAR = SHARED / "data" / "caviar-front"
DEFAULT_MODEL = SHARED / "models" / "yolov8n_int8.tflite"


def calibration(folder: Path, scale: float) -> Path:
    """PETS View 001's published calibration, for pictures `scale` times 768x576."""
    view = json.loads((PETS / "calibration" / "view001_opencv.json").read_text())["View_001"]
    matrix = [list(row) for row in view["K"]]
    matrix[0] = [value * scale for value in matrix[0]]
    matrix[1] = [value * scale for value in matrix[1]]
    document = {"format": "footfall-calibration", "version": 1, "model": "opencv", "units": "mm",
                "image_size": [round(768 * scale), round(576 * scale)], **view, "K": matrix}  # fmt: skip
    path = folder / f"view001_x{scale:g}.json"
    path.write_text(json.dumps(document))
    return path


def site(folder: Path, video: Path, calibration_file: Path) -> Path:
    text = (REPO / "examples" / "pets" / "site.yaml").read_text()
    text = text.replace("../../../shared/data/pets09-s2l1/pets09-s2l1_0001-0400.mp4", str(video))
    text = text.replace("calibration: view001.json", f"calibration: {calibration_file}")
    path = folder / f"site-{video.stem}.yaml"
    path.write_text(text)
    return path


def footfall(args: list[str], out: Path, model: Path) -> dict:
    command = [sys.executable, "-m", "vision", "run", *args, "--model", str(model), "--out", str(out), "--export-mot"]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        sys.exit(f"footfall run failed: {finished.stderr.strip()[-1500:]}")
    return json.loads((out / "run.json").read_text())["cameras"][0]


def own_mot(folder: Path, name: str) -> tuple[Path, list[int]]:
    """The MOT file of a run and its analysed frames."""
    return folder / f"{name}.txt", [int(v) for v in (folder / f"{name}.analysed.txt").read_text().split()]


def back_to_pets(folder: Path, name: str) -> tuple[Path, list[int]]:
    """The 1080p25 run's boxes on the 7 fps 768x576 frames each 25 fps frame repeats."""
    mapped, frames = [], set()
    for line in (folder / f"{name}.txt").read_text().splitlines():
        values = line.split(",")
        values[0] = str(int((int(values[0]) - 1) * 7 / 25) + 1)
        values[2], values[4] = f"{float(values[2]) / 2.5:.2f}", f"{float(values[4]) / 2.5:.2f}"
        values[3], values[5] = f"{float(values[3]) / 1.875:.2f}", f"{float(values[5]) / 1.875:.2f}"
        mapped.append(",".join(values))
    for value in (folder / f"{name}.analysed.txt").read_text().split():
        frames.add(int((int(value) - 1) * 7 / 25) + 1)
    path = folder / "mapped.txt"
    path.write_text("\n".join(mapped) + "\n")
    return path, sorted(frames)


def scored(camera: dict, mot: Path, frames: list[int], gt: Path) -> dict:
    scores = score_mot(gt, mot, frames)
    matched = scores.gt_boxes - scores.fn
    plan = camera.get("detection_plan") or {}
    return {
        "MOTA": round(100 * scores.mota, 1),
        "IDF1": round(100 * scores.idf1, 1),
        "recall": round(matched / scores.gt_boxes, 3),
        "precision": round(matched / max(1, scores.pred_boxes), 3),
        "model_calls_per_frame": plan.get("model_calls_per_frame", 1.0),
        "loop_s": camera["wall_s"],
        "plan": "; ".join(plan.get("reasons", [])) or "whole frame (--whole-frame)",
    }


def compare(
    label: str, args: list[str], gt: Path, folder: Path, model: Path, results: dict, boxes: Callable = own_mot
) -> None:
    for mode in ("--plan", "--whole-frame"):
        out = folder / f"{label}{mode}"
        camera = footfall([*args, mode], out, model)
        row = scored(camera, *boxes(out / "mot", camera["camera"]), gt)
        results[f"{label} {mode}"] = row
        print(f"{label:28s} {mode:13s} MOTA {row['MOTA']:5.1f}  IDF1 {row['IDF1']:5.1f}  recall {row['recall']:.3f}  "
              f"precision {row['precision']:.3f}  calls/frame {row['model_calls_per_frame']:.2f}  "
              f"loop {row['loop_s']:.1f} s   [{row['plan']}]")  # fmt: skip


def pets_1080p(folder: Path, model: Path, results: dict) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from bench import make_1080p25

    clip = make_1080p25(PETS_VIDEO)
    compare("PETS 1080p25, no calibration", [str(clip), "--camera", "cam"], PETS_GT, folder, model, results,
            back_to_pets)  # fmt: skip


def size_curve(model: Path) -> dict:
    import cv2
    import numpy as np

    from vision.core.boxes import iou_xyxy
    from vision.perception.detect import DetectorSettings, YoloDetector

    detector = YoloDetector(DetectorSettings(model=str(model)))
    truth = np.loadtxt(PETS_GT, delimiter=",")
    truth = truth[truth[:, 6] == 1]
    capture = cv2.VideoCapture(str(PETS_VIDEO))
    bins = np.array([0, 16, 24, 32, 40, 48, 64, 80, 120])
    hits, totals = np.zeros(len(bins)), np.zeros(len(bins))
    number = 0
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        number += 1
        if number % 4 == 1:
            frames.append((number, image))
    for margin in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0):
        for number, image in frames:
            height, width = image.shape[:2]
            canvas = np.full((int(height * margin), int(width * margin), 3), 114, np.uint8)
            canvas[:height, :width] = image
            found = detector(canvas)
            boxes = found.xyxy[found.confidence >= 0.4]
            rows = truth[truth[:, 0] == number]
            xyxy = np.column_stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]])
            whole = (xyxy[:, 0] > 2) & (xyxy[:, 1] > 2) & (xyxy[:, 2] < width - 2) & (xyxy[:, 3] < height - 2)
            xyxy = xyxy[whole]
            if not len(xyxy):
                continue
            best = iou_xyxy(xyxy, boxes).max(axis=1) if len(boxes) else np.zeros(len(xyxy))
            at_input = (xyxy[:, 3] - xyxy[:, 1]) * detector.imgsz / max(canvas.shape[:2])
            index = np.clip(np.digitize(at_input, bins) - 1, 0, len(bins) - 1)
            np.add.at(totals, index, 1)
            np.add.at(hits, index, best >= 0.5)
    curve = {}
    for k in range(len(bins) - 1):
        if totals[k]:
            curve[f"{bins[k]}-{bins[k + 1]} px"] = {"recall": round(hits[k] / totals[k], 3), "people": int(totals[k])}
            print(f"person {bins[k]:3d}-{bins[k + 1]:3d} px tall at the input: recall {hits[k] / totals[k]:.2f} "
                  f"({int(totals[k])} boxes)")  # fmt: skip
    return curve


def caviar(folder: Path, model: Path) -> dict:
    results = {}
    for clip in sorted(CAVIAR.glob("*front.mpg")):
        for mode in ("--plan", "--whole-frame"):
            out = folder / f"{clip.stem}{mode}"
            camera = footfall([str(clip), "--camera", "cam", mode], out, model)
            import numpy as np

            rows = np.loadtxt(out / "mot" / "cam.txt", delimiter=",", ndmin=2)
            heights = rows[:, 5] if len(rows) else np.zeros(0)
            plan = camera.get("detection_plan") or {}
            row = {
                "detections_per_frame": round(camera["detections"] / max(1, camera["frames_analysed"]), 3),
                "tracked_boxes_per_frame": round(len(rows) / max(1, camera["frames_analysed"]), 3),
                "median_box_height_px": round(float(np.median(heights)), 1) if len(heights) else None,
                "plan": "; ".join(plan.get("reasons", [])) or "whole frame (--whole-frame)",
            }
            results[f"{clip.stem} {mode}"] = row
            print(f"{clip.stem:30s} {mode:13s} detections/frame {row['detections_per_frame']:.2f}  tracked boxes/frame "
                  f"{row['tracked_boxes_per_frame']:.2f}  median height {row['median_box_height_px']} px  "
                  f"[{row['plan']}]")  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--only", default="pets,pets1080,lowres,caviar,sizes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    print(f"CPU: {cpu_description()}")
    results: dict = {"cpu": cpu_description()}
    with tempfile.TemporaryDirectory(prefix="footfall-regions-") as name:
        folder = Path(name)
        if "pets" in wanted:
            full = calibration(folder, 1.0)
            compare("PETS, calibration only", [str(PETS_VIDEO), "--calibration", str(full), "--camera", "view001"],
                    PETS_GT, folder, args.model, results)  # fmt: skip
            compare("PETS, example site", ["--site", str(site(folder, PETS_VIDEO, full))], PETS_GT, folder,
                    args.model, results)  # fmt: skip
        if "pets1080" in wanted:
            pets_1080p(folder, args.model, results)
        if "lowres" in wanted:
            video = folder / "pets09-s2l1_384x288.mp4"
            subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(PETS_VIDEO), "-vf",
                            "scale=384:288:flags=area", "-c:v", "libx264", "-crf", "18", "-preset", "veryfast",
                            "-pix_fmt", "yuv420p", str(video)], check=True)  # fmt: skip
            gt = folder / "gt_384x288.txt"
            lines = []
            for line in PETS_GT.read_text().splitlines():
                values = line.split(",")
                values[2:6] = [f"{float(v) / 2:.3f}" for v in values[2:6]]
                lines.append(",".join(values))
            gt.write_text("\n".join(lines) + "\n")
            small = calibration(folder, 0.5)
            compare("PETS 384x288, example site", ["--site", str(site(folder, video, small))], gt, folder,
                    args.model, results)  # fmt: skip
            compare("PETS 384x288, no calibration", [str(video), "--camera", "view001"], gt, folder, args.model,
                    results)  # fmt: skip
        if "caviar" in wanted:
            results["caviar"] = caviar(folder, args.model)
        if "sizes" in wanted:
            results["size_curve"] = size_curve(args.model)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
