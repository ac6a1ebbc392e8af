"""A real RTSP server for the tests: serves video files as looping live H.264 cameras on 127.0.0.1.

Run it with the SYSTEM Python, which has GStreamer's introspection bindings (the venv cannot import `gi`):

    /usr/bin/python3 tests/rtsp_server.py --port 8554 --mount cam1=clip.mp4 --mount cam2=clip.mp4 \
        [--user U --password P [--auth digest]] [--fps 7]

It prints `READY rtsp://127.0.0.1:PORT` (flushed) once it listens (`--port 0` picks a free port and prints it),
and exits with status 0 on SIGTERM or SIGINT. It writes no files.

How a mount is served, and why:

- At start the clip is demuxed once (`filesrc ! qtdemux ! appsink`) into memory: its H.264 access units with their
  decode and presentation times (13 MB for the PETS clip; decoded frames would take 265 MB).
- Each mount's media pipeline is `appsrc ! avdec_h264 ! videoconvert ! x264enc ! rtph264pay name=pay0`. A timer
  on the main loop pushes the access units into the live `appsrc` in real time at the clip's frame rate (or
  `--fps`), loop after loop, adding one clip length to the timestamps each time: the loop is seamless, the
  timestamps only grow, and every loop starts on the clip's key frame, so the decoder never sees a break.
- The source is live, like a camera: the media cannot be seeked or paused, and a second client joining the
  shared media (`set_shared(True)`) does not restart it for the first (a client's `PLAY Range: npt=0-` would seek
  a file-backed pipeline back to the start for everyone).
- Re-encoding with `x264enc tune=zerolatency speed-preset=ultrafast key-int-max=<2 s>` gives a key frame every
  2 s (the clip itself has one every 250 frames, so a client joining mid-stream would wait half a minute for a
  picture) and no B-frames (RTP carries presentation times only). `rtph264pay config-interval=-1` repeats SPS/PPS
  with every key frame. At 768x576 and 7 fps this costs a few percent of one core per mount.
- After a stall (the process stopped with SIGSTOP, say) the timeline jumps forward to the present instead of
  bursting out the missed frames, as a camera would.
- The server's `rtpbin` sends RTCP sender reports (with wall-clock NTP times) over UDP and over TCP-interleaved.

With `--user/--password` every mount requires RTSP Basic authentication (`--auth digest` for Digest instead).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

APT_PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-ugly gstreamer1.0-libav"
)
ELEMENT_PACKAGES = {
    "appsrc": "gstreamer1.0-plugins-base",
    "appsink": "gstreamer1.0-plugins-base",
    "videoconvert": "gstreamer1.0-plugins-base",
    "qtdemux": "gstreamer1.0-plugins-good",
    "rtph264pay": "gstreamer1.0-plugins-good",
    "rtpbin": "gstreamer1.0-plugins-good",
    "avdec_h264": "gstreamer1.0-libav",
    "x264enc": "gstreamer1.0-plugins-ugly",
}
KEY_FRAME_INTERVAL_S = 2.0
PUSH_AHEAD_NS = 100_000_000  # access units go into the appsrc up to this far ahead of their decode time
TICK_MS = 20
MAX_LATENESS_NS = 1_000_000_000  # later than this (a stall), the timeline jumps forward to the present

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    gi.require_version("GstRtsp", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
except (ImportError, ValueError) as missing:
    sys.stderr.write(
        f"rtsp_server: GStreamer's RTSP server is not usable from {sys.executable} ({missing}); "
        f"install it with: apt-get install -y --no-install-recommends {APT_PACKAGES}\n"
    )
    sys.exit(3)


@dataclass(frozen=True)
class AccessUnit:
    """One compressed frame of the clip, with times relative to the clip's first presented frame."""

    data: bytes
    pts_ns: int
    dts_ns: int
    duration_ns: int
    key_frame: bool


@dataclass(frozen=True)
class Clip:
    """A clip's H.264 access units in decode order, the caps to decode them, and the time between frames."""

    caps: Gst.Caps
    units: list[AccessUnit]
    frame_ns: int

    @property
    def loop_ns(self) -> int:
        """How much the timestamps grow from one loop to the next."""
        return self.frame_ns * len(self.units)

    @property
    def fps(self) -> float:
        return Gst.SECOND / self.frame_ns


def demux_clip(path: Path, fps: float | None, timeout_s: float = 30.0) -> Clip:
    """The H.264 access units of an MP4/MOV clip, retimed to `fps` when given, else at the clip's own rate."""
    if not path.is_file():
        raise RuntimeError(f"no such file: {path}")
    pipeline = Gst.Pipeline.new("demux")
    source = Gst.ElementFactory.make("filesrc")
    demuxer = Gst.ElementFactory.make("qtdemux")
    sink = Gst.ElementFactory.make("appsink")
    source.set_property("location", str(path))
    sink.set_property("sync", False)
    sink.set_property("caps", Gst.Caps.from_string("video/x-h264, stream-format=avc, alignment=au"))
    for element in (source, demuxer, sink):
        pipeline.add(element)
    source.link(demuxer)
    demuxer.connect("pad-added", lambda _demuxer, pad: pad.link(sink.get_static_pad("sink")))
    pipeline.set_state(Gst.State.PLAYING)
    caps, segment_start, samples = None, 0, []
    deadline = time.monotonic() + timeout_s
    try:
        while not sink.get_property("eos"):
            message = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
            if message is not None:
                raise RuntimeError(f"cannot read {path}: {message.parse_error()[0].message}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"reading {path} took over {timeout_s} s")
            sample = sink.emit("try-pull-sample", Gst.SECOND // 5)
            if sample is None:
                continue
            if caps is None:
                caps, segment_start = sample.get_caps(), sample.get_segment().start
            buffer = sample.get_buffer()
            key_frame = not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT)
            samples.append((buffer.extract_dup(0, buffer.get_size()), buffer.pts, buffer.dts, key_frame))
    finally:
        pipeline.set_state(Gst.State.NULL)
    if caps is None or not samples:
        raise RuntimeError(f"no H.264 video found in {path} (only MP4/MOV with H.264 are served)")
    ok, num, den = caps.get_structure(0).get_fraction("framerate")
    clip_fps = num / den if ok and num > 0 else 25.0
    scale = clip_fps / fps if fps else 1.0
    frame_ns = round(Gst.SECOND / clip_fps * scale)
    units = [
        AccessUnit(
            data=data,
            pts_ns=round((pts - segment_start) * scale),
            dts_ns=round(((dts if dts != Gst.CLOCK_TIME_NONE else pts) - segment_start) * scale),
            duration_ns=frame_ns,
            key_frame=key_frame,
        )
        for data, pts, dts, key_frame in samples
    ]
    if not units[0].key_frame:
        raise RuntimeError(f"{path} does not start with a key frame")
    return Clip(caps=caps, units=units, frame_ns=frame_ns)


class LoopingFeeder:
    """Pushes a clip into one media's live appsrc in real time, looping forever with growing timestamps."""

    def __init__(self, appsrc: Gst.Element, clip: Clip) -> None:
        self.appsrc = appsrc
        self.clip = clip
        self.index = 0  # next access unit
        self.loop = 0
        self.offset_ns: int | None = None  # running time of the clip's time zero in the current timeline
        self.timer_id = GLib.timeout_add(TICK_MS, self.tick)

    def running_time_ns(self) -> int | None:
        clock = self.appsrc.get_clock()
        if clock is None or self.appsrc.get_state(0)[1] != Gst.State.PLAYING:
            return None
        return clock.get_time() - self.appsrc.get_base_time()

    def tick(self) -> bool:
        if self.timer_id == 0:
            return GLib.SOURCE_REMOVE
        now = self.running_time_ns()
        if now is None:
            return GLib.SOURCE_CONTINUE  # not playing yet
        if self.offset_ns is None:
            self.offset_ns = now - self.clip.units[0].dts_ns
        lateness = now - self.decode_time_ns(self.clip.units[self.index])
        if lateness > MAX_LATENESS_NS:
            self.offset_ns += lateness
        while self.decode_time_ns(self.clip.units[self.index]) <= now + PUSH_AHEAD_NS:
            if self.push(self.clip.units[self.index]) != Gst.FlowReturn.OK:
                self.timer_id = 0
                return GLib.SOURCE_REMOVE  # the media is shutting down
            self.index += 1
            if self.index == len(self.clip.units):
                self.index, self.loop = 0, self.loop + 1
        return GLib.SOURCE_CONTINUE

    def decode_time_ns(self, unit: AccessUnit) -> int:
        return self.offset_ns + self.loop * self.clip.loop_ns + unit.dts_ns

    def push(self, unit: AccessUnit) -> Gst.FlowReturn:
        buffer = Gst.Buffer.new_wrapped(unit.data)
        base = self.offset_ns + self.loop * self.clip.loop_ns
        buffer.pts, buffer.dts, buffer.duration = base + unit.pts_ns, base + unit.dts_ns, unit.duration_ns
        if not unit.key_frame:
            buffer.set_flags(Gst.BufferFlags.DELTA_UNIT)
        return self.appsrc.emit("push-buffer", buffer)

    def stop(self) -> None:
        if self.timer_id:
            GLib.source_remove(self.timer_id)
            self.timer_id = 0


class LoopingClipFactory(GstRtspServer.RTSPMediaFactory):
    """A shared live media per mount: the clip decoded, re-encoded with frequent key frames, and payloaded."""

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self.clip = clip
        key_int = max(1, round(KEY_FRAME_INTERVAL_S * clip.fps))
        self.set_launch(
            "( appsrc name=source is-live=true format=time do-timestamp=false "
            "! avdec_h264 max-threads=1 ! videoconvert "
            f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={key_int} threads=1 bitrate=2048 "
            "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
        self.set_shared(True)
        self.connect("media-configure", self.on_media_configure)

    def on_media_configure(self, _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        appsrc = media.get_element().get_by_name("source")
        appsrc.set_property("caps", self.clip.caps)
        feeder = LoopingFeeder(appsrc, self.clip)
        media.connect("unprepared", lambda _media: feeder.stop())


def check_elements() -> None:
    missing = [name for name in ELEMENT_PACKAGES if Gst.ElementFactory.find(name) is None]
    if missing:
        packages = sorted({ELEMENT_PACKAGES[name] for name in missing})
        sys.stderr.write(
            f"rtsp_server: GStreamer elements missing: {', '.join(missing)}; "
            f"install: apt-get install -y --no-install-recommends {' '.join(packages)}\n"
        )
        sys.exit(3)


def parse_mount(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path or "/" in name:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, Path(path)


def make_auth(user: str, password: str, method: str) -> GstRtspServer.RTSPAuth:
    """Auth that admits only `user`/`password` (Basic or Digest) and lets that user open every mount."""
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
    if method == "digest":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(user, password, token)
    else:
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    return auth


def user_permissions() -> GstRtspServer.RTSPPermissions:
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    permissions.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    return permissions


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8554, help="TCP port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--mount", type=parse_mount, action="append", required=True, help="NAME=PATH, repeatable")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--auth", choices=("basic", "digest"), default="basic")
    parser.add_argument("--fps", type=float, help="frame rate to serve at (default: the clip's own)")
    args = parser.parse_args(argv)
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")
    if args.fps is not None and args.fps <= 0:
        parser.error("--fps must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    Gst.init(None)
    check_elements()
    clips: dict[Path, Clip] = {}
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for name, path in args.mount:
        try:
            clip = clips[path] if path in clips else demux_clip(path, args.fps)
        except RuntimeError as error:
            sys.stderr.write(f"rtsp_server: mount {name}: {error}\n")
            return 2
        clips[path] = clip
        factory = LoopingClipFactory(clip)
        if args.user is not None:
            factory.set_permissions(user_permissions())
        mounts.add_factory(f"/{name}", factory)
    if args.user is not None:
        server.set_auth(make_auth(args.user, args.password, args.auth))
    if server.attach(None) == 0:
        sys.stderr.write(f"rtsp_server: cannot listen on 127.0.0.1:{args.port}\n")
        return 2
    loop = GLib.MainLoop()

    def quit_loop() -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    def drop_expired_sessions() -> bool:  # of clients that vanished without a TEARDOWN
        server.get_session_pool().cleanup()
        return GLib.SOURCE_CONTINUE

    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, quit_loop)
    GLib.timeout_add_seconds(2, drop_expired_sessions)
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
