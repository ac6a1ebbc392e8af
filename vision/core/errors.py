"""Errors a user can act on. Their message is one line saying what is wrong and what to do; the CLI prints it
without a traceback and exits non-zero."""


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


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for a one-line error; model libraries' decorations (Ultralytics'
    "❌ ERROR:") are dropped."""
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    return message.replace("❌", "").replace("ERROR", "").strip(" ️:.")
