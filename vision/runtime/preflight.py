"""Opening a camera job's source with its calibration, and checking inputs before anything is analysed: cheap, so
bad inputs are reported before the model is loaded (`footfall run`) or without running at all (`footfall
validate`)."""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path

from vision.config.build import CameraJob
from vision.config.calibration_file import check_image_size, load_calibration, projector_from_calibration
from vision.config.site import SiteConfig
from vision.core.errors import FootfallError, SiteConfigError, SourceError
from vision.core.geometry import GroundProjector
from vision.core.ids import expand_url_credentials, is_url, placeholder_values, redact_url, url_placeholders
from vision.sources.base import FrameSource
from vision.sources.files import open_source
from vision.sources.stream import StreamSettings, StreamSource


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


LIVE_SCHEMES = ("rtsp", "rtsps", "http", "https", "rtmp", "rtmps", "srt", "udp", "tcp")


def check_live_job(job: CameraJob) -> None:
    """Checks what a live camera job needs before any connection: a stream URL of a scheme FFmpeg reads, the
    environment variables it names, a calibration file that loads. Raises SiteConfigError naming the camera."""
    source = str(job.source)
    if not is_url(source):
        raise SiteConfigError(
            f"camera {job.camera}: its source is a file; footfall serve reads live streams (rtsp://, http://…), "
            "footfall run reads files"
        )
    scheme = source.split("://", 1)[0].lower()
    if scheme not in LIVE_SCHEMES:
        raise SiteConfigError(
            f"camera {job.camera}: {scheme}:// is not a stream this service reads; use one of "
            f"{', '.join(s + '://' for s in LIVE_SCHEMES)}"
        )
    missing = [name for name in url_placeholders(source) if name not in os.environ]
    if missing:
        raise SiteConfigError(
            f"camera {job.camera}: environment variable {missing[0]} (named in its source URL) is not set; set it "
            "where the service starts (systemd: Environment= or EnvironmentFile=)"
        )
    if job.calibration is not None:
        projector_from_calibration(load_calibration(job.calibration))


def open_stream(
    url: str,
    calibration: Path | None,
    settings: StreamSettings | None = None,
    shutdown: threading.Event | None = None,
    label: str = "stream",
) -> StreamSource:
    """Connects to a stream (credentials from the environment variables its URL names as `${NAME}`) and checks it
    fits its calibration; raises FootfallError with the reason."""
    missing = [name for name in url_placeholders(url) if name not in os.environ]
    if missing:
        raise SourceError(f"environment variable {missing[0]} (named in the source URL) is not set")
    source = StreamSource(expand_url_credentials(url), settings, shutdown, label, secrets=placeholder_values(url))
    if calibration is not None:
        try:
            check_image_size(load_calibration(calibration), source.info.width, source.info.height, redact_url(url))
        except FootfallError:
            source.close()
            raise
    return source


def check_stream(url: str, calibration: Path | None) -> str | None:
    """None if the stream opens and fits its calibration, else the one-line reason."""
    try:
        open_stream(url, calibration).close()
    except FootfallError as exc:
        return str(exc)
    return None


def check_site_files(config: SiteConfig) -> list[str]:
    """Problems with the files the config names, one line each (empty: all fine): every camera's source opens, its
    calibration loads and fits the picture size, and the floor-plan image reads. Nothing is analysed."""
    problems: list[str] = []
    for camera in config.cameras:
        if is_url(camera.source):
            problem = check_stream(camera.source, Path(camera.calibration) if camera.calibration else None)
            if problem is not None:
                problems.append(f"camera {camera.id}: {problem}")
            continue
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
