"""A live stream decoded in a child process of its own, so that a crash (SIGSEGV, abort) or an endless hang inside
FFmpeg costs that camera's connection and nothing else, as Frigate runs one capture process per camera.

The child (`python -m vision.sources.decoder_process --camera ID`) is started per connection. Its standard input
carries the parent's orders, one JSON line each: the stream to open (the URL travels here, never on the command
line, where `ps` would show its credentials), then the camera and sampling rate to start reading with; closing it
tells the child to close the connection and exit. Its standard output carries messages back, each a fixed header
(kind, length of a JSON part, length of a binary part) and the two parts:

- `INFO`: the stream opened (size, codec, rate, start time), or `FAIL`: it did not, and why;
- `FRAM`: a sampled frame, its times and the reader's counters, then the BGR pixels;
- `STAT`: the counters alone (frames decoded but not sampled), at least twice a second while frames arrive;
- `LOST`: the stream ended or failed, and why.

The child decodes every frame and samples them itself, so only the frames the camera loop asks for cross the
pipe; the parent keeps only the newest (`vision.sources.stream`). A child that dies (end of its output, then its
exit status) is reported as `decoder crashed (signal 11, SIGSEGV)` and the like; one that hangs is caught by the
parent's stall timeout and killed. The child ignores SIGINT and SIGTERM (a Ctrl-C or a `systemctl stop` reaches
the whole process group; stopping the child is the service's job) and dies with its parent.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import fcntl
import json
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from vision.core.errors import SourceError
from vision.core.processes import describe_exit, die_with_parent
from vision.core.types import Frame
from vision.sources.base import EvenTimeSampler, SourceInfo
from vision.sources.stream_reader import (
    FrameSink,
    InterruptReason,
    ReaderStatus,
    StreamReader,
    StreamSettings,
)

log = logging.getLogger("footfall.decoder")

HEADER = struct.Struct("<4sII")  # kind, JSON length, binary length
PIPE_SIZE = 1 << 20  # a 768x576 frame crosses in two reads instead of twenty
SPAWN_ALLOWANCE_S = 10.0  # a fresh interpreter imports PyAV and numpy before it opens anything (seconds on a busy box)
STOP_GRACE_S = 1.0  # a child asked to stop that has not exited by then is killed
MODULE = "vision.sources.decoder_process"


# -- the wire ----------------------------------------------------------------------------------------------------


def write_message(out: IO[bytes], kind: bytes, meta: dict[str, Any], payload: bytes | memoryview = b"") -> None:
    body = json.dumps(meta).encode()
    out.write(HEADER.pack(kind, len(body), len(payload)) + body)
    if payload:
        out.write(payload)
    out.flush()


def _read_exact(raw: IO[bytes], size: int) -> bytearray | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = raw.readinto(view[got:])  # type: ignore[attr-defined]
        if not count:
            return None
        got += count
    return buffer


def read_message(raw: IO[bytes]) -> tuple[bytes, dict[str, Any], bytearray] | None:
    """The next message, or None at the end of the output (the child exited or died)."""
    header = _read_exact(raw, HEADER.size)
    if header is None:
        return None
    kind, meta_size, payload_size = HEADER.unpack(header)
    meta = _read_exact(raw, meta_size)
    payload = _read_exact(raw, payload_size) if payload_size else bytearray()
    if meta is None or payload is None:
        return None
    return kind, json.loads(meta), payload


def _status_meta(status: ReaderStatus) -> dict[str, Any]:
    return {
        "frames_read": status.frames_read,
        "frames_analysed": status.frames_analysed,
        "decode_errors": status.decode_errors,
        "clock_origin": status.clock_origin,
        "last_frame_wall": status.last_frame_wall,
    }


def _status_of(meta: dict[str, Any]) -> ReaderStatus:
    return ReaderStatus(
        int(meta["frames_read"]), int(meta["frames_analysed"]), int(meta["decode_errors"]), meta["clock_origin"],
        meta["last_frame_wall"],
    )  # fmt: skip


# -- the child ---------------------------------------------------------------------------------------------------


class _ChannelSink:
    """The child's `FrameSink`: each call becomes a message to the parent."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def frame(self, frame: Frame, status: ReaderStatus) -> None:
        image = np.ascontiguousarray(frame.image)
        meta = {"index": frame.index, "pts_s": frame.pts_s, "time_s": frame.time_s, "shape": list(image.shape),
                **_status_meta(status)}  # fmt: skip
        write_message(self.out, b"FRAM", meta, memoryview(image).cast("B"))

    def status(self, status: ReaderStatus) -> None:
        write_message(self.out, b"STAT", _status_meta(status))

    def lost(self, message: str, reason: InterruptReason) -> None:
        write_message(self.out, b"LOST", {"message": message, "reason": reason})


def _watch_orders(orders: IO[bytes], closing: threading.Event) -> None:
    """The parent closes our input to stop us (or dies, which closes it too): close the connection, and leave
    at once if the reader stays stuck in FFmpeg."""
    with contextlib.suppress(OSError):
        while orders.read(4096):
            pass
    closing.set()
    time.sleep(STOP_GRACE_S)
    os._exit(0)


def child_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description="footfall's decoder for one camera")
    parser.add_argument("--camera", default="stream", help="the camera this connection serves (for `ps`)")
    parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent()
    if os.getppid() == 1:  # the parent died before the line above
        return 0
    faulthandler.enable()  # a native crash leaves its Python stack on stderr, which the service logs
    out = os.fdopen(os.dup(1), "wb")  # messages go out on a descriptor of their own ...
    os.dup2(2, 1)  # ... and anything printed by accident goes to stderr instead of into them
    orders = sys.stdin.buffer
    try:
        request = json.loads(orders.readline() or b"null")
        if not isinstance(request, dict):
            return 2
        try:
            reader = StreamReader(request["url"], StreamSettings(**request["settings"]))
        except SourceError as exc:
            write_message(out, b"FAIL", {"message": str(exc)})
            return 0
        write_message(out, b"INFO", {**asdict(reader.info), "start_time": reader.info.start_time.timestamp()})
        start = orders.readline()
        if not start:
            reader.close()
            return 0
        order = json.loads(start)
        closing = threading.Event()
        threading.Thread(target=_watch_orders, args=(orders, closing), name="orders", daemon=True).start()
        reader.run(order["camera"], EvenTimeSampler(float(order["fps"])), closing, _ChannelSink(out))
    except (BrokenPipeError, ConnectionResetError):  # the parent is gone
        return 0
    return 0


def _child_environment() -> dict[str, str]:
    """This environment, with the folder holding the `vision` package first on the child's path (a source tree
    run without installing works too)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


# -- the parent's end --------------------------------------------------------------------------------------------


class DecoderProcess:
    """A decoder child for one connection, seen from the parent: `open()` waits for the stream's facts, `start()`
    has it read into a `FrameSink` (from a thread of this process), `stop()` ends it, killing it if need be."""

    def __init__(self, url: str, settings: StreamSettings, label: str, uri: str, scrub: Callable[[str], str]) -> None:
        self.settings = settings
        self.label = label
        self.uri = uri
        self._scrub = scrub
        self._stopping = threading.Event()
        self._process = subprocess.Popen(
            [sys.executable, "-P", "-m", MODULE, "--camera", label],  # -P: nothing imported from the working folder
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            close_fds=True,
            env=_child_environment(),
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._orders = self._process.stdin
        self._messages = self._process.stdout
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(self._messages.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)  # type: ignore[attr-defined]
        self._stderr = threading.Thread(target=self._log_stderr, name=f"decoder-log-{label}", daemon=True)
        self._stderr.start()
        self._pump: threading.Thread | None = None
        self._camera = label
        request = {"url": url, "settings": {"transport": settings.transport, "open_timeout_s": settings.open_timeout_s,
                                            "stall_timeout_s": settings.stall_timeout_s}}  # fmt: skip
        self._send(request)

    @property
    def pid(self) -> int:
        return self._process.pid

    def _send(self, order: dict[str, Any]) -> None:
        try:
            self._orders.write(json.dumps(order).encode() + b"\n")
            self._orders.flush()
        except OSError:
            pass  # the child is gone: its end of output says why

    def _log_stderr(self) -> None:
        assert self._process.stderr is not None
        with contextlib.suppress(OSError, ValueError):
            for line in self._process.stderr:
                text = self._scrub(line.decode(errors="replace").rstrip())
                if text:
                    log.warning("%s decoder: %s", self.label, text)

    def open(self, shutdown: threading.Event) -> SourceInfo:
        """The stream's facts once the child has opened it; raises SourceError (the child stopped) if it cannot,
        if it does not answer within the open timeout (plus the child's start-up), or if `shutdown` is set."""
        deadline = time.monotonic() + self.settings.open_timeout_s + SPAWN_ALLOWANCE_S
        while True:
            if shutdown.is_set():
                self.stop()
                raise SourceError(f"{self.uri}: not opened: stopping")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise SourceError(f"{self.uri}: cannot open the stream (the decoder did not answer in "
                                  f"{self.settings.open_timeout_s + SPAWN_ALLOWANCE_S:g} s)")  # fmt: skip
            ready, _, _ = select.select([self._messages], [], [], min(0.2, remaining))
            if ready:
                break
        message = read_message(self._messages)
        if message is None:
            code = self.stop()
            raise SourceError(f"{self.uri}: cannot open the stream ({describe_exit(code, 'decoder')})")
        kind, meta, _ = message
        if kind != b"INFO":
            self.stop()
            raise SourceError(self._scrub(str(meta.get("message") or f"{self.uri}: cannot open the stream")))
        return SourceInfo(**{**meta, "start_time": datetime.fromtimestamp(float(meta["start_time"]), tz=UTC)})

    def start(self, camera: str, sampler: EvenTimeSampler, sink: FrameSink) -> None:
        self._camera = camera
        self._pump = threading.Thread(target=self._deliver, args=(sink,), name=f"decoder-{camera}", daemon=True)
        self._pump.start()
        self._send({"camera": camera, "fps": sampler.fps})

    def _deliver(self, sink: FrameSink) -> None:
        """Hands the child's messages on to `sink` until its output ends; a child that dies is a lost stream."""
        told = False
        while True:
            try:
                message = read_message(self._messages)
            except (OSError, ValueError):
                message = None
            if message is None:
                break
            kind, meta, payload = message
            if kind == b"FRAM":
                height, width, channels = meta["shape"]
                image = np.frombuffer(payload, dtype=np.uint8).reshape(height, width, channels)
                frame = Frame(camera=self._camera, index=int(meta["index"]), pts_s=float(meta["pts_s"]),
                              time_s=float(meta["time_s"]), image=image)  # fmt: skip
                sink.frame(frame, _status_of(meta))
            elif kind == b"STAT":
                sink.status(_status_of(meta))
            elif kind == b"LOST":
                told = True
                sink.lost(self._scrub(str(meta["message"])), meta["reason"])
        if told or self._stopping.is_set():
            return
        try:
            code = self._process.wait(timeout=STOP_GRACE_S + 5)
        except subprocess.TimeoutExpired:  # its output closed but it lives on: it is of no more use
            self._process.kill()
            code = self._process.wait()
        if not self._stopping.is_set():
            sink.lost(f"{self.uri}: {describe_exit(code, 'decoder')}", "crashed")

    def stop(self) -> int | None:
        """Asks the child to close its connection and exit; kills it if it has not within `STOP_GRACE_S` (hung in
        FFmpeg, or stopped). Returns its exit status; when this returns the child is gone."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._orders.close()
        try:
            code = self._process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait()
        for thread in (self._pump, self._stderr):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._messages.close()
        return code


if __name__ == "__main__":
    sys.exit(child_main())
