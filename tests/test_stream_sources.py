"""Live sources other than RTSP: an HTTP MJPEG camera (multipart JPEG over HTTP, as many IP cameras and NVRs
serve it) from a real HTTP server on 127.0.0.1, and a stream whose server goes away."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import PETS
from vision.core.errors import SourceError
from vision.sources.base import EvenTimeSampler
from vision.sources.stream import StreamInterrupted, StreamSettings, StreamSource

BOUNDARY = "footfallframe"


@pytest.fixture
def mjpeg_camera() -> Iterator[tuple[str, threading.Event]]:
    """http://127.0.0.1:PORT/video.mjpg: the PETS frames at 7 per second, looping, until the event is set (then
    the server ends every stream)."""
    frames = [path.read_bytes() for path in sorted((PETS / "frames").glob("*.jpg"))[:70]]
    hang_up = threading.Event()

    class Camera(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/video.mjpg":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.end_headers()
            index = 0
            while not hang_up.is_set():
                jpeg = frames[index % len(frames)]
                header = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                try:
                    self.wfile.write(header.encode() + jpeg + b"\r\n")
                    self.wfile.flush()
                except OSError:
                    return
                index += 1
                time.sleep(1 / 7)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/video.mjpg", hang_up
    finally:
        hang_up.set()
        server.shutdown()
        server.server_close()


def test_an_http_mjpeg_camera_is_read_with_arrival_times(mjpeg_camera: tuple[str, threading.Event]) -> None:
    url, hang_up = mjpeg_camera
    source = StreamSource(url, StreamSettings(open_timeout_s=5, stall_timeout_s=3))
    try:
        assert (source.info.width, source.info.height) == (768, 576)
        times, lags = [], []
        for frame in source.frames("shopfront", EvenTimeSampler(5)):
            times.append(frame.time_s)
            lags.append(time.time() - frame.time_s)
            if len(times) == 15:
                break
        assert source.clock_origin == "arrival"  # MJPEG over HTTP carries no capture clock
        assert all(0 <= lag < 1.0 for lag in lags)
        assert times == sorted(times) and 1.5 < times[-1] - times[0] < 4.5  # 14 steps of about 0.2 s
        hang_up.set()  # the camera goes away mid-stream: the source says so instead of hanging
        with pytest.raises(StreamInterrupted) as lost:
            for _ in source.frames("shopfront", EvenTimeSampler(5)):
                pass
        assert lost.value.reason in ("ended", "dropped", "stalled")
    finally:
        source.close()


def test_a_url_that_is_not_a_stream_is_one_clear_error(mjpeg_camera: tuple[str, threading.Event]) -> None:
    url, _ = mjpeg_camera
    with pytest.raises(SourceError, match=r"cannot open the stream \(.*\)"):
        StreamSource(url.replace("video.mjpg", "nothing-here"), StreamSettings(open_timeout_s=5))
