"""The output folder of a run: refused when it is not a folder or already holds a run (unless overwriting), and
cleared of only what an earlier run wrote there."""

from __future__ import annotations

import shutil
from pathlib import Path

from vision.core.errors import OutputError

RUN_OUTPUTS = ("tracks", "mot", "events", "visits", "heatmaps")
RUN_FILES = ("summary.json",)


def check_output(out_dir: Path, overwrite: bool) -> None:
    """Refuses a file in place of the folder, and a folder holding an earlier run unless `overwrite`."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a folder; choose another --out")
    if (out_dir / "run.json").exists() and not overwrite:
        raise OutputError(f"{out_dir} already holds a run (run.json); choose another --out or pass --overwrite")


def prepare_output(out_dir: Path, overwrite: bool) -> None:
    """Creates the output folder; with `overwrite`, first removes only what an earlier run wrote there."""
    check_output(out_dir, overwrite)
    if (out_dir / "run.json").exists():
        for name in RUN_OUTPUTS:
            shutil.rmtree(out_dir / name, ignore_errors=True)
        for name in RUN_FILES:
            (out_dir / name).unlink(missing_ok=True)
        (out_dir / "run.json").unlink()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out_dir} ({exc.strerror}); choose another --out") from None
