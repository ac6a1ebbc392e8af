"""Peak memory of a run's analytics and outputs fed a synthetic stream of tracked people, for 1 hour and for 24
hours of site time: flat memory means the two peaks are about equal.

    python scripts/bench_analytics_memory.py [--tracks-per-hour 600] [--fps 5]

Everything after the tracker runs as in a run: each frame's floor positions go through the camera's analytics
(track assembly, then the site's flow analytics for each track that ends) and the Parquet sinks, which write on
their flush schedule to a temporary folder; at the end the run's summary is computed from that folder. Each
duration runs in its own process (peak resident memory is per process). A person walks through two zones and
across a line in 60 seconds; `--tracks-per-hour` people arrive evenly.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision.core.cpus import cpu_description

WALK_S = 60.0
START = 1_790_000_000.0


def peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def feed(hours: float, tracks_per_hour: int, fps: float) -> dict:
    from vision.analytics.camera import CameraAnalytics
    from vision.config.build import FlowPlan
    from vision.core.flow import FlowSettings
    from vision.core.grid import GridGeometry
    from vision.core.places import CountingLine, Funnel, Zone
    from vision.core.types import FloorTracks
    from vision.runtime.site_outputs import run_summary, site_flow, write_site_description
    from vision.sinks.parquet import FlushSchedule, TrackTableSink

    plan = FlowPlan(
        "bench",
        [
            Zone.from_points("door", "entrance", [(0, 0), (2, 0), (2, 2), (0, 2)]),
            Zone.from_points("till", "queue", [(4, 0), (6, 0), (6, 2), (4, 2)]),
        ],
        [CountingLine("entry", (3, -1), (3, 3), "left")],
        [Funnel("buy", ("door", "till"))],
        FlowSettings(),
        "UTC",
        GridGeometry(0, 0, 0.25, 32, 16),
    )
    rng = np.random.default_rng(3)
    total = int(hours * tracks_per_hour)
    arrivals = START + np.arange(total) * 3600.0 / tracks_per_hour
    names = np.array([f"{index:016x}" for index in range(total)], dtype=object)
    with tempfile.TemporaryDirectory(prefix="footfall-memory-") as folder:
        out = Path(folder)
        write_site_description(out, plan)
        analytics = CameraAnalytics("cam", site_flow(plan))
        sink = TrackTableSink(
            out, "cam", "bench", with_flow=True, with_heatmap=True, schedule=FlushSchedule(60.0)
        )  # fmt: skip
        baseline = peak_mb()
        started = time.perf_counter()
        frames = int(hours * 3600 * fps + WALK_S * fps)
        first = last = 0  # people in view are arrivals[first:last]
        for index in range(frames):
            now = START + index / fps
            while last < total and arrivals[last] <= now:
                last += 1
            left = first
            while first < last and arrivals[first] + WALK_S <= now:
                first += 1
            ended = names[left:first]  # the tracker gives up on those who walked out
            live = slice(first, last)
            progress = (now - arrivals[live]) / WALK_S
            count = len(progress)
            xy = np.column_stack([0.5 + 5.0 * progress, np.full(count, 1.0)]) + rng.normal(0, 0.1, (count, 2))
            frame = FloorTracks(
                camera="cam",
                frame_index=index,
                time_s=now,
                track=names[live],
                track_id=np.arange(first, last),
                xyxy=np.zeros((count, 4)),
                foot_uv=np.zeros((count, 2)),
                floor_xy=xy,
                confidence=np.ones(count, dtype=np.float32),
                ended_tracks=ended,
            )
            for track in analytics.add(frame):
                sink.write_track(track)
            sink.write_frame(frame)
        for track in analytics.finish():
            sink.write_track(track)
        sink.close(completed=True)
        feeding_peak = peak_mb()
        feeding_s = time.perf_counter() - started
        summary = run_summary(out, plan)
        assert summary["tracks"]["customers"] == total, summary["tracks"]
        return {
            "hours": hours,
            "tracks": total,
            "frames": frames,
            "feeding_s": round(feeding_s, 1),
            "peak_mb": feeding_peak,
            "growth_mb": round(feeding_peak - baseline, 1),
            "peak_with_summary_mb": peak_mb(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks-per-hour", type=int, default=600)
    parser.add_argument("--fps", type=float, default=5.0, help="analysed frames per second of site time")
    parser.add_argument("--hours", type=float, help=argparse.SUPPRESS)  # one measurement, in a child process
    args = parser.parse_args()
    if args.hours is not None:
        print(json.dumps(feed(args.hours, args.tracks_per_hour, args.fps)))
        return
    print(f"CPU {cpu_description()}; {args.tracks_per_hour} people an hour, {args.fps:g} analysed frames a second")
    for hours in (1, 24):
        command = [sys.executable, __file__, "--hours", str(hours), "--tracks-per-hour", str(args.tracks_per_hour)]
        command += ["--fps", str(args.fps)]
        result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        print(
            f"{result['hours']:>3g} h of site time, {result['tracks']:>6} tracks, {result['frames']:>7} frames "
            f"({result['feeding_s']} s): peak {result['peak_mb']} MB (+{result['growth_mb']} MB while feeding), "
            f"{result['peak_with_summary_mb']} MB with the summary computed from disk"
        )


if __name__ == "__main__":
    main()
