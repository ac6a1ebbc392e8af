"""Files that appear whole or not at all: written under a hidden temporary name in their final folder and renamed
into place when complete, so a reader never sees half a file and a crash leaves only hidden leftovers that readers
skip. Every file footfall writes goes through here."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np


class AtomicFile:
    """A file written under a hidden temporary name beside `path`, renamed to `path` by `commit()`."""

    def __init__(self, path: Path, mode: str = "w") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self._temporary = Path(temporary)
        self.handle: IO[Any] = os.fdopen(descriptor, mode, **({} if "b" in mode else {"encoding": "utf-8"}))

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self._temporary, self.path)

    def discard(self) -> None:
        self.handle.close()
        self._temporary.unlink(missing_ok=True)


@contextmanager
def atomic_output(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Yields a handle whose file appears at `path` only if the block completes."""
    output = AtomicFile(path, mode)
    try:
        yield output.handle
    except BaseException:
        output.discard()
        raise
    output.commit()


def write_json_atomic(path: Path, document: Any) -> None:
    with atomic_output(path) as handle:
        json.dump(document, handle, indent=2, ensure_ascii=False, default=_json_default)
        handle.write("\n")


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
