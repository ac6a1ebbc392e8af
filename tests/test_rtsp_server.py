"""The RTSP test server itself (tests/rtsp_server.py), read with PyAV as the engine reads cameras."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import av
import av.container
import pytest

from tests.helpers import PETS_SIZE, PETS_VIDEO
from tests.rtsp import RtspServer, RtspServerError

pytest_plugins = ("tests.rtsp",)  # the rtsp_server and rtsp_server_factory fixtures

ENGINE_OPTIONS = {"rtsp_transport": "tcp"}  # what the engine passes, with timeout=(5, 5)
# the same, but stops probing after half a second of stream (FFmpeg's default, 5 s, costs 4.6 s per open at 7 fps)
QUICK_OPTIONS = {**ENGINE_OPTIONS, "analyzeduration": "500000"}


def open_camera(
    url: str, read_timeout_s: float = 5.0, options: dict[str, str] = QUICK_OPTIONS
) -> av.container.InputContainer:
    return av.open(url, options=options, timeout=(5.0, read_timeout_s))


def video_frames(container: av.container.InputContainer) -> Iterator[av.VideoFrame]:
    return container.decode(video=0)


def take(frames: Iterator[av.VideoFrame], count: int) -> list[av.VideoFrame]:
    return [next(frames) for _ in range(count)]


def test_cam1_decodes_at_768x576_over_tcp_with_rtcp_wall_clock(rtsp_server: RtspServer) -> None:
    with open_camera(rtsp_server.url("cam1"), options=ENGINE_OPTIONS) as container:
        frames = video_frames(container)
        first = take(frames, 10)
        assert {(frame.width, frame.height) for frame in first} == {PETS_SIZE}
        times = [frame.time for frame in first[1:]]  # FFmpeg leaves the first frame of an RTP stream without pts
        assert None not in times and times == sorted(times)
        deadline = time.monotonic() + 10
        while container.start_time_realtime is None and time.monotonic() < deadline:
            next(frames)
        # the server's RTCP sender reports carry its wall clock: FFmpeg turns the first into start_time_realtime
        assert container.start_time_realtime is not None, "no RTCP sender report within 10 s"
        assert abs(container.start_time_realtime / 1e6 - time.time()) < 120


def test_two_clients_at_once_and_a_second_mount(rtsp_server: RtspServer) -> None:
    with (
        open_camera(rtsp_server.url("cam1")) as first,
        open_camera(rtsp_server.url("cam1")) as second,
        open_camera(rtsp_server.url("cam2")) as other_mount,
    ):
        streams = [video_frames(container) for container in (first, second, other_mount)]
        for _ in range(10):
            for frames in streams:
                frame = next(frames)
                assert (frame.width, frame.height) == PETS_SIZE
    rtsp_server.stop()  # SIGTERM after clients came and went: a clean exit
    assert rtsp_server.process is not None and rtsp_server.process.returncode == 0, rtsp_server.stderr_text


def test_credentials_are_required_when_auth_is_on(rtsp_server_factory: Callable[..., RtspServer]) -> None:
    server = rtsp_server_factory({"cam1": PETS_VIDEO}, user="viewer", password="p@ss:word")
    anonymous = server.url("cam1", with_credentials=False)
    wrong_password = server.url("cam1").replace("p%40ss", "x%40ss")
    for refused in (anonymous, wrong_password):
        with pytest.raises(av.error.HTTPUnauthorizedError):
            open_camera(refused)
    with open_camera(server.url("cam1")) as container:
        frame = next(video_frames(container))
        assert (frame.width, frame.height) == PETS_SIZE


def test_killed_server_ends_the_stream_and_a_restart_on_the_same_port_serves_again(rtsp_server: RtspServer) -> None:
    port = rtsp_server.port
    with open_camera(rtsp_server.url("cam1")) as container:
        frames = video_frames(container)
        take(frames, 3)
        rtsp_server.kill()
        killed_at = time.monotonic()
        # FFmpeg decodes what it had buffered, then sees the reset connection as the end of the stream, or fails
        # on the frame the reset cut short
        with pytest.raises((StopIteration, av.error.InvalidDataError)):
            for _ in range(200):
                next(frames)
        assert time.monotonic() - killed_at < 3
    with pytest.raises(ConnectionRefusedError):
        open_camera(rtsp_server.url("cam1"))
    rtsp_server.restart()
    assert rtsp_server.port == port
    with open_camera(rtsp_server.url("cam1")) as container:
        frame = next(video_frames(container))
        assert (frame.width, frame.height) == PETS_SIZE


def test_paused_server_stalls_reads_until_resumed(rtsp_server: RtspServer) -> None:
    read_timeout_s = 1.0
    with (
        open_camera(rtsp_server.url("cam1"), read_timeout_s=read_timeout_s) as impatient,
        open_camera(rtsp_server.url("cam1"), read_timeout_s=10.0) as patient,
    ):
        impatient_frames, patient_frames = video_frames(impatient), video_frames(patient)
        take(impatient_frames, 3)
        before_pause = take(patient_frames, 3)[-1].time
        rtsp_server.pause()
        paused_at = time.monotonic()
        with pytest.raises(av.error.ExitError):  # PyAV's read timeout: FFmpeg's interrupt callback fired
            for _ in range(100):  # frames FFmpeg had buffered, then the stall
                try:
                    next(impatient_frames)
                except av.error.InvalidDataError:  # on a loaded machine the pause can cut a packet short
                    impatient_frames = video_frames(impatient)
        assert time.monotonic() - paused_at < read_timeout_s + 3
        time.sleep(max(0.0, 2.0 - (time.monotonic() - paused_at)))
        rtsp_server.resume()
        stalled_s = time.monotonic() - paused_at
        # the same connection goes on: after the buffered frames, live ones whose times jump over the stall
        deadline = time.monotonic() + 5
        while (frame_time := next(patient_frames).time) < before_pause + stalled_s - 0.5:
            assert time.monotonic() < deadline, "no live frames within 5 s of SIGCONT"
        assert frame_time < before_pause + stalled_s + 5


def test_the_clip_loops_seamlessly(rtsp_server_factory: Callable[..., RtspServer]) -> None:
    fps = 70  # ten times the clip's rate: its 400 frames loop every 5.7 s
    server = rtsp_server_factory({"cam1": PETS_VIDEO}, fps=fps)
    with open_camera(server.url("cam1")) as container:
        frames = video_frames(container)
        next(frames)
        pts = [frame.pts for frame in take(frames, 410)]  # any 401 frames in a row cross the end of the clip
    ticks_per_frame = 90_000 / fps
    steps = [later - earlier for earlier, later in pairwise(pts)]
    assert all(abs(step - ticks_per_frame) <= 1 for step in steps), sorted(set(steps))


def test_a_missing_clip_is_reported_with_the_servers_stderr(tmp_path: Path) -> None:
    server = RtspServer({"cam1": tmp_path / "absent.mp4"})
    with pytest.raises(RtspServerError, match=r"no such file: .*absent\.mp4"):
        server.start(timeout_s=20)
    server.stop()
