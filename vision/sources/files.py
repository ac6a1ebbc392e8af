"""Frame sources on disk: video files (anything FFmpeg reads, through PyAV) and MOTChallenge image sequences.

A source yields only the frames the sampler keeps, as `Frame` objects in BGR. Frames it drops are decoded (a
compressed stream cannot be skipped otherwise) but never converted or copied: a video frame stays in the decoder's
own YUV buffer, and an image sequence does not even read the file.
"""

from __future__ import annotations

import configparser
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

from vision.core.errors import SourceError, SourceTruncatedError
from vision.core.ids import is_url, redact_url
from vision.core.times import PLAUSIBLE_RANGE, is_plausible_start
from vision.core.types import Frame
from vision.sources.base import EvenTimeSampler, FrameSource, SourceCounters, SourceInfo
from vision.sources.pictures import bgr_picture


def _parse_creation_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if parsed.year < 1990 or not is_plausible_start(parsed):  # muxers write 1970 or 1904 when they had no clock
        return None
    return parsed


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


class MediaClock:
    """Media time of decoded frames, from the container's timestamps.

    Frames leave the decoder in presentation order, so their true times increase. Which timestamp carries that
    time depends on the container: MP4, MKV and TS files have real presentation timestamps (PTS), while AVI files
    carry packet order in the PTS and the presentation sequence in the DTS. The clock looks at the first frames
    and takes the timestamp that increases steadily there (PTS first, then DTS, else the frame index at the
    nominal rate). A later frame whose timestamp is missing or does not advance is placed one nominal period
    after the previous frame.
    """

    LOOKAHEAD = 8

    def __init__(
        self,
        samples: list[tuple[int | None, int | None]],
        time_base: Fraction,
        nominal_fps: float | None,
        origin: int | None = None,
    ):
        def increasing(values: list[int | None]) -> bool:
            return all(v is not None for v in values) and all(b > a for a, b in itertools.pairwise(values))

        pts = [sample[0] for sample in samples]
        dts = [sample[1] for sample in samples]
        self.source = "pts" if increasing(pts) else "dts" if increasing(dts) else "index"
        self._time_base = time_base
        self._period_s = 1.0 / (nominal_fps or 25.0)
        self._first: int | None = origin if self.source == "pts" else None  # a segment: times from the stream start
        self._last: int | None = None
        self._last_s = -self._period_s

    def seconds(self, index: int, pts: int | None, dts: int | None) -> float:
        timestamp = pts if self.source == "pts" else dts if self.source == "dts" else None
        if self.source == "index":
            seconds = index * self._period_s
        elif timestamp is None or (self._last is not None and timestamp <= self._last):
            seconds = self._last_s + self._period_s
        else:
            if self._first is None:
                self._first = timestamp
            self._last = timestamp
            seconds = float((timestamp - self._first) * self._time_base)
        self._last_s = seconds
        return seconds


def _timed(
    decoded_frames: Iterator, time_base: Fraction, nominal_fps: float | None, origin: int | None = None
) -> Iterator[tuple[int, float, object]]:
    """(index, media seconds, decoded frame) for each frame, holding back the first few to choose the clock."""
    pending: list = []
    clock: MediaClock | None = None
    index = 0
    for decoded in decoded_frames:
        if clock is None:
            pending.append(decoded)
            if len(pending) < MediaClock.LOOKAHEAD:
                continue
            clock = MediaClock([(f.pts, f.dts) for f in pending], time_base, nominal_fps, origin)
            batch, pending = pending, []
        else:
            batch = [decoded]
        for frame in batch:
            yield index, clock.seconds(index, frame.pts, frame.dts), frame
            index += 1
    if pending:  # a video shorter than the look-ahead
        clock = MediaClock([(f.pts, f.dts) for f in pending], time_base, nominal_fps, origin)
        for frame in pending:
            yield index, clock.seconds(index, frame.pts, frame.dts), frame
            index += 1


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a video file, for one task of a parallel batch: frames from `from_s` (seconds from the stream's
    start), to `to_s`, and past it while `keep_going()` says so (someone is still tracked) but at most
    `max_tail_s` more. Frame times stay those of the whole file, so the stretches of one file line up."""

    from_s: float
    to_s: float | None
    keep_going: Callable[[], bool] = lambda: False
    max_tail_s: float = 300.0


class VideoFileSource:
    """A video file read with PyAV. Frame times come from the container's timestamps.

    Damage is handled as FFmpeg handles it: a packet that does not decode, or a stretch of the container the
    demuxer cannot parse, is counted in `counters.decode_errors` and skipped, and decoding goes on with the next
    packet (the decoder conceals what the lost data leaves out). Only a stream that stays broken ends the input
    early: `BROKEN_AFTER_S` seconds' worth of failing packets (at the nominal frame rate, and at least
    `BROKEN_AFTER_MIN` of them) with no picture decoded between them.
    """

    BROKEN_AFTER_S = 10.0
    BROKEN_AFTER_MIN = 25

    def __init__(self, path: Path, start: datetime | None = None, segment: Segment | None = None) -> None:
        import av

        self.path = path
        self.segment = segment
        if not path.is_file():
            raise SourceError(f"{path}: no such video file; check the path")
        try:
            self._container = av.open(str(path), metadata_errors="ignore")
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(
                f"{path}: not a readable video ({_ffmpeg_reason(exc)}); the file may be truncated, corrupt or not a "
                "video: check it plays, or re-encode it with ffmpeg"
            ) from None
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"{path}: holds no video stream; give a video file or an image-sequence folder")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        codec_context = self._stream.codec_context
        if not codec_context.width or not codec_context.height:
            self._container.close()
            raise SourceError(f"{path}: the video stream has no picture size; the file is probably corrupt")

        nominal_fps = float(self._stream.average_rate) if self._stream.average_rate else None
        duration_s = None
        if self._stream.duration is not None and self._stream.time_base is not None:
            duration_s = float(self._stream.duration * self._stream.time_base)
        elif self._container.duration is not None:
            duration_s = self._container.duration / 1_000_000
        creation = _parse_creation_time(self._container.metadata.get("creation_time"))
        if start is not None:
            start_time, origin = start, "cli"
        elif creation is not None:
            start_time, origin = creation, "container"
        else:
            start_time, origin = _mtime(path), "file_mtime"
        self.info = SourceInfo(
            uri=str(path),
            kind="video",
            width=int(codec_context.width),
            height=int(codec_context.height),
            nominal_fps=nominal_fps,
            frame_count=int(self._stream.frames) or None,
            duration_s=duration_s,
            codec=codec_context.name,
            start_time=start_time,
            start_time_origin=origin,
        )
        self.counters = SourceCounters()
        self._broken: str | None = None  # why decoding gave up on a stream that stayed broken

    def frames(self, camera: str, sampler: EvenTimeSampler) -> Iterator[Frame]:
        import av

        time_base = self._stream.time_base or Fraction(1, 1)
        start_epoch = self.info.start_time.timestamp()
        index = -1
        self._broken = None
        segment, origin = self.segment, None
        if segment is not None:
            origin = self._stream.start_time or 0
            if segment.from_s > 0:
                self._container.seek(origin + int(segment.from_s / time_base), stream=self._stream, backward=True)
        rate = self.info.nominal_fps or 25.0
        try:
            for index, pts_s, decoded in _timed(self._decoded_frames(), time_base, self.info.nominal_fps, origin):
                if segment is not None:
                    if pts_s < segment.from_s - 1e-6:
                        continue
                    if (
                        segment.to_s is not None
                        and pts_s >= segment.to_s
                        and (pts_s >= segment.to_s + segment.max_tail_s or not segment.keep_going())
                    ):
                        return
                    index = round(pts_s * rate)  # frames before the seek point were never counted
                if not sampler.keep(pts_s):
                    continue
                self.counters.frames_analysed += 1
                image = bgr_picture(decoded)
                yield Frame(camera=camera, index=index, pts_s=pts_s, time_s=start_epoch + pts_s, image=image)
        except av.error.FFmpegError as exc:
            raise SourceTruncatedError(
                f"{self.path}: the video breaks off after frame {self.counters.frames_read} ({_ffmpeg_reason(exc)}); "
                "it is truncated or corrupt there",
                frames_read=self.counters.frames_read,
            ) from None
        if self._broken is not None:
            raise SourceTruncatedError(self._broken, frames_read=self.counters.frames_read)
        expected = self.info.frame_count if segment is None else None
        if expected and self.counters.frames_read < expected - max(2, expected // 100):
            errors = self.counters.decode_errors
            cause = "; the file is truncated"
            if errors:
                cause = f", and {errors} damaged packets were skipped; the file is damaged or truncated"
            raise SourceTruncatedError(
                f"{self.path}: the video ends after {self.counters.frames_read} of the {expected} frames its header "
                f"announces{cause}",
                frames_read=self.counters.frames_read,
            )

    @property
    def container_format(self) -> str:
        """FFmpeg's name of the container format ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi" …)."""
        return self._container.format.name

    def _decoded_frames(self) -> Iterator:
        """The decoder's pictures, packet by packet, skipping and counting the packets that fail (see the class).
        The demuxer ends with an empty packet that drains the decoder, so the frames it holds back come out too.
        A stream that stays broken ends early, with the reason in `self._broken`."""
        import av

        limit = max(self.BROKEN_AFTER_MIN, math.ceil(self.BROKEN_AFTER_S * (self.info.nominal_fps or 25.0)))
        failures = 0  # failed packets and demuxer errors since the last picture
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets, None)
            except av.error.FFmpegError as exc:  # damaged container structure: a new demux goes on past it
                packets = self._container.demux(self._stream)
                failure = exc
            else:
                if packet is None:
                    return
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError as exc:
                    failure = exc
                else:
                    if decoded:
                        failures = 0
                    for frame in decoded:
                        self.counters.frames_read += 1
                        yield frame
                    continue
            self.counters.decode_errors += 1
            failures += 1
            if failures >= limit:
                yield from self._drained()
                self._broken = (
                    f"{self.path}: the video stays undecodable after frame {self.counters.frames_read}: {failures} "
                    f"packets in a row failed to decode ({_ffmpeg_reason(failure)}); it is corrupt from there on"
                )
                return

    def _drained(self) -> Iterator:
        """The frames the decoder still holds (decoded before the packets that failed), given up at the end."""
        import av

        try:
            decoded = self._stream.decode(None)
        except av.error.FFmpegError:
            return
        for frame in decoded:
            self.counters.frames_read += 1
            yield frame

    def close(self) -> None:
        self._container.close()


def _ffmpeg_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc).split(":")[0] or type(exc).__name__


class ImageSequenceSource:
    """A MOTChallenge sequence folder: `seqinfo.ini` plus `img1/000001.jpg …`. Frame i (0-based) is file i+1 and
    its time is i / frameRate. Skipped frames are never read from disk."""

    def __init__(self, folder: Path, start: datetime | None = None) -> None:
        self.folder = folder
        seqinfo_path = folder / "seqinfo.ini"
        if not seqinfo_path.is_file():
            raise SourceError(f"{folder}: not a MOTChallenge sequence (no seqinfo.ini); give a video file instead")
        fps, length, width, height = self._read_seqinfo(seqinfo_path)
        if not self._image_dir.is_dir():
            raise SourceError(f"{folder}: image folder {self._image_dir.name}/ is missing")
        if start is not None:
            start_time, origin = start, "cli"
        else:
            start_time, origin = _mtime(seqinfo_path), "file_mtime"
        self._fps = fps
        self.info = SourceInfo(
            uri=str(folder),
            kind="image_sequence",
            width=width,
            height=height,
            nominal_fps=fps,
            frame_count=length,
            duration_s=length / fps,
            codec="image/" + self._extension.lstrip("."),
            start_time=start_time,
            start_time_origin=origin,
        )
        self.counters = SourceCounters()

    # seqinfo.ini is a few lines; its numbers are checked against these bounds so that a damaged or hostile file is
    # refused here, in one line, instead of failing later or writing NaN into run.json.
    MAX_SEQINFO_BYTES = 64_000
    MIN_FRAME_RATE = 0.001
    MAX_FRAME_RATE = 1_000.0
    MAX_FRAMES = 100_000_000
    MAX_SIDE_PX = 100_000

    def _read_seqinfo(self, path: Path) -> tuple[float, int, int, int]:
        """(frameRate, seqLength, imWidth, imHeight) from seqinfo.ini, each checked; sets the image folder and
        extension. SourceError, one line, for anything missing, malformed or out of bounds."""
        needs = "it needs a [Sequence] section with frameRate, seqLength, imWidth and imHeight"
        try:
            with path.open("rb") as handle:
                data = handle.read(self.MAX_SEQINFO_BYTES + 1)
        except OSError as exc:
            raise SourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        if len(data) > self.MAX_SEQINFO_BYTES:
            raise SourceError(f"{path}: too large for a seqinfo.ini (over 64 kB); {needs}")
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(data.decode("utf-8-sig"), str(path))
            section = parser["Sequence"]
            self._image_dir = self.folder / section.get("imDir", "img1")
            self._extension = section.get("imExt", ".jpg")
            fields = {key: section[key].strip() for key in ("frameRate", "seqLength", "imWidth", "imHeight")}
        except UnicodeDecodeError:
            raise SourceError(f"{path}: not a text file (not UTF-8); {needs}") from None
        except KeyError as exc:
            missing = "[Sequence] section" if exc.args[0] == "Sequence" else f"{exc.args[0]} line"
            raise SourceError(f"{path}: malformed (no {missing}); {needs}") from None
        except configparser.Error as exc:
            reason = " ".join(str(exc).split())[:160]
            raise SourceError(f"{path}: malformed ({reason}); {needs}") from None
        try:
            fps = float(fields["frameRate"])
        except ValueError:
            fps = -1.0
        if not self.MIN_FRAME_RATE <= fps <= self.MAX_FRAME_RATE:  # NaN fails every comparison
            raise SourceError(
                f"{path}: frameRate {fields['frameRate'][:24]!r} must be a positive number of frames per second, "
                f"from {self.MIN_FRAME_RATE:g} to {self.MAX_FRAME_RATE:g}"
            )
        whole = {}
        limits = {"seqLength": self.MAX_FRAMES, "imWidth": self.MAX_SIDE_PX, "imHeight": self.MAX_SIDE_PX}
        for key, highest in limits.items():
            text = fields[key]
            number = int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None
            if number is None or not 1 <= number <= highest:
                raise SourceError(f"{path}: {key} {text[:24]!r} must be a positive whole number, at most {highest}")
            whole[key] = number
        return fps, whole["seqLength"], whole["imWidth"], whole["imHeight"]

    def frames(self, camera: str, sampler: EvenTimeSampler) -> Iterator[Frame]:
        import cv2

        start_epoch = self.info.start_time.timestamp()
        for index in range(self.info.frame_count or 0):
            pts_s = index / self._fps
            self.counters.frames_read += 1
            if not sampler.keep(pts_s):
                continue
            path = self._image_dir / f"{index + 1:06d}{self._extension}"
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise SourceTruncatedError(
                    f"{path}: missing or unreadable image; the sequence breaks off at frame {index}",
                    frames_read=self.counters.frames_read - 1,
                )
            self.counters.frames_analysed += 1
            yield Frame(camera=camera, index=index, pts_s=pts_s, time_s=start_epoch + pts_s, image=image)

    def close(self) -> None:
        pass


def open_source(location: str, start: datetime | None = None) -> FrameSource:
    """A source for a video file or a MOTChallenge sequence folder."""
    if start is not None and start.tzinfo is None:
        raise SourceError(f"start time {start.isoformat()} has no time zone; add one, e.g. +08:00 or Z")
    if start is not None and not is_plausible_start(start):
        raise SourceError(f"start time {start.isoformat()} is not a plausible recording time ({PLAUSIBLE_RANGE})")
    if is_url(location):
        raise SourceError(
            f"{redact_url(location)}: footfall run reads video files and image-sequence folders, not live streams; "
            "record the stream to a file first (e.g. ffmpeg -rtsp_transport tcp -i URL -t 3600 -c copy clip.mp4)"
        )
    path = Path(location)
    if not path.exists():
        raise SourceError(f"{redact_url(location)}: no such file or folder; check the path")
    if path.is_dir():
        return ImageSequenceSource(path, start)
    return VideoFileSource(path, start)
