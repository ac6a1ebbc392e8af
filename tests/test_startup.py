"""A machine without OpenCV's system libraries (a minimal server or container image) gets one line saying what to
install, from both entry points, and nothing is written (vision/cli/startup.py).

The machine's own libGL is hidden from one process: in a private mount namespace an overlay over its folder puts
whiteouts on its names, so the dynamic loader finds no such file, as on an image without libgl1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_hostile_input import footfall_command
from vision.cli.startup import OPENCV_SYSTEM_PACKAGES, opencv_import_problem

REPO = Path(__file__).resolve().parents[1]
PETS_VIDEO = REPO.parent / "shared" / "data" / "pets09-s2l1" / "pets09-s2l1_0001-0400.mp4"
HIDE = (
    'mkdir -p "$0/upper" "$0/work" && for name in $1; do mknod "$0/upper/$name" c 0 0 || exit 90; done && '
    'mount -t overlay overlay -o lowerdir="$2",upperdir="$0/upper",workdir="$0/work" "$2" || exit 91; '
    'shift 2; exec "$@"'
)


def loaded_library(name: str) -> Path:
    """The file the dynamic loader maps for `name` when OpenCV is imported."""
    maps = subprocess.run(
        [sys.executable, "-c", "import cv2; print(open('/proc/self/maps').read())"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    paths = {line.split()[-1] for line in maps.splitlines() if f"/{name}" in line}
    assert len(paths) == 1, f"{name} is not loaded by cv2 once: {paths}"
    return Path(paths.pop()).resolve()


def without_library(name: str, command: list[str], scratch: Path) -> subprocess.CompletedProcess:
    library = loaded_library(name)
    names = [entry.name for entry in library.parent.iterdir() if entry.resolve() == library]
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", HIDE,
         str(scratch), " ".join(names), str(library.parent), *command],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_without_libgl_both_entry_points_say_what_to_install_and_write_nothing(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "hiding a system library from one process takes a mount namespace (run as root)"
    for entry, command in {
        "footfall": footfall_command(),
        "python -m vision": [sys.executable, "-m", "vision"],
    }.items():
        out = tmp_path / f"out-{len(entry)}"
        result = without_library(
            "libGL.so.1", [*command, "run", str(PETS_VIDEO), "--out", str(out)], tmp_path / f"scratch-{len(entry)}"
        )
        assert result.returncode == 1, (entry, result.returncode, result.stderr)
        assert result.stdout == ""
        assert result.stderr == (
            "error: OpenCV cannot load the system library libGL.so.1: install OpenCV's system libraries "
            f"(Debian/Ubuntu: apt-get install {OPENCV_SYSTEM_PACKAGES}; see README: Quick start) and run footfall "
            "again\n"
        ), entry
        assert not out.exists()


def test_an_opencv_that_fails_for_another_reason_asks_for_a_reinstall() -> None:
    line = opencv_import_problem(ImportError("numpy.core.multiarray failed to import"))
    assert line == (
        "OpenCV (cv2) cannot be imported (numpy.core.multiarray failed to import); reinstall footfall's dependencies "
        "(pip install -e .)"
    )
