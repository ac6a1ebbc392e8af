"""The account of a run that `run.json` holds: per camera what was read, analysed and written and how fast, and
the run's overall status."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

from vision.runtime.camera_run import StageTimings

RunStatus = Literal["running", "complete", "partial", "failed", "interrupted"]


@dataclass(slots=True)
class CameraReport:
    camera: str
    source: str
    status: RunStatus = "failed"
    error: str | None = None
    source_info: dict | None = None
    calibration: str | None = None
    frames_read: int = 0
    frames_analysed: int = 0
    frames_skipped: int = 0
    frames_gated: int = 0  # analysed without the detector: nothing moved and nobody was tracked
    decode_errors: int = 0
    detections: int = 0
    track_rows: int = 0
    tracks: int = 0
    staff_tracks: int = 0
    media_seconds_analysed: float = 0.0
    wall_s: float = 0.0
    analysed_fps: float = 0.0
    real_time_factor: float = 0.0
    timings: StageTimings = field(default_factory=StageTimings)
    detection_plan: dict | None = None  # crops, tiles and model calls per frame (vision.perception.detection_plan)
    outputs: list[str] = field(default_factory=list)

    def set_speed(self, wall_s: float) -> None:
        """Wall time, analysed frames/s and real-time factor, rounded for the report."""
        self.wall_s = round(wall_s, 3)
        if wall_s > 0:
            self.analysed_fps = round(self.frames_analysed / wall_s, 3)
            self.real_time_factor = round(self.media_seconds_analysed / wall_s, 3)
        self.media_seconds_analysed = round(self.media_seconds_analysed, 3)
        self.timings = self.timings.rounded()


@dataclass(slots=True)
class RunReport:
    run_id: str
    version: str
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    settings: dict
    model: dict
    cameras: list[CameraReport]
    pid: int | None = None
    error: str | None = None
    peak_memory_mb: float = 0.0
    site_outputs: list[str] = field(default_factory=list)
    fusion: dict | None = None  # a multi-camera site's fusion pass (vision.runtime.site_fusion.FusionReport)

    def to_json(self) -> dict:
        return asdict(self)


def overall_status(cameras: list[CameraReport]) -> RunStatus:
    statuses = {camera.status for camera in cameras}
    if not statuses:
        return "failed"
    if "interrupted" in statuses:
        return "interrupted"
    if statuses == {"complete"}:
        return "complete"
    if statuses == {"failed"}:
        return "failed"
    return "partial"
