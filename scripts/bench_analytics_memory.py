"""Peak memory of a run's analytics and outputs fed a synthetic stream of tracked people, for 1 hour and for 24
hours of site time: flat memory means the two peaks are about equal.

    python scripts/bench_analytics_memory.py [--tracks-per-hour 600] [--fps 5] [--cameras 2]

Everything after the tracker runs as in a run: each frame's floor positions go through the camera's analytics
(track assembly, then the site's flow analytics for each track that ends) and the Parquet sinks, which write on
their flush schedule to a temporary folder; at the end the run's summary is computed from that folder. Each
duration runs in its own process (peak resident memory is per process). A person walks through two zones and
across a line in 60 seconds; `--tracks-per-hour` people arrive evenly (at random times with several cameras).

With `--cameras 2` two cameras see every walk, each with its own tracker noise, the second one's clock 1 s late:
their tracks also go through the live fusion of `footfall serve` (stepped every 5 s of site time), and at the end
through the fusion pass of `footfall run` and `batch` before the summary. The people, the live site tracks and the
fusion pass's visitors are printed (they should agree), with the fusion pass's time per hour of site time.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
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


def feed(hours: float, tracks_per_hour: int, fps: float, cameras: int = 1) -> dict:
    from vision.analytics.camera import CameraAnalytics
    from vision.config.build import FlowPlan
    from vision.core.flow import FlowSettings
    from vision.core.grid import GridGeometry
    from vision.core.places import CountingLine, Funnel, Zone
    from vision.core.types import FloorTracks
    from vision.runtime.live_fusion import STEP_S, LiveFusion
    from vision.runtime.site_outputs import fused_summary, site_flow, write_site_description
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
    if cameras == 1:
        arrivals = START + np.arange(total) * 3600.0 / tracks_per_hour
    else:  # at random: evenly spaced walkers would make every clock offset of a multiple of the spacing fit as well
        arrivals = START + np.sort(rng.uniform(0, hours * 3600.0, total))
    camera_names = ["cam"] if cameras == 1 else [f"cam{index}" for index in range(cameras)]
    late_s = {camera: (1.0 if index == 1 else 0.0) for index, camera in enumerate(camera_names)}
    names = {camera: np.array([f"{camera}-{i:012x}" for i in range(total)], dtype=object) for camera in camera_names}
    clock = [START]
    with tempfile.TemporaryDirectory(prefix="footfall-memory-") as folder:
        out = Path(folder)
        write_site_description(out, plan)
        analytics = {camera: CameraAnalytics(camera, site_flow(plan)) for camera in camera_names}
        every_minute = FlushSchedule
        sinks = {
            camera: TrackTableSink(out, camera, "bench", with_flow=True, with_heatmap=True, schedule=every_minute(60.0))
            for camera in camera_names
        }
        live = None
        if cameras > 1:
            live = LiveFusion(out, plan, camera_names, "bench-site", wall_clock=lambda: clock[0])
        feeds = {camera: live.feed(camera) for camera in camera_names} if live else {}
        baseline = peak_mb()
        started = time.perf_counter()
        frames = int(hours * 3600 * fps + WALK_S * fps)
        first = last = 0  # people in view are arrivals[first:last]
        next_step = START
        for index in range(frames):
            now = START + index / fps
            clock[0] = now
            while last < total and arrivals[last] <= now:
                last += 1
            left = first
            while first < last and arrivals[first] + WALK_S <= now:
                first += 1
            live_people = slice(first, last)
            progress = (now - arrivals[live_people]) / WALK_S
            count = len(progress)
            for camera in camera_names:
                xy = np.column_stack([0.5 + 5.0 * progress, np.full(count, 1.0)]) + rng.normal(0, 0.1, (count, 2))
                frame = FloorTracks(
                    camera=camera,
                    frame_index=index,
                    time_s=now - late_s[camera],
                    track=names[camera][live_people],
                    track_id=np.arange(first, last),
                    xyxy=np.zeros((count, 4)),
                    foot_uv=np.zeros((count, 2)),
                    floor_xy=xy,
                    confidence=np.ones(count, dtype=np.float32),
                    ended_tracks=names[camera][left:first],  # the tracker gives up on those who walked out
                )
                for track in analytics[camera].add(frame):
                    sinks[camera].write_track(track)
                    if live:
                        feeds[camera].write_track(track)
                sinks[camera].write_frame(frame)
                if live:
                    feeds[camera].write_frame(frame)
            if live and now >= next_step:
                live.step()
                next_step = now + STEP_S
        for camera in camera_names:
            for track in analytics[camera].finish():
                sinks[camera].write_track(track)
                if live:
                    feeds[camera].write_track(track)
            sinks[camera].close(completed=True)
        if live:
            live.close()
            live_status = live.status()
            shutil.rmtree(out / "site")  # what the fusion pass of run and batch writes instead
        feeding_peak = peak_mb()
        feeding_s = time.perf_counter() - started
        summary, fused = fused_summary(out, plan)
        people = summary["visitors" if fused else "tracks"]["customers"]
        if cameras == 1:
            assert people == total, (people, total)
        result = {
            "hours": hours,
            "tracks": total * cameras,
            "frames": frames,
            "feeding_s": round(feeding_s, 1),
            "peak_mb": feeding_peak,
            "growth_mb": round(feeding_peak - baseline, 1),
            "peak_with_summary_mb": peak_mb(),
        }
        if live:  # two people who arrive a moment apart walk as one: a count can be off by one in thousands
            result["people"] = total
            result["live_site_tracks"] = live_status["site_tracks"]
            result["live_longest_wait_s"] = live_status["longest_wait_s"]
            result["visitors"] = people
            result["fusion_pass_s"] = fused[0].wall_s
            result["estimated_offset_s"] = fused[0].estimated_offset_s
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks-per-hour", type=int, default=600)
    parser.add_argument("--fps", type=float, default=5.0, help="analysed frames per second of site time")
    parser.add_argument("--cameras", type=int, default=1, choices=(1, 2, 3, 4), help="cameras that see every walk")
    parser.add_argument("--hours", type=float, help=argparse.SUPPRESS)  # one measurement, in a child process
    args = parser.parse_args()
    if args.hours is not None:
        print(json.dumps(feed(args.hours, args.tracks_per_hour, args.fps, args.cameras)))
        return
    print(
        f"CPU {cpu_description()}; {args.tracks_per_hour} people an hour, {args.fps:g} analysed frames a second, "
        f"{args.cameras} camera(s)"
    )
    for hours in (1, 24):
        command = [sys.executable, __file__, "--hours", str(hours), "--tracks-per-hour", str(args.tracks_per_hour)]
        command += ["--fps", str(args.fps), "--cameras", str(args.cameras)]
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            sys.exit(f"the {hours} h measurement failed:\n{finished.stderr}")
        result = json.loads(finished.stdout)
        print(
            f"{result['hours']:>3g} h of site time, {result['tracks']:>6} tracks, {result['frames']:>7} frames "
            f"({result['feeding_s']} s): peak {result['peak_mb']} MB (+{result['growth_mb']} MB while feeding), "
            f"{result['peak_with_summary_mb']} MB with the summary computed from disk"
        )
        if "visitors" in result:
            per_hour = result["fusion_pass_s"] / result["hours"]
            print(
                f"    {result['people']} people; live fusion: {result['live_site_tracks']} site tracks, longest wait "
                f"{result['live_longest_wait_s']} s; fusion pass: {result['visitors']} visitors in "
                f"{result['fusion_pass_s']} s ({per_hour:.1f} s per hour of site time), clock offsets "
                f"{result['estimated_offset_s']}"
            )


if __name__ == "__main__":
    main()
