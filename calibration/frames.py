"""The two pictures the calibration page shows: one frame of the camera and the floor plan.

The camera frame comes from an image file, a video (a frame a few seconds in, past any black or blurred opening
frames; the first frame of a shorter video), a MOTChallenge image-sequence folder, or a stream URL (`rtsp://…`,
the first frame that decodes). Every failure is a one-line SourceError; stream URLs are written without their
user name and password.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vision.config.site import check_picture_size
from vision.core.errors import SourceError
from vision.core.ids import is_url, redact_url
from vision.sources.base import EvenTimeSampler
from vision.sources.files import open_source

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_SEEK_S = 3.0
STREAM_TIMEOUT_S = 10.0
_MAX_STREAM_PACKETS = 2_000


def read_image(path: Path, what: str) -> np.ndarray:
    """A picture file as BGR, or SourceError naming `what` it was meant to be."""
    if not path.is_file():
        raise SourceError(f"{path}: no such {what} file; check the path")
    try:
        check_picture_size(path, what)  # from the header: a small file may declare a gigapixel picture
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise SourceError(f"{path}: not a readable image (PNG, JPEG, BMP, TIFF or WebP); give the {what} as one")
    return image


def read_camera_frame(source: str, seek_s: float = VIDEO_SEEK_S, timeout_s: float = STREAM_TIMEOUT_S) -> np.ndarray:
    """One BGR frame of `source`: an image file, a video file, an image-sequence folder or a stream URL."""
    if is_url(source):
        return _stream_frame(source, timeout_s)
    path = Path(source).expanduser()
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return read_image(path, "camera picture")
    if path.is_dir():
        return _first_sequence_frame(source)
    return _video_frame(path, seek_s)


def _ffmpeg_reason(exc: BaseException) -> str:
    # FFmpeg's messages repeat the URL, credentials included; keep only the reason.
    return getattr(exc, "strerror", None) or type(exc).__name__


def _video_frame(path: Path, seek_s: float) -> np.ndarray:
    import av

    if not path.is_file():
        raise SourceError(f"{path}: no such file or folder; give an image, a video, a sequence folder or a URL")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceError(
            f"{path}: neither a readable video nor a picture ({_ffmpeg_reason(exc)}); check that it plays"
        ) from None
    try:
        if not container.streams.video:
            raise SourceError(f"{path}: holds no video stream; give a video or a picture of the camera's view")
        stream = container.streams.video[0]
        duration_s = float(container.duration) / 1_000_000 if container.duration else None
        target_s = seek_s if duration_s is None or duration_s > 2 * seek_s else 0.0
        chosen = first_time = None
        try:
            for frame in container.decode(stream):
                time_s = frame.time if frame.time is not None else 0.0
                first_time = time_s if first_time is None else first_time
                chosen = frame
                if time_s - first_time >= target_s:
                    break
        except av.error.FFmpegError as exc:
            if chosen is None:
                raise SourceError(
                    f"{path}: no frame could be decoded ({_ffmpeg_reason(exc)}); is it corrupt?"
                ) from None
        if chosen is None:
            raise SourceError(f"{path}: the video holds no frames")
        return chosen.to_ndarray(format="bgr24")
    finally:
        container.close()


def _first_sequence_frame(folder: str) -> np.ndarray:
    source = open_source(folder)
    try:
        for frame in source.frames("calibrate", EvenTimeSampler(1.0)):
            return frame.image
    finally:
        source.close()
    raise SourceError(f"{folder}: the image sequence holds no frames")


def _stream_frame(url: str, timeout_s: float) -> np.ndarray:
    import av

    shown = redact_url(url)
    options = {"rtsp_transport": "tcp"} if url.lower().startswith(("rtsp://", "rtsps://")) else {}
    try:
        container = av.open(url, timeout=timeout_s, options=options)
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceError(
            f"{shown}: cannot open the stream ({_ffmpeg_reason(exc)}); check the address, the user name and "
            "password, and that the camera is reachable from this computer"
        ) from None
    try:
        if not container.streams.video:
            raise SourceError(f"{shown}: the stream carries no video")
        stream = container.streams.video[0]
        for index, packet in enumerate(container.demux(stream)):
            if index >= _MAX_STREAM_PACKETS:
                break
            for frame in packet.decode():
                return frame.to_ndarray(format="bgr24")
    except av.error.FFmpegError as exc:
        raise SourceError(f"{shown}: the stream broke off before a whole frame came ({_ffmpeg_reason(exc)})") from None
    finally:
        container.close()
    raise SourceError(f"{shown}: no frame could be decoded from the stream; check its codec")
