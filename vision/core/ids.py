"""Identifiers and locations given by users: camera ids, and whether a source is a URL (whose credentials must
never reach a log or an output)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

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


# Query parameters that select a stream rather than authorise it: their values stay readable in logs and outputs.
# Every other query value is treated as a credential (NVRs name them freely: access_token, usr, loginpas, …).
_HARMLESS_QUERY_KEYS = frozenset(
    {"channel", "subtype", "stream", "streamtype", "resolution", "fps", "framerate", "codec", "transport", "tcp",
     "udp", "unicast", "multicast", "profile", "camera", "cam", "ch", "chn", "id", "format", "type", "audio",
     "video", "quality", "width", "height", "bitrate", "starttime", "endtime", "trackid", "mjpg", "mode"}
)  # fmt: skip


def _secret_query_key(key: str) -> bool:
    return key.lower() not in _HARMLESS_QUERY_KEYS


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def redact_url(uri: str) -> str:
    """A URI fit for logs and outputs: user name and password removed, and every query value replaced by *** but
    those known to select a stream (`channel=`, `subtype=`, …), since NVRs put credentials under any name. Paths
    come back unchanged; `${NAME}` placeholders (names, not values) stay."""
    parts = urlsplit(uri)
    if not parts.scheme or "://" not in uri:
        return uri
    netloc = f"***@{parts.netloc.rsplit('@', 1)[1]}" if "@" in parts.netloc else parts.netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_secret_query_key(key) and value for key, value in pairs):
            query = urlencode([(k, "***" if _secret_query_key(k) and v else v) for k, v in pairs], safe="*${}")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_placeholders(uri: str) -> list[str]:
    """The environment variables a source URL names as `${NAME}`."""
    return _PLACEHOLDER.findall(uri)


def expand_url_credentials(uri: str, environment: Mapping[str, str] | None = None) -> str:
    """The URL with each `${NAME}` replaced by that environment variable, so a config file names where the
    credentials are rather than holding them. Values are percent-encoded where the URL needs it (a password with
    '@' or ':'). KeyError names a variable that is not set (never its value)."""
    environment = os.environ if environment is None else environment

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in environment:
            raise KeyError(name)
        return quote(environment[name], safe="")

    return _PLACEHOLDER.sub(value, uri)


def scrub_secrets(text: str, secrets: list[str]) -> str:
    """`text` with every occurrence of a secret (and its percent-encoded form) replaced by ***: for error messages
    from libraries that repeat the URL they were given."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text


def placeholder_values(uri: str, environment: Mapping[str, str] | None = None) -> list[str]:
    """The values that `${NAME}` placeholders of a URL take from the environment: secrets wherever they land."""
    environment = os.environ if environment is None else environment
    return [environment[name] for name in url_placeholders(uri) if environment.get(name)]


def url_secrets(uri: str) -> list[str]:
    """The credentials a URL carries: user name, password and every query value not known to be harmless."""
    parts = urlsplit(uri)
    secrets: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        pieces = [userinfo, *userinfo.split(":", 1)]
        secrets += pieces + [unquote(piece) for piece in pieces]
    secrets += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if _secret_query_key(k)]
    return [secret for secret in secrets if len(secret) >= 3]  # a one- or two-letter user name would blank out text
