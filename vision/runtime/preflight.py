"""Opening a camera job's source with its calibration, and checking inputs before anything is analysed: cheap, so
bad inputs are reported before the model is loaded (`footfall run`) or without running at all (`footfall
validate`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from vision.config.build import CameraJob
from vision.config.calibration_file import check_image_size, load_calibration, projector_from_calibration
from vision.config.site import SiteConfig
from vision.core.errors import FootfallError, SiteConfigError
from vision.core.geometry import GroundProjector
from vision.core.ids import redact_url
from vision.sources.base import FrameSource
from vision.sources.files import open_source


def open_job(job: CameraJob, start: datetime | None) -> tuple[FrameSource, GroundProjector | None]:
    """Opens a job's source and calibration, checking they belong together; raises FootfallError if not."""
    projector = None
    calibration = load_calibration(job.calibration) if job.calibration is not None else None
    if calibration is not None:
        projector = projector_from_calibration(calibration)
    source = open_source(job.source, start)
    if calibration is not None:
        try:
            check_image_size(calibration, source.info.width, source.info.height, redact_url(job.source))
        except FootfallError:
            source.close()
            raise
    return source, projector


def check_jobs(jobs: list[CameraJob], start: datetime | None) -> list[str | None]:
    """For each job, None if its source and calibration open, else the one-line reason they don't."""
    problems: list[str | None] = []
    for job in jobs:
        try:
            source, _ = open_job(job, job.start or start)
        except FootfallError as exc:
            problems.append(str(exc))
        else:
            source.close()
            problems.append(None)
    return problems


def check_site_files(config: SiteConfig) -> list[str]:
    """Problems with the files the config names, one line each (empty: all fine): every camera's source opens, its
    calibration loads and fits the picture size, and the floor-plan image reads. Nothing is analysed."""
    problems: list[str] = []
    for camera in config.cameras:
        calibration = Path(camera.calibration) if camera.calibration is not None else None
        found = check_jobs([CameraJob(camera.source, camera.id, calibration)], camera.start)
        if found[0] is not None and calibration is not None:
            # The calibration is loaded before the source is opened; if it is the broken one, check the source too.
            try:
                load_calibration(calibration)
            except FootfallError:
                found += check_jobs([CameraJob(camera.source, camera.id)], camera.start)
        problems.extend(f"camera {camera.id}: {problem}" for problem in found if problem is not None)
    if config.floor_plan is not None and config.floor_plan.image is not None:
        try:
            config.floor_plan.extent_m()
        except SiteConfigError as exc:
            problems.append(str(exc))
    return problems
