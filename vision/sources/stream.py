"""Live sources: RTSP/RTSPS (TCP by default), HTTP(S) MJPEG and any other URL FFmpeg opens, read with PyAV.

One connection is one `StreamSource`. Its reader (`vision.sources.stream_reader`) runs in a decoder child process of
its own (`vision.sources.decoder_process`): a segfault, abort or endless hang inside FFmpeg ends that connection
(`StreamInterrupted`, reason `crashed` or `stalled`) and nothing else. The reader decodes every frame, keeps those
the sampler wants, and this side hands on only the newest: if the camera loop has not taken the previous frame by
the time the next one is ready, the older one is dropped and counted (`frames_dropped`), so a slow detector never
builds up lag. Whatever ends the connection (the server closed it, a network error, no frame for
`stall_timeout_s`, the decoder died) is raised from `frames()` as `StreamInterrupted` with its reason;
reconnecting is the caller's job (`vision.runtime.service`).

A source has one reader, started by the first `frames()`; a later `frames()` goes on reading from it, and one made
while another is still being read is refused. `close()` stops the reader (killing the decoder child if it does not
stop at once) and returns once the connection is closed, or, with `isolation="thread"`, says in the log that a
reader is still inside FFmpeg and will close the connection itself when its read times out.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from vision.core.errors import SourceError
from vision.core.ids import redact_url, scrub_secrets, url_secrets
from vision.core.types import Frame
from vision.sources.base import EvenTimeSampler, SourceCounters, SourceInfo
from vision.sources.decoder_process import DecoderProcess
from vision.sources.stream_reader import (
    CaptureClock,
    FrameSink,
    InterruptReason,
    ReaderStatus,
    StreamInterrupted,
    StreamReader,
    StreamSettings,
)

__all__ = ["CaptureClock", "StreamInterrupted", "StreamSettings", "StreamSource"]

log = logging.getLogger("footfall.stream")

THREAD_STOP_WAIT_S = 1.0


class _Mailbox:
    """The newest frame, handed from the reader to the camera loop; a frame replaced before it was taken counts
    as dropped."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._frame: Frame | None = None
        self._error: BaseException | None = None
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


class _Delivery:
    """The `FrameSink` on this side: frames into the mailbox, the reader's latest counters kept for health."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        self.mailbox = _Mailbox()
        self.latest = ReaderStatus()
        self._scrub = scrub

    def frame(self, frame: Frame, status: ReaderStatus) -> None:
        self.latest = status
        self.mailbox.put(frame)

    def status(self, status: ReaderStatus) -> None:
        self.latest = status

    def lost(self, message: str, reason: InterruptReason) -> None:
        self.mailbox.fail(StreamInterrupted(self._scrub(message), reason))


class _ReaderThread:
    """The reader on a thread of this process (`isolation="thread"`): no protection from FFmpeg's crashes."""

    def __init__(self, url: str, settings: StreamSettings) -> None:
        self._url, self._settings = url, settings
        self._reader: StreamReader | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def open(self, shutdown: threading.Event) -> SourceInfo:
        self._reader = StreamReader(self._url, self._settings)
        return self._reader.info

    def start(self, camera: str, sampler: EvenTimeSampler, sink: FrameSink) -> None:
        assert self._reader is not None
        self._thread = threading.Thread(
            target=self._reader.run, args=(camera, sampler, self._closing, sink), name=f"stream-{camera}", daemon=True
        )  # fmt: skip
        self._thread.start()  # from here on the container is the thread's alone

    def stop(self) -> None:
        self._closing.set()
        if self._thread is None:
            if self._reader is not None:
                self._reader.close()  # never handed to a thread: still ours to close
            return
        self._thread.join(THREAD_STOP_WAIT_S)
        if self._thread.is_alive() and self._reader is not None:
            log.warning(
                "%s: the reader is still inside FFmpeg %g s after it was asked to stop; it closes the connection "
                "itself when its read times out (at most %g s)", self._reader.uri, THREAD_STOP_WAIT_S,
                self._settings.stall_timeout_s,
            )  # fmt: skip


class StreamSource:
    """One connection to a live stream. Opening raises SourceError with the reason (refused, unauthorised, timed
    out, not a video, the decoder died); the URL in messages and in `info` has its credentials removed. `label`
    names the decoder process (the camera id, for `ps`)."""

    def __init__(
        self,
        url: str,
        settings: StreamSettings | None = None,
        shutdown: threading.Event | None = None,
        label: str = "stream",
        secrets: Sequence[str] = (),
    ) -> None:
        """`secrets`: more text never to show, beyond the URL's own credentials (values filled in from `${NAME}`)."""
        self.settings = settings or StreamSettings()
        self.shutdown = shutdown or threading.Event()  # the service stopping: frames() returns
        secrets = [*url_secrets(url), *secrets]
        self.uri = scrub_secrets(redact_url(url), secrets)

        def scrub(text: str) -> str:
            return scrub_secrets(text, secrets)

        self._delivery = _Delivery(scrub)
        self._lock = threading.Lock()
        self._reading = False
        self._started: tuple[str, float] | None = None  # (camera, fps) of the reader, once started
        self._closed = False
        self._host: DecoderProcess | _ReaderThread
        if self.settings.isolation == "process":
            try:
                self._host = DecoderProcess(url, self.settings, label, self.uri, scrub)
            except OSError as exc:  # no process could be started: out of memory, of processes or of descriptors
                raise SourceError(f"{self.uri}: cannot start a decoder process ({exc.strerror or exc})") from None
        else:
            self._host = _ReaderThread(url, self.settings)
        try:
            info = self._host.open(self.shutdown)
        except SourceError as exc:
            raise SourceError(scrub(str(exc))) from None
        self.info = dataclasses.replace(info, uri=self.uri)

    @property
    def decoder_pid(self) -> int | None:
        """The decoder child's process id (None with `isolation="thread"`)."""
        return self._host.pid if isinstance(self._host, DecoderProcess) else None

    @property
    def counters(self) -> SourceCounters:
        status = self._delivery.latest
        return SourceCounters(status.frames_read, status.frames_analysed, status.decode_errors)

    @property
    def clock_origin(self) -> str:
        """How frames are dated: rtcp (the camera's sender reports) or arrival."""
        return self._delivery.latest.clock_origin

    @property
    def last_frame_wall(self) -> float | None:
        """Wall-clock time the newest frame arrived (for health)."""
        return self._delivery.latest.last_frame_wall

    @property
    def frames_dropped(self) -> int:
        return self._delivery.mailbox.dropped

    def frames(self, camera: str, sampler: EvenTimeSampler) -> Iterator[Frame]:
        """The newest sampled frame each time the caller asks, until `shutdown` is set (returns) or the stream is
        lost (raises StreamInterrupted). The first call starts the reader with this camera and sampler; a later
        one goes on from it (same camera and rate), and one made while another is being read raises RuntimeError."""
        with self._lock:
            if self._closed:
                raise SourceError(f"{self.uri}: the connection is closed")
            if self._reading:
                raise RuntimeError(f"{self.uri}: frames() is already being read; a connection has one reader")
            if self._started is None:
                self._host.start(camera, sampler, self._delivery)
                self._started = (camera, sampler.fps)
            elif self._started != (camera, sampler.fps):
                raise ValueError(
                    f"{self.uri}: the reader was started for camera {self._started[0]} at {self._started[1]:g} "
                    f"frames/s; it cannot go on as {camera} at {sampler.fps:g}"
                )
            self._reading = True
        try:
            waited_since = time.monotonic()
            while not self.shutdown.is_set():
                frame = self._delivery.mailbox.take(timeout_s=0.2)
                if frame is not None:
                    waited_since = time.monotonic()
                    yield frame
                elif time.monotonic() - waited_since > self.settings.stall_timeout_s:
                    raise StreamInterrupted(
                        f"{self.uri}: no frame for {self.settings.stall_timeout_s:g} s", reason="stalled"
                    )
        finally:
            with self._lock:
                self._reading = False

    def close(self) -> None:
        """Stops the reader and closes the connection (see the module's description); a second call does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._host.stop()
