"""The `footfall` command: argument parsing and presentation only; the work happens in `vision.runtime`."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from vision import __version__
from vision.cli.progress import TerminalProgress
from vision.config.build import CameraJob, camera_jobs, flow_plan
from vision.config.site import SiteConfig, load_site_config
from vision.core.errors import FootfallError
from vision.core.ids import default_camera_id
from vision.core.times import PLAUSIBLE_RANGE, is_plausible_start
from vision.perception.detect import DEFAULT_MODEL, DetectorSettings, build_detector
from vision.perception.export import ExportChoice
from vision.perception.gate import DEFAULT_MAX_SKIP_S, GateSettings
from vision.perception.track import TrackerKind, TrackerSettings
from vision.runtime.batch import RunSettings, run_batch, unexpected_error
from vision.runtime.preflight import check_live_job, check_site_files
from vision.runtime.run_report import CameraReport

app = typer.Typer(
    name="footfall",
    help="Customer-flow analytics from CCTV footage.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
TRACKER_HELP = (
    "Tracker: floor (default: people followed on the floor plan in metres; a camera without a calibration is "
    "tracked by botsort), botsort or bytetrack (Roboflow's, in the image, no PyTorch); ultralytics-botsort or "
    "ultralytics-bytetrack (Ultralytics', with its extra, for comparison)."
)
MODEL_HELP = (
    "Detector: an exported .tflite, .onnx or OpenVINO folder, or with the ultralytics extra .pt weights or an "
    f"Ultralytics model name (default: the built-in {DEFAULT_MODEL}, COCO person)."
)

DetectionPlanOption = Annotated[
    bool,
    typer.Option(
        "--plan/--whole-frame",
        help="Per camera, run the detector on the crop of its detection region, two frames a call where that costs "
        "no resolution, with far-field tiles where people are small (see README: Speed, the detection plan); "
        "--whole-frame: the whole frame, one call each.",
    ),
]


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def run_cli(application: typer.Typer) -> None:
    """Runs the command line with a last guard: an error footfall did not foresee is one `error:` line and exit
    status 1, not a traceback (the traceback is logged with --verbose)."""
    try:
        application(prog_name="footfall")
    except Exception as exc:
        if "-v" in sys.argv or "--verbose" in sys.argv:
            logging.getLogger("footfall").exception("unexpected error")
        typer.echo(f"error: {unexpected_error(exc)}", err=True)
        sys.exit(EXIT_FAILED)


def parse_start(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--start {value!r} is not an ISO 8601 time; write e.g. 2026-11-22T09:30:00+08:00") from None
    if parsed.tzinfo is None:
        raise fail(f"--start {value!r} has no time zone; add one, e.g. {value}+08:00 or {value}Z")
    if not is_plausible_start(parsed):
        raise fail(f"--start {value!r} is not a plausible recording time ({PLAUSIBLE_RANGE})")
    return parsed


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a service manager, `kill`) and SIGINT (Ctrl-C) end a run: what was analysed is saved and run.json
    says `interrupted`. SIGINT is taken even where the shell that started the run ignored it (a background job of a
    script), since a user who sends it means it."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def detector_settings(
    model: str, classes: str, imgsz: int | None, conf: float, threads: int | None, export: ExportChoice,
    device: str | None = None, int8: bool = False,
) -> DetectorSettings:  # fmt: skip
    """The detector options every command shares; ValueError for bad values."""
    names = tuple(name.strip() for name in classes.split(",") if name.strip())
    return DetectorSettings(model, names, imgsz, conf, device=device, threads=threads, export=export, int8=int8)


def _summary_line(report: CameraReport) -> str:
    if report.status == "failed" and report.frames_analysed == 0:
        return f"{report.camera}: failed: {report.error}"
    line = (
        f"{report.camera}: analysed {report.frames_analysed} of {report.frames_read} frames "
        f"({report.media_seconds_analysed:.1f} s of video) in {report.wall_s:.1f} s: "
        f"{report.analysed_fps:.1f} frames/s, {report.real_time_factor:.2f}x real time; "
        f"{report.tracks} tracks, {report.track_rows} rows"
    )
    if report.decode_errors:
        line += f"; {report.decode_errors} damaged packets skipped"
    return line if report.status == "complete" else f"{line} [{report.status}: {report.error}]"


def _configure_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(show_path=False)])
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("ultralytics").setLevel(logging.ERROR)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"footfall {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Customer-flow analytics from CCTV footage."""


@app.command("run")
def run_command(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="Video files (mp4/avi/mkv…) or MOTChallenge sequence folders.", show_default=False),
    ] = None,
    site: Annotated[
        Path | None,
        typer.Option(help="Site config YAML: its cameras are processed, with zones, lines and flow analytics."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out"),
    camera: Annotated[
        str | None, typer.Option(help="Camera id (default: the input file's name without extension).")
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(help="Calibration JSON mapping pixels to floor metres (see README: Calibration file)."),
    ] = None,
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = DEFAULT_MODEL,
    classes: Annotated[str, typer.Option(help="Person class names of the model, comma-separated.")] = "person",
    imgsz: Annotated[
        int | None, typer.Option(help="Detector input size in pixels (default: the model's own, 640 for .pt).")
    ] = None,
    conf: Annotated[float, typer.Option(help="Detector confidence threshold.")] = 0.1,
    device: Annotated[str | None, typer.Option(help="Inference device, e.g. cpu or 0 (default: automatic).")] = None,
    export: Annotated[
        ExportChoice,
        typer.Option(
            help=".pt weights run as: auto (OpenVINO, the fastest measured here), openvino, onnx, or none "
            "(PyTorch). The export is made once and cached (FOOTFALL_CACHE_DIR, else ~/.cache/footfall/exports)."
        ),
    ] = "auto",
    int8: Annotated[
        bool,
        typer.Option(help="Quantise the export to INT8, calibrated on frames of the inputs (see README: Speed)."),
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(help="Inference threads (default: every CPU this process may use, cgroup quota included)."),
    ] = None,
    analysis_fps: Annotated[float, typer.Option(help="Frames analysed per second of video.")] = 5.0,
    start: Annotated[
        str | None,
        typer.Option(help="Wall-clock time of the first frame, ISO 8601 with zone (default: from the file)."),
    ] = None,
    tracker: Annotated[TrackerKind, typer.Option(help=TRACKER_HELP)] = "floor",
    track_buffer: Annotated[float, typer.Option(help="Seconds a lost person is remembered.")] = 2.0,
    export_mot: Annotated[bool, typer.Option(help="Also write OUT/mot/<camera>.txt in MOTChallenge format.")] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an earlier run in OUT (only the files it wrote are removed).")
    ] = False,
    flush_interval: Annotated[
        float,
        typer.Option(
            help="Seconds (of footage or of wall time, whichever comes first) between writes of finished rows "
            "and of run.json: what a crash can lose at most."
        ),
    ] = 60.0,
    gate: Annotated[
        bool,
        typer.Option(help="Skip the detector on frames where nothing moved and nobody is tracked (see README: Speed)."),
    ] = True,
    gate_min_area: Annotated[
        float | None,
        typer.Option(
            help="Changed pixels (full-size frame) that count as movement for --gate (default: 800 on a 768x576 "
            "picture, in proportion on others; with a calibration, a tenth of a person where the change is, at most "
            "that)."
        ),
    ] = None,
    gate_max_skip: Annotated[
        float, typer.Option(help="With --gate, seconds after which the detector looks again anyway.")
    ] = DEFAULT_MAX_SKIP_S,
    detection_plan: DetectionPlanOption = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """Detect and track people in footage and write anonymised floor trajectories to OUT."""
    _configure_logging(verbose)
    try:
        detector = detector_settings(model, classes, imgsz, conf, threads, export, device, int8)
        plan = None
        if site is not None:
            if inputs or camera or calibration:
                raise fail(
                    "with --site the cameras, their sources and calibrations come from the site config; "
                    "leave out INPUT, --camera and --calibration"
                )
            config = load_site_config(site)
            jobs = camera_jobs(config)
            plan = flow_plan(config)
        elif inputs:
            jobs = [CameraJob(source, camera or default_camera_id(source), calibration) for source in inputs]
        else:
            raise fail("nothing to analyse: give video files or image-sequence folders, or --site SITE.yaml")
        if int8 and not model.lower().endswith(".pt"):
            raise fail(f"--int8 quantises an export of .pt weights; {model} is not .pt (leave out --int8)")
        if int8:  # calibrated on the footage itself: the files among the inputs
            files = tuple(str(job.source) for job in jobs if Path(str(job.source)).exists())
            detector = dataclasses.replace(detector, calibration=files)
        settings = RunSettings(
            detector=detector,
            tracker=TrackerSettings(kind=tracker, track_buffer_s=track_buffer),
            analysis_fps=analysis_fps,
            start=parse_start(start),
            export_mot=export_mot,
            flow=plan,
            flush_interval_s=flush_interval,
            gate=GateSettings(enabled=gate, min_area_px=gate_min_area, max_skip_s=gate_max_skip),
            detection_plan=detection_plan,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    except FootfallError as exc:
        raise fail(str(exc)) from None

    progress = TerminalProgress() if sys.stderr.isatty() else None
    try:
        with _terminate_as_interrupt():
            report = run_batch(jobs, settings, out, build_detector, progress=progress, overwrite=overwrite)
    except FootfallError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail(f"interrupted; what was analysed is saved in {out} (run.json says so)", EXIT_INTERRUPTED) from None
    except Exception as exc:
        record = f"; {out / 'run.json'} records it" if (out / "run.json").is_file() else ""
        raise fail(f"{unexpected_error(exc)}{record}") from None

    for camera_report in report.cameras:
        line = _summary_line(camera_report)
        if camera_report.status == "complete":
            typer.echo(line)
        else:
            typer.echo(f"error: {line}", err=True)
    if report.status != "complete":
        raise typer.Exit(EXIT_FAILED)
    written = [out / "tracks", out / "heatmaps", out / "run.json"]
    if plan is not None:
        written[1:1] = [out / "events", out / "visits"]
        written[-1:-1] = [out / "site.json", out / "summary.json"]
    typer.echo(f"wrote {', '.join(map(str, written))}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@app.command("validate")
def validate_command(
    config: Annotated[Path, typer.Argument(help="The site config (YAML).", metavar="SITE.yaml", show_default=False)],
) -> None:
    """Check a site config and the files it names (videos, calibrations, floor plan) without analysing anything."""
    from collections import Counter

    try:
        site = load_site_config(config)
        problems = check_site_files(site)
        extent = site.floor_plan.extent_m() if site.floor_plan is not None and not problems else None
    except FootfallError as exc:
        raise fail(str(exc)) from None
    if problems:
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(EXIT_FAILED)

    kinds = Counter(zone.kind for zone in site.zones)
    by_kind = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    typer.echo(f"site {site.site.id} ({site.site.timezone})")
    typer.echo(f"{_count(len(site.cameras), 'camera')}: {', '.join(camera.id for camera in site.cameras)}")
    typer.echo(_count(len(site.zones), "zone") + (f" ({by_kind})" if by_kind else ""))
    typer.echo(f"{_count(len(site.lines), 'line')}, {_count(len(site.funnels), 'funnel')}")
    if extent is not None:
        xmin, ymin, xmax, ymax = extent
        typer.echo(f"floor plan: {xmax - xmin:g} x {ymax - ymin:g} m from ({xmin:g}, {ymin:g})")
    typer.echo("ok")


@app.command("batch")
def batch_command(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Video files, folders (searched for videos) or glob patterns ('exports/**/*.mp4').", show_default=False
        ),
    ] = None,
    list_file: Annotated[
        list[Path] | None, typer.Option("--list", help="A file listing inputs, one per line (repeatable).")
    ] = None,
    site: Annotated[
        Path | None,
        typer.Option(help="Site config: zones and analytics, and which files are which camera's (`recordings`)."),
    ] = None,
    out: Annotated[
        str, typer.Option("--out", "-o", help="Output folder, or a filesystem URL (s3://bucket/path).")
    ] = "out",
    camera: Annotated[
        str | None, typer.Option(help="Camera id of every input, without --site (default: from the file name).")
    ] = None,
    calibration: Annotated[Path | None, typer.Option(help="Calibration JSON of every input, without --site.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes, each loading the model once (default: from the CPUs and --threads)."),
    ] = None,
    chunk_minutes: Annotated[
        float, typer.Option(help="Files longer than 1.5 chunks are split into chunks of this length (0: never).")
    ] = 15.0,
    backend: Annotated[
        str,
        typer.Option(
            help="local (worker processes) or ray (a Ray cluster, "
            "see README: `footfall batch`: recorded footage at scale)."
        ),
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="With --backend ray: the cluster's address, e.g. ray://head:10001.")
    ] = None,
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = DEFAULT_MODEL,
    classes: Annotated[str, typer.Option(help="Person class names of the model, comma-separated.")] = "person",
    imgsz: Annotated[int | None, typer.Option(help="Detector input size in pixels (default: the model's own).")] = None,
    conf: Annotated[float, typer.Option(help="Detector confidence threshold.")] = 0.1,
    threads: Annotated[
        int | None, typer.Option(help="Inference threads per worker (default: the CPUs shared out).")
    ] = None,
    export: Annotated[ExportChoice, typer.Option(help=".pt weights run as: auto, openvino, onnx or none.")] = "auto",
    analysis_fps: Annotated[
        float, typer.Option(help="Frames analysed per second of video (a site camera's own rate wins).")
    ] = 5.0,
    tracker: Annotated[TrackerKind, typer.Option(help=TRACKER_HELP)] = "floor",
    track_buffer: Annotated[float, typer.Option(help="Seconds a lost person is remembered.")] = 2.0,
    gate: Annotated[bool, typer.Option(help="Skip the detector while nothing moves and nobody is tracked.")] = True,
    detection_plan: DetectionPlanOption = True,
    overwrite: Annotated[
        bool, typer.Option(help="Replace what OUT holds from a batch with other settings (else that is refused).")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """Analyse recorded footage at scale: many files (and chunks of long ones) in parallel, resumable after a crash
    (a rerun skips what is finished), locally or on a Ray cluster."""
    from vision.cli.progress import BatchTerminalProgress
    from vision.config.recordings import expand_inputs, recording_jobs
    from vision.runtime.recorded import BatchSettings, run_recorded

    _configure_logging(verbose)
    try:
        config = load_site_config(site) if site is not None else None
        if config is not None and (camera or calibration):
            raise fail(
                "with --site, cameras and calibrations come from the site config; leave out --camera and --calibration"
            )
        files, problems = expand_inputs(list(inputs or []), list(list_file or []))
        if not files and not problems:
            raise fail("nothing to analyse: give video files, folders, glob patterns or --list FILE")
        jobs, unassigned = recording_jobs(files, config, camera, calibration)
        problems += unassigned
        if backend not in ("local", "ray"):
            raise fail(f"--backend must be local or ray, got {backend!r}")
        settings = BatchSettings(
            run=RunSettings(
                detector=detector_settings(model, classes, imgsz, conf, threads, export),
                tracker=TrackerSettings(kind=tracker, track_buffer_s=track_buffer),
                analysis_fps=analysis_fps,
                flow=flow_plan(config) if config is not None else None,
                gate=GateSettings(enabled=gate),
                detection_plan=detection_plan,
            ),
            workers=workers,
            chunk_s=chunk_minutes * 60 if chunk_minutes > 0 else None,
            backend=backend,  # type: ignore[arg-type]
            address=address,
            overwrite=overwrite,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    except FootfallError as exc:
        raise fail(str(exc)) from None
    if not jobs:
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        raise fail("no input can be analysed")

    progress = BatchTerminalProgress(interactive=sys.stderr.isatty())
    try:
        with _terminate_as_interrupt():
            report = run_recorded(jobs, settings, out, build_detector, progress, problems)
    except FootfallError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail(
            f"interrupted; finished tasks are kept in {out}: run the same command again to go on", EXIT_INTERRUPTED
        ) from None
    hours = report.media_s / 3600
    speed = report.media_s / report.wall_s if report.wall_s else 0.0
    typer.echo(
        f"{report.done} of {report.tasks} tasks done now ({report.done_before} before): {hours:.2f} h of footage in "
        f"{report.wall_s:.0f} s, {speed:.1f}x real time, {report.workers} workers x {report.threads} threads; "
        f"output in {out}"
    )
    for item in report.recent:
        typer.echo(f"warning: {item['path']}: {item['error']}", err=True)
    for item in report.partial:
        typer.echo(f"warning: {item['path']}: {item['error']} (what came before the break is kept)", err=True)
    if report.failed:
        typer.echo(f"error: {len(report.failed)} inputs failed; the rest is done:", err=True)
        for item in report.failed:
            typer.echo(f"  {item['error']}", err=True)
        raise typer.Exit(EXIT_FAILED)


def _live_site(config: Path) -> tuple[SiteConfig, list[CameraJob]]:
    """The site config and its camera jobs, checked as far as a service can without connecting (see
    check_live_job); raises FootfallError. Run at start and before a SIGHUP reload closes anything."""
    site_config = load_site_config(config)
    jobs = camera_jobs(site_config)
    for job in jobs:
        check_live_job(job)
    flow_plan(site_config)
    return site_config, jobs


@app.command("serve")
def serve_command(
    config: Annotated[
        Path,
        typer.Argument(
            help="The site config (YAML); camera sources are stream URLs.", metavar="SITE.yaml", show_default=False
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (a service started again continues it).")
    ] = Path("out"),
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = DEFAULT_MODEL,
    classes: Annotated[str, typer.Option(help="Person class names of the model, comma-separated.")] = "person",
    imgsz: Annotated[int | None, typer.Option(help="Detector input size in pixels (default: the model's own).")] = None,
    conf: Annotated[float, typer.Option(help="Detector confidence threshold.")] = 0.1,
    threads: Annotated[
        int | None, typer.Option(help="Inference threads (default: every CPU this process may use).")
    ] = None,
    export: Annotated[ExportChoice, typer.Option(help=".pt weights run as: auto, openvino, onnx or none.")] = "auto",
    tracker: Annotated[TrackerKind, typer.Option(help=TRACKER_HELP)] = "floor",
    track_buffer: Annotated[float, typer.Option(help="Seconds a lost person is remembered.")] = 2.0,
    flush_interval: Annotated[
        float, typer.Option(help="Seconds between writes of finished tracks' rows: the most a crash can lose.")
    ] = 60.0,
    gate: Annotated[bool, typer.Option(help="Skip the detector while nothing moves and nobody is tracked.")] = True,
    detection_plan: DetectionPlanOption = True,
    health: Annotated[
        str, typer.Option(help="Address of /health and /metrics, HOST:PORT (port 0: any free port).")
    ] = "127.0.0.1:8765",
    transport: Annotated[str, typer.Option(help="RTSP transport: tcp or udp.")] = "tcp",
    open_timeout: Annotated[float, typer.Option(help="Seconds to wait for a stream to open.")] = 10.0,
    stall_timeout: Annotated[float, typer.Option(help="Seconds without a frame after which a stream is lost.")] = 10.0,
    backoff_max: Annotated[float, typer.Option(help="Longest wait between reconnect attempts, seconds.")] = 30.0,
    decoder: Annotated[
        str,
        typer.Option(
            help="Where streams are decoded: process (a child process per camera: a decoder crash or hang is an "
            "outage of that camera) or thread (inside this process, no isolation: for comparison only)."
        ),
    ] = "process",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more than state changes.")] = False,
) -> None:
    """Analyse every camera of a site from its live stream, around the clock, writing to OUT continuously.
    SIGTERM or Ctrl-C stops it cleanly; SIGHUP reloads the config (see README: `footfall serve`: live cameras around
    the clock)."""
    # signals before the service runs are acted on once it does: a SIGHUP is a reload, a SIGTERM or Ctrl-C a clean
    # stop, never a death that leaves run.json saying `running`
    during_start: list[int] = []
    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: during_start.append(signum))
    from vision.runtime.health import HealthServer, parse_address
    from vision.runtime.service import Backoff, Service, ServiceSettings
    from vision.sources.stream import StreamSettings

    _configure_logging(verbose)
    logging.getLogger("footfall.serve").setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        site_config, jobs = _live_site(config)
        settings = ServiceSettings(
            run=RunSettings(
                detector=detector_settings(model, classes, imgsz, conf, threads, export),
                tracker=TrackerSettings(kind=tracker, track_buffer_s=track_buffer),
                flow=flow_plan(site_config),
                flush_interval_s=flush_interval,
                gate=GateSettings(enabled=gate),
                detection_plan=detection_plan,
            ),
            stream=StreamSettings(
                transport=transport,  # type: ignore[arg-type]
                open_timeout_s=open_timeout,
                stall_timeout_s=stall_timeout,
                isolation=decoder,  # type: ignore[arg-type]
            ),
            backoff=Backoff(max_s=backoff_max, initial_s=min(1.0, backoff_max)),
        )
        address = parse_address(health)
        if address[0] not in ("127.0.0.1", "localhost", "::1"):
            logging.getLogger("footfall.serve").warning(
                "/health and /metrics listen on %s: anyone who can reach this machine there can read the cameras' "
                "status (no login); keep it to 127.0.0.1 or a trusted network",
                address[0],
            )
        service = Service(jobs, settings, out, build_detector)
    except ValueError as exc:
        raise fail(str(exc)) from None
    except FootfallError as exc:
        raise fail(str(exc)) from None

    reload_requested = False

    def stop(signum: int, frame: object) -> None:
        service.stop()

    def reload(signum: int, frame: object) -> None:
        nonlocal reload_requested
        try:
            _live_site(config)  # every check a start makes short of connecting: a reload that would fail is refused
        except FootfallError as exc:
            logging.getLogger("footfall.serve").error("SIGHUP: config not reloaded, it has a problem: %s", exc)
            return
        except Exception as exc:
            logging.getLogger("footfall.serve").error("SIGHUP: config not reloaded (%s)", unexpected_error(exc))
            return
        logging.getLogger("footfall.serve").info("SIGHUP: closing every file, then starting again with %s", config)
        reload_requested = True
        service.stop()

    try:
        server = HealthServer(service, address)
    except OSError as exc:
        service.folder.release()
        raise fail(f"{exc}; give another --health address") from None
    handlers = {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGHUP: reload}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    log = logging.getLogger("footfall.serve")
    try:
        log.info("serving %d cameras into %s; health at %s/health", len(jobs), out, server.url)
        if signal.SIGTERM in during_start or signal.SIGINT in during_start:
            log.info("asked to stop during start-up")
            service.stop()
        elif signal.SIGHUP in during_start:
            log.info("SIGHUP came during start-up")
            reload(signal.SIGHUP, None)
        service.run()
    finally:
        server.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("stopped; every file in %s is closed", out)
    if reload_requested:
        os.execv(sys.executable, [sys.executable, "-m", "vision", *sys.argv[1:]])


def _zone_names(option: str | None, site_zones: list[dict]) -> tuple[str, ...] | None:
    if not option:
        return None
    names = tuple(sorted({name.strip() for name in option.split(",") if name.strip()}))
    known = {str(zone["name"]) for zone in site_zones}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise fail(f"--zones: no zone {unknown[0]!r} in this site; pick from {', '.join(sorted(known)) or '(none)'}")
    return names


@app.command("report")
def report_command(
    folders: Annotated[
        list[Path], typer.Argument(help="Output folders of `footfall run` (one or many).", metavar="OUT...")
    ],
    since: Annotated[
        str | None, typer.Option("--from", help="First day (2026-11-01) or time, in the site's time zone.")
    ] = None,
    until: Annotated[str | None, typer.Option("--to", help="Last day (included) or time (excluded).")] = None,
    cameras: Annotated[str | None, typer.Option(help="Cameras to include, comma-separated (default: all).")] = None,
    zones: Annotated[
        str | None, typer.Option(help="Zones whose figures to give, comma-separated (default: all).")
    ] = None,
    bucket: Annotated[str, typer.Option(help="Time buckets: hour, day or week.")] = "hour",
    compare_from: Annotated[str | None, typer.Option(help="First day of the period to compare with.")] = None,
    compare_to: Annotated[str | None, typer.Option(help="Last day of the period to compare with.")] = None,
    min_visitors: Annotated[
        int, typer.Option(help="Figures resting on fewer distinct tracks are shown as <N (privacy).")
    ] = 5,
    browser_s: Annotated[float, typer.Option(help="Time in view from which a track is a browser, seconds.")] = 10.0,
    dweller_s: Annotated[float, typer.Option(help="Time in view from which a track is a dweller, seconds.")] = 120.0,
    smooth_m: Annotated[float, typer.Option(help="Heatmap smoothing kernel (Gaussian sigma), metres.")] = 0.5,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Report folder (default: a new folder under the first OUT's reports/, named by time)."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the report already in --out.")] = False,
) -> None:
    """Figures for any period from the outputs on disk: index.html (works offline), a CSV per table and
    summary.json, in a folder of their own (never over another report unless --overwrite)."""
    from zoneinfo import ZoneInfo

    from vision.report.build import ReportOptions, build_report
    from vision.report.inputs import BUCKETS, open_run_folders, parse_period
    from vision.report.write import default_report_folder, span_text, write_report

    try:
        if bucket not in BUCKETS:
            raise fail(f"--bucket {bucket!r} is not one of {', '.join(BUCKETS)}")
        if (compare_from is None) != (compare_to is None):
            raise fail("--compare-from and --compare-to go together; give both, or neither")
        runs = open_run_folders(folders)
        zone = ZoneInfo(runs.site.timezone)
        options = ReportOptions(
            period=parse_period(since, until, zone, ("--from", "--to")),
            compare=parse_period(compare_from, compare_to, zone, ("--compare-from", "--compare-to")),
            cameras=tuple(name.strip() for name in cameras.split(",") if name.strip()) if cameras else None,
            zones=_zone_names(zones, runs.site.zones),
            bucket=bucket,  # type: ignore[arg-type]  # checked above
            min_visitors=min_visitors,
            browser_s=browser_s,
            dweller_s=dweller_s,
            smooth_m=smooth_m,
        )
        report = build_report(runs, options)
        out = out if out is not None else default_report_folder(report)
        write_report(report, out, overwrite=overwrite)
    except FootfallError as exc:
        raise fail(str(exc)) from None
    for line in runs.unfinished:
        typer.echo(f"warning: {line}", err=True)
    for missing in report.cameras_without_data:
        typer.echo(f"warning: camera {missing} has no tracks in {report.main.label}; it is left out", err=True)
    span = report.main.span
    covered = span_text(span)
    typer.echo(
        f"report on {', '.join(report.cameras)} ({covered}, {report.timezone}): {out / 'index.html'}, "
        f"{out / 'summary.json'} and a CSV per table"
    )


@app.command("dashboard")
def dashboard_command(
    folders: Annotated[
        list[Path], typer.Argument(help="Output folders of `footfall run`, `batch` or `serve`.", metavar="OUT...")
    ],
    bind: Annotated[
        str, typer.Option(help="Address of the page, HOST:PORT (port 0: any free port).")
    ] = "127.0.0.1:8080",
    min_visitors: Annotated[
        int, typer.Option(help="Figures resting on fewer distinct tracks are shown as <N (privacy).")
    ] = 5,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Another name the page may be asked for by (the Host header), e.g. a DNS name on your network; "
            "repeat for more."
        ),
    ] = None,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the page in a web browser.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request.")] = False,
) -> None:
    """A local web page over the record: pick a period, cameras, zones and bucket, compare with an earlier
    period, download any table as CSV, and watch a live service's "now" (see README: `footfall dashboard`: a live
    page over the record).
    Read-only; the same figures as `footfall report`."""
    from vision.report.dashboard import Dashboard
    from vision.report.dashboard_server import DashboardServer
    from vision.runtime.health import parse_address

    _configure_logging(verbose)
    try:
        if min_visitors < 1:
            raise fail(f"--min-visitors must be at least 1, got {min_visitors}")
        try:
            host, port = parse_address(bind)
        except ValueError:
            raise fail(f"--bind {bind!r} is not HOST:PORT (e.g. 127.0.0.1:8080; port 0 picks a free one)") from None
        dashboard = Dashboard(folders, min_visitors=min_visitors)
        server = DashboardServer(dashboard, host, port, tuple(allow_host or ()))
    except FootfallError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot listen on {bind} ({exc.strerror}); give another --bind") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(
            f"warning: the dashboard listens on {host}: anyone who can reach this machine there can read the figures",
            err=True,
        )
    typer.echo(f"dashboard of {', '.join(map(str, folders))} at {server.url} (Ctrl-C stops it)", err=False)
    sys.stdout.flush()
    import threading

    threading.Thread(target=dashboard.warm, name="warm", daemon=True).start()
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
