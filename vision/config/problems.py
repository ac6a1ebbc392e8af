"""Validation problems as one line a user can act on: where (the field's path) and what is wrong.

Every pydantic model a user feeds (site config, calibration file, intrinsics, zones sent by the calibration page)
reports its first problem through here, so paths and messages read the same everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

Loc = tuple[str | int, ...]


_MAX_KEY_SHOWN = 40


def _key(part: object) -> str:
    """A field name as a path shows it: as written when it is short and printable, else quoted and shortened (a key
    from a hostile file must not stretch the message or break it over lines)."""
    text = str(part)
    return text if text.isprintable() and len(text) <= _MAX_KEY_SHOWN else show_value(text, _MAX_KEY_SHOWN)


def field_path(loc: Loc) -> str:
    """`("zones", 1, "polygon")` → `zones[1].polygon`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{_key(part)}" if text else _key(part))
    return text


def dotted_path(loc: Loc) -> str:
    """`("K", 0)` → `K.0`: the JSON-pointer-like form the calibration file's messages use."""
    return ".".join(_key(part) for part in loc)


def show_value(value: Any, limit: int = 48) -> str:
    """A value as a message quotes it, shortened to `limit` characters."""
    try:
        text = value.isoformat() if isinstance(value, datetime) else repr(value)
    except ValueError:  # an integer too long for Python to write out (over 4300 digits)
        text = f"a number of {len(hex(value)) - 2 if isinstance(value, int) else 'too many'} hex digits"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_message(message: str) -> str:
    """pydantic's message without the "Value error, " it puts before the text of a validator's ValueError."""
    return message.removeprefix("Value error, ")


def first_problem(
    exc: ValidationError,
    *,
    prefix: Loc = (),
    skip: int = 0,
    dotted: bool = False,
    label: str = "",
    no_path: str = "",
) -> str:
    """`path: message` for the first error. `skip` drops leading parts of pydantic's location (wrapper models),
    `prefix` puts the caller's own location in front, `label` goes before a path (e.g. "field "), and `no_path`
    stands in for an empty path."""
    error = exc.errors()[0]
    loc: Loc = (*prefix, *tuple(error["loc"])[skip:])
    path = dotted_path(loc) if dotted else field_path(loc)
    where = f"{label}{path}" if path else no_path
    message = clean_message(error["msg"])
    return f"{where}: {message}" if where else message
