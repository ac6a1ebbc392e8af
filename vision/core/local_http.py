"""The answers of footfall's local web servers (the calibration page, the dashboard): Python's own
`http.server`, with a JSON body or one-line JSON error, sized, never cached unless said, never sniffed."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class JsonRequestHandler(BaseHTTPRequestHandler):
    """A request handler with `_send`, `_json` and `_error`; `extra_headers` go with every answer."""

    extra_headers: ClassVar[dict[str, str]] = {}

    def log_message(self, format: str, *args: Any) -> None:
        logging.getLogger(type(self).__module__).debug("%s - %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        """One answer; `headers` replace the default `Cache-Control: no-store`."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in {**self.extra_headers, **(headers or {"Cache-Control": "no-store"})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, document: Any, status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(document, allow_nan=False).encode(), "application/json")

    def _error(self, message: str, status: int = HTTPStatus.BAD_REQUEST) -> None:
        self._json({"error": " ".join(str(message).split())}, status)


class LocalServer(ThreadingHTTPServer):
    """A threaded server of one of footfall's pages. `port=0` picks a free port; `url` says which (bound to all
    interfaces, the page is opened on 127.0.0.1)."""

    daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.port}/"
