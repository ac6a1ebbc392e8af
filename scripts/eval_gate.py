"""What the activity gate costs and saves: each video run with `--gate` (the default) and with `--no-gate`, the same
everything else, in one process each.

    python scripts/eval_gate.py VIDEO [VIDEO ...] [--analysis-fps 25] [--calibration CAL.json] [--gt GT.txt]
        [--gate-args '--gate-max-skip 10'] [--json]

Printed per video: frames analysed and gated, wall time of each run and their ratio, and the gated run's recall
against the ungated run's own tracks (boxes matched at IoU 0.5 on each analysed frame: what the gate lost, whatever
the detector's own misses); with `--gt` (PETS) also MOTA and recall against the ground truth for both. The CPU is
printed. Needs the models of ../shared (or --model).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision.core.cpus import cpu_description
from vision.evaluate import score_mot

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO.parent / "shared" / "models" / "yolov8n_int8.tflite"


def run(video: Path, out: Path, gate: bool, args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "vision", "run", str(video), "--model", str(args.model), "--out", str(out),
               "--camera", "cam", "--export-mot", "--gate" if gate else "--no-gate"]  # fmt: skip
    if args.analysis_fps:
        command += ["--analysis-fps", str(args.analysis_fps)]
    if args.calibration:
        command += ["--calibration", str(args.calibration)]
    if gate and args.gate_args:
        command += args.gate_args.split()
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        sys.exit(f"{video}: footfall run failed: {finished.stderr.strip().splitlines()[-1]}")
    camera = json.loads((out / "run.json").read_text())["cameras"][0]
    return {
        "frames_analysed": camera["frames_analysed"],
        "frames_gated": camera["frames_gated"],
        "detections": camera["detections"],
        "wall_s": camera["wall_s"],
        "mot": out / "mot" / "cam.txt",
        "analysed": out / "mot" / "cam.analysed.txt",
    }


def frames_of(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


def recall(scores) -> float:
    return round(1 - scores.fn / scores.gt_boxes, 4) if scores.gt_boxes else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--analysis-fps", type=float)
    parser.add_argument("--calibration", type=Path)
    parser.add_argument("--gt", type=Path, help="MOTChallenge ground truth (one video)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--gate-args", help="more options for the gated run, e.g. '--gate-max-skip 10'")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {"cpu": cpu_description(), "videos": {}}
    with tempfile.TemporaryDirectory(prefix="footfall-gate-") as folder:
        for video in args.videos:
            gated = run(video, Path(folder) / f"{video.stem}-gate", True, args)
            ungated = run(video, Path(folder) / f"{video.stem}-no-gate", False, args)
            frames = frames_of(ungated["analysed"])
            against_ungated = score_mot(ungated["mot"], gated["mot"], frames)
            row = {
                "frames_analysed": gated["frames_analysed"],
                "frames_gated": gated["frames_gated"],
                "detections (gate, no gate)": [gated["detections"], ungated["detections"]],
                "wall_s (gate, no gate)": [gated["wall_s"], ungated["wall_s"]],
                "speed-up": round(ungated["wall_s"] / gated["wall_s"], 2) if gated["wall_s"] else None,
                "recall against --no-gate": recall(against_ungated),
            }
            if args.gt is not None:
                for name, result in (("gate", gated), ("no gate", ungated)):
                    scores = score_mot(args.gt, result["mot"], frames)
                    row[f"MOTA, recall ({name})"] = [round(scores.mota, 4), recall(scores)]
            results["videos"][video.name] = row
    if args.json:
        print(json.dumps(results, indent=2, default=str))
        return
    print(f"CPU: {results['cpu']}")
    for name, row in results["videos"].items():
        print(f"{name}: " + "; ".join(f"{key} {value}" for key, value in row.items()))


if __name__ == "__main__":
    main()
