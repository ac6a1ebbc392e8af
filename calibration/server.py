"""The calibration page's web server: Python's own `http.server.ThreadingHTTPServer`, bound to 127.0.0.1, serving
the static page in `calibration/web/` and a small JSON API over one `CalibrationSession`. No web framework is
needed for a one-user tool on the user's own computer.

API (JSON bodies; every error is status 400 with `{"error": "one line"}`):

    GET  /api/state        sizes, plan scale and origin, the pairs, zones and lines so far
    GET  /api/frame.jpg    the camera frame          GET /api/plan.png   the floor plan
    POST /api/fit          {"points": [[u, v, x, y], …]} → each pair's error (m), RMS, outliers and bad pairs
    GET  /api/preview.png  the frame warped onto the plan by the current fit (transparent outside it)
    GET  /api/grid.json    the plan's metre grid as polylines in the frame, by the current fit
    POST /api/save         {"points": […], "zones": [{name, kind, polygon}], "lines": [{name, a, b, in_side}]}

Other web pages open in the same browser must not drive this API: requests must name this server as their Host
(against DNS rebinding), and POSTs must be `application/json`, which a cross-site form cannot send without a
CORS preflight that this server never answers.
"""

from __future__ import annotations

import json
import logging
import traceback
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from calibration.session import CalibrationSession, parse_pairs
from vision.core.errors import FootfallError
from vision.core.local_http import JsonRequestHandler, LocalServer

HOST = "127.0.0.1"
MAX_BODY_BYTES = 2_000_000
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/coords.js": ("coords.js", "text/javascript; charset=utf-8"),
    "/state.js": ("state.js", "text/javascript; charset=utf-8"),
    "/api.js": ("api.js", "text/javascript; charset=utf-8"),
    "/draw.js": ("draw.js", "text/javascript; charset=utf-8"),
    "/panels.js": ("panels.js", "text/javascript; charset=utf-8"),
    "/tools.js": ("tools.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}

logger = logging.getLogger(__name__)


class BadRequest(ValueError):
    """A request the API refuses; its message goes back to the page."""


class CalibrationServer(LocalServer):
    """An HTTP server for one session."""

    def __init__(self, session: CalibrationSession, port: int = 8765, host: str = HOST) -> None:
        self.session = session
        super().__init__((host, port), _Handler)


def _static(name: str) -> bytes:
    return resources.files("calibration").joinpath("web", name).read_bytes()


class _Handler(JsonRequestHandler):
    server: CalibrationServer
    server_version = "footfall-calibrate"

    # -- answers: _send, _json and _error (JsonRequestHandler) -----------------------------------------------------

    def _host_ok(self) -> bool:
        port = self.server.port
        return self.headers.get("Host", "") in {f"127.0.0.1:{port}", f"localhost:{port}"}

    def _body(self) -> dict[str, Any]:
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise BadRequest("send the request body as JSON (Content-Type: application/json)")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BadRequest("the request has no Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise BadRequest(f"the request body must be at most {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(length)
        try:
            document = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"the request body is not valid JSON ({exc})") from None
        if not isinstance(document, dict):
            raise BadRequest("the request body must be a JSON object")
        return document

    # -- routes ---------------------------------------------------------------------------------------------------

    def _dispatch(self, handler: Any) -> None:
        try:
            if not self._host_ok():
                self._error("this server answers only requests to 127.0.0.1 or localhost", HTTPStatus.FORBIDDEN)
                return
            handler()
        except (BadRequest, FootfallError, ValueError) as exc:
            self._error(str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a bug: say so on the page, log the details
            logger.error("calibration server error:\n%s", traceback.format_exc())
            self._error(f"internal error ({type(exc).__name__}: {exc}); see the terminal", 500)

    def do_GET(self) -> None:
        self._dispatch(self._get)

    def do_HEAD(self) -> None:
        self._dispatch(self._get)

    def do_POST(self) -> None:
        self._dispatch(self._post)

    def _get(self) -> None:
        path = urlsplit(self.path).path
        session = self.server.session
        if path in _STATIC:
            name, content_type = _STATIC[path]
            self._send(HTTPStatus.OK, _static(name), content_type)
        elif path == "/api/state":
            self._json(session.state())
        elif path == "/api/frame.jpg":
            self._send(HTTPStatus.OK, session.frame_jpeg, "image/jpeg")
        elif path == "/api/plan.png":
            self._send(HTTPStatus.OK, session.plan_png, "image/png")
        elif path == "/api/preview.png":
            self._send(HTTPStatus.OK, session.preview_png(), "image/png")
        elif path == "/api/grid.json":
            self._json(session.grid())
        else:
            self._error(f"no such page: {path}", HTTPStatus.NOT_FOUND)

    def _post(self) -> None:
        path = urlsplit(self.path).path
        if path not in ("/api/fit", "/api/save"):
            self._error(f"no such API: {path}", HTTPStatus.NOT_FOUND)
            return
        body = self._body()
        pairs = parse_pairs(body.get("points", []))
        session = self.server.session
        if path == "/api/fit":
            self._json(session.fit(pairs))
            return
        zones, lines = body.get("zones", []), body.get("lines", [])
        if not isinstance(zones, list) or not isinstance(lines, list):
            raise BadRequest("zones and lines must be lists")
        self._json(session.save(pairs, zones, lines))
