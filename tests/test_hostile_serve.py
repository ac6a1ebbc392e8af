"""`footfall serve` and `validate` under hostile use (issue: nothing doubled, nothing leaked, nothing silently
dead): secrets under any query key or filled from ${ENV}, a camera thread's unexpected error, streams that end at
once, SIGHUP with a config that fails a later check. The real CLI, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pyarrow.dataset as ds
import pytest

from tests.helpers import PETS_VIDEO, TFLITE_MODEL
from tests.rtsp import RtspServer, free_port
from tests.test_faults import mounted_tmpfs
from tests.test_serve import Serve, read_all_parquet, site_file, wait_for

pytest_plugins = ("tests.rtsp",)  # the rtsp_server fixture

SECRETS = {"CAM_TOKEN": "Zq8-tokenvalue-77", "CAM_USER": "opsviewer", "CAM_PATH": "hiddenpath42"}
LITERAL_SECRET = "literalLoginPas99"


class _Answers404(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_404() -> Iterator[int]:
    """A real HTTP server on 127.0.0.1 that answers every request 404; yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers404)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def serves() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        if serve.process.poll() is None:
            serve.process.kill()
            serve.process.wait(5)


def _everything_written(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


def test_secrets_under_any_query_key_or_from_the_environment_reach_no_output(
    http_404: int, serves: list[Serve], tmp_path: Path
) -> None:
    source = (
        f"http://127.0.0.1:{http_404}/${{CAM_PATH}}/nope.mjpg?access_token=${{CAM_TOKEN}}&usr=${{CAM_USER}}"
        f"&loginpas={LITERAL_SECRET}&channel=1"
    )
    site = site_file(tmp_path, {"door": source})
    env = {**os.environ, **SECRETS}

    validate = subprocess.run([sys.executable, "-m", "vision", "validate", str(site)], capture_output=True,
                              text=True, timeout=60, env=env)  # fmt: skip
    assert validate.returncode == 1
    assert "door" in validate.stdout + validate.stderr and "404" in validate.stdout + validate.stderr

    out = tmp_path / "out"
    serve = Serve(site, out, "--backoff-max", "1", env=SECRETS)
    serves.append(serve)
    error = wait_for(lambda: serve.camera("door").get("last_error"), 30, "the 404 seen")
    health = serve.get("/health") or ""
    metrics = serve.get("/metrics") or ""
    code, _ = serve.terminate()
    assert code == 0, serve.log_text()
    assert "404" in str(error) and "channel=1" in str(error), error

    outages = ds.dataset(out / "outages", partitioning="hive").to_table().to_pylist()
    assert outages and outages[0]["camera"] == "door"
    written = "\n".join([validate.stdout, validate.stderr, health, metrics, serve.log_text(), _everything_written(out)])
    for secret in [*SECRETS.values(), LITERAL_SECRET]:
        assert secret not in written, secret
    assert "channel=1" in written  # what selects a stream stays readable


def _fill(folder: Path) -> Path:
    """Writes a file into `folder` until its file system is full; returns it."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError:
            pass
    return filler


def _part_count(out: Path) -> int:
    return len(list((out / "tracks").rglob("*.parquet"))) if (out / "tracks").is_dir() else 0


def test_a_full_disk_is_a_degraded_state_and_writing_resumes_when_space_returns(
    rtsp_server: RtspServer, serves: list[Serve], tmp_path: Path
) -> None:
    site = site_file(tmp_path, {"view001": rtsp_server.url("cam1")})
    with mounted_tmpfs(tmp_path / "disk", "size=8m") as disk:
        out = disk / "out"
        serve = Serve(site, out, "--flush-interval", "2")
        serves.append(serve)
        serve.wait_connected("view001")
        wait_for(lambda: _part_count(out) > 0, 40, "a first flush")

        filler = _fill(disk)
        health = wait_for(
            lambda: (h := serve.health()).get("storage", {}).get("errors") and h, 30, "the full disk in /health"
        )
        assert health["status"] == "degraded" and not health["storage"]["writing"]
        assert any("No space left on device" in error for error in health["storage"]["errors"].values()), health
        time.sleep(4)  # flushes fail while it is full: the service lives on
        assert serve.process.poll() is None, serve.log_text()
        parts_while_full = _part_count(out)

        filler.unlink()
        wait_for(lambda: serve.health().get("storage", {}).get("writing"), 30, "writing again in /health")
        wait_for(lambda: _part_count(out) > parts_while_full, 30, "a flush after space came back")
        serve.wait_connected("view001")
        assert serve.health()["status"] == "ok"
        code, _ = serve.terminate()
        assert code == 0, serve.log_text()
        log = serve.log_text()
        assert "Traceback" not in log and "writing again" in log, log
        assert json.loads((out / "run.json").read_text())["status"] == "stopped"
        read_all_parquet(out)  # every part whole, no temporary file left
        for feed in (out / "live").rglob("*.jsonl"):
            for line in feed.read_text().splitlines():
                json.loads(line)  # no half line glued to a later one


def test_sighup_with_a_config_that_fails_a_later_check_is_refused_and_the_service_goes_on(
    rtsp_server: RtspServer, serves: list[Serve], tmp_path: Path
) -> None:
    site = site_file(tmp_path, {"view001": rtsp_server.url("cam1")})
    out = tmp_path / "out"
    serve = Serve(site, out)
    serves.append(serve)
    serve.wait_connected("view001")
    first_run = serve.health()["run_id"]
    good = site.read_text()

    breakages = {
        "a file source": lambda: site_file(tmp_path, {"view001": rtsp_server.url("cam1"), "door": str(PETS_VIDEO)}),
        "a missing calibration": lambda: site.write_text(good.replace("view001.json", "gone.json")),
        "an unset variable": lambda: site_file(tmp_path, {"view001": "rtsp://${NOT_SET_ANYWHERE}@127.0.0.1:1/x"}),
        "an unknown scheme": lambda: site_file(tmp_path, {"view001": "gopher://127.0.0.1:1/x"}),
    }
    for number, (what, breakage) in enumerate(breakages.items(), start=1):
        breakage()
        serve.process.send_signal(signal.SIGHUP)
        wait_for(lambda n=number: serve.log_text().count("config not reloaded") >= n, 15, f"{what} refused")
        assert serve.process.poll() is None, f"{what}: {serve.log_text()}"
        assert serve.health()["run_id"] == first_run, what
        site.write_text(good)
    assert serve.camera("view001")["connected"]
    code, _ = serve.terminate()
    assert code == 0, serve.log_text()


def _catches_sighup(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    return False


def test_sighup_during_start_up_reloads_once_started(
    rtsp_server: RtspServer, serves: list[Serve], tmp_path: Path
) -> None:
    site = site_file(tmp_path, {"view001": rtsp_server.url("cam1")})
    serve = Serve(site, tmp_path / "out")
    serves.append(serve)
    wait_for(lambda: _catches_sighup(serve.process.pid), 30, "the start-up's SIGHUP handler", interval_s=0.01)
    serve.process.send_signal(signal.SIGHUP)  # the model not loaded yet, no camera connected
    serve.wait_connected("view001")
    assert serve.process.poll() is None
    assert "SIGHUP came during start-up" in serve.log_text()
    code, _ = serve.terminate()
    assert code == 0, serve.log_text()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--open-timeout", "1e308"), ("--stall-timeout", "inf"), ("--backoff-max", "1e300"), ("--open-timeout", "0")],
)
def test_absurd_stream_settings_are_refused_at_start(option: str, value: str, tmp_path: Path) -> None:
    site = site_file(tmp_path, {"view001": f"rtsp://127.0.0.1:{free_port()}/cam1"})
    command = [sys.executable, "-m", "vision", "serve", str(site), "--out", str(tmp_path / "out"), option, value,
               "--health", "127.0.0.1:0"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "seconds" in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


class _OneFrameThenClose(http.server.BaseHTTPRequestHandler):
    """A snapshot-like MJPEG URL: one frame, then the connection ends. Counts the connections."""

    connections: list[float]
    jpeg: bytes

    def do_GET(self) -> None:
        type(self).connections.append(time.monotonic())
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(self.jpeg))
        self.wfile.write(self.jpeg + b"\r\n")
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


def test_streams_that_end_at_once_back_off_further_each_time_and_log_once(serves: list[Serve], tmp_path: Path) -> None:
    capture = cv2.VideoCapture(str(PETS_VIDEO))
    ok, image = capture.read()
    capture.release()
    assert ok
    handler = type(
        "Handler", (_OneFrameThenClose,), {"connections": [], "jpeg": cv2.imencode(".jpg", image)[1].tobytes()}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/snapshot.mjpg"
        serve = Serve(site_file(tmp_path, {"snap": url}), tmp_path / "out", "--backoff-max", "8")
        serves.append(serve)
        wait_for(lambda: len(handler.connections) >= 5, 90, "five connections")
        code, _ = serve.terminate()
        assert code == 0, serve.log_text()
    finally:
        server.shutdown()
        server.server_close()
    gaps = np.diff(handler.connections)
    # delays of 1, 2, 4, 8 s (± 25 %) between connections, plus the time each takes to start; without growth the
    # last gap would be about the first
    assert gaps[3] - gaps[0] > 3, gaps
    log = serve.log_text()
    assert log.count("reconnecting in") + log.count("retrying in") <= 2, log


def test_a_restart_gap_lasts_until_the_first_frame_and_a_camera_added_has_none(
    rtsp_server: RtspServer, serves: list[Serve], tmp_path: Path
) -> None:
    site = site_file(tmp_path, {"view001": rtsp_server.url("cam1")})
    out = tmp_path / "out"
    serve = Serve(site, out)
    serves.append(serve)
    serve.wait_connected("view001")
    first_run = serve.health()["run_id"]

    site_file(tmp_path, {"view001": rtsp_server.url("cam1"), "view002": rtsp_server.url("cam2")})
    asked_at = time.time()
    serve.process.send_signal(signal.SIGHUP)
    wait_for(lambda: serve.health().get("run_id") not in (None, first_run), 60, "the service started again")
    serve.wait_connected("view001", "view002")
    code, _ = serve.terminate()
    assert code == 0, serve.log_text()

    restarted_at = datetime.fromisoformat(json.loads((out / "run.json").read_text())["started_at"]).timestamp()
    outages = ds.dataset(out / "outages", partitioning="hive").to_table().to_pylist()
    assert [row["camera"] for row in outages] == ["view001"], outages  # view002 did not exist before
    gap = outages[0]
    assert gap["reason"] == "service not running"
    # from the last frame before the reload to the first after it, which comes after the new service loaded its
    # model and connected: well after the moment it started
    assert asked_at - 5 <= gap["start"].timestamp() <= restarted_at  # the old service analysed up to its stop
    assert gap["end"].timestamp() >= restarted_at + 0.3, (gap, restarted_at)


def test_health_on_every_interface_is_warned_about(serves: list[Serve], tmp_path: Path) -> None:
    site = site_file(tmp_path, {"door": f"rtsp://127.0.0.1:{free_port()}/cam1"})
    serve = Serve(site, tmp_path / "out", "--health", f"0.0.0.0:{free_port()}")
    serves.append(serve)
    wait_for(lambda: "listen on 0.0.0.0" in serve.log_text(), 30, "the warning")
    code, _ = serve.terminate()
    assert code == 0, serve.log_text()


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("gopher://127.0.0.1:1/cam", "gopher:// is not a stream"),
        ("rtsp://${UNSET_CAM_PASSWORD}@127.0.0.1:1/x", "UNSET_CAM_PASSWORD"),
    ],
)
def test_a_source_that_can_never_work_is_refused_at_start(source: str, fragment: str, tmp_path: Path) -> None:
    site = site_file(tmp_path, {"door": source})
    command = [sys.executable, "-m", "vision", "serve", str(site), "--out", str(tmp_path / "out"), "--health",
               "127.0.0.1:0"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and fragment in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the death is the point
def test_a_camera_thread_that_died_is_started_again_with_its_outage(tmp_path: Path) -> None:
    """No input makes a camera thread die now (its loop turns every exception into an outage), so the death is
    made here: the first thread's body raises at once, as a bug outside the loop's reach would. The service's
    status loop must start the camera again and record the gap."""
    from vision.config.build import CameraJob
    from vision.perception.detect import DetectorSettings, build_detector
    from vision.runtime.batch import RunSettings
    from vision.runtime.service import Service, ServiceSettings

    url = f"rtsp://127.0.0.1:{free_port()}/cam1"
    settings = ServiceSettings(run=RunSettings(detector=DetectorSettings(model=str(TFLITE_MODEL))))
    service = Service([CameraJob(url, "door", None, None, None)], settings, tmp_path / "out", build_detector)
    doomed = service.workers[0]

    def broken_body() -> None:
        raise RuntimeError("a bug outside the camera loop")

    doomed.run = broken_body  # type: ignore[method-assign]
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    try:
        replacement = wait_for(lambda: service.workers[0] is not doomed and service.workers[0], 20, "a restart")
        assert replacement.is_alive()
        wait_for(lambda: service.health()["cameras"]["door"]["last_error"], 20, "the new thread trying to connect")
    finally:
        service.stop()
        runner.join(10)
    assert not runner.is_alive()
    outages = ds.dataset(tmp_path / "out" / "outages", partitioning="hive").to_table().to_pylist()
    assert outages and outages[0]["camera"] == "door"
    assert outages[0]["reason"] == "the camera's thread stopped unexpectedly"
