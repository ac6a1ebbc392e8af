"""Throughput of `footfall run` against the naive Ultralytics pipeline, side by side in one run on one machine, and
the accuracy each of footfall's optimisations costs on PETS.

    python scripts/bench.py [--model ../shared/models/yolov8n_int8.tflite]
                            [--pt-model ../shared/models/person_yolov8s.pt] [--video PETS.mp4] [--gt GT.txt]
                            [--quiet-s 120] [--repeats 10] [--naive-s 20] [--skip-accuracy]

It makes its test files itself (cached in the temporary folder), from the PETS clip with ffmpeg:
- `1080p25`: the clip upscaled to 1920x1080 and resampled to 25 frames/s (each 7 fps frame shown for its time);
- `quiet`: the same with `--quiet-s` seconds of the empty scene (the clip's temporal median, with sensor-like noise)
  before and after it, to show what activity gating saves;
- `long`: the 1080p25 clip `--repeats` times in one file (ten minutes by default), where the fixed start-up of a
  process (about 4 s: Python, torch, the runtime, the model) weighs as little as on an hour-long NVR export;
- `quiet360`: the quiet file at 640x360, an NVR sub-stream's resolution: what gating saves where decoding is cheap.

Printed, with the CPU model and the CPUs this process may use:
- (a) `footfall run` at its defaults on each file, as a fresh process: analysed frames/s (frame loop), real-time
  factor end to end (media seconds / process wall time, model loading included) and of the loop, peak memory;
- (b) the naive approach on the 1080p25 file: Ultralytics `solutions.Heatmap` (model.track with ByteTrack and a
  heatmap) on every frame, the same weights, Ultralytics' own thread settings, over the first `--naive-s` seconds;
  and the ratio a/b of real-time factors;
- the same pair with `--pt-model` PyTorch weights, where footfall runs its cached OpenVINO export and the naive
  pipeline PyTorch, as Ultralytics does by default (over `--naive-s` / 2 seconds: it is slow);
- accuracy on PETS (the original clip, against its ground truth) for every frame without gating, the default 5
  analysed frames/s without gating, and the defaults: MOTA, IDF1, and the visit and crossing figures.
Speed figures hold only beside each other: run the whole script on the machine you want figures for.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOOTFALL_SHARED", REPO.parent / "shared"))
PETS = SHARED / "data" / "pets09-s2l1"
sys.path.insert(0, str(REPO))

from vision.core.cpus import available_cpus, cpu_description  # noqa: E402


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def cached(name: str) -> Path:
    folder = Path(tempfile.gettempdir()) / "footfall-bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def make_1080p25(video: Path) -> Path:
    target = cached(f"{video.stem}_1080p25.mp4")
    if not target.exists():
        print(f"making {target} (ffmpeg: 1920x1080, 25 fps)", file=sys.stderr)
        partial = target.with_suffix(".partial.mp4")
        ffmpeg("-i", str(video), "-vf", "scale=1920:1080,setsar=1,fps=25", "-c:v", "libx264", "-crf", "20",
               "-preset", "veryfast", "-pix_fmt", "yuv420p", str(partial))  # fmt: skip
        partial.rename(target)
    return target


def empty_scene(video: Path) -> Path:
    """The clip's temporal median over 60 frames: the scene without its people."""
    target = cached(f"{video.stem}_empty.png")
    if not target.exists():
        import cv2
        import numpy as np

        capture = cv2.VideoCapture(str(video))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        frames = []
        for index in np.linspace(0, count - 1, 60).astype(int):
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, image = capture.read()
            if ok:
                frames.append(image)
        capture.release()
        cv2.imwrite(str(target), np.median(np.stack(frames), axis=0).astype(np.uint8))
    return target


def make_quiet(video: Path, clip: Path, quiet_s: float) -> Path:
    target = cached(f"{video.stem}_quiet{quiet_s:g}s_1080p25.mp4")
    if not target.exists():
        print(f"making {target} ({quiet_s:g} s of empty scene before and after the clip)", file=sys.stderr)
        background = str(empty_scene(video))
        quiet = "scale=1920:1080,setsar=1,fps=25,format=yuv420p,noise=alls=6:allf=t"
        partial = target.with_suffix(".partial.mp4")
        ffmpeg(
            "-loop", "1", "-framerate", "25", "-t", str(quiet_s), "-i", background,
            "-i", str(clip),
            "-loop", "1", "-framerate", "25", "-t", str(quiet_s), "-i", background,
            "-filter_complex",
            f"[0:v]{quiet}[a];[1:v]setsar=1,format=yuv420p[b];[2:v]{quiet}[c];[a][b][c]concat=n=3:v=1[v]",
            "-map", "[v]", "-c:v", "libx264", "-crf", "20", "-preset", "veryfast", str(partial),
        )  # fmt: skip
        partial.rename(target)
    return target


def make_long(clip: Path, repeats: int) -> Path:
    """The 1080p25 clip played `repeats` times in one file (no re-encoding): a recording long enough that the
    process's fixed start-up (Python, the runtime, the model) weighs on the end-to-end figure as it does on an
    NVR export of an hour, not as on a one-minute clip."""
    target = cached(f"{clip.stem}_x{repeats}.mp4")
    if not target.exists():
        print(f"making {target} (the clip {repeats} times)", file=sys.stderr)
        partial = target.with_suffix(".partial.mp4")
        ffmpeg("-stream_loop", str(repeats - 1), "-i", str(clip), "-c", "copy", str(partial))
        partial.rename(target)
    return target


def make_substream(video: Path) -> Path:
    """`video` at 640x360, the resolution of an NVR's sub-stream, which README recommends for analysis."""
    target = cached(f"{video.stem}_360p.mp4")
    if not target.exists():
        print(f"making {target} (640x360)", file=sys.stderr)
        partial = target.with_suffix(".partial.mp4")
        ffmpeg("-i", str(video), "-vf", "scale=640:360", "-c:v", "libx264", "-crf", "20", "-preset", "veryfast",
               str(partial))  # fmt: skip
        partial.rename(target)
    return target


def child(command: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Runs a command; returns it with its wall time and its own peak resident memory in MB."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0), err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        result = subprocess.CompletedProcess(command, code, out.read().decode(), err.read().decode())
    return result, wall, usage.ru_maxrss / 1024


def footfall_run(video: Path, model: str, out: Path, *extra: str) -> dict:
    command = [sys.executable, "-m", "vision", "run", str(video), "--model", model, "--out", str(out), *extra]
    result, wall, peak = child(command)
    if result.returncode != 0:
        sys.exit(f"footfall run failed ({result.returncode}): {result.stderr.strip()}")
    run = json.loads((out / "run.json").read_text())
    camera = run["cameras"][0]
    return {
        "frames_analysed": camera["frames_analysed"],
        "frames_gated": camera.get("frames_gated", 0),
        "media_s": camera["source_info"]["duration_s"] or camera["media_seconds_analysed"],
        "loop_fps": camera["analysed_fps"],
        "loop_rtf": camera["real_time_factor"],
        "wall_s": wall,
        "rtf": (camera["source_info"]["duration_s"] or camera["media_seconds_analysed"]) / wall,
        "peak_mb": peak,
        "threads": run["model"].get("threads"),
        "timings": camera["timings"],
    }


NAIVE = """
import json, os, sys, time
os.environ.setdefault("YOLO_AUTOINSTALL", "false"); os.environ.setdefault("YOLO_VERBOSE", "false")
import cv2
from ultralytics import solutions
video, model, seconds, person = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
started = time.perf_counter()
heatmap = solutions.Heatmap(model=model, classes=[person], show=False, verbose=False)
capture = cv2.VideoCapture(video)
fps = capture.get(cv2.CAP_PROP_FPS)
frames = 0
loop_started = time.perf_counter()
while frames < seconds * fps:
    ok, image = capture.read()
    if not ok:
        break
    heatmap(image)
    frames += 1
loop = time.perf_counter() - loop_started
print(json.dumps({"frames": frames, "media_s": frames / fps, "loop_s": loop, "wall_s": time.perf_counter() - started}))
"""


def naive_run(video: Path, model: str, seconds: float, person_class: int = 0, python: str = sys.executable) -> dict:
    result, wall, peak = child([python, "-c", NAIVE, str(video), model, str(seconds), str(person_class)])
    if result.returncode != 0:
        sys.exit(f"the naive pipeline failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        **figures,
        "loop_fps": figures["frames"] / figures["loop_s"],
        "loop_rtf": figures["media_s"] / figures["loop_s"],
        "rtf": figures["media_s"] / wall,
        "peak_mb": peak,
    }


def report_naive(naive: dict, ours: dict) -> None:
    print(
        f"(b) naive solutions.Heatmap, 1080p25, first {naive['media_s']:.1f} s: {naive['frames']} frames, loop "
        f"{naive['loop_fps']:.1f} frames/s = {naive['loop_rtf']:.2f}x real time; end to end "
        f"{naive['rtf']:.2f}x real time; peak {naive['peak_mb']:.0f} MB"
    )
    print(
        f"    ratio a/b: {ours['loop_rtf'] / naive['loop_rtf']:.1f}x (loops), {ours['rtf'] / naive['rtf']:.1f}x "
        "(end to end)"
    )


def accuracy(video: Path, gt: Path, model: str, folder: Path) -> list[dict]:
    """MOTA, IDF1 and the flow figures on the PETS clip for each configuration."""
    from tests.helpers import pets_calibration_document
    from tests.test_site_e2e import SITE_YAML

    (folder / "view001.json").write_text(json.dumps(pets_calibration_document()))
    configurations = [  # (label, analysed frames/s of the 7 fps clip, gating)
        ("every frame, no gating", 7, False),
        ("5 fps, no gating", 5, False),
        ("5 fps, gating (defaults)", 5, True),
    ]
    rows = []
    for index, (label, fps, gated) in enumerate(configurations):
        name = f"accuracy-{index}"
        site = folder / f"{name}.yaml"
        site.write_text(SITE_YAML.format(video=video).replace("analysis_fps: 7", f"analysis_fps: {fps}"))
        out = folder / name
        command = [sys.executable, "-m", "vision", "run", "--site", str(site), "--model", model, "--out", str(out),
                   "--export-mot", "--gate" if gated else "--no-gate"]  # fmt: skip
        result, _, _ = child(command)
        if result.returncode != 0:
            sys.exit(f"footfall run failed: {result.stderr.strip()}")
        mot = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "eval_mot.py"), "--gt", str(gt), "--pred",
             str(next((out / "mot").glob("*.txt"))), "--json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        flow = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "eval_flow.py"), "--site", str(site), "--gt", str(gt), "--run",
             str(out), "--json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        scores, figures = json.loads(mot.stdout), json.loads(flow.stdout)
        visits = {zone: row["visits"] for zone, row in figures["zones"].items()}
        crossings = {f"{line} {d}": row[d] for line, row in figures["lines"].items() for d in row}
        rows.append({"label": label, "mot": scores, "visits": visits, "crossings": crossings})
        print(f"  {label}: done", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(SHARED / "models" / "yolov8n_int8.tflite"))
    parser.add_argument("--pt-model", default=str(SHARED / "models" / "person_yolov8s.pt"))
    parser.add_argument("--pt-classes", default="Normal", help="the person class of --pt-model")
    parser.add_argument("--video", type=Path, default=PETS / "pets09-s2l1_0001-0400.mp4")
    parser.add_argument("--gt", type=Path, default=PETS / "gt_0001-0400.txt")
    parser.add_argument("--quiet-s", type=float, default=120.0, help="seconds of empty scene before and after")
    parser.add_argument("--repeats", type=int, default=10, help="times the clip plays in the long file")
    parser.add_argument("--naive-s", type=float, default=20.0, help="seconds of video the naive pipeline analyses")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument(
        "--naive-python",
        default=sys.executable,
        help="the Python of an install with Ultralytics, for the naive pipeline (footfall runs in this one: give "
        "the lean install's Python to measure footfall as installed by default)",
    )
    parser.add_argument("--files", default="1080p25,quiet,long,quiet360", help="which test files footfall runs on")
    args = parser.parse_args()
    for path in (args.video, args.gt):
        if not path.is_file():
            sys.exit(f"error: {path}: no such file; give --video and --gt (or set FOOTFALL_SHARED)")

    print(f"CPU: {cpu_description()}; {available_cpus()} CPUs for this process")
    print(f"model: {args.model}")
    clip = make_1080p25(args.video)
    wanted = set(args.files.split(",")) | {"1080p25"}
    files = [("1080p25", clip)]
    if "quiet" in wanted or "quiet360" in wanted:
        quiet = make_quiet(args.video, clip, args.quiet_s)
        files += [("quiet", quiet)] if "quiet" in wanted else []
        files += [("quiet360", make_substream(quiet))] if "quiet360" in wanted else []
    if "long" in wanted:
        files.append(("long", make_long(clip, args.repeats)))
    with tempfile.TemporaryDirectory(prefix="footfall-bench-") as folder:
        results = {}
        for name, video in files:
            run = footfall_run(video, args.model, Path(folder) / name)
            results[name] = run
            print(
                f"(a) footfall run, {name:<8} {run['media_s']:6.1f} s of video: {run['frames_analysed']} frames "
                f"analysed ({run['frames_gated']} without the detector), loop {run['loop_fps']:.1f} frames/s = "
                f"{run['loop_rtf']:.2f}x real time; end to end {run['wall_s']:.1f} s = {run['rtf']:.2f}x real "
                f"time; peak {run['peak_mb']:.0f} MB; {run['threads']} inference threads; stages {run['timings']}"
            )
        whole = footfall_run(clip, args.model, Path(folder) / "whole-frame", "--whole-frame")
        print(
            f"(a') footfall run --whole-frame, 1080p25 (one whole frame a model call, as before the detection plan): "
            f"loop {whole['loop_fps']:.1f} frames/s = {whole['loop_rtf']:.2f}x real time; end to end "
            f"{whole['rtf']:.2f}x real time; peak {whole['peak_mb']:.0f} MB; stages {whole['timings']}"
        )
        naive = naive_run(clip, args.model, args.naive_s, python=args.naive_python)
        report_naive(naive, results["1080p25"])
        print(
            f"    --whole-frame against naive: {whole['loop_rtf'] / naive['loop_rtf']:.1f}x (loops), "
            f"{whole['rtf'] / naive['rtf']:.1f}x end to end"
        )
        if args.pt_model and Path(args.pt_model).exists():
            from vision.perception.export import ExportSettings, runtime_model

            runtime_model(args.pt_model, ExportSettings())  # made once, outside the timing, as on a second run
            pt = footfall_run(clip, args.pt_model, Path(folder) / "pt", "--classes", args.pt_classes)
            print(
                f"(a) footfall run, 1080p25, {Path(args.pt_model).name} (its OpenVINO export): loop "
                f"{pt['loop_fps']:.1f} frames/s = {pt['loop_rtf']:.2f}x real time; end to end {pt['rtf']:.2f}x "
                f"real time (export cached); peak {pt['peak_mb']:.0f} MB"
            )
            report_naive(naive_run(clip, args.pt_model, args.naive_s / 2, 0, python=args.naive_python), pt)
        if args.skip_accuracy:
            return
        print("\naccuracy on PETS S2L1 frames 1-400 (the original 768x576 7 fps clip) against its ground truth:")
        print(f"{'configuration':<26} {'MOTA':>6} {'IDF1':>6}  visits engine/truth per zone; crossings engine/truth")
        for row in accuracy(args.video, args.gt, args.model, Path(folder)):
            mot = row["mot"]
            visits = " ".join(f"{zone} {v['engine']}/{v['truth']}" for zone, v in row["visits"].items())
            crossings = " ".join(f"{name} {c['engine']}/{c['truth']}" for name, c in row["crossings"].items())
            print(f"{row['label']:<26} {mot['mota']:6.3f} {mot['idf1']:6.3f}  {visits}; {crossings}")


if __name__ == "__main__":
    main()
