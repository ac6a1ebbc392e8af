"""`footfall serve` and `validate` under hostile use (issue: nothing doubled, nothing leaked, nothing silently
dead): secrets under any query key or filled from ${ENV}, a camera thread's unexpected error, streams that end at
once, SIGHUP with a config that fails a later check. The real CLI, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.test_serve import Serve, site_file, wait_for

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
