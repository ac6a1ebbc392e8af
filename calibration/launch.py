"""The `footfall` console script: OpenCV's native libraries are checked before any footfall module loads them, so a
machine without them gets one line saying what to install rather than a traceback."""

from vision.cli.startup import exit_unless_opencv_loads


def main() -> None:
    exit_unless_opencv_loads()
    from calibration.cli import main as footfall

    footfall()
