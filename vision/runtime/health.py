"""The live service's HTTP endpoint (127.0.0.1 by default): `/health` as JSON per camera and `/metrics` for
Prometheus (through the official client library, with a registry of its own: no process-wide state)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from vision.runtime.service import CameraStatus, Service

DEFAULT_HEALTH_ADDRESS = "127.0.0.1:8765"


def parse_address(value: str) -> tuple[str, int]:
    """`host:port` (or `:port`, or `port`) → (host, port); ValueError with the expected form."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"health address {value!r} is not HOST:PORT (e.g. 127.0.0.1:8765; port 0 picks a free one)")
    return host, int(port)


class ServiceCollector(Collector):
    """The service's figures as Prometheus metrics, read from the cameras' status when scraped."""

    def __init__(self, statuses: Callable[[], list[CameraStatus]], detector_busy_s: Callable[[], float]) -> None:
        self._statuses = statuses
        self._detector_busy_s = detector_busy_s

    def collect(self) -> Iterator:
        statuses = self._statuses()
        gauges = {
            "connected": ("1 while the camera's stream delivers frames", lambda s: float(s.state == "connected")),
            "frames_in_per_second": ("Frames decoded per second", lambda s: s.in_per_s),
            "frames_analysed_per_second": ("Frames analysed per second", lambda s: s.analysed_per_s),
            "newest_frame_timestamp_seconds": (
                "Arrival time of the newest frame (UTC epoch)",
                lambda s: s.newest_frame_at or 0.0,
            ),
        }
        counters = {
            "frames_in": ("Frames decoded", lambda s: s.frames_in),
            "frames_analysed": ("Frames analysed", lambda s: s.frames_analysed),
            "frames_dropped": ("Stale frames dropped (analysis behind the stream)", lambda s: s.frames_dropped),
            "frames_gated": ("Analysed frames the detector was spared (nothing moved)", lambda s: s.frames_gated),
            "reconnects": ("Reconnections after a lost stream", lambda s: s.reconnects),
            "outages": ("Outages begun", lambda s: s.outages),
            "outage_seconds": ("Seconds of recorded outages", lambda s: s.outage_seconds),
            "tracks": ("Tracks begun", lambda s: s.tracks),
            "live_events": ("Live events written", lambda s: s.live_events),
        }
        for name, (documentation, value) in gauges.items():
            family = GaugeMetricFamily(f"footfall_camera_{name}", documentation, labels=["camera"])
            for status in statuses:
                family.add_metric([status.camera], value(status))
            yield family
        for name, (documentation, value) in counters.items():
            family = CounterMetricFamily(f"footfall_camera_{name}", documentation, labels=["camera"])
            for status in statuses:
                family.add_metric([status.camera], value(status))
            yield family
        yield CounterMetricFamily(
            "footfall_detector_busy_seconds",
            "Seconds the shared detector spent on frames",
            value=self._detector_busy_s(),
        )


class HealthServer:
    """Serves /health and /metrics for a service from a daemon thread until `close()`."""

    def __init__(self, service: Service, address: tuple[str, int]) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ServiceCollector(service.snapshots, lambda: service.detector.busy_s))

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/health":
                    document = service.health()
                    self._send(200, "application/json", json.dumps(document, indent=1).encode())
                elif path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                else:
                    self._send(404, "text/plain", b"not found: try /health or /metrics\n")

            def _send(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # one log line per state change, not per scrape

        try:
            self._server = ThreadingHTTPServer(address, Handler)
        except OSError as exc:
            raise OSError(f"cannot listen on {address[0]}:{address[1]} for /health ({exc.strerror})") from None
        self._server.daemon_threads = True
        self.address = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)
