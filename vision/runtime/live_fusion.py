"""Site tracks while `footfall serve` runs: the cameras' tracks joined on the floor plan as they happen, each site
track written within `MAX_DELAY_S` of its last camera track's end.

Every camera run hands this its frames and finished tracks through a `LiveFusionFeed` (one more sink). Every few
seconds `step()` fuses the finished tracks not yet written together with the tracks still live (their samples so
far): a person seen by two cameras is one group as soon as the two agree. A group is written once none of its camera
tracks is live and its last sample is `HOLD_S` old on the site clock (no later track can still join it: a hand-over
comes within `fusion.HANDOVER_S`); until then it waits. Each camera's clock runs from its own frames' times, carried
on by the wall clock while it is down, so a recorder whose clock is off delays nothing.

Memory holds the live tracks' floor points, the finished tracks waiting for a live one they were seen with, and a
bounded sample of recent tracks for the clock estimate (see `vision.runtime.site_fusion` for what is written).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vision.analytics.fusion import HANDOVER_S, measure_offset
from vision.analytics.site import TrackFlow
from vision.config.build import FlowPlan
from vision.core.types import FloorTracks
from vision.runtime.site_fusion import CameraTrack, SiteTrackWriter, fused_groups, site_plan
from vision.sinks.parquet import FlushSchedule

log = logging.getLogger("footfall.serve")

HOLD_S = HANDOVER_S + 2.0  # how long a group waits after its last sample for a track that may still join it
STEP_S = 5.0  # how often the service fuses
FLUSH_S = 15.0  # site tracks reach disk this often: HOLD_S + STEP_S + FLUSH_S stays within MAX_DELAY_S
MAX_DELAY_S = 30.0
ESTIMATE_EVERY_S = 600.0  # the clock offsets are estimated again this often, from the recent tracks
RECENT_TRACKS = 200  # per camera, for the clock estimate


class LiveFusion:
    def __init__(
        self,
        out_dir: Path,
        plan: FlowPlan,
        cameras: list[str],
        part_prefix: str,
        on_write_error: Callable[[Exception], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.cameras = list(cameras)
        self.configured = {camera: float(plan.clock_offsets.get(camera, 0.0)) for camera in cameras}
        self.offsets = {camera: 0.0 for camera in cameras}  # estimated, on top of the configured ones
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._live: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        self._finished: dict[tuple[str, str], CameraTrack] = {}
        self._newest: dict[str, tuple[float, float]] = {}  # camera: (its newest frame time, wall time then)
        self._recent = {camera: deque(maxlen=RECENT_TRACKS) for camera in cameras}
        self._estimated_at: float | None = None
        self._estimated_count = 0
        self._writer = SiteTrackWriter(
            out_dir / "site",
            site_plan(plan),
            self.configured,
            part_prefix,
            schedule=FlushSchedule(FLUSH_S),
            remember_files=False,
            on_write_error=on_write_error,
        )
        self.site_tracks = 0
        self.camera_tracks = 0
        self.longest_wait_s = 0.0  # from a group's last sample to its write, the most so far
        self.estimates: dict[str, list[float]] = {camera: [] for camera in cameras[1:]}

    def feed(self, camera: str) -> LiveFusionFeed:
        return LiveFusionFeed(self, camera)

    # -- what the camera threads call ----------------------------------------------------------------------------

    def take_frame(self, camera: str, tracks: FloorTracks) -> None:
        offset = self.configured.get(camera, 0.0)
        with self._lock:
            self._newest[camera] = (tracks.time_s + offset, self._wall_clock())
            for name, (x, y) in zip(tracks.track.tolist(), tracks.floor_xy.tolist(), strict=True):
                if np.isfinite(x) and np.isfinite(y):
                    self._live.setdefault((camera, name), []).append((tracks.time_s + offset, x, y))

    def take_track(self, camera: str, flow: TrackFlow) -> None:
        track = flow.track
        offset = self.configured.get(camera, 0.0)
        finished = CameraTrack(camera, track.track, track.time_s + offset, track.floor_xy, track.confidence)
        with self._lock:
            self._live.pop((camera, track.track), None)
            self._finished[(camera, track.track)] = finished
            self.camera_tracks += 1
            path = finished.path()
            if path is not None:
                self._recent.setdefault(camera, deque(maxlen=RECENT_TRACKS)).append(path)

    def connection_closed(self, camera: str) -> None:
        with self._lock:  # a connection's end: its tracks have all ended (and came through `_track`)
            for key in [key for key in self._live if key[0] == camera]:
                del self._live[key]

    # -- what the service calls ----------------------------------------------------------------------------------

    def site_now(self) -> float | None:
        """The site clock now: each camera's newest frame time carried on by the wall clock since, the latest."""
        wall = self._wall_clock()
        with self._lock:
            clocks = [newest + (wall - at) for newest, at in self._newest.values()]
        return max(clocks) if clocks else None

    def step(self, final: bool = False) -> int:
        """Fuses and writes the groups that are done (all of them when `final`: the service is stopping); returns
        how many site tracks were written."""
        now = self.site_now()
        if now is None:
            return 0
        with self._lock:
            finished = list(self._finished.values())
            live = [
                CameraTrack(camera, name, *_columns(samples))
                for (camera, name), samples in self._live.items()
                if samples
            ]
        self._estimate(now)
        live_keys = {(track.camera, track.track) for track in live}
        written = 0
        for group in fused_groups(finished + live, self.offsets):
            if any((member.camera, member.track) in live_keys for member in group):
                if not final:
                    continue
                group = [member for member in group if (member.camera, member.track) not in live_keys]
                if not group:
                    continue
            last = max(float(member.time_s[-1]) + self.offsets.get(member.camera, 0.0) for member in group)
            if not final and last > now - HOLD_S:
                continue
            self._writer.write(group, self.offsets)
            self.longest_wait_s = max(self.longest_wait_s, now - last) if not final else self.longest_wait_s
            written += 1
            with self._lock:
                for member in group:
                    self._finished.pop((member.camera, member.track), None)
        self.site_tracks += written
        self._writer.tick(now)
        return written

    def _estimate(self, now: float) -> None:
        """Every ESTIMATE_EVERY_S, and early on whenever the recent tracks have doubled since the last estimate
        (a service just started has no estimate yet, and joins little without one)."""
        with self._lock:
            count = sum(len(paths) for paths in self._recent.values())
            due = self._estimated_at is None or now - self._estimated_at >= ESTIMATE_EVERY_S
            if not due and not (count < 2 * RECENT_TRACKS and count >= max(3, 2 * self._estimated_count)):
                return
            reference = self.cameras[0]
            anchors = list(self._recent.get(reference, ()))
            others = {camera: list(self._recent.get(camera, ())) for camera in self.estimates}
        self._estimated_at, self._estimated_count = now, count
        for camera, paths in others.items():
            if len(paths) < 3 or not anchors:
                continue
            measured = measure_offset(anchors, paths)
            if measured is not None:
                self.offsets[camera] = measured
                self.estimates[camera] = (self.estimates[camera] + [measured])[-24:]

    def close(self) -> None:
        """Writes every group still waiting, and what is buffered."""
        self.step(final=True)
        self._writer.close()

    def status(self) -> dict:
        """For run.json: what the live fusion did so far, and each camera's clock offsets."""
        with self._lock:
            waiting = len(self._finished)
            live = len(self._live)
        return {
            "cameras": self.cameras,
            "camera_tracks": self.camera_tracks,
            "site_tracks": self.site_tracks,
            "waiting_camera_tracks": waiting,
            "live_camera_tracks": live,
            "longest_wait_s": round(self.longest_wait_s, 1),
            "max_delay_s": MAX_DELAY_S,
            "configured_offset_s": self.configured,
            "estimated_offset_s": {
                camera: {
                    "latest": values[-1] if values else None,
                    "min": min(values) if values else None,
                    "max": max(values) if values else None,
                    "estimates": len(values),
                }
                for camera, values in self.estimates.items()
            },
        }


def _columns(samples: list[tuple[float, float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    array = np.asarray(samples, dtype=np.float64)
    return array[:, 0], array[:, 1:3], np.ones(len(array))


class LiveFusionFeed:
    """One camera run's sink into the live fusion: its frames' floor points and its finished tracks."""

    def __init__(self, fusion: LiveFusion, camera: str) -> None:
        self._fusion = fusion
        self._camera = camera

    def write_frame(self, tracks: FloorTracks) -> None:
        self._fusion.take_frame(self._camera, tracks)

    def write_track(self, track: TrackFlow) -> None:
        self._fusion.take_track(self._camera, track)

    def close(self, completed: bool) -> list[Path]:
        self._fusion.connection_closed(self._camera)
        return []
