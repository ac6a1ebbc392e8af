"""`footfall calibrate solve POINTS.csv`: the same fit as the calibration page, without a browser."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from pydantic import ValidationError

from calibration.solve import (
    DEFAULT_MAX_RMS_M,
    error_table,
    estimate_intrinsics,
    fit_homography,
    read_point_pairs_csv,
)
from vision.config.calibration_file import (
    MAX_IMAGE_SIDE_PX,
    Intrinsics,
    number_problem,
    parse_calibration,
    read_json_file,
)
from vision.config.problems import show_value
from vision.core.errors import CalibrationError, FootfallError
from vision.sinks.atomic import write_json_atomic


def _parse_size(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        width, height = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise CalibrationError(f"--image-size {show_value(value)}: write it as WIDTHxHEIGHT, e.g. 1920x1080") from None
    if not (0 < width <= MAX_IMAGE_SIDE_PX and 0 < height <= MAX_IMAGE_SIDE_PX):
        raise CalibrationError(
            f"--image-size {show_value(value)}: width and height must be positive, at most {MAX_IMAGE_SIDE_PX}"
        )
    return width, height


def read_intrinsics(path: Path) -> tuple[np.ndarray, np.ndarray]:
    document = read_json_file(path, "intrinsics")
    if not isinstance(document, dict):
        raise CalibrationError(f"{path}: not a JSON object with K and dist")
    try:
        intrinsics = Intrinsics.model_validate(document.get("intrinsics", document))
    except ValidationError as exc:
        raise CalibrationError(f"{path}: {number_problem(exc, no_path='(top level)')}") from None
    return np.asarray(intrinsics.K, dtype=np.float64), np.asarray(intrinsics.dist, dtype=np.float64)


def _check_out(out: Path) -> None:
    """Refuses an --out that can't become a file, before anything is fitted or written."""
    if out.is_dir():
        raise CalibrationError(f"--out {out} is a folder; give the calibration file's path, e.g. {out / 'calib.json'}")
    parent = next((folder for folder in out.absolute().parents if folder.exists()), None)
    if parent is not None and not parent.is_dir():
        raise CalibrationError(f"--out {out}: {parent} is a file, not a folder; choose another path")


def solve_command(
    points: Annotated[Path, typer.Argument(help="CSV of point pairs with a header u,v,x,y (pixels, metres).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Calibration JSON to write.")] = Path("calib.json"),
    image_size: Annotated[
        str | None, typer.Option(help="The camera picture's WIDTHxHEIGHT (recommended: recorded in the file).")
    ] = None,
    intrinsics: Annotated[
        Path | None, typer.Option(help="JSON with the lens's K and dist: points are undistorted before the fit.")
    ] = None,
    estimate_distortion: Annotated[
        bool, typer.Option(help="Estimate focal length and radial distortion from the points (8+ pairs).")
    ] = False,
    max_rms: Annotated[float, typer.Option(help="Refuse a fit whose RMS error exceeds this, metres.")] = (
        DEFAULT_MAX_RMS_M
    ),
    camera: Annotated[str | None, typer.Option(help="Camera id to record in the file.")] = None,
) -> None:
    """Fit the image → floor homography from point pairs, print each pair's error, and save the calibration."""
    try:
        _check_out(out)
        if not (math.isfinite(max_rms) and max_rms > 0):
            raise CalibrationError(f"--max-rms {max_rms}: give a positive number of metres, e.g. 0.5")
        pairs = read_point_pairs_csv(points)
        size = _parse_size(image_size)
        camera_matrix = distortion = None
        if intrinsics is not None and estimate_distortion:
            raise CalibrationError("give either --intrinsics or --estimate-distortion, not both")
        if intrinsics is not None:
            camera_matrix, distortion = read_intrinsics(intrinsics)
        elif estimate_distortion:
            if size is None:
                raise CalibrationError("--estimate-distortion needs --image-size")
            camera_matrix, distortion = estimate_intrinsics(pairs, size)
        fit = fit_homography(pairs.image_uv, pairs.floor_xy, camera_matrix, distortion, max_rms_m=max_rms)
        document = fit.calibration_document(size, camera)
        parse_calibration(document, str(out))  # the file must load back
    except CalibrationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(error_table(fit))
    if camera_matrix is not None:
        typer.echo(f"lens model: K and dist {np.round(distortion, 4).tolist()} (points undistorted before the fit)")
    try:
        write_json_atomic(out, document)
    except FootfallError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out}")
