"""What must hold before footfall's modules load: OpenCV's native library, with the system libraries it needs.

`trackers` (the image-space tracker) requires the desktop `opencv-python`, not the headless build. That wheel loads
the system's libGL and GLib, which a minimal server or container image (python:3.11-slim, a bare NVR box) lacks.
Without them every footfall module fails at import with a traceback; this check turns that into one line saying
what to install. It imports nothing of footfall's, so it can run first.
"""

from __future__ import annotations

import re
import sys

OPENCV_SYSTEM_PACKAGES = "libgl1 libglib2.0-0"  # Debian/Ubuntu; they bring libGLX, libX11, libxcb and PCRE2 along
_MISSING_LIBRARY = re.compile(r"([\w.+-]+\.so(?:\.[\w.]+)?): cannot open shared object file")


def opencv_import_problem(error: ImportError) -> str:
    """The line to print when `import cv2` raised `error`."""
    missing = _MISSING_LIBRARY.search(str(error))
    if missing:
        return (
            f"OpenCV cannot load the system library {missing.group(1)}: install OpenCV's system libraries "
            f"(Debian/Ubuntu: apt-get install {OPENCV_SYSTEM_PACKAGES}; see README: Quick start) and run footfall again"
        )
    return f"OpenCV (cv2) cannot be imported ({error}); reinstall footfall's dependencies (pip install -e .)"


def exit_unless_opencv_loads() -> None:
    try:
        import cv2  # noqa: F401
    except ImportError as exc:
        print(f"error: {opencv_import_problem(exc)}", file=sys.stderr)
        sys.exit(1)
