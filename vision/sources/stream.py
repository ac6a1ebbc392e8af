"""Live sources: RTSP/RTSPS (TCP by default), HTTP(S) MJPEG and any other URL FFmpeg opens, read with PyAV.

One connection is one `StreamSource`. A reader thread demuxes and decodes every frame (a compressed stream cannot
be skipped otherwise), keeps those the sampler wants and hands on only the newest: if the camera loop has not taken
the previous frame by the time the next one is ready, the older one is dropped and counted (`frames_dropped`), so
a slow detector never builds up lag. Whatever ends the connection (the server closed it, a network error, no frame
for `stall_timeout_s`) is raised from `frames()` as `StreamInterrupted` with its reason; reconnecting is the
caller's job (`vision.runtime.service`).

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from vision.core.errors import SourceError
from vision.core.ids import redact_url, scrub_secrets, url_secrets
from vision.core.types import Frame
from vision.sources.base import EvenTimeSampler, SourceCounters, SourceInfo

Transport = Literal["tcp", "udp"]
InterruptReason = Literal["ended", "dropped", "stalled"]


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How live streams are opened and when one counts as lost."""

    transport: Transport = "tcp"  # RTSP over TCP (interleaved) survives NAT, firewalls and packet loss
    open_timeout_s: float = 10.0  # connecting and reading the stream's description
    stall_timeout_s: float = 10.0  # no frame for this long: the stream is lost

    def __post_init__(self) -> None:
        if self.transport not in ("tcp", "udp"):
            raise ValueError(f"RTSP transport must be tcp or udp, got {self.transport!r}")
        for name in ("open_timeout_s", "stall_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")


class StreamInterrupted(SourceError):
    """A live stream that stopped delivering frames: `reason` is ended (the server closed it), dropped (an error
    on the connection) or stalled (no frame for the stall timeout)."""

    def __init__(self, message: str, reason: InterruptReason) -> None:
        super().__init__(message)
        self.reason = reason


def _reason_of(exc: BaseException) -> str:
    """FFmpeg's reason without the URL PyAV appends to its messages (the URL may carry credentials)."""
    strerror = getattr(exc, "strerror", None)
    if strerror:
        return str(strerror)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(": '", 1)[0].split(";", 1)[0]


def _open_options(url: str, settings: StreamSettings) -> dict[str, str]:
    scheme = urlsplit(url).scheme.lower()
    # a second of probing instead of FFmpeg's five: a reconnect is back sooner, and the sender report that dates
    # the frames has usually arrived by then
    options = {"fflags": "nobuffer", "flags": "low_delay", "analyzeduration": "1000000"}
    if scheme in ("rtsp", "rtsps"):
        options["rtsp_transport"] = settings.transport
        options["timeout"] = str(int(settings.open_timeout_s * 1_000_000))  # socket I/O timeout, microseconds
    return options


class _Mailbox:
    """The newest frame, handed from the reader thread to the camera loop; a frame replaced before it was taken
    counts as dropped."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._frame: Frame | None = None
        self._error: BaseException | None = None
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._condition:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._condition.notify()

    def fail(self, error: BaseException) -> None:
        with self._condition:
            self._error = error
            self._condition.notify()

    def take(self, timeout_s: float) -> Frame | None:
        """The newest frame, or None after `timeout_s` with none; raises what the reader failed with (after the
        last frame it delivered was taken)."""
        with self._condition:
            if self._frame is None and self._error is None:
                self._condition.wait(timeout_s)
            frame, self._frame = self._frame, None
            if frame is None and self._error is not None:
                raise self._error
            return frame


MAX_CAMERA_CLOCK_ERROR_S = 60.0
MAX_ARRIVAL_DRIFT_S = 2.0
# Demuxers whose timestamps are made up (MJPEG over HTTP counts frames at an assumed 25 per second): their frames
# are dated by arrival alone.
UNTIMED_FORMATS = frozenset({"mpjpeg", "mjpeg", "jpeg_pipe", "image2pipe"})


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


class StreamSource:
    """One connection to a live stream. Opening raises SourceError with the reason (refused, unauthorised, timed
    out, not a video); the URL in messages and in `info` has its credentials removed."""

    def __init__(
        self,
        url: str,
        settings: StreamSettings | None = None,
        shutdown: threading.Event | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        import av

        self.settings = settings or StreamSettings()
        self.shutdown = shutdown or threading.Event()  # the service stopping: frames() returns
        self._closing = threading.Event()  # this connection closing: the reader stops
        self._wall_clock = wall_clock
        self._secrets = url_secrets(url)
        self.uri = redact_url(url)
        try:
            self._container = av.open(
                url,
                options=_open_options(url, self.settings),
                timeout=(self.settings.open_timeout_s, self.settings.stall_timeout_s),
            )
        except av.error.FFmpegError as exc:
            raise SourceError(f"{self.uri}: cannot open the stream ({self._scrub(_reason_of(exc))})") from None
        except OSError as exc:
            raise SourceError(f"{self.uri}: cannot open the stream ({self._scrub(_reason_of(exc))})") from None
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
        self.counters = SourceCounters()
        self.clock = CaptureClock(self._realtime_epoch, wall_clock)
        self.last_frame_wall: float | None = None  # wall-clock time the newest frame arrived (for health)
        self._mailbox = _Mailbox()
        self._reader: threading.Thread | None = None

    def _scrub(self, text: str) -> str:
        return scrub_secrets(text, self._secrets)

    def _realtime_epoch(self) -> float | None:
        value = self._container.start_time_realtime
        if value is None or value <= 0 or value == -(2**63):  # AV_NOPTS_VALUE: no sender report yet
            return None
        return value / 1_000_000

    @property
    def frames_dropped(self) -> int:
        return self._mailbox.dropped

    def frames(self, camera: str, sampler: EvenTimeSampler) -> Iterator[Frame]:
        """The newest sampled frame each time the caller asks, until `shutdown` is set (returns) or the stream is
        lost (raises StreamInterrupted)."""
        self._reader = threading.Thread(target=self._read, args=(camera, sampler), name=f"stream-{camera}", daemon=True)
        self._reader.start()
        waited_since = time.monotonic()
        while not self.shutdown.is_set():
            frame = self._mailbox.take(timeout_s=0.2)
            if frame is not None:
                waited_since = time.monotonic()
                yield frame
            elif time.monotonic() - waited_since > self.settings.stall_timeout_s:
                raise StreamInterrupted(
                    f"{self.uri}: no frame for {self.settings.stall_timeout_s:g} s", reason="stalled"
                )

    def _read(self, camera: str, sampler: EvenTimeSampler) -> None:
        import av

        time_base = self._stream.time_base
        first_s: float | None = None
        index = 0
        try:
            for packet in self._container.demux(self._stream):
                if self._closing.is_set():
                    return
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    self.counters.decode_errors += 1
                    continue
                for picture in decoded:
                    self.counters.frames_read += 1
                    stream_s: float | None = None  # the stream's own presentation time, which RTCP times refer to
                    if picture.pts is not None and time_base is not None and not self._untimed:
                        stream_s = float(picture.pts * time_base)
                        first_s = stream_s if first_s is None else first_s
                    capture = self.clock.time_of(stream_s)
                    self.last_frame_wall = self._wall_clock()
                    if stream_s is not None and first_s is not None:
                        media_s = stream_s - first_s
                    else:
                        media_s = capture - self.info.start_time.timestamp()
                    if not sampler.keep(media_s):
                        index += 1
                        continue
                    self.counters.frames_analysed += 1
                    image = picture.to_ndarray(format="bgr24")
                    self._mailbox.put(Frame(camera=camera, index=index, pts_s=media_s, time_s=capture, image=image))
                    index += 1
            self._mailbox.fail(StreamInterrupted(f"{self.uri}: the server ended the stream", reason="ended"))
        except av.error.FFmpegError as exc:
            if self._closing.is_set():
                return
            reason = self._scrub(_reason_of(exc))
            lost: InterruptReason = "stalled" if isinstance(exc, av.error.ExitError) else "dropped"
            self._mailbox.fail(StreamInterrupted(f"{self.uri}: connection lost ({reason})", reason=lost))
        except BaseException as exc:  # a reader that crashes is an outage of this camera, reported in the loop
            self._mailbox.fail(
                StreamInterrupted(
                    f"{self.uri}: reader failed ({type(exc).__name__}: {self._scrub(str(exc))})", "dropped"
                )
            )

    def close(self) -> None:
        """Stops the reader (waiting at most a second: a read blocked in the network gives up by its own timeout)
        and closes the connection."""
        self._closing.set()
        if self._reader is not None:
            self._reader.join(timeout=1.0)
            if self._reader.is_alive():
                return  # the daemon thread still holds the container; it ends with its read timeout
        with contextlib.suppress(Exception):
            self._container.close()
