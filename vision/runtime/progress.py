"""How a run reports progress while it works: a listener the camera run calls (the CLI's is a progress bar)."""

from __future__ import annotations

from typing import Protocol


class ProgressListener(Protocol):
    def start(self, camera: str, total_frames: int | None) -> None: ...

    def advance(self, frames_read: int) -> None: ...

    def finish(self) -> None: ...


class SilentProgress:
    def start(self, camera: str, total_frames: int | None) -> None:
        pass

    def advance(self, frames_read: int) -> None:
        pass

    def finish(self) -> None:
        pass
