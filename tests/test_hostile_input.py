"""Hostile input through the real commands (issue 8): alias bombs, huge, empty, binary and deeply nested files,
NaN and Infinity, absurd sizes and grids, a camera in the floor plane, folders where files belong. Each case runs
the command in a fresh process and must give exactly one `error:` line on stderr, exit status 1, no traceback,
and leave the disk exactly as it was: no output folder, no temporary file, earlier files unchanged.

`run` cases all fail before the model is loaded, so each takes a fraction of a second."""

from __future__ import annotations

import copy
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers import PETS_FIRST_FRAME, PETS_VIDEO, TFLITE_MODEL, pets_calibration_document
from tests.test_bad_input import assert_one_clear_line
from vision.config.calibration_file import load_calibration
from vision.config.site import load_site_config
from vision.core.errors import SiteConfigError
from vision.sources.files import open_source

TIMEOUT_S = 120


def footfall_command() -> list[str]:
    """The `footfall` console script (calibration.launch:main) installed beside this Python, else the same entry point
    through `python -m calibration`."""
    script = Path(sys.executable).with_name("footfall")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "calibration"]


def invoke(tool: str, args: list[str | Path]) -> subprocess.CompletedProcess:
    base = [sys.executable, "-m", "vision"] if tool == "vision" else footfall_command()
    return subprocess.run([*base, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT_S)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under `folder`, hidden ones included."""
    return {
        str(path.relative_to(folder)): (path.read_bytes() if path.is_file() else None)
        for path in sorted(folder.rglob("*"))
    }


# ----------------------------------------------------------------------------------------------------------------
# Builders of hostile files


BILLION_LAUGHS = """\
version: 1
site: {id: shop}
cameras: [{id: cam, source: video.mp4}]
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
zones: *i
"""


def site_text(extra: str = "", camera: str = "") -> str:
    """A valid site config on the PETS video, with `extra` top-level YAML and `camera` fields added."""
    return (
        f"version: 1\nsite: {{id: shop}}\ncameras:\n  - id: cam\n    source: {PETS_VIDEO}\n"
        + "".join(f"    {line}\n" for line in camera.splitlines())
        + extra
    )


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def plan_png(path: Path, width: int = 200, height: int = 100) -> Path:
    cv2.imwrite(str(path), np.full((height, width, 3), 230, np.uint8))
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A few dozen bytes that declare a width x height PNG: decoding it would take gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return write(path, b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


def calibration(path: Path, change: Callable[[dict], None] | None = None) -> Path:
    """The PETS calibration, changed; written with Python's JSON, which writes NaN and Infinity as such."""
    document = copy.deepcopy(pets_calibration_document())
    if change is not None:
        change(document)
    return write(path, json.dumps(document))


def homography(path: Path, matrix: list) -> Path:
    document = {"format": "footfall-calibration", "version": 1, "model": "homography", "homography": matrix}
    return write(path, json.dumps(document))


def sequence(folder: Path, seqinfo: str | bytes) -> Path:
    (folder / "img1").mkdir(parents=True)
    shutil.copy(PETS_FIRST_FRAME, folder / "img1" / "000001.jpg")
    write(folder / "seqinfo.ini", seqinfo)
    return folder


def seqinfo(frame_rate: str = "7", length: str = "400", width: str = "768", height: str = "576") -> str:
    return f"[Sequence]\nimDir=img1\nframeRate={frame_rate}\nseqLength={length}\nimWidth={width}\nimHeight={height}\n"


def points_csv(path: Path, rows: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("u,v,x,y\n" + "".join(f"{row}\n" for row in rows), encoding=encoding)
    return path


GOOD_ROWS = ["100,400,0,0", "600,420,5,0", "550,150,5,8", "150,160,0,8", "350,300,2.5,4"]


def set_item(key: str, value: object) -> Callable[[dict], None]:
    return lambda document: document.__setitem__(key, value)


# ----------------------------------------------------------------------------------------------------------------
# The cases: (tool, arguments built in a temporary folder, fragments of the one error line)


@dataclass(frozen=True)
class Case:
    id: str
    tool: str  # "vision" (python -m vision) or "footfall" (the console script, for calibrate)
    build: Callable[[Path], list[str | Path]]
    fragments: tuple[str, ...]


def validate(content: str | bytes | Callable[[Path], str | bytes], name: str = "site.yaml") -> Callable:
    def build(tmp: Path) -> list[str | Path]:
        text = content(tmp) if callable(content) else content
        return ["validate", write(tmp / name, text)]

    return build


def run_site(content: str | bytes) -> Callable:
    return lambda tmp: [
        "run",
        "--site",
        write(tmp / "site.yaml", content),
        "--model",
        TFLITE_MODEL,
        "--out",
        tmp / "out",
    ]


def run_calibration(make: Callable[[Path], Path]) -> Callable:
    return lambda tmp: [
        "run", PETS_VIDEO, "--model", TFLITE_MODEL, "--calibration", make(tmp / "calib.json"), "--out", tmp / "out"
    ]  # fmt: skip


def run_sequence(info: str | bytes) -> Callable:
    return lambda tmp: ["run", sequence(tmp / "seq", info), "--model", TFLITE_MODEL, "--out", tmp / "out"]


def calibrate(
    make_source: Callable[[Path], Path | str],
    setup: Callable[[Path], list] | None = None,
    plan: Callable[[Path], Path] | None = None,
) -> Callable:
    """`calibrate SOURCE --plan PLAN --scale 0.05 …` with a good plan unless `plan` makes another; `setup` writes
    more files and returns more arguments. A case that wrongly passed would start the server: the timeout ends it."""

    def build(tmp: Path) -> list[str | Path]:
        more = setup(tmp) if setup is not None else []
        picture = plan(tmp) if plan is not None else plan_png(tmp / "plan.png")
        fixed = ["--scale", "0.05", "--out", tmp / "calib.json", "--no-browser", "--port", "0"]
        return ["calibrate", make_source(tmp), "--plan", picture, *fixed, *more]

    return build


def solve(
    rows: list[str] | Callable[[Path], Path],
    *extra: str,
    out: str = "calib.json",
    folder: bool = False,
    file: str | None = None,
    lens: str | None = None,
) -> Callable:
    """`calibrate solve` on these rows (or a points file made by `rows`); `folder` makes --out an existing folder
    holding an earlier file, `file` makes a file in the way, `lens` writes lens.json and passes it as --intrinsics."""

    def build(tmp: Path) -> list[str | Path]:
        points = rows(tmp) if callable(rows) else points_csv(tmp / "points.csv", rows)
        if folder:
            (tmp / out).mkdir()
            write(tmp / out / "old.json", "{}")
        if file is not None:
            write(tmp / file, "a file where a folder should be")
        more = ["--intrinsics", write(tmp / "lens.json", lens)] if lens is not None else []
        return ["calibrate", "solve", points, "--out", tmp / out, *extra, *more]

    return build


def first_frame(tmp: Path) -> Path:
    return PETS_FIRST_FRAME


def with_intrinsics(content: str | bytes) -> Callable[[Path], list]:
    return lambda tmp: ["--intrinsics", write(tmp / "lens.json", content)]


def saved_points(rows: list[str]) -> Callable[[Path], list]:
    """Point pairs saved beside the calibration by an earlier session (the page loads them)."""

    def setup(tmp: Path) -> list:
        points_csv(tmp / "calib.points.csv", rows)
        return []

    return setup


def lens(change: Callable[[dict], None]) -> str:
    document = {"K": pets_calibration_document()["K"], "dist": pets_calibration_document()["dist"]}
    change(document)
    return json.dumps(document)


DEEP_JSON = "[" * 100_000 + "]" * 100_000
HUGE_INT_JSON = '{"format": "footfall-calibration", "version": ' + "9" * 5000 + "}"

CASES = [
    # ---- footfall validate: the site config loader
    Case("validate-alias-bomb", "vision", validate(BILLION_LAUGHS), ("site.yaml:", "more than 50,000 values")),
    Case(
        "validate-too-many-aliases",
        "vision",
        validate(site_text("anchor: &x 1\nmany: [" + ", ".join(["*x"] * 101) + "]\n")),
        ("more than 100 aliases",),
    ),
    Case("validate-alias-cycle", "vision", validate(site_text("loop: &a [1, *a]\n")), ("*a refers to a value",)),
    Case(
        "validate-deep-nesting",
        "vision",
        validate(site_text("deep: " + "[" * 5000 + "]" * 5000 + "\n")),
        ("nested more than 50 levels",),
    ),
    Case("validate-too-large", "vision", validate("#" * 1_200_000 + "\n" + site_text()), ("too large",)),
    Case("validate-empty", "vision", validate(""), ("the file is empty",)),
    Case("validate-binary", "vision", validate(bytes(range(256)) * 8), ("not a text file (not UTF-8)",)),
    Case("validate-control-characters", "vision", validate(site_text() + "x: \x00\x07\n"), ("not valid YAML",)),
    Case(
        "validate-impossible-date",
        "vision",
        validate(site_text(camera="start: 2026-13-45T09:00:00+08:00")),
        ("site.yaml:6:", "cannot be read", "month must be in 1..12"),
    ),
    Case(
        "validate-5000-digit-number",
        "vision",
        validate(site_text(camera="analysis_fps: " + "9" * 5000)),
        ("site.yaml:6:", "cannot be read", "4300 digits"),
    ),
    Case(
        "validate-year-9999",
        "vision",
        validate(site_text(camera='start: "9999-12-31T23:00:00-14:00"')),
        ("cameras[0].start", "not a plausible recording time"),
    ),
    Case(
        "validate-nan-rate",
        "vision",
        validate(site_text(camera="analysis_fps: .nan")),
        ("cameras[0].analysis_fps", "finite"),
    ),
    Case(
        "validate-millimetre-cell",
        "vision",
        validate(site_text("floor_plan: {size_m: [20, 15]}\nanalytics: {heatmap_cell_m: 1e-3}\n")),
        ("site.yaml:7: analytics.heatmap_cell_m", "0.001 m", "0.05 m"),
    ),
    Case(
        "validate-20-km-floor",
        "vision",
        validate(site_text("floor_plan: {size_m: [2e4, 15]}\n")),
        ("floor_plan.size_m", "20000 x 15 m", "2000 m a side"),
    ),
    Case(
        "validate-too-many-cells",
        "vision",
        validate(site_text("floor_plan: {size_m: [2000, 1500]}\n")),
        ("floor_plan.size_m", "48,000,000 cells", "heatmap_cell_m at least 0.87"),
    ),
    Case(
        "validate-zones-5-km-apart",
        "vision",
        validate(
            site_text(
                "zones:\n  - {name: a, polygon: [[0, 0], [2, 0], [2, 2]]}\n"
                "  - {name: b, polygon: [[3, 0], [5, 0], [5, 2]]}\n"
                "  - {name: c, polygon: [[5000, 0], [5002, 0], [5002, 2]]}\n"
            )
        ),
        ("site.yaml:9: zones[2]", "5002 x 2 m", "metres"),
    ),
    Case(
        "validate-plan-scale-50-m-per-pixel",
        "vision",
        validate(lambda tmp: site_text(f"floor_plan: {{image: {plan_png(tmp / 'plan.png')}, metres_per_pixel: 50}}\n")),
        ("floor_plan.metres_per_pixel", "10000 x 5000 m"),
    ),
    Case(
        "validate-plan-scale-implausible",
        "vision",
        validate(
            lambda tmp: site_text(f"floor_plan: {{image: {plan_png(tmp / 'plan.png')}, metres_per_pixel: 1e-9}}\n")
        ),
        ("floor_plan.metres_per_pixel", "implausible"),
    ),
    Case(
        "validate-gigapixel-plan",
        "vision",
        validate(
            lambda tmp: site_text(
                f"floor_plan: {{image: {png_header_only(tmp / 'plan.png', 30000, 30000)}, metres_per_pixel: 0.05}}\n"
            )
        ),
        ("plan.png", "900 megapixels", "more than the 40 megapixels"),
    ),
    Case("validate-newline-in-key", "vision", validate(site_text('"a\\nb": 1\n')), ("'a\\nb': unknown field",)),
    Case(
        "validate-100-kB-time-zone",
        "vision",
        validate(site_text().replace("{id: shop}", "{id: shop, timezone: " + "x" * 100_000 + "}")),
        ("site.timezone", "unknown time zone 'xxxx"),
    ),
    Case(
        "validate-camera-in-floor-plane",
        "vision",
        validate(lambda tmp: site_text(camera=f"calibration: {calibration(tmp / 'c.json', set_item('t', [0, 0, 0]))}")),
        ("camera cam:", "c.json", "floor plane"),
    ),
    Case(
        "validate-infinite-distortion",
        "vision",
        validate(
            lambda tmp: site_text(
                camera=f"calibration: {calibration(tmp / 'c.json', set_item('dist', [float('inf'), 0, 0, 0, 0]))}"
            )
        ),
        ("camera cam:", "field dist.0: must be a finite number, not inf"),
    ),
    # ---- footfall run: site config, calibration and image sequence, all refused before the model loads
    Case("run-site-alias-bomb", "vision", run_site(BILLION_LAUGHS), ("more than 50,000 values",)),
    Case(
        "run-site-millimetre-cell",
        "vision",
        run_site(site_text("floor_plan: {size_m: [20, 15]}\nanalytics: {heatmap_cell_m: 0.001}\n")),
        ("analytics.heatmap_cell_m",),
    ),
    Case(
        "run-camera-in-floor-plane",
        "vision",
        run_calibration(lambda path: calibration(path, set_item("t", [0, 0, 0]))),
        ("calib.json", "floor plane"),
    ),
    Case(
        "run-infinite-distortion",
        "vision",
        run_calibration(lambda path: calibration(path, set_item("dist", [-0.15, float("inf"), 0, 0, 0]))),
        ("field dist.1: must be a finite number, not inf",),
    ),
    Case(
        "run-nan-focal-length",
        "vision",
        run_calibration(
            lambda path: calibration(path, set_item("K", [[float("nan"), 0, 384], [0, 800, 288], [0, 0, 1]]))
        ),
        ("field K.0.0: must be a finite number, not nan",),
    ),
    Case(
        "run-nan-homography",
        "vision",
        run_calibration(lambda path: homography(path, [[1, 0, 0], [0, 1, float("nan")], [0, 0, 1]])),
        ("field homography.1.2", "finite"),
    ),
    Case(
        "run-singular-homography",
        "vision",
        run_calibration(lambda path: homography(path, [[1, 2, 3], [2, 4, 6], [0, 0, 1]])),
        ("field homography", "invertible"),
    ),
    Case(
        "run-translation-1e300",
        "vision",
        run_calibration(lambda path: calibration(path, set_item("t", [1e300, 0, 5000]))),
        ("field t.0", "1e+300", "not a plausible"),
    ),
    Case(
        "run-negative-image-size",
        "vision",
        run_calibration(lambda path: calibration(path, set_item("image_size", [-768, 576]))),
        ("field image_size.0",),
    ),
    Case(
        "run-2-MB-calibration",
        "vision",
        run_calibration(lambda path: write(path, " " * 2_000_000 + "{}")),
        ("calib.json: too large",),
    ),
    Case(
        "run-deeply-nested-calibration",
        "vision",
        run_calibration(lambda path: write(path, DEEP_JSON)),
        ("calib.json", "nested far too deep"),
    ),
    Case(
        "run-5000-digit-version",
        "vision",
        run_calibration(lambda path: write(path, HUGE_INT_JSON)),
        ("calib.json", "4300 digits"),
    ),
    Case("run-frame-rate-nan", "vision", run_sequence(seqinfo(frame_rate="nan")), ("frameRate 'nan'", "positive")),
    Case("run-frame-rate-1e300", "vision", run_sequence(seqinfo(frame_rate="1e300")), ("from 0.001 to 1000",)),
    Case(
        "run-seq-length-huge",
        "vision",
        run_sequence(seqinfo(length="9" * 30)),
        ("seqLength '999999999999999999999999'",),
    ),
    Case("run-image-width-zero", "vision", run_sequence(seqinfo(width="0")), ("imWidth '0'", "positive")),
    Case("run-seqinfo-binary", "vision", run_sequence(b"\xff\xfe\x00\x01" * 64), ("seqinfo.ini", "not UTF-8")),
    # ---- footfall calibrate: the calibration page's inputs, refused before the server starts
    Case(
        "calibrate-frame-rate-nan",
        "footfall",
        calibrate(lambda tmp: sequence(tmp / "seq", seqinfo(frame_rate="nan"))),
        ("frameRate 'nan'",),
    ),
    Case(
        "calibrate-frame-rate-inf",
        "footfall",
        calibrate(lambda tmp: sequence(tmp / "seq", seqinfo(frame_rate="-inf"))),
        ("frameRate '-inf'",),
    ),
    Case(
        "calibrate-infinite-lens-distortion",
        "footfall",
        calibrate(first_frame, setup=with_intrinsics(lens(set_item("dist", [float("inf"), 0, 0, 0, 0])))),
        ("lens.json: field dist.0: must be a finite number",),
    ),
    Case(
        "calibrate-lens-file-binary",
        "footfall",
        calibrate(first_frame, setup=with_intrinsics(b"\x00\xff" * 100)),
        ("lens.json", "not a text file"),
    ),
    Case(
        "calibrate-saved-points-nan",
        "footfall",
        calibrate(first_frame, setup=saved_points(["1,2,nan,4"])),
        ("calib.points.csv:2", "finite"),
    ),
    Case(
        "calibrate-site-alias-bomb",
        "footfall",
        calibrate(first_frame, setup=lambda tmp: ["--site", write(tmp / "site.yaml", BILLION_LAUGHS)]),
        ("site.yaml", "more than 50,000 values"),
    ),
    Case(
        "calibrate-gigapixel-plan",
        "footfall",
        calibrate(first_frame, plan=lambda tmp: png_header_only(tmp / "plan.png", 40000, 40000)),
        ("plan.png", "1,600 megapixels"),
    ),
    # ---- footfall calibrate solve: the points CSV and its options
    Case("solve-nan", "footfall", solve([*GOOD_ROWS, "1,2,nan,4"]), ("points.csv:7", "finite")),
    Case("solve-infinity", "footfall", solve(["1,2,3,4", "inf,2,3,4", *GOOD_ROWS]), ("points.csv:3", "finite")),
    Case("solve-1e308", "footfall", solve([*GOOD_ROWS, "1e308,2,3,4"]), ("points.csv:7", "within ±1e+07")),
    Case("solve-out-is-a-folder", "footfall", solve(GOOD_ROWS, out="calibs", folder=True), ("calibs is a folder",)),
    Case(
        "solve-out-inside-a-file",
        "footfall",
        solve(GOOD_ROWS, out="notes.txt/calib.json", file="notes.txt"),
        ("notes.txt is a file, not a folder",),
    ),
    Case(
        "solve-binary",
        "footfall",
        solve(lambda tmp: write(tmp / "points.csv", b"\x89PNG\r\n\x1a\n\xff\xd8" * 50)),
        ("not a text file",),
    ),
    Case(
        "solve-too-large",
        "footfall",
        solve(lambda tmp: write(tmp / "points.csv", "u,v,x,y\n" + "1,2,3,4\n" * 200_000)),
        ("too large for a points file",),
    ),
    Case(
        "solve-too-many-pairs",
        "footfall",
        solve([f"{i},{i % 7},{i * 0.01},{i % 5}" for i in range(600)]),
        ("more than 500 point pairs",),
    ),
    Case(
        "solve-nul-byte", "footfall", solve(lambda tmp: write(tmp / "points.csv", "u,v,x,y\n1,\x00,3,4\n")), ("csv:2",)
    ),
    Case("solve-empty", "footfall", solve(lambda tmp: write(tmp / "points.csv", "")), ("missing u, v, x, y",)),
    Case(
        "solve-huge-image-size",
        "footfall",
        solve(GOOD_ROWS, "--image-size", "9999999x1080"),
        ("--image-size", "at most"),
    ),
    Case("solve-max-rms-nan", "footfall", solve(GOOD_ROWS, "--max-rms", "nan"), ("--max-rms nan",)),
    Case(
        "solve-intrinsics-nan",
        "footfall",
        solve(GOOD_ROWS, lens=lens(set_item("K", [[800, 0, 384], [0, float("nan"), 288], [0, 0, 1]]))),
        ("lens.json: field K.1.1: must be a finite number",),
    ),
]


@dataclass(frozen=True)
class Outcome:
    result: subprocess.CompletedProcess | None  # None: still running at the timeout
    elapsed_s: float
    before: dict[str, bytes | None]
    after: dict[str, bytes | None]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case run as its own process, several at a time (most of each is Python starting up), each in its own
    folder with an earlier file in it, snapshotted before and after."""
    prepared = []
    for case in CASES:
        folder = tmp_path_factory.mktemp(case.id)
        (folder / "earlier.txt").write_text("a file from before, which must stay as it is\n")
        prepared.append((case, folder, case.build(folder), snapshot(folder)))

    def execute(item: tuple[Case, Path, list, dict]) -> tuple[str, Outcome]:
        case, folder, args, before = item
        started = time.monotonic()
        try:
            result = invoke(case.tool, args)
        except subprocess.TimeoutExpired:
            result = None
        return case.id, Outcome(result, time.monotonic() - started, before, snapshot(folder))

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(pool.map(execute, prepared))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_gives_one_clear_line_and_leaves_the_disk_alone(case: Case, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.id]
    assert outcome.result is not None, f"still running after {TIMEOUT_S} s"
    line = assert_one_clear_line(outcome.result, *case.fragments)
    assert outcome.result.returncode == 1
    assert len(line) < 600, "a hostile value must not stretch the message"
    assert outcome.after == outcome.before, "nothing written, nothing changed, no temporary file left"
    assert outcome.elapsed_s < 30


def test_case_ids_are_distinct() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 30


# ----------------------------------------------------------------------------------------------------------------
# In-process: the bounds are fast, and the friendly forms are read


def test_the_alias_bomb_is_refused_in_well_under_a_second(tmp_path: Path) -> None:
    path = write(tmp_path / "bomb.yaml", BILLION_LAUGHS)
    started = time.process_time()  # this process's CPU time: what the bomb would burn, whatever else the machine does
    with pytest.raises(SiteConfigError, match="more than 50,000 values"):
        load_site_config(path)
    assert time.process_time() - started < 1.0  # unbounded, the expansion would take minutes and gigabytes


def test_a_large_document_below_the_size_limit_is_refused_quickly(tmp_path: Path) -> None:
    path = write(tmp_path / "big.yaml", site_text("x: [" + ", ".join(["[1.5, 2.5]"] * 80_000) + "]\n"))
    assert path.stat().st_size < 1_000_000
    started = time.process_time()
    with pytest.raises(SiteConfigError, match="more than 50,000 values"):
        load_site_config(path)
    assert time.process_time() - started < 4.0  # CPU seconds; refused after 50,000 values, not after building all


def test_scientific_notation_is_a_number(tmp_path: Path) -> None:
    path = write(
        tmp_path / "site.yaml",
        site_text("floor_plan: {size_m: [2e1, 1.5E+1]}\nanalytics: {heatmap_cell_m: 25e-2, line_margin_m: 3.0e-1}\n"),
    )
    config = load_site_config(path)
    assert config.floor_plan.size_m == (20.0, 15.0)
    assert (config.analytics.heatmap_cell_m, config.analytics.line_margin_m) == (0.25, 0.3)
    import yaml

    assert yaml.safe_load("x: 2e1") == {"x": "2e1"}, "PyYAML's own loader is left as it was"


def test_files_with_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(site_text(), encoding="utf-8-sig")
    assert load_site_config(site).cameras[0].id == "cam"
    calibration_path = tmp_path / "calib.json"
    calibration_path.write_text(json.dumps(pets_calibration_document()), encoding="utf-8-sig")
    assert load_calibration(calibration_path).units == "mm"
    folder = sequence(tmp_path / "seq", "\ufeff" + seqinfo())
    source = open_source(str(folder))
    try:
        assert (source.info.width, source.info.nominal_fps, source.info.frame_count) == (768, 7.0, 400)
    finally:
        source.close()


def test_points_with_a_byte_order_mark_are_solved(tmp_path: Path) -> None:
    points = points_csv(tmp_path / "points.csv", GOOD_ROWS, encoding="utf-8-sig")
    out = tmp_path / "calib.json"
    result = invoke("footfall", ["calibrate", "solve", points, "--out", out])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert load_calibration(out).model == "homography"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["calib.json", "points.csv"]
