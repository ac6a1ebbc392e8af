"""Property-based tests of the parsers of user files (issue 8): the site-config loader, the calibration loader (and
the lens-intrinsics reader), the points CSV and seqinfo.ini. Whatever the bytes, text or structure, each gives a
result or a footfall error (FootfallError: one line for the user), never another exception, and never a numpy
warning (which the command line would print beside the error)."""

from __future__ import annotations

import copy
import itertools
import json
import math
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibration.solve import fit_homography, read_point_pairs_csv
from calibration.solve_cli import read_intrinsics
from tests.helpers import PETS_FIRST_FRAME, PETS_VIDEO, pets_calibration_document
from vision.config.calibration_file import load_calibration, projector_from_calibration
from vision.config.site import SiteConfig, load_site_config
from vision.core.errors import FootfallError
from vision.sources.files import ImageSequenceSource

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_counter = itertools.count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    cv2.imwrite(str(folder / "plan.png"), np.full((60, 80, 3), 200, np.uint8))
    return folder


def fresh(folder: Path, name: str, content: str | bytes) -> Path:
    """A new file for one example (a fresh name, so cached image sizes and the like never carry over)."""
    path = folder / f"{next(_counter)}-{name}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    return path


def footfall_error_or_result(call: Callable[[], Any]) -> Any:
    """`call()`'s result, or None when it raised a FootfallError; anything else (a numpy warning included) fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            return call()
        except FootfallError as exc:
            message = str(exc)
            assert message and "\n" not in message and "\r" not in message, repr(message)
            return None


# ----------------------------------------------------------------------------------------------------------------
# Strategies


FINITE = st.floats(allow_nan=False, allow_infinity=False)
ODD_NUMBERS = st.sampled_from(
    [0, -1, 1e-300, 1e300, -1e300, 10**30, -(10**30), float("nan"), float("inf"), float("-inf"), 2**63, 1e-9]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    ODD_NUMBERS,
    st.text(max_size=30),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

_TOKENS = [
    "version: 1\n", "site: {id: s}\n", "cameras:\n", "  - id: c\n", "    source: v.mp4\n", "zones:\n",
    "  - name: z\n", "    polygon: [[0, 0], [1, 0], [1, 1]]\n", "lines:\n", "floor_plan:\n", "  size_m: [20, 15]\n",
    "analytics:\n", "  heatmap_cell_m: ", "2e1", "1e-3", ".nan", ".inf", "-.inf", "0x1F", "0o17", "1_000",
    "190:20:30", "2026-13-45", "2026-11-22T09:00:00+08:00", "~", "null", "yes", "&a ", "*a", "&b [*a, *a]",
    "<<: *a\n", "? ", ": ", "- ", "[", "]", "{", "}", ",", "'", '"', "|\n", ">\n", "#", "\n", "  ", "\t", "---\n",
    "...\n", "%YAML 1.1\n", "!!binary ", "!!python/object:os.system ", "!!set ", "!!omap ", "!!float ", "!!int ",
    "\ufeff", "\x00", "\x85", "é", "9" * 5000,
]  # fmt: skip
YAML_TOKENS = st.sampled_from(_TOKENS)
YAMLISH = st.lists(YAML_TOKENS, max_size=40).map("".join)


def valid_site(plan: Path) -> dict:
    return {
        "version": 1,
        "site": {"id": "shop", "timezone": "Europe/Paris"},
        "floor_plan": {"image": str(plan), "metres_per_pixel": 0.05, "origin": [0.0, 0.0]},
        "cameras": [{"id": "cam", "source": str(PETS_VIDEO), "analysis_fps": 5, "start": "2026-11-22T09:00:00+01:00"}],
        "zones": [
            {"name": "entrance", "kind": "entrance", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]},
            {"name": "till", "kind": "queue", "polygon": [[2, 0], [3, 0], [3, 2]], "cameras": ["cam"]},
        ],
        "lines": [{"name": "door", "a": [0, 2], "b": [2, 2], "in_side": "left"}],
        "funnels": [{"name": "buy", "steps": ["entrance", "till"]}],
        "analytics": {"min_inside_s": 1, "bucket_s": 60, "heatmap_cell_m": 0.25, "top_sequences": 5},
    }


def paths_of(document: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) to a value inside a nested document."""
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths_of(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths_of(value, (*prefix, index))
    return found


def replaced(document: Any, path: tuple, value: Any) -> Any:
    changed = copy.deepcopy(document)
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


@st.composite
def fuzzed(draw: st.DrawFn, document: Any, count: int = 3) -> Any:
    """`document` with up to `count` of its values (anywhere in it) replaced by arbitrary ones, or removed."""
    for _ in range(draw(st.integers(min_value=1, max_value=count))):
        paths = paths_of(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        if draw(st.integers(0, 5)) == 0 and isinstance(path[-1], str):
            document = copy.deepcopy(document)
            parent = document
            for part in path[:-1]:
                parent = parent[part]
            del parent[path[-1]]
        else:
            document = replaced(document, path, draw(VALUES))
    return document


def yaml_text(document: Any) -> str:
    # Python's NaN and huge floats go through YAML as .nan / .inf; keys that aren't text stay as they are.
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


# ----------------------------------------------------------------------------------------------------------------
# The site config


def load_site(path: Path) -> SiteConfig | None:
    config = footfall_error_or_result(lambda: load_site_config(path))
    assert config is None or isinstance(config, SiteConfig)
    return config


@SETTINGS
@given(data=st.binary(max_size=3000))
def test_site_config_from_any_bytes(folder: Path, data: bytes) -> None:
    load_site(fresh(folder, "site.yaml", data))


@SETTINGS
@given(text=st.text(max_size=2000) | YAMLISH)
def test_site_config_from_any_text(folder: Path, text: str) -> None:
    load_site(fresh(folder, "site.yaml", text))


@SETTINGS
@given(data=st.data())
def test_site_config_with_fields_replaced(folder: Path, data: st.DataObject) -> None:
    base = valid_site(folder / "plan.png")
    if data.draw(st.booleans()):
        base["floor_plan"] = {"size_m": [20.0, 15.0]}
    document = data.draw(fuzzed(base))
    config = load_site(fresh(folder, "site.yaml", yaml_text(document)))
    if config is not None:
        # What loads is within the bounds a run can hold: a finite floor of at most 2 km a side.
        assert config.analytics.heatmap_cell_m >= 0.05
        if config.floor_plan is not None and config.floor_plan.size_m is not None:
            assert max(config.floor_plan.size_m) <= 2000


def test_the_valid_documents_the_fuzz_starts_from_load(folder: Path) -> None:
    assert load_site_config(fresh(folder, "site.yaml", yaml_text(valid_site(folder / "plan.png")))).zones


# ----------------------------------------------------------------------------------------------------------------
# The calibration file and the lens intrinsics


def homography_document() -> dict:
    return {
        "format": "footfall-calibration",
        "version": 1,
        "model": "homography",
        "image_size": [768, 576],
        "homography": [[0.02, 0.004, -3.0], [-0.001, 0.03, -5.0], [0.00001, 0.0004, 1.0]],
        "intrinsics": {"K": [[800.0, 0.0, 384.0], [0.0, 800.0, 288.0], [0.0, 0.0, 1.0]], "dist": [-0.1, 0, 0, 0, 0]},
        "rms_error_m": 0.05,
    }


def load_and_project(path: Path) -> None:
    calibration = footfall_error_or_result(lambda: load_calibration(path))
    if calibration is None:
        return
    projector = footfall_error_or_result(lambda: projector_from_calibration(calibration))
    if projector is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # far-off pixels may divide by tiny w; NaN is the answer
            floor = projector.to_floor(np.array([[384.0, 500.0], [0.0, 0.0], [767.0, 575.0]]))
        assert floor.shape == (3, 2)


@SETTINGS
@given(data=st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_calibration_from_any_bytes(folder: Path, data: bytes) -> None:
    load_and_project(fresh(folder, "calib.json", data))


@SETTINGS
@given(data=st.data())
def test_calibration_with_fields_replaced(folder: Path, data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([pets_calibration_document(), homography_document()]))
    document = data.draw(fuzzed(base))
    # json.dumps writes NaN and Infinity as the bare words JavaScript uses, as other tools do.
    load_and_project(fresh(folder, "calib.json", json.dumps(document)))


@SETTINGS
@given(value=VALUES)
def test_calibration_numbers_are_refused_unless_finite(folder: Path, value: Any) -> None:
    document = pets_calibration_document() | {"dist": [value, 0, 0, 0, 0]}
    calibration = footfall_error_or_result(lambda: load_calibration(fresh(folder, "c.json", json.dumps(document))))
    if calibration is not None:
        assert all(math.isfinite(number) for number in calibration.dist)


@SETTINGS
@given(data=st.data())
def test_intrinsics_with_fields_replaced(folder: Path, data: st.DataObject) -> None:
    base = {"K": [[800.0, 0.0, 384.0], [0.0, 800.0, 288.0], [0.0, 0.0, 1.0]], "dist": [-0.1, 0.0, 0.0, 0.0]}
    document = data.draw(fuzzed(base) | VALUES)
    footfall_error_or_result(lambda: read_intrinsics(fresh(folder, "lens.json", json.dumps(document))))


# ----------------------------------------------------------------------------------------------------------------
# The points CSV, and the fit on what it reads


NUMBER_TEXT = st.one_of(
    FINITE.map(repr),
    st.integers(-2000, 2000).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e308", "1e-320", "", " ", "1,5", "0x10", "1_0", "½", "٣", "\x00"]),
    st.text(max_size=6),
)


@SETTINGS
@given(data=st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_points_csv_from_any_bytes(folder: Path, data: bytes) -> None:
    footfall_error_or_result(lambda: read_point_pairs_csv(fresh(folder, "points.csv", data)))


@SETTINGS
@given(
    header=st.sampled_from(["u,v,x,y", "\ufeffu,v,x,y", " u , v , x , y ", "x,y,u,v,note", "u;v;x;y", "u,v,x"]),
    rows=st.lists(st.lists(NUMBER_TEXT, min_size=3, max_size=5), max_size=12),
)
def test_points_csv_rows_then_the_fit(folder: Path, header: str, rows: list[list[str]]) -> None:
    text = header + "\n" + "".join(",".join(row) + "\n" for row in rows)
    pairs = footfall_error_or_result(lambda: read_point_pairs_csv(fresh(folder, "points.csv", text)))
    if pairs is not None:
        assert np.isfinite(pairs.image_uv).all() and np.isfinite(pairs.floor_xy).all()
        footfall_error_or_result(lambda: fit_homography(pairs.image_uv, pairs.floor_xy))


@SETTINGS
@given(
    floor=st.lists(st.tuples(FINITE, FINITE), min_size=4, max_size=10),
    image=st.lists(st.tuples(FINITE, FINITE), min_size=4, max_size=10),
)
def test_the_fit_on_any_finite_points(floor: list, image: list) -> None:
    count = min(len(floor), len(image))
    footfall_error_or_result(lambda: fit_homography(np.array(image[:count]), np.array(floor[:count])))


# ----------------------------------------------------------------------------------------------------------------
# seqinfo.ini


SEQINFO_VALUES = st.one_of(
    NUMBER_TEXT, st.sampled_from(["7", "400", "768", "576", "1e3", "7.5", "-7", "0", "9" * 40, "%(x)s"])
)


@SETTINGS
@given(
    data=st.binary(max_size=600)
    | st.builds(
        lambda fps, length, width, height, section: (
            f"[{section}]\nimDir=img1\nframeRate={fps}\nseqLength={length}\nimWidth={width}\nimHeight={height}\n"
        ).encode("utf-8", "surrogatepass"),
        SEQINFO_VALUES,
        SEQINFO_VALUES,
        SEQINFO_VALUES,
        SEQINFO_VALUES,
        st.sampled_from(["Sequence", "Sequence", "sequence", "Other"]),
    )
)
def test_seqinfo_from_anything(folder: Path, data: bytes) -> None:
    sequence = folder / f"seq-{next(_counter)}"
    (sequence / "img1").mkdir(parents=True)
    shutil.copy(PETS_FIRST_FRAME, sequence / "img1" / "000001.jpg")
    (sequence / "seqinfo.ini").write_bytes(data)
    source = footfall_error_or_result(lambda: ImageSequenceSource(sequence))
    if source is not None:
        info = source.info
        assert math.isfinite(info.nominal_fps) and 0.001 <= info.nominal_fps <= 1000
        assert math.isfinite(info.duration_s) and info.frame_count >= 1 and info.width >= 1 and info.height >= 1
        source.close()
