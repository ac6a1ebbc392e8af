"""Identifiers and locations given by users: camera ids, and whether a source is a URL (whose credentials must
never reach a log or an output)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

CAMERA_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CAMERA_ID_RULE = "must start with a letter or digit and hold only letters, digits, '_', '-' and '.' (at most 64)"
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_camera_id(value: str) -> bool:
    return bool(CAMERA_ID_PATTERN.fullmatch(value))


def check_camera_id(value: str) -> str:
    """`value` if it is a valid camera id, else ValueError saying the rule."""
    if not is_camera_id(value):
        raise ValueError(f"camera id {value!r} {CAMERA_ID_RULE}")
    return value


def default_camera_id(source: str) -> str:
    """A camera id made from a source's file name without extension (characters outside the rule become '_')."""
    stem = Path(source.rstrip("/")).stem or "camera"
    camera = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:64]
    return camera if camera[0].isalnum() else f"cam{camera}"[:64]


def is_url(source: str) -> bool:
    """Whether a camera source is a URL (`rtsp://…`, `http://…`) rather than a path."""
    return bool(_URL_SCHEME.match(source))


def redact_url(uri: str) -> str:
    """A URI fit for logs and outputs: user name and password removed. Paths come back unchanged."""
    parts = urlsplit(uri)
    if not parts.scheme or "@" not in parts.netloc:
        return uri
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
