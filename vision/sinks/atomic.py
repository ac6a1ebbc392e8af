"""Files that appear whole or not at all: written under a hidden temporary name in their final folder and renamed
into place when complete, so a reader never sees half a file and a crash leaves only hidden leftovers that readers
skip. Every file footfall writes goes through here.

A write that fails (no space, no permission, a read-only disk) removes its temporary file and raises OutputError
naming the file; a file that appears gets the permissions the user's umask gives new files, as `open` would.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from vision.core.errors import OutputError


class AtomicFile:
    """A file written under a hidden temporary name beside `path`, renamed to `path` by `commit()`."""

    def __init__(self, path: Path, mode: str = "w") -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        except OSError as exc:
            raise write_failure(path, exc) from None
        self._temporary = Path(temporary)
        self.handle: IO[Any] = os.fdopen(descriptor, mode, **({} if "b" in mode else {"encoding": "utf-8"}))

    def commit(self) -> None:
        try:
            self.handle.flush()
            os.fchmod(self.handle.fileno(), 0o666 & ~current_umask())  # mkstemp creates 0600 whatever the umask
            os.fsync(self.handle.fileno())
            self.handle.close()
            os.replace(self._temporary, self.path)
        except OSError as exc:
            self.discard()
            raise write_failure(self.path, exc) from None

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # closing flushes, which fails on a full disk; the file goes anyway
            self.handle.close()
        self._temporary.unlink(missing_ok=True)


def write_failure(path: Path, exc: OSError) -> OutputError:
    """The one-line error for a file that could not be written."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    hint = "free some space and run again" if full else "check the output folder's permissions or choose another --out"
    return OutputError(f"cannot write {path} ({exc.strerror or type(exc).__name__}); {hint}")


def current_umask() -> int:
    """The process's umask, read without changing it where Linux allows (os.umask can only set it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_output(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Yields a handle whose file appears at `path` only if the block completes."""
    output = AtomicFile(path, mode)
    try:
        yield output.handle
    except OSError as exc:
        output.discard()
        raise write_failure(path, exc) from None
    except BaseException:
        output.discard()
        raise
    output.commit()


def write_json_atomic(path: Path, document: Any) -> None:
    """Writes strict JSON: a NaN or infinite number (which `json` would write as the invalid `NaN`) becomes null."""
    text = json.dumps(_finite(document), indent=2, ensure_ascii=False, default=_json_default, allow_nan=False)
    with atomic_output(path) as handle:
        handle.write(text + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_output(path) as handle:
        handle.write(text)
