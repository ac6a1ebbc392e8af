"""`footfall dashboard`'s web server: Python's own `http.server.ThreadingHTTPServer` serving the page in
`vision/report/web/`, Plotly's script from the installed plotly package (nothing from the network), and a
read-only JSON API over one `Dashboard`.

    GET /api/choices           site, cameras, zones, buckets, period presets, the days the record covers
    GET /api/view?…            every table, chart and note of one view (period, from, to, compare_from,
                               compare_to, cameras, zones, bucket)
    GET /api/csv/<table>?…     one table of that view as CSV (suppressed as on the page)
    GET /api/now               people in view and per zone now, camera health, newest events (a live service)

Only GET and HEAD are answered. Requests must name this server as their Host (against DNS rebinding); pages are
sent with a Content-Security-Policy that allows this server's own scripts only.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import traceback
from http import HTTPStatus
from importlib import resources
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from vision.core.errors import FootfallError
from vision.core.local_http import JsonRequestHandler, LocalServer
from vision.report.dashboard import Dashboard, ViewRequest

HOST = "127.0.0.1"
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

logger = logging.getLogger(__name__)


class DashboardServer(LocalServer):
    """An HTTP server over one `Dashboard`."""

    def __init__(
        self, dashboard: Dashboard, host: str = HOST, port: int = 8080, allowed_names: tuple[str, ...] = ()
    ) -> None:
        self.dashboard = dashboard
        self.allowed_names = allowed_names
        self._plotly: bytes | None = None
        super().__init__((host, port), _Handler)

    def allowed_hosts(self) -> set[str]:
        """The Host headers answered: the address bound, and on loopback or all interfaces 127.0.0.1 and
        localhost; on all interfaces also this machine's name and addresses; and the names given (--allow-host)."""
        bound = str(self.server_address[0])
        names = {bound, *self.allowed_names}
        if bound in ("127.0.0.1", "0.0.0.0", ""):
            names |= {"127.0.0.1", "localhost"}
        if bound in ("0.0.0.0", ""):
            names |= _machine_names()
        return {f"{name}:{self.port}" for name in names}

    def plotly_js(self) -> bytes:
        if self._plotly is None:
            import plotly.offline

            self._plotly = plotly.offline.get_plotlyjs().encode()
        return self._plotly


def _machine_names() -> set[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    with contextlib.suppress(OSError):
        names |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    return names


def _static(name: str) -> bytes:
    return resources.files("vision.report").joinpath("web", name).read_bytes()


class _Handler(JsonRequestHandler):
    server: DashboardServer
    server_version = "footfall-dashboard"
    extra_headers: ClassVar[dict[str, str]] = {"Referrer-Policy": "no-referrer", "Content-Security-Policy": _POLICY}

    def _refuse(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # read-only

    def do_GET(self) -> None:
        try:
            if self.headers.get("Host", "") not in self.server.allowed_hosts():
                self._error("this server answers only requests addressed to it (Host header)", HTTPStatus.FORBIDDEN)
                return
            self._get()
        except FootfallError as exc:
            self._error(str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a bug: say so on the page, log the details
            logger.error("dashboard error:\n%s", traceback.format_exc())
            self._error(f"internal error ({type(exc).__name__}: {exc}); see the terminal", 500)

    do_HEAD = do_GET

    def _get(self) -> None:
        address = urlsplit(self.path)
        path, query = address.path, parse_qs(address.query)
        dashboard = self.server.dashboard
        if path in _STATIC:
            name, content_type = _STATIC[path]
            self._send(HTTPStatus.OK, _static(name), content_type)
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon", {"Cache-Control": "public, max-age=86400"})
        elif path == "/plotly.js":
            headers = {"Cache-Control": "public, max-age=86400"}
            self._send(HTTPStatus.OK, self.server.plotly_js(), "text/javascript; charset=utf-8", headers)
        elif path == "/api/choices":
            self._json(dashboard.choices())
        elif path == "/api/view":
            self._json(dashboard.view(ViewRequest.from_query(query)))
        elif path == "/api/now":
            self._json(dashboard.now())
        elif path.startswith("/api/csv/"):
            table = path.removeprefix("/api/csv/")
            body = dashboard.csv(ViewRequest.from_query(query), table).encode()
            disposition = {"Content-Disposition": f'attachment; filename="{table}.csv"', "Cache-Control": "no-store"}
            self._send(HTTPStatus.OK, body, "text/csv; charset=utf-8", disposition)
        else:
            self._error(f"no such page: {path}", HTTPStatus.NOT_FOUND)
