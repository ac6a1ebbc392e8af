"""The progress bar `footfall run` shows on a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vision.runtime.task_run import TaskResult


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


class BatchTerminalProgress:
    """`footfall batch` on a terminal: one bar over the footage (hours done of the total), files done, throughput
    in real-time factor and time left; one line per failed input above it. Off a terminal, a line per task."""

    def __init__(self, interactive: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self._console = Console(stderr=True)
        self._interactive = interactive
        self._progress = Progress(
            TextColumn("[bold]footage"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[hours]} h · {task.fields[tasks]} tasks · {task.fields[speed]} x real time · ETA"),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,
        )
        self._task = None
        self._started = 0.0
        self._done = self._total = 0
        self._media_done = self._media_total = 0.0

    def start(self, tasks: int, media_s: float, done_before: int) -> None:
        import time

        self._started, self._total, self._media_total = time.monotonic(), tasks, media_s
        if done_before:
            self._console.print(f"{done_before} tasks finished before (the manifest): skipped")
        if self._interactive:
            self._progress.start()
            self._task = self._progress.add_task("footage", total=max(media_s, 1e-9), **self._fields())

    def _fields(self) -> dict[str, str]:
        import time

        elapsed = time.monotonic() - self._started
        speed = f"{self._media_done / elapsed:.1f}" if elapsed > 0 and self._media_done else "…"
        hours = f"{self._media_done / 3600:.2f}/{self._media_total / 3600:.2f}"
        return {"hours": hours, "tasks": f"{self._done}/{self._total}", "speed": speed}

    def task_done(self, result: TaskResult) -> None:
        self._done += 1
        self._media_done += result.task.media_s
        if not result.ok:
            self._console.print(
                f"failed {result.task.label}: {result.error}", markup=False, highlight=False, soft_wrap=True
            )
        elif not self._interactive:
            fields = self._fields()
            line = f"done {result.task.label} ({fields['tasks']} tasks, {fields['hours']} h of footage)"
            self._console.print(line, markup=False, highlight=False, soft_wrap=True)
        if self._task is not None:
            self._progress.update(self._task, completed=self._media_done, **self._fields())

    def finish(self) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
        if self._interactive:
            self._progress.stop()
