"""Decoder faults made to happen for real, no mock: the decoder child of a live camera sent SIGSEGV, SIGKILL and
SIGSTOP (a hang) mid-stream while `footfall serve` runs it beside a healthy camera; a reader that hangs past its
timeout; `frames()` called twice on one connection. The streams come from the real RTSP server (tests/rtsp.py).
Every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pyarrow.dataset as ds
import pytest

from tests.rtsp import RtspServer
from tests.test_serve import (  # noqa: F401 (serves: the fixture)
    CREDENTIALS_ENV,
    PASSWORD,
    USER,
    Serve,
    credentials_site,
    read_all_parquet,
    serves,
    wait_for,
)
from vision.sources.base import EvenTimeSampler
from vision.sources.stream import StreamInterrupted, StreamSettings, StreamSource

pytest_plugins = ("tests.rtsp",)

DECODER_MODULE = "vision.sources.decoder_process"


def decoders_of(pid: int) -> dict[str, psutil.Process]:
    """The decoder children of process `pid`, by the camera each serves."""
    found = {}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            command = child.cmdline()
        except psutil.Error:
            continue
        if DECODER_MODULE in command and child.status() != psutil.STATUS_ZOMBIE:
            found[command[command.index("--camera") + 1]] = child
    return found


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def open_cam1(server: RtspServer, stall_timeout_s: float) -> tuple[StreamSource, int]:
    """A connection to the server's cam1, and the process id of its decoder."""
    source = StreamSource(server.url("cam1"), StreamSettings(stall_timeout_s=stall_timeout_s), label="cam1")
    assert source.decoder_pid is not None
    return source, source.decoder_pid


def read_some(source: StreamSource, count: int, camera: str = "cam1") -> None:
    for index, _ in enumerate(source.frames(camera, EvenTimeSampler(5)), start=1):
        if index == count:
            return


def test_frames_called_twice_goes_on_from_the_one_reader_and_a_second_reader_at_once_is_refused(
    rtsp_server: RtspServer,
) -> None:
    source, decoder = open_cam1(rtsp_server, stall_timeout_s=5)
    try:
        first = source.frames("cam1", EvenTimeSampler(5))
        frame = next(first)
        assert frame.camera == "cam1" and frame.image.shape == (576, 768, 3)
        with pytest.raises(RuntimeError, match="already being read"):
            next(source.frames("cam1", EvenTimeSampler(5)))
        with pytest.raises(RuntimeError, match="already being read"):  # the refusal changed nothing
            next(source.frames("cam1", EvenTimeSampler(5)))
        later = next(first)
        assert later.time_s > frame.time_s
        first.close()
        read_some(source, 3)  # a later call goes on from the same reader ...
        assert source.decoder_pid == decoder and not gone(decoder)  # ... in the same decoder process
        with pytest.raises(ValueError, match="cannot go on as cam1 at 2"):
            next(source.frames("cam1", EvenTimeSampler(2)))
        again = source.frames("cam1", EvenTimeSampler(5))
        assert next(again).time_s > later.time_s
        again.close()
    finally:
        source.close()
    assert gone(decoder)  # close() returns once the decoder has exited
    source.close()  # a second close does nothing


def test_the_in_process_reader_also_has_one_owner(rtsp_server: RtspServer) -> None:
    source = StreamSource(rtsp_server.url("cam1"), StreamSettings(stall_timeout_s=5, isolation="thread"))
    assert source.decoder_pid is None
    try:
        first = source.frames("cam1", EvenTimeSampler(5))
        next(first)
        with pytest.raises(RuntimeError, match="already being read"):
            next(source.frames("cam1", EvenTimeSampler(5)))
        first.close()
        read_some(source, 2)
        readers = [thread for thread in threading.enumerate() if thread.name == "stream-cam1"]
        assert len(readers) == 1
    finally:
        source.close()
    readers[0].join(2)
    assert not readers[0].is_alive()


@pytest.mark.parametrize(
    ("fault", "reason", "message"),
    [
        (signal.SIGSEGV, "crashed", "decoder crashed (signal 11, SIGSEGV)"),
        (signal.SIGABRT, "crashed", "decoder crashed (signal 6, SIGABRT)"),
        (signal.SIGKILL, "crashed", "decoder was killed (signal 9, SIGKILL)"),
    ],
)
def test_a_decoder_that_dies_mid_stream_ends_the_connection_with_why(
    rtsp_server: RtspServer, fault: signal.Signals, reason: str, message: str
) -> None:
    source, decoder = open_cam1(rtsp_server, stall_timeout_s=5)
    try:
        frames = source.frames("cam1", EvenTimeSampler(5))
        next(frames)
        os.kill(decoder, fault)
        started = time.monotonic()
        with pytest.raises(StreamInterrupted) as lost:
            for _ in frames:
                pass
        assert time.monotonic() - started < 3  # told at once, not after the stall timeout
        assert lost.value.reason == reason
        assert str(lost.value) == f"{rtsp_server.url('cam1')}: {message}"
        with pytest.raises(StreamInterrupted):  # and again to a caller who asks again
            next(source.frames("cam1", EvenTimeSampler(5)))
    finally:
        source.close()
    assert gone(decoder)


def test_a_reader_that_hangs_past_its_timeout_is_a_stall_and_its_decoder_is_killed(rtsp_server: RtspServer) -> None:
    source, decoder = open_cam1(rtsp_server, stall_timeout_s=2)
    try:
        frames = source.frames("cam1", EvenTimeSampler(5))
        next(frames)
        os.kill(decoder, signal.SIGSTOP)  # stuck for good, as a decoder deadlocked inside FFmpeg would be
        started = time.monotonic()
        with pytest.raises(StreamInterrupted, match="no frame for 2 s") as lost:
            for _ in frames:
                pass
        assert lost.value.reason == "stalled"
        assert 1.5 < time.monotonic() - started < 4
    finally:
        closing = time.monotonic()
        source.close()
        closed_in = time.monotonic() - closing
    assert gone(decoder) and closed_in < 3  # killed: nothing is left inside FFmpeg


def test_open_never_waits_past_its_timeout_on_a_server_that_answers_nothing(tmp_path: Path) -> None:
    import socket

    with socket.socket() as silent:  # accepts the connection (the kernel does), then says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{silent.getsockname()[1]}/cam1"
        started = time.monotonic()
        with pytest.raises(Exception, match="cannot open the stream") as refused:
            StreamSource(url, StreamSettings(open_timeout_s=1))
        assert time.monotonic() - started < 1 + 10
    assert PASSWORD not in str(refused.value) and USER not in str(refused.value)


def test_serve_survives_decoder_crashes_and_a_hang_beside_a_healthy_camera(
    rtsp_server_factory: Callable[..., RtspServer],
    serves: list[Serve],  # noqa: F811 (the fixture, imported above)
    tmp_path: Path,
) -> None:
    server = rtsp_server_factory(user=USER, password=PASSWORD)
    site = credentials_site(server, tmp_path, {"faulty": "cam1", "healthy": "cam2"})
    out = tmp_path / "out"
    serve = Serve(site, out, "--backoff-max", "1", "--stall-timeout", "3", env=CREDENTIALS_ENV)
    serves.append(serve)
    serve.wait_connected("faulty", "healthy")
    decoders = decoders_of(serve.process.pid)
    assert set(decoders) == {"faulty", "healthy"}
    for decoder in decoders.values():  # the URL went over a pipe, not the command line
        assert not any(PASSWORD in part or USER in part for part in decoder.cmdline())
    healthy_decoder = decoders["healthy"].pid

    seen: list[tuple[bool, float]] = []  # (connected, age of its newest frame) every 0.2 s
    stop_watching = threading.Event()

    def watch_healthy() -> None:
        while not stop_watching.wait(0.2):
            camera = serve.camera("healthy")
            if camera:
                seen.append((camera["connected"], camera["newest_frame_age_s"]))

    watcher = threading.Thread(target=watch_healthy, daemon=True)
    watcher.start()
    healthy_before = serve.camera("healthy")["frames_analysed"]
    watch_started = time.monotonic()
    for fault in (signal.SIGSEGV, signal.SIGKILL, signal.SIGSTOP):
        victim = decoders_of(serve.process.pid)["faulty"]
        victim.send_signal(fault)
        wait_for(lambda v=victim: gone(v.pid), 30, f"the decoder sent {fault!r} gone")
        replaced = lambda v=victim: decoders_of(serve.process.pid).get("faulty", v).pid != v.pid  # noqa: E731
        wait_for(replaced, 30, f"a new decoder after {fault!r}")
        serve.wait_connected("faulty", timeout_s=30)
        assert serve.process.poll() is None
    stop_watching.set()
    watcher.join(5)
    watched_s = time.monotonic() - watch_started
    healthy = serve.camera("healthy")
    assert healthy["reconnects"] == 0 and healthy["outages"] == 0 and healthy["connected"]
    assert decoders_of(serve.process.pid)["healthy"].pid == healthy_decoder  # untouched
    assert seen and all(connected for connected, _ in seen), seen
    assert max(age for _, age in seen) < 2.0, seen  # its frames never stopped coming
    assert healthy["frames_analysed"] - healthy_before > 0.6 * 5 * watched_s  # at its 5 frames/s, give or take
    metrics = serve.get("/metrics") or ""
    children = [decoder.pid for decoder in decoders_of(serve.process.pid).values()]

    code, stop_s = serve.terminate()
    assert code == 0 and stop_s < 5, serve.log_text()
    assert all(gone(pid) for pid in children)
    read_all_parquet(out)
    outages = ds.dataset(out / "outages", partitioning="hive").to_table().to_pylist()
    assert {row["camera"] for row in outages} == {"faulty"}
    reasons = [row["reason"] for row in sorted(outages, key=lambda row: row["start"])]
    assert len(reasons) == 3, reasons
    assert reasons[0].endswith("decoder crashed (signal 11, SIGSEGV)"), reasons
    assert reasons[1].endswith("decoder was killed (signal 9, SIGKILL)"), reasons
    assert reasons[2].endswith("no frame for 3 s"), reasons
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "stopped"
    log = serve.log_text()
    assert "Segmentation fault" in log  # the decoder's own last words (faulthandler) are in the service's log
    everything = b"".join(path.read_bytes() for path in out.rglob("*") if path.is_file()) + log.encode()
    assert PASSWORD.encode() not in everything and USER.encode() not in everything
    assert 'footfall_camera_connected{camera="healthy"} 1.0' in metrics
