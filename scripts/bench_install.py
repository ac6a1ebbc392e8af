"""What an install costs: venv size, start-up, memory and throughput of `footfall`, for one or more installs side by
side in one run on one machine.

    python scripts/bench_install.py --side NAME=PYTHON[@REPO] [--side ...] [--repeats 5]
                                    [--model ../shared/models/yolov8n_int8.tflite]

Each `--side` is a virtual environment's python (its venv is measured) and the checkout it runs (default: this one),
e.g. `--side before=/tmp/old/.venv/bin/python@/tmp/old --side after=.venv/bin/python`. Printed, with the CPU model:

- venv size: the whole folder of the python's `sys.prefix`, as `du` counts it;
- `footfall --help`: wall time, median of --repeats;
- start to first analysed frame: wall time of `footfall run` on a one-frame clip of PETS, from process start to exit
  (so it includes writing the outputs), median of --repeats;
- `run` on one camera: peak resident memory of the process over the whole PETS clip (57 s, 768x576);
- throughput on the 1080p25 bench file of scripts/bench.py (PETS upscaled to 1920x1080, 25 frames/s, 57 s): real-time
  factor end to end (media seconds / process wall time) and analysed frames/s of the frame loop, median of 3 runs.

Every side runs with the same `--model`, so the detector's weights are the same; what differs is the code and the
packages around them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOOTFALL_SHARED", REPO.parent / "shared"))
PETS_VIDEO = SHARED / "data" / "pets09-s2l1" / "pets09-s2l1_0001-0400.mp4"
BIG_REPEATS = 3  # the 1080p25 runs, whose median is printed
sys.path.insert(0, str(REPO))

from scripts.bench import cached, child, ffmpeg, make_1080p25  # noqa: E402
from vision.core.cpus import available_cpus, cpu_description  # noqa: E402


def one_frame_clip() -> Path:
    target = cached("pets_one_frame.mp4")
    if not target.exists():
        ffmpeg("-i", str(PETS_VIDEO), "-frames:v", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(target))
    return target


def venv_mb(python: str) -> float:
    prefix = subprocess.run([python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True, check=True)
    du = subprocess.run(["du", "-sm", prefix.stdout.strip()], capture_output=True, text=True, check=True)
    return float(du.stdout.split()[0])


def footfall(python: str, repo: Path, *args: str) -> tuple[subprocess.CompletedProcess, float, float]:
    return child([python, "-c", f"import sys; sys.path.insert(0, {str(repo)!r}); from calibration.cli import main; "
                  "sys.argv[0] = 'footfall'; main()", *args])  # fmt: skip


def median_wall(python: str, repo: Path, repeats: int, *args: str) -> float:
    walls = []
    for _ in range(repeats):
        result, wall, _ = footfall(python, repo, *args)
        if result.returncode != 0:
            sys.exit(f"footfall {' '.join(args)} failed: {result.stderr.strip()}")
        walls.append(wall)
    return statistics.median(walls)


def measure(name: str, python: str, repo: Path, model: str, repeats: int, work: Path) -> dict:
    figures: dict = {"side": name, "venv_mb": venv_mb(python)}
    figures["help_s"] = median_wall(python, repo, repeats, "--help")
    out = work / f"{name}-first"
    figures["first_frame_s"] = median_wall(
        python, repo, repeats, "run", str(one_frame_clip()), "--model", model, "--out", str(out), "--overwrite"
    )
    result, _, peak = footfall(python, repo, "run", str(PETS_VIDEO), "--model", model, "--out", str(work / name))
    if result.returncode != 0:
        sys.exit(f"footfall run failed: {result.stderr.strip()}")
    figures["run_peak_mb"] = peak
    big = make_1080p25(PETS_VIDEO)
    factors, loop_fps = [], []
    for attempt in range(BIG_REPEATS):
        big_out = work / f"{name}-1080p-{attempt}"
        result, wall, _ = footfall(python, repo, "run", str(big), "--model", model, "--out", str(big_out))
        if result.returncode != 0:
            sys.exit(f"footfall run failed: {result.stderr.strip()}")
        camera = json.loads((big_out / "run.json").read_text())["cameras"][0]
        factors.append((camera["source_info"]["duration_s"] or camera["media_seconds_analysed"]) / wall)
        loop_fps.append(camera["analysed_fps"])
    figures["rtf_1080p25"] = statistics.median(factors)
    figures["loop_fps_1080p25"] = statistics.median(loop_fps)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", action="append", required=True, help="NAME=PYTHON[@REPO]")
    parser.add_argument("--model", default=str(SHARED / "models" / "yolov8n_int8.tflite"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; CPUs this process may use: {available_cpus()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="footfall-bench-install-") as folder:
        for side in args.side:
            name, _, rest = side.partition("=")
            python, _, repo = rest.partition("@")
            started = time.perf_counter()
            rows.append(measure(name, python, Path(repo) if repo else REPO, args.model, args.repeats, Path(folder)))
            print(f"measured {name} in {time.perf_counter() - started:.0f} s", flush=True)
    columns = [
        ("venv size (MB)", "venv_mb", "{:.0f}"),
        ("footfall --help (s)", "help_s", "{:.2f}"),
        ("start to first analysed frame (s)", "first_frame_s", "{:.2f}"),
        ("peak RSS, run on one camera (MB)", "run_peak_mb", "{:.0f}"),
        ("1080p25: real-time factor, end to end", "rtf_1080p25", "{:.2f}"),
        ("1080p25: analysed frames/s", "loop_fps_1080p25", "{:.1f}"),
    ]
    print("| figure | " + " | ".join(row["side"] for row in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for title, key, form in columns:
        print(f"| {title} | " + " | ".join(form.format(row[key]) for row in rows) + " |")


if __name__ == "__main__":
    main()
