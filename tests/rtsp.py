"""A real RTSP server for the tests (tests/rtsp_server.py, GStreamer, run by the system Python) and its fixtures.

Use the fixtures with `pytest_plugins = ("tests.rtsp",)` in a test module or tests/conftest.py, or import both
into conftest.py: `from tests.rtsp import rtsp_server, rtsp_server_factory  # noqa: F401` (the first needs the
second). Every wait here is bounded; a server that cannot start
fails the test with its stderr, naming the apt packages to install when GStreamer is missing.

PYTEST_DONT_REWRITE: no asserts here; a test module may import this before pytest loads it as a plugin.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import quote

import pytest

from tests.helpers import PETS_VIDEO

SYSTEM_PYTHON = Path("/usr/bin/python3")
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
APT_PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-ugly gstreamer1.0-libav"
)
HOST = "127.0.0.1"
STOP_TIMEOUT_S = 5.0
STDERR_TAIL_BYTES = 64 * 1024
READY_PATTERN = re.compile(r"^READY rtsp://127\.0\.0\.1:(\d+)\s*$")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class RtspServerError(RuntimeError):
    """The RTSP server did not start, or died; the message carries its stderr."""


class RtspServer:
    """tests/rtsp_server.py in a child process: serves each mount's clip as a looping live H.264 camera.

    `port=None` lets the server pick a free port on its first start and keeps that port for `restart()`.
    """

    def __init__(
        self,
        mounts: dict[str, Path],
        port: int | None = None,
        user: str | None = None,
        password: str | None = None,
        auth: str = "basic",
        fps: float | None = None,
    ) -> None:
        if (user is None) != (password is None):
            raise ValueError("user and password go together")
        self.mounts = dict(mounts)
        self.port = port
        self.user = user
        self.password = password
        self.auth = auth
        self.fps = fps
        self.process: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self._paused = False

    # lifecycle -------------------------------------------------------------------------------------------------

    def command(self) -> list[str]:
        command = [str(SYSTEM_PYTHON), str(SERVER_SCRIPT), "--port", str(self.port or 0)]
        for name, path in self.mounts.items():
            command += ["--mount", f"{name}={path}"]
        if self.user is not None:
            command += ["--user", self.user, "--password", str(self.password), "--auth", self.auth]
        if self.fps is not None:
            command += ["--fps", str(self.fps)]
        return command

    def start(self, timeout_s: float = 20) -> None:
        """Spawn the server and wait (at most `timeout_s`) until it prints READY; raise with its stderr if not."""
        if self.running:
            raise RtspServerError("the RTSP server is already running")
        if not SYSTEM_PYTHON.exists():
            raise RtspServerError(
                f"{SYSTEM_PYTHON} is missing: the RTSP test server needs the system Python with GStreamer; "
                f"install: apt-get install -y --no-install-recommends {APT_PACKAGES}"
            )
        self._close_stderr()
        self._stderr = tempfile.TemporaryFile(prefix="rtsp-server-stderr-")  # noqa: SIM115 (outlives this call)
        self._paused = False
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=tempfile.gettempdir(),  # the server writes nothing, and surely not into the repository
        )
        lines: queue.Queue[str | None] = queue.Queue()
        stdout = self.process.stdout

        def read_stdout() -> None:
            for line in stdout:  # type: ignore[union-attr]
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read_stdout, name="rtsp-server-stdout", daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise RtspServerError(
                    f"the RTSP server printed no READY in {timeout_s} s{self._stderr_note()}"
                ) from None
            if line is None:
                code = self.process.wait(timeout=STOP_TIMEOUT_S)
                raise RtspServerError(f"the RTSP server exited with status {code} before READY{self._stderr_note()}")
            ready = READY_PATTERN.match(line)
            if ready:
                self.port = int(ready.group(1))
                return

    def restart(self, timeout_s: float = 20) -> None:
        """Start the server again on the same port (stopping it first if it still runs)."""
        if self.port is None:
            raise RtspServerError("restart() before the first start(): no port to reuse")
        self.stop()
        self.start(timeout_s)

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, should it be paused) and wait; SIGKILL if it does not exit in time."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL: the server dies mid-stream, its connections reset."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self._reap()

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing flows (a stalled camera or network)."""
        self._require_running().send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT after `pause()`."""
        self._require_running().send_signal(signal.SIGCONT)
        self._paused = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def paused(self) -> bool:
        return self.running and self._paused

    @property
    def stderr_text(self) -> str:
        """The end of what the server wrote on stderr (its current or last run)."""
        if self._stderr is None:
            return ""
        descriptor = self._stderr.fileno()
        size = os.fstat(descriptor).st_size
        start = max(0, size - STDERR_TAIL_BYTES)
        return os.pread(descriptor, size - start, start).decode(errors="replace")

    # addresses -------------------------------------------------------------------------------------------------

    def url(self, mount: str, with_credentials: bool = True) -> str:
        """rtsp://[user:password@]127.0.0.1:PORT/mount"""
        if self.port is None:
            raise RtspServerError("the RTSP server has no port yet: start() it first")
        if mount not in self.mounts:
            raise KeyError(f"no mount {mount!r}; mounts: {', '.join(self.mounts)}")
        credentials = ""
        if with_credentials and self.user is not None:
            credentials = f"{quote(self.user, safe='')}:{quote(str(self.password), safe='')}@"
        return f"rtsp://{credentials}{HOST}:{self.port}/{mount}"

    # context manager -------------------------------------------------------------------------------------------

    def __enter__(self) -> RtspServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
        self._close_stderr()

    # internals -------------------------------------------------------------------------------------------------

    def _require_running(self) -> subprocess.Popen[str]:
        if not self.running:
            raise RtspServerError(f"the RTSP server is not running{self._stderr_note()}")
        return self.process  # type: ignore[return-value]

    def _reap(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self._paused = False

    def _stderr_note(self) -> str:
        text = self.stderr_text.strip()
        return f"; its stderr:\n{text}" if text else " (its stderr is empty)"

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _start_or_fail(server: RtspServer) -> RtspServer:
    try:
        server.start()
    except RtspServerError as error:
        server.stop()
        pytest.fail(f"cannot start the RTSP test server: {error}", pytrace=False)
    return server


@pytest.fixture
def rtsp_server_factory() -> Iterator[Callable[..., RtspServer]]:
    """Make and start RtspServers (same arguments as RtspServer); all are stopped at teardown, whatever happens."""
    servers: list[RtspServer] = []

    def make(mounts: dict[str, Path] | None = None, **options: object) -> RtspServer:
        server = RtspServer(mounts or {"cam1": PETS_VIDEO, "cam2": PETS_VIDEO}, **options)  # type: ignore[arg-type]
        servers.append(server)
        return _start_or_fail(server)

    try:
        yield make
    finally:
        for server in servers:
            server.__exit__(None, None, None)


@pytest.fixture
def rtsp_server(rtsp_server_factory: Callable[..., RtspServer]) -> RtspServer:
    """A started RTSP server on 127.0.0.1 serving the PETS clip in a loop at mounts cam1 and cam2, no auth."""
    return rtsp_server_factory()
