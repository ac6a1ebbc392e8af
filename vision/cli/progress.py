"""The progress bar `footfall run` shows on a terminal."""

from __future__ import annotations


class TerminalProgress:
    """A rich progress bar on stderr: frames read of the total, frames/s and time left."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]} frames/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=True,
        )
        self._task = None

    def start(self, camera: str, total_frames: int | None) -> None:
        self._progress.start()
        self._task = self._progress.add_task(camera, total=total_frames, fps="…")

    def advance(self, frames_read: int) -> None:
        if self._task is None:
            return
        speed = next(task.speed for task in self._progress.tasks if task.id == self._task)
        self._progress.update(self._task, completed=frames_read, fps=f"{speed:.1f}" if speed else "…")

    def finish(self) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
        self._progress.stop()
