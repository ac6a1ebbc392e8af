"""The `footfall` command with `calibrate` added: the engine's commands (`vision.cli.app`) plus this package's.

`vision` never imports `calibration`, so the combined command lives here: the `footfall` console script and
`python -m calibration` run `main()`; `python -m vision` keeps the engine's commands only.

    footfall calibrate SOURCE --plan PLAN.png --scale M_PER_PX …   the calibration page (same as `calibrate serve`)
    footfall calibrate solve POINTS.csv --out calib.json            the fit without a browser
"""

from __future__ import annotations

import re
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from typer.core import TyperGroup

from calibration.session import CalibrationSession, FloorPlanImage, points_csv_path
from calibration.solve import PointPairs, read_point_pairs_csv
from calibration.solve_cli import read_intrinsics, solve_command
from vision.cli.app import app, fail, run_cli
from vision.config.site import load_site_config
from vision.core.errors import FootfallError
from vision.core.ids import redact_url

DEFAULT_COMMAND = "serve"


class _CalibrateGroup(TyperGroup):
    """`footfall calibrate SOURCE …` is `footfall calibrate serve SOURCE …`: a first argument that is not one of
    the group's commands (or --help) is taken as the SOURCE of the default command."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


calibrate_app = typer.Typer(
    cls=_CalibrateGroup,
    help=(
        "Calibrate a camera against the floor plan and draw zones and lines: `footfall calibrate SOURCE --plan "
        "PLAN.png --scale M_PER_PX` opens the calibration page; `footfall calibrate solve POINTS.csv` fits saved "
        "point pairs without it."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _parse_origin(value: str) -> tuple[float, float]:
    parts = [part.strip() for part in re.split(r"[,\s]+", value.strip().strip("[]()")) if part.strip()]
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        raise FootfallError(
            f"--origin {value!r}: write the plan's top-left corner as X,Y in metres, e.g. -14,-16"
        ) from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise FootfallError(f"--origin {value!r}: X and Y must be finite numbers")
    return x, y


def build_session(
    source: str,
    plan: Path | None,
    scale: float | None,
    origin: str | None,
    out: Path,
    site: Path | None,
    camera: str | None,
    intrinsics: Path | None,
    estimate_distortion: bool = False,
) -> CalibrationSession:
    """Reads everything the page needs; FootfallError (one line) for anything missing or unreadable."""
    from calibration.frames import read_camera_frame, read_image
    from calibration.site_file import camera_for_source

    notes: list[str] = []
    zones: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    plan_origin = _parse_origin(origin) if origin is not None else None
    if site is not None:
        config = load_site_config(site)
        if camera is None:
            camera = camera_for_source(config, source)
        if camera is None:
            notes.append(f"no camera of {site.name} has this source; give --camera ID to set its calibration there")
        elif camera not in {item.id for item in config.cameras}:
            notes.append(f"camera {camera!r} is not in {site.name}; its calibration entry will not be set")
        zones = [zone.model_dump(exclude_none=True) for zone in config.zones]
        lines = [line.model_dump(exclude_none=True) for line in config.lines]
        floor_plan = config.floor_plan
        if plan is None and floor_plan is not None and floor_plan.image is not None:
            plan = floor_plan.image
            scale = floor_plan.metres_per_pixel if scale is None else scale
            plan_origin = tuple(floor_plan.origin) if plan_origin is None else plan_origin
    if plan is None:
        raise FootfallError("give the floor plan: --plan PLAN.png --scale METRES_PER_PIXEL [--origin X,Y]")
    if scale is None:
        raise FootfallError("--scale is required with --plan: how many metres one pixel of the plan spans")
    if not (np.isfinite(scale) and scale > 0):
        raise FootfallError(f"--scale must be a positive number of metres per pixel, got {scale}")

    frame = read_camera_frame(source)
    plan_image = read_image(plan, "floor-plan")
    camera_matrix = distortion = None
    if intrinsics is not None:
        camera_matrix, distortion = read_intrinsics(intrinsics)

    pairs: PointPairs | None = None
    saved_points = points_csv_path(out)
    if saved_points.is_file():
        pairs = read_point_pairs_csv(saved_points)
        notes.append(f"loaded {len(pairs)} point pairs from {saved_points}")

    return CalibrationSession(
        frame,
        FloorPlanImage(plan_image, float(scale), plan_origin or (0.0, 0.0), plan),
        out,
        source_label=redact_url(source),
        camera=camera,
        site=site,
        camera_matrix=camera_matrix,
        distortion=distortion,
        estimate_distortion=estimate_distortion,
        pairs=pairs,
        zones=zones,
        lines=lines,
        notes=notes,
    )


def serve_command(
    source: Annotated[
        str,
        typer.Argument(
            help="The camera's view: a picture, a video (a frame a few seconds in) or a stream URL (rtsp://…).",
            show_default=False,
        ),
    ],
    plan: Annotated[
        Path | None, typer.Option(help="Floor-plan image (PNG, JPEG…); default: the site config's floor_plan.")
    ] = None,
    scale: Annotated[
        float | None, typer.Option(help="Metres one pixel of the plan spans (default: the site config's).")
    ] = None,
    origin: Annotated[
        str | None, typer.Option(help="Floor point X,Y in metres of the plan's top-left corner (default 0,0).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Calibration JSON to write.")] = Path("calib.json"),
    site: Annotated[
        Path | None, typer.Option(help="Site config YAML: its zones and lines are edited, and saved back into it.")
    ] = None,
    camera: Annotated[
        str | None, typer.Option(help="Camera id: recorded in the calibration; its entry in --site is updated.")
    ] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).", min=0, max=65535)] = 8765,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the page's address, don't open it.")] = False,
    intrinsics: Annotated[
        Path | None, typer.Option(help="JSON with the lens's K and dist: distortion is removed before the fit.")
    ] = None,
    estimate_distortion: Annotated[
        bool, typer.Option(help="Estimate focal length and radial distortion from the pairs (8 or more).")
    ] = False,
) -> None:
    """Open the calibration page (the default: `footfall calibrate SOURCE …` runs this).

    Click matching spots on the camera frame and the floor plan, check the fit, draw zones and counting lines, and
    save the calibration JSON (with the point pairs beside it, and the zones and lines into --site)."""
    from calibration.server import CalibrationServer

    try:
        if intrinsics is not None and estimate_distortion:
            raise FootfallError("give either --intrinsics or --estimate-distortion, not both")
        session = build_session(source, plan, scale, origin, out, site, camera, intrinsics, estimate_distortion)
    except FootfallError as exc:
        raise fail(str(exc)) from None
    try:
        server = CalibrationServer(session, port)
    except OSError as exc:
        raise fail(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); pick another --port, or --port 0 for any "
            "free port"
        ) from None
    with server:
        for note in session.notes:
            typer.echo(f"note: {note}")
        typer.echo(f"calibration page: {server.url}  (Ctrl+C to stop)")
        if not no_browser:
            webbrowser.open(server.url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            typer.echo("stopped")


calibrate_app.command(DEFAULT_COMMAND)(serve_command)
calibrate_app.command("solve")(solve_command)
app.add_typer(calibrate_app, name="calibrate")


def main() -> None:
    run_cli(app)
