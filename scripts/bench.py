"""End-to-end throughput of `footfall run` on a video: analysed frames per second, real-time factor, peak memory.

    python scripts/bench.py VIDEO --model MODEL [--analysis-fps 5] [--runs 3] [--scale-to 1920x1080] [-- EXTRA…]

Each run is a fresh `footfall run` process. Printed per run and as the median over runs:
- loop fps / real-time factor: from run.json, the frame loop alone (decode, detect, track, project, write);
- process wall time, including Python start-up and model loading;
- peak resident memory of the process (ru_maxrss of the child).
`--scale-to WxH` first re-encodes the video to that size with H.264 (cached beside the system temp folder), e.g.
1920x1080 to measure a 1080p camera with the same content.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path


def scaled_copy(video: Path, width: int, height: int) -> Path:
    import av

    target = Path(tempfile.gettempdir()) / "footfall-bench" / f"{video.stem}_{width}x{height}.mp4"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.mp4")
    print(f"re-encoding {video.name} to {width}x{height} H.264 → {target}", file=sys.stderr)
    with av.open(str(video)) as reader, av.open(str(partial), "w") as writer:
        video_in = reader.streams.video[0]
        rate = video_in.average_rate
        stream = writer.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for index, frame in enumerate(reader.decode(video_in)):
            scaled = frame.reformat(width=width, height=height, format="yuv420p")
            scaled.pts, scaled.time_base = index, Fraction(1) / rate
            writer.mux(stream.encode(scaled))
        writer.mux(stream.encode(None))
    partial.rename(target)
    return target


def one_run(video: Path, model: str, analysis_fps: float, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="footfall-bench-") as folder:
        out = Path(folder) / "out"
        command = [sys.executable, "-m", "vision", "run", str(video), "--model", model, "--out", str(out),
                   "--analysis-fps", str(analysis_fps), *extra]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if result.returncode != 0:
            sys.exit(f"footfall run failed ({result.returncode}): {result.stderr.strip()}")
        camera = json.loads((out / "run.json").read_text())["cameras"][0]
    return {
        "frames_analysed": camera["frames_analysed"],
        "loop_fps": camera["analysed_fps"],
        "real_time_factor": camera["real_time_factor"],
        "process_wall_s": wall,
        "peak_rss_mb": max(peak_kib, before) / 1024,  # the largest child so far: runs are alike, so this is fair
        "timings": camera["timings"],
        "size": f"{camera['source_info']['width']}x{camera['source_info']['height']}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--analysis-fps", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale-to", help="re-encode to WxH first, e.g. 1920x1080")
    parser.add_argument("extra", nargs="*", help="more `footfall run` options, after --")
    args = parser.parse_args()
    if not args.video.is_file():
        sys.exit(f"error: {args.video}: no such video file")
    video = args.video
    if args.scale_to:
        width, height = (int(part) for part in args.scale_to.lower().split("x"))
        video = scaled_copy(video, width, height)

    runs = []
    for index in range(args.runs):
        run = one_run(video, args.model, args.analysis_fps, args.extra)
        runs.append(run)
        print(
            f"run {index + 1}: {run['size']} {run['frames_analysed']} frames analysed, loop {run['loop_fps']:.1f} "
            f"frames/s, {run['real_time_factor']:.2f}x real time, process {run['process_wall_s']:.1f} s, "
            f"peak {run['peak_rss_mb']:.0f} MB, stages {run['timings']}"
        )
    print(
        f"median of {len(runs)}: {statistics.median(r['loop_fps'] for r in runs):.1f} analysed frames/s, "
        f"{statistics.median(r['real_time_factor'] for r in runs):.2f}x real time, "
        f"process {statistics.median(r['process_wall_s'] for r in runs):.1f} s, "
        f"peak memory {max(r['peak_rss_mb'] for r in runs):.0f} MB "
        f"({video.name}, model {Path(args.model).name}, analysis fps {args.analysis_fps})"
    )


if __name__ == "__main__":
    main()
