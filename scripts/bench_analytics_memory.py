"""Peak memory of a site's flow analytics fed a synthetic stream of finished tracks, for 1 hour and for 24 hours of
site time: flat memory means the two peaks are about equal.

    python scripts/bench_analytics_memory.py [--tracks-per-hour 600]

Each duration runs in its own process (peak resident memory is per process). A track walks through two zones and
across a line in 60 one-second samples; the analytics see it as a run does when the track ends.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SAMPLES = 60


def feed(hours: float, tracks_per_hour: int) -> dict:
    from vision.analytics.site import SiteFlow
    from vision.core.flow import FlowSettings
    from vision.core.grid import GridGeometry
    from vision.core.places import CountingLine, Funnel, Zone
    from vision.core.types import TrackHistory

    zones = [
        Zone.from_points("door", "entrance", [(0, 0), (2, 0), (2, 2), (0, 2)]),
        Zone.from_points("till", "queue", [(4, 0), (6, 0), (6, 2), (4, 2)]),
    ]
    line = CountingLine("entry", (3, -1), (3, 3), "left")
    flow = SiteFlow(
        zones,
        [line],
        [Funnel("buy", ("door", "till"))],
        FlowSettings(),
        ZoneInfo("UTC"),
        GridGeometry(0, 0, 0.25, 32, 16),
    )
    rng = np.random.default_rng(3)
    total = int(hours * tracks_per_hour)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for index in range(total):
        start = 1_790_000_000.0 + index * 3600.0 / tracks_per_hour
        xs = np.linspace(0.5, 5.5, SAMPLES) + rng.normal(0, 0.1, SAMPLES)
        ys = np.full(SAMPLES, 1.0) + rng.normal(0, 0.1, SAMPLES)
        flow.process(
            TrackHistory(
                camera="cam",
                track=f"{index:016x}",
                time_s=start + np.arange(SAMPLES, dtype=np.float64),
                frame=np.arange(SAMPLES),
                foot_uv=np.zeros((SAMPLES, 2)),
                floor_xy=np.column_stack([xs, ys]),
                confidence=np.ones(SAMPLES),
            )
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"hours": hours, "tracks": total, "peak_mb": round(peak, 1), "growth_mb": round(peak - baseline, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks-per-hour", type=int, default=600)
    parser.add_argument("--hours", type=float, help=argparse.SUPPRESS)  # one measurement, in a child process
    args = parser.parse_args()
    if args.hours is not None:
        print(json.dumps(feed(args.hours, args.tracks_per_hour)))
        return
    for hours in (1, 24):
        command = [sys.executable, __file__, "--hours", str(hours), "--tracks-per-hour", str(args.tracks_per_hour)]
        result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        print(
            f"{result['hours']:>3g} h of site time, {result['tracks']:>6} tracks: peak {result['peak_mb']} MB "
            f"(+{result['growth_mb']} MB while feeding)"
        )


if __name__ == "__main__":
    main()
