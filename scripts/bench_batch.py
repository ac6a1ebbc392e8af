"""Speed-up of `footfall batch` against one `footfall run` process over the same footage, on this machine.

    python scripts/bench_batch.py [--copies 4] [--model ../shared/models/yolov8n_int8.tflite]

Footage (made once in the temporary folder): `--copies` NVR-named copies of the PETS clip (57 s each, 768x576,
7 fps) and one long file of the clip `--copies` times over. Timed, each as a fresh process, end to end:

- the files by `footfall run` (one process, one file after another): the baseline;
- the files by `footfall batch --workers 1` (one worker using every CPU) and `--workers 2` (CPUs shared out);
- the long file by `footfall run`, and by `footfall batch --workers 2` cut into chunks of a minute.

Printed with the CPU model: wall time, real-time factor (footage seconds / wall seconds) and speed-up over the
baseline of the same footage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOOTFALL_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))

from vision.core.cpus import available_cpus, cpu_description  # noqa: E402

PETS_VIDEO = SHARED / "data" / "pets09-s2l1" / "pets09-s2l1_0001-0400.mp4"
CLIP_S = 400 / 7


def footage(copies: int) -> tuple[list[Path], Path]:
    folder = Path(tempfile.gettempdir()) / "footfall-bench-batch"
    folder.mkdir(exist_ok=True)
    files = []
    for index in range(copies):
        path = folder / f"ch{index + 1:02d}_20261122{10 + index:02d}0000.mp4"
        if not path.exists():
            shutil.copyfile(PETS_VIDEO, path)
        files.append(path)
    long = folder / "long" / "ch09_20261122100000.mp4"
    if not long.exists():
        long.parent.mkdir(exist_ok=True)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", str(copies - 1), "-i", str(PETS_VIDEO),
                        "-c", "copy", str(long)], check=True)  # fmt: skip
    return files, long


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} failed: {result.stderr.strip()[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--model", default=str(SHARED / "models" / "yolov8n_int8.tflite"))
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; {available_cpus()} CPUs for this process")
    files, long = footage(args.copies)
    media_s = args.copies * CLIP_S
    print(f"footage: {args.copies} files of {CLIP_S:.0f} s, and one file of {media_s:.0f} s; model {args.model}")
    footfall = [sys.executable, "-m", "vision"]
    with tempfile.TemporaryDirectory(prefix="footfall-bench-batch-") as folder:
        out = Path(folder)
        rows = []
        baseline = timed([*footfall, "run", *map(str, files), "--model", args.model, "--out", str(out / "run")])
        rows.append(("footfall run, the files one after another (baseline)", baseline, baseline))
        for workers in (1, 2):
            wall = timed([*footfall, "batch", *map(str, files), "--model", args.model, "--workers", str(workers),
                          "--out", str(out / f"batch{workers}")])  # fmt: skip
            rows.append((f"footfall batch --workers {workers}, the files", wall, baseline))
        long_baseline = timed([*footfall, "run", str(long), "--model", args.model, "--out", str(out / "run-long")])
        rows.append(("footfall run, the long file (baseline)", long_baseline, long_baseline))
        wall = timed([*footfall, "batch", str(long), "--model", args.model, "--workers", "2", "--chunk-minutes", "1",
                      "--out", str(out / "batch-long")])  # fmt: skip
        rows.append(("footfall batch --workers 2, the long file in chunks of 1 min", wall, long_baseline))
    print(f"{'':<62} {'wall':>7} {'real time':>10} {'speed-up':>9}")
    for label, wall, base in rows:
        print(f"{label:<62} {wall:6.1f}s {media_s / wall:9.2f}x {base / wall:8.2f}x")


if __name__ == "__main__":
    main()
