"""Reading a small input file (a site config, a calibration, a points CSV) with a bound on its size, so that a huge
or binary file given by mistake is refused in one line instead of being parsed for minutes."""

from __future__ import annotations

from pathlib import Path

from vision.core.errors import FootfallError


def _size(limit: int) -> str:
    return f"{limit // 1_000_000} MB" if limit >= 1_000_000 else f"{limit // 1000} kB"


def read_bounded_text(path: Path, what: str, limit: int, error: type[FootfallError], expected: str = "") -> str:
    """The file's text (UTF-8; a byte-order mark, as spreadsheet programs write, is dropped), or `error` with one
    line naming the file as the `what` file it was meant to be: missing, a folder, unreadable, over `limit` bytes
    or not UTF-8 text. `expected` adds what a real one is like to the too-large message."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{path}: no such {what} file; check the path") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder; give the {what} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} file ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise error(
            f"{path}: too large for a {what} file (over {_size(limit)}{expected}); check that this is the {what} file"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file (not UTF-8); give the {what} file") from None
