"""Reading one live stream with PyAV: the decode loop that owns the connection's container.

A `StreamReader` opens the container (raising SourceError with the reason), then `run()` demuxes and decodes every
frame (a compressed stream cannot be skipped otherwise), keeps those the sampler wants and hands each on to a
`FrameSink`, until the stream ends, fails, or `closing` is set. The container is used by one thread only, the one
that calls `run()` (or `close()` when `run()` never started), and `run()` closes it when it returns: nobody else
ever touches it. Where that thread lives is the caller's choice: `vision.sources.stream` runs it in a decoder
child process per camera (`vision.sources.decoder_process`), so a crash or hang inside FFmpeg costs one camera's
connection, never the service.

Frame times are wall-clock capture times in UTC: from the stream's RTCP sender reports where it has them (FFmpeg's
`start_time_realtime`: the camera's clock at presentation time 0), else the arrival time of the first frame plus
presentation time since (so frame spacing keeps the camera's timing rather than network jitter; re-anchored if the
two drift more than 2 s apart), and plain arrival time for formats without real timestamps (MJPEG over HTTP).
Times never go backwards within a connection.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol
from urllib.parse import urlsplit

from vision.core.errors import SourceError
from vision.core.ids import redact_url, scrub_secrets, url_secrets
from vision.core.types import Frame
from vision.sources.base import EvenTimeSampler, SourceInfo
from vision.sources.pictures import bgr_picture

Transport = Literal["tcp", "udp"]
Isolation = Literal["process", "thread"]
InterruptReason = Literal["ended", "dropped", "stalled", "crashed"]

MAX_CAMERA_CLOCK_ERROR_S = 60.0
MAX_ARRIVAL_DRIFT_S = 2.0
STATUS_INTERVAL_S = 0.5  # a reader reports its counters at least this often while frames arrive
# Demuxers whose timestamps are made up (MJPEG over HTTP counts frames at an assumed 25 per second): their frames
# are dated by arrival alone.
UNTIMED_FORMATS = frozenset({"mpjpeg", "mjpeg", "jpeg_pipe", "image2pipe"})


MAX_TIMEOUT_S = 3600.0  # longer waits are a typing slip, and overflow the timers below


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How live streams are opened and when one counts as lost."""

    transport: Transport = "tcp"  # RTSP over TCP (interleaved) survives NAT, firewalls and packet loss
    open_timeout_s: float = 10.0  # connecting and reading the stream's description
    stall_timeout_s: float = 10.0  # no frame for this long: the stream is lost
    # where the decoder runs: a child process per connection (a crash or hang in FFmpeg is that camera's outage),
    # or a thread of this process (no isolation: only for comparison, see scripts/bench_serve.py)
    isolation: Isolation = "process"

    def __post_init__(self) -> None:
        if self.transport not in ("tcp", "udp"):
            raise ValueError(f"RTSP transport must be tcp or udp, got {self.transport!r}")
        if self.isolation not in ("process", "thread"):
            raise ValueError(f"decoder isolation must be process or thread, got {self.isolation!r}")
        for name in ("open_timeout_s", "stall_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S):
                raise ValueError(f"{name} must be above 0 and at most {MAX_TIMEOUT_S:g} seconds, got {value}")


class StreamInterrupted(SourceError):
    """A live stream that stopped delivering frames: `reason` is ended (the server closed it), dropped (an error
    on the connection), stalled (no frame for the stall timeout) or crashed (the decoder process died)."""

    def __init__(self, message: str, reason: InterruptReason) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ReaderStatus:
    """A reader's counters so far, and how its frames are dated."""

    frames_read: int = 0
    frames_analysed: int = 0
    decode_errors: int = 0
    clock_origin: Literal["rtcp", "arrival"] = "arrival"
    last_frame_wall: float | None = None  # wall-clock time the newest decoded frame arrived


class FrameSink(Protocol):
    """Where a reader hands on what it reads (called from the reader's thread)."""

    def frame(self, frame: Frame, status: ReaderStatus) -> None: ...

    def status(self, status: ReaderStatus) -> None: ...

    def lost(self, message: str, reason: InterruptReason) -> None: ...


def reason_of(exc: BaseException) -> str:
    """FFmpeg's reason without the URL PyAV appends to its messages (the URL may carry credentials)."""
    strerror = getattr(exc, "strerror", None)
    if strerror:
        return str(strerror)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(": '", 1)[0].split(";", 1)[0]


def open_options(url: str, settings: StreamSettings) -> dict[str, str]:
    scheme = urlsplit(url).scheme.lower()
    # a second of probing instead of FFmpeg's five: a reconnect is back sooner, and the sender report that dates
    # the frames has usually arrived by then
    options = {"fflags": "nobuffer", "flags": "low_delay", "analyzeduration": "1000000"}
    if scheme in ("rtsp", "rtsps"):
        options["rtsp_transport"] = settings.transport
        options["timeout"] = str(int(settings.open_timeout_s * 1_000_000))  # socket I/O timeout, microseconds
    return options


class CaptureClock:
    """Wall-clock capture time (UTC epoch seconds) of a connection's frames. `realtime_epoch()` gives the RTCP
    time of presentation time 0 once the stream has sent a sender report, else None. A camera whose clock is off
    by more than `MAX_CAMERA_CLOCK_ERROR_S` (never set, or set to another time zone as UTC) is dated by arrival
    instead: its reports would misplace every event."""

    def __init__(self, realtime_epoch: Callable[[], float | None], arrival: Callable[[], float]) -> None:
        self._realtime_epoch = realtime_epoch
        self._arrival = arrival
        self._anchor: float | None = None  # arrival time minus presentation time of the first frame
        self._last = -math.inf
        self.origin: Literal["rtcp", "arrival"] = "arrival"

    def time_of(self, stream_s: float | None) -> float:
        """The capture time of a frame at presentation time `stream_s` (the stream's own, in seconds)."""
        realtime = self._realtime_epoch()
        if stream_s is None:
            candidate = self._arrival()
        elif realtime is not None and abs(realtime + stream_s - self._arrival()) < MAX_CAMERA_CLOCK_ERROR_S:
            self.origin = "rtcp"
            candidate = realtime + stream_s
        else:
            arrival = self._arrival()
            if self._anchor is None or abs(self._anchor + stream_s - arrival) > MAX_ARRIVAL_DRIFT_S:
                self._anchor = arrival - stream_s  # first frame, or the stream's timing has drifted from ours
            candidate = self._anchor + stream_s
        self._last = max(candidate, self._last + 1e-3)
        return self._last


class StreamReader:
    """One connection to a live stream, owned by the thread that runs it. Opening raises SourceError with the
    reason (refused, unauthorised, timed out, not a video); the URL in messages and in `info` has its credentials
    removed."""

    def __init__(self, url: str, settings: StreamSettings, wall_clock: Callable[[], float] = time.time) -> None:
        import av

        self.settings = settings
        self._wall_clock = wall_clock
        self._secrets = url_secrets(url)
        self.uri = redact_url(url)
        try:
            self._container = av.open(
                url,
                options=open_options(url, settings),
                timeout=(settings.open_timeout_s, settings.stall_timeout_s),
            )
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"{self.uri}: cannot open the stream ({self.scrub(reason_of(exc))})") from None
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"{self.uri}: the stream has no video; check the URL names a video channel")
        self._stream = self._container.streams.video[0]
        self._untimed = self._container.format.name in UNTIMED_FORMATS
        self._stream.thread_type = "SLICE"  # frame threading would hold frames back: latency
        codec = self._stream.codec_context
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.info = SourceInfo(
            uri=self.uri,
            kind="stream",
            width=int(codec.width or 0),
            height=int(codec.height or 0),
            nominal_fps=float(rate) if rate else None,
            frame_count=None,
            duration_s=None,
            codec=codec.name,
            start_time=datetime.fromtimestamp(wall_clock(), tz=UTC),
            start_time_origin="arrival",
        )
        self.clock = CaptureClock(self._realtime_epoch, wall_clock)
        self._counts = [0, 0, 0]  # frames read, analysed, decode errors
        self._last_frame_wall: float | None = None

    def scrub(self, text: str) -> str:
        return scrub_secrets(text, self._secrets)

    def _realtime_epoch(self) -> float | None:
        value = self._container.start_time_realtime
        if value is None or value <= 0 or value == -(2**63):  # AV_NOPTS_VALUE: no sender report yet
            return None
        return value / 1_000_000

    def status(self) -> ReaderStatus:
        read, analysed, errors = self._counts
        return ReaderStatus(read, analysed, errors, self.clock.origin, self._last_frame_wall)

    def run(self, camera: str, sampler: EvenTimeSampler, closing: threading.Event, sink: FrameSink) -> None:
        """Reads until the stream ends or fails (told to `sink.lost`) or `closing` is set (told nothing), then
        closes the container. Whatever goes wrong is told to the sink, never raised."""
        try:
            self._read(camera, sampler, closing, sink)
        except BaseException as exc:  # a reader that fails is an outage of this camera, reported in the loop
            if not closing.is_set():
                sink.lost(f"{self.uri}: reader failed ({type(exc).__name__}: {self.scrub(str(exc))})", "dropped")
        finally:
            self.close()

    def _read(self, camera: str, sampler: EvenTimeSampler, closing: threading.Event, sink: FrameSink) -> None:
        import av

        time_base = self._stream.time_base
        first_s: float | None = None
        index = 0
        counts = self._counts
        reported_at = 0.0
        try:
            for packet in self._container.demux(self._stream):
                if closing.is_set():
                    return
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    counts[2] += 1
                    continue
                for picture in decoded:
                    counts[0] += 1
                    stream_s: float | None = None  # the stream's own presentation time, which RTCP times refer to
                    if picture.pts is not None and time_base is not None and not self._untimed:
                        stream_s = float(picture.pts * time_base)
                        first_s = stream_s if first_s is None else first_s
                    capture = self.clock.time_of(stream_s)
                    self._last_frame_wall = self._wall_clock()
                    if stream_s is not None and first_s is not None:
                        media_s = stream_s - first_s
                    else:
                        media_s = capture - self.info.start_time.timestamp()
                    if not sampler.keep(media_s):
                        index += 1
                        if self._last_frame_wall - reported_at >= STATUS_INTERVAL_S:
                            reported_at = self._last_frame_wall
                            sink.status(self.status())
                        continue
                    counts[1] += 1
                    image = bgr_picture(picture)
                    reported_at = self._last_frame_wall
                    sink.frame(Frame(camera=camera, index=index, pts_s=media_s, time_s=capture, image=image),
                               self.status())  # fmt: skip
                    index += 1
            if not closing.is_set():
                sink.lost(f"{self.uri}: the server ended the stream", "ended")
        except av.error.FFmpegError as exc:
            if closing.is_set():
                return
            quiet_s = self._wall_clock() - (self._last_frame_wall or self.info.start_time.timestamp())
            if isinstance(exc, av.error.ExitError) or quiet_s >= self.settings.stall_timeout_s:
                # FFmpeg's words for its own timeout ("Immediate exit requested", "Invalid data found…") say
                # nothing to a user: what happened is that no frame came
                stall_s = self.settings.stall_timeout_s
                sink.lost(f"{self.uri}: no frame for {stall_s:g} s (the stream stalled)", "stalled")
                return
            reason = self.scrub(reason_of(exc))
            sink.lost(f"{self.uri}: connection lost ({reason})", "dropped")

    def close(self) -> None:
        """Closes the connection. Only the thread that owns the reader calls this (`run()` does, when it returns)."""
        with contextlib.suppress(Exception):  # a connection that is already broken has nothing left to close
            self._container.close()
