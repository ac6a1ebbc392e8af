"""Errors a user can act on. Their message is one line saying what is wrong and what to do; the CLI prints it
without a traceback and exits non-zero."""

import signal


class FootfallError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class SourceError(FootfallError):
    """A video file or image sequence that cannot be read."""


class SourceTruncatedError(SourceError):
    """A source that stopped before its end; frames before the break were delivered."""

    def __init__(self, message: str, frames_read: int) -> None:
        super().__init__(message)
        self.frames_read = frames_read


class ModelError(FootfallError):
    """Detector weights that cannot be found, downloaded or loaded."""


class CalibrationError(FootfallError):
    """A calibration file that is missing, malformed or geometrically unusable."""


class OutputError(FootfallError):
    """An output folder that cannot be written, or that holds a run already."""


class SiteConfigError(FootfallError):
    """A site config (YAML) that is missing, malformed or inconsistent; the message names the file, line and field."""


CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGILL})


def describe_exit(returncode: int | None, what: str) -> str:
    """Why a child process (`what`: "decoder", "the worker") ended, from its exit status (negative: a signal)."""
    if returncode is None:
        return f"{what} did not exit"
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        verb = "crashed" if number in CRASH_SIGNALS else "was killed"
        return f"{what} {verb} (signal {number}, {name})"
    return f"{what} exited with status {returncode}"
