"""Per-frame detector latency of one model in each CPU runtime, and the accuracy cost of INT8 on PETS.

    python scripts/bench_runtimes.py [--model yolo11n.yaml] [--imgsz 640 ...] [--threads 2] [--frames 40]
                                     [--accuracy-model ../shared/models/person_yolov8s.pt --classes Normal]

Speed: the model as PyTorch weights, and its exports (made through vision.perception.export, so into its cache) to
ONNX Runtime and OpenVINO, in float and INT8 (calibrated on frames of the PETS clip), each timed with Ultralytics'
`predict` on real PETS frames after a warm-up: median per-frame wall time (pre-processing, inference, NMS) and the
inference alone. `yolo11n.yaml` builds YOLO11n with random weights: its detections mean nothing, its cost is real.
PyTorch gets `--threads` threads; ONNX Runtime and OpenVINO use every core this process may use, so run it with
`taskset`, or on a machine with that many cores, to compare like with like.

Accuracy (with --accuracy-model, real weights): `footfall run` on PETS S2.L1 (every frame, --export-mot) with the
.pt weights in PyTorch and with the float and INT8 exports of the same weights, scored against the ground truth
(MOTA, IDF1, as scripts/eval_mot.py does). Use --accuracy-model "" to skip it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vision.core.cpus import available_cpus, cpu_description  # noqa: E402
from vision.evaluate import score_mot  # noqa: E402
from vision.perception.export import ExportSettings, runtime_model, sample_calibration_frames  # noqa: E402
from vision.perception.ultralytics_env import prepare_ultralytics_environment  # noqa: E402

SHARED = Path(os.environ.get("FOOTFALL_SHARED", ROOT.parent / "shared"))
PETS = SHARED / "data" / "pets09-s2l1"
PETS_VIDEO = PETS / "pets09-s2l1_0001-0400.mp4"
PETS_GT = PETS / "gt_0001-0400.txt"
# label, export format, int8, OpenVINO inference precision forced to f32 (OpenVINO's CPU default is bf16 where the
# CPU has AVX512-BF16 or AMX, as these AMD EPYC machines do; the f32 row shows what that default is worth)
VARIANTS = (("torch", "none", False, False), ("onnxruntime", "onnx", False, False),
            ("openvino", "openvino", False, False), ("openvino f32", "openvino", False, True),
            ("onnxruntime int8", "onnx", True, False), ("openvino int8", "openvino", True, False))  # fmt: skip


def torch_weights(model: str, folder: Path) -> Path:
    """A .pt file for the model: the file itself, or a model built from an Ultralytics .yaml saved as .pt."""
    if model.endswith(".pt"):
        return Path(model)
    from ultralytics import YOLO

    path = folder / f"{Path(model).stem}.pt"
    if not path.exists():
        YOLO(model).save(str(path))
    return path


@contextmanager
def openvino_precision(f32: bool) -> Iterator[None]:
    """OpenVINO models compiled inside get INFERENCE_PRECISION_HINT f32 (a benchmark switch, not a product one)."""
    if not f32:
        yield
        return
    import openvino

    original = openvino.Core.compile_model

    def compile_f32(self: Any, model: Any, device_name: Any = None, config: Any = None) -> Any:
        return original(self, model, device_name, {**(config or {}), "INFERENCE_PRECISION_HINT": "f32"})

    openvino.Core.compile_model = compile_f32
    try:
        yield
    finally:
        openvino.Core.compile_model = original


def time_model(path: str, frames: list, imgsz: int, runs: int, f32: bool = False) -> tuple[float, float]:
    from ultralytics import YOLO

    model = YOLO(path, task="detect")
    with openvino_precision(f32):
        for frame in frames[:5]:
            model.predict(frame, imgsz=imgsz, conf=0.1, verbose=False)
    total, inference = [], []
    for index in range(runs):
        started = time.perf_counter()
        result = model.predict(frames[index % len(frames)], imgsz=imgsz, conf=0.1, verbose=False)[0]
        total.append((time.perf_counter() - started) * 1000)
        inference.append(result.speed["inference"])
    return statistics.median(total), statistics.median(inference)


def speed(args: argparse.Namespace, work: Path) -> None:
    import torch

    torch.set_num_threads(args.threads)
    weights = torch_weights(args.model, work)
    frames = sample_calibration_frames([str(PETS_VIDEO)], 16)
    calibration = (str(PETS_VIDEO),)
    print(f"model {args.model} ({weights.name}), frames {frames[0].shape[1]}x{frames[0].shape[0]} from PETS")
    print(f"{'runtime':<18} {'imgsz':>5} {'ms/frame':>9} {'inference ms':>13} {'fps':>6} {'export s':>9}")
    for imgsz in args.imgsz:
        for label, fmt, int8, f32 in VARIANTS:
            started = time.perf_counter()
            path = runtime_model(str(weights), ExportSettings(fmt, imgsz, int8, calibration if int8 else ()))
            export_s = time.perf_counter() - started
            total, inference = time_model(path, frames, imgsz, args.frames, f32)
            shown = "-" if fmt == "none" else f"{export_s:.1f}"
            print(f"{label:<18} {imgsz:>5} {total:>9.1f} {inference:>13.1f} {1000 / total:>6.1f} {shown:>9}")


def accuracy(args: argparse.Namespace, work: Path) -> None:
    import cv2

    weights = Path(args.accuracy_model)
    print(f"\naccuracy on PETS S2.L1 frames 1-400, every frame, {weights.name}, classes {args.classes}")
    print("AP50: the detector alone, boxes of every confidence against the ground truth (IoU >= 0.5);")
    print("MOTA/IDF1: `footfall run --analysis-fps 7 --export-mot` scored as scripts/eval_mot.py does")
    print(f"{'runtime':<18} {'AP50':>6} {'MOTA':>6} {'IDF1':>6} {'FP':>5} {'FN':>5} {'IDs':>4} {'loop fps':>9}")
    capture = cv2.VideoCapture(str(PETS_VIDEO))
    frames = []
    while len(frames) < 400:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    has_export_option = cli_has_export_option()
    for label, fmt, int8, f32 in VARIANTS:
        if fmt == "onnx" and not args.onnx_accuracy:
            continue
        model = runtime_model(str(weights), ExportSettings(fmt, 640, int8, (str(PETS_VIDEO),) if int8 else ()))
        ap = detection_ap50(model, frames, args.classes, f32)
        if f32 or (fmt == "none" and not has_export_option):
            print(f"{label:<18} {ap:>6.1%}   (not a footfall setting{'' if f32 else ' yet'}: no tracking scores)")
            continue
        out = work / f"acc-{label.replace(' ', '-')}"
        extra = ["--export", "none"] if fmt == "none" else []
        command = [sys.executable, "-m", "vision", "run", str(PETS_VIDEO), "--model", model, "--classes",
                   args.classes, "--analysis-fps", "7", "--export-mot", "--out", str(out), *extra]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if result.returncode:
            print(f"{label:<18} {ap:>6.1%} failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")
            continue
        scores = score_mot(PETS_GT, out / "mot" / f"{PETS_VIDEO.stem}.txt", frames=set(range(1, 401)))
        loop_fps = _loop_fps(json.loads((out / "run.json").read_text()))
        print(
            f"{label:<18} {ap:>6.1%} {scores.mota:>6.1%} {scores.idf1:>6.1%} {scores.fp:>5} {scores.fn:>5} "
            f"{scores.id_switches:>4} {loop_fps:>9}"
        )


def detection_ap50(model: str, frames: list, classes: str, f32: bool = False) -> float:
    """Average precision (all-point interpolation) of the person boxes at IoU 0.5 over the PETS frames."""
    import numpy as np
    from ultralytics import YOLO

    rows = np.loadtxt(PETS_GT, delimiter=",")
    rows = rows[rows[:, 6] == 1]
    detector = YOLO(model, task="detect")
    wanted = {name.strip().lower() for name in classes.split(",")}
    class_ids = [i for i, name in detector.names.items() if name.lower() in wanted]
    scored: list[tuple[float, bool]] = []
    for number, frame in enumerate(frames, start=1):
        truth = rows[rows[:, 0] == number][:, 2:6].copy()
        truth[:, 2:] += truth[:, :2]  # x, y, w, h -> x1, y1, x2, y2
        with openvino_precision(f32):
            boxes = detector.predict(frame, imgsz=640, conf=0.01, classes=class_ids, verbose=False)[0].boxes
        taken = np.zeros(len(truth), dtype=bool)
        for index in np.argsort(-boxes.conf.numpy()):
            box = boxes.xyxy[index].numpy()
            hit = False
            if len(truth):
                inter_w = np.clip(np.minimum(truth[:, 2], box[2]) - np.maximum(truth[:, 0], box[0]), 0, None)
                inter_h = np.clip(np.minimum(truth[:, 3], box[3]) - np.maximum(truth[:, 1], box[1]), 0, None)
                inter = inter_w * inter_h
                union = (truth[:, 2] - truth[:, 0]) * (truth[:, 3] - truth[:, 1])
                union += (box[2] - box[0]) * (box[3] - box[1]) - inter
                iou = np.where(taken, 0.0, inter / np.maximum(union, 1e-9))
                best = int(np.argmax(iou))
                if iou[best] >= 0.5:
                    taken[best] = hit = True
            scored.append((float(boxes.conf[index]), hit))
    scored.sort(key=lambda item: -item[0])
    hits = np.array([hit for _, hit in scored], dtype=float)
    recall = np.concatenate([[0.0], np.cumsum(hits) / max(len(rows), 1)])
    precision = np.concatenate([[1.0], np.cumsum(hits) / np.arange(1, len(hits) + 1)])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(recall) * precision[1:]))


def _loop_fps(report: dict) -> str:
    for camera in report.get("cameras", []):
        for key in ("analysed_fps", "loop_fps", "fps"):
            value = camera.get(key) or camera.get("timing", {}).get(key)
            if isinstance(value, int | float):
                return f"{value:.1f}"
    return "?"


def cli_has_export_option() -> bool:
    result = subprocess.run([sys.executable, "-m", "vision", "run", "--help"], capture_output=True, text=True, cwd=ROOT)
    return "--export " in result.stdout or "--export\n" in result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolo11n.yaml", help=".pt weights, or an Ultralytics .yaml (random weights)")
    parser.add_argument("--imgsz", type=int, nargs="+", default=[640])
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    parser.add_argument("--frames", type=int, default=40, help="timed frames per runtime (after 5 warm-up frames)")
    parser.add_argument("--accuracy-model", default=str(SHARED / "models" / "person_yolov8s.pt"))
    parser.add_argument("--classes", default="Normal", help="person class names of --accuracy-model")
    parser.add_argument("--onnx-accuracy", action="store_true", help="also score the ONNX Runtime exports on PETS")
    parser.add_argument("--cache", help="export cache folder (default: a temporary one, so every export is made)")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    prepare_ultralytics_environment()
    with tempfile.TemporaryDirectory(prefix="footfall-runtimes-") as folder:
        work = Path(folder)
        os.environ["FOOTFALL_CACHE_DIR"] = args.cache or str(work / "cache")
        print(f"CPU: {cpu_description()}, {os.cpu_count()} cores ({available_cpus()} usable)")
        print(f"python {platform.python_version()}, {_versions()}")
        speed(args, work)
        if args.accuracy_model:
            accuracy(args, work)


def _versions() -> str:
    from importlib import metadata

    names = ("ultralytics", "torch", "onnxruntime", "openvino", "nncf")
    return ", ".join(f"{name} {metadata.version(name)}" for name in names)


if __name__ == "__main__":
    main()
