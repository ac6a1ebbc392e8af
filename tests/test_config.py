"""The site config: a full valid file with real footage, defaults, relative paths, a table of bad configs each
reported on one line with the right field path and YAML line, the file checks, and `footfall validate`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.helpers import PETS_SIZE, PETS_VIDEO, pets_calibration_document
from vision.config.site import AnalyticsConfig, SiteConfig, ZoneConfig, floor_extent, load_site_config
from vision.core.errors import FootfallError, SiteConfigError
from vision.runtime.preflight import check_site_files

FULL = """\
# a whole site, every field given
version: 1
site:
  id: store-01
  timezone: Asia/Shanghai
floor_plan:
  image: plan/floor.png
  metres_per_pixel: 0.05
  origin: [-1.0, 2.0]
cameras:
  - id: view001
    source: {video}
    calibration: calib/view001.json
    analysis_fps: 7
    start: 2026-11-22T09:00:00+08:00
  - id: side
    source: rtsp://user:secret@10.0.0.7/stream1
zones:
  - name: entrance
    kind: entrance
    polygon: [[0, 0], [3, 0], [3, 2], [0, 2]]
  - name: shelves
    polygon: [[4, 0], [10, 0], [10, 6], [4, 6], [4, 0]]
    cameras: [view001]
  - name: checkout
    kind: queue
    polygon:
      - [11, 0]
      - [14, 0]
      - [14, 4]
      - [11, 4]
  - name: back-office
    kind: staff
    polygon: [[15, 0], [19, 0], [19, 5]]
lines:
  - name: door
    a: [0, 3]
    b: [2, 3]
    in_side: right
    cameras: [view001, side]
funnels:
  - name: browse-to-buy
    steps: [entrance, shelves, checkout]
analytics:
  min_inside_s: 2
  min_outside_s: 0
  line_margin_m: 0.2
  bucket_s: 900
  staff_share: 1
  heatmap_cell_m: 0.5
  max_gap_s: 3.5
  top_sequences: 5
"""

MINIMAL = """\
version: 1
site:
  id: shop
cameras:
  - id: cam1
    source: videos/cam1.mp4
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def site_folder(tmp_path: Path) -> Path:
    """A site folder with the full config, a real calibration and a 400x300 floor-plan image."""
    write(tmp_path, "calib/view001.json", json.dumps(pets_calibration_document()))
    (tmp_path / "plan").mkdir()
    assert cv2.imwrite(str(tmp_path / "plan" / "floor.png"), np.full((300, 400, 3), 255, np.uint8))
    write(tmp_path, "site.yaml", FULL.format(video=PETS_VIDEO))
    return tmp_path


def test_full_config_loads_with_every_field(site_folder: Path) -> None:
    config = load_site_config(site_folder / "site.yaml")

    assert config.version == 1
    assert config.site.id == "store-01"
    assert config.site.tz.key == "Asia/Shanghai"
    assert config.floor_plan is not None
    assert config.floor_plan.image == site_folder / "plan" / "floor.png"
    assert config.floor_plan.metres_per_pixel == 0.05
    assert config.floor_plan.origin == (-1.0, 2.0)

    view, side = config.cameras
    assert view.id == "view001"
    assert view.source == str(PETS_VIDEO)
    assert view.calibration == site_folder / "calib" / "view001.json"
    assert view.analysis_fps == 7.0
    assert view.start == datetime(2026, 11, 22, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    assert side.source == "rtsp://user:secret@10.0.0.7/stream1"  # a URL is kept as written
    assert side.calibration is None and side.start is None and side.analysis_fps == 5.0

    assert [(zone.name, zone.kind) for zone in config.zones] == [
        ("entrance", "entrance"),
        ("shelves", "area"),
        ("checkout", "queue"),
        ("back-office", "staff"),
    ]
    assert config.zones[0].polygon == [(0.0, 0.0), (3.0, 0.0), (3.0, 2.0), (0.0, 2.0)]
    assert config.zones[1].polygon == [(4.0, 0.0), (10.0, 0.0), (10.0, 6.0), (4.0, 6.0)]  # closing point dropped
    assert config.zones[2].polygon == [(11.0, 0.0), (14.0, 0.0), (14.0, 4.0), (11.0, 4.0)]
    assert config.zones[1].cameras == ["view001"] and config.zones[0].cameras is None
    assert [zone.name for zone in config.zones_for("side")] == ["entrance", "checkout", "back-office"]

    (door,) = config.lines
    assert (door.name, door.a, door.b, door.in_side, door.cameras) == (
        "door",
        (0.0, 3.0),
        (2.0, 3.0),
        "right",
        ["view001", "side"],
    )
    assert config.funnels[0].steps == ["entrance", "shelves", "checkout"]
    assert config.analytics == AnalyticsConfig(
        min_inside_s=2.0,
        min_outside_s=0.0,
        line_margin_m=0.2,
        bucket_s=900,
        staff_share=1.0,
        heatmap_cell_m=0.5,
        max_gap_s=3.5,
        top_sequences=5,
    )

    # The floor spans the image: 400 x 300 pixels at 5 cm, from the origin.
    assert floor_extent(config) == pytest.approx((-1.0, 2.0, 19.0, 17.0))
    assert config.floor_plan.pixel_to_floor(np.array([[400.0, 300.0]])) == pytest.approx(np.array([[19.0, 17.0]]))
    assert config.floor_plan.floor_to_pixel(np.array([[-1.0, 2.0]])) == pytest.approx(np.array([[0.0, 0.0]]))


def test_config_round_trips_through_yaml(site_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    config = load_site_config(site_folder / "site.yaml")
    assert SiteConfig.model_validate(config.model_dump()) == config

    # Written out (paths are absolute now) and read back from another folder: the same config.
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    dumped = write(elsewhere, "again.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    assert load_site_config(dumped) == config


def test_models_are_frozen(site_folder: Path) -> None:
    config = load_site_config(site_folder / "site.yaml")
    with pytest.raises(ValueError, match="frozen"):
        config.site.id = "other"  # type: ignore[misc]


def test_defaults(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, "site.yaml", MINIMAL))

    assert config.site.timezone == "UTC"
    assert config.floor_plan is None and floor_extent(config) is None
    assert config.zones == [] and config.lines == [] and config.funnels == []
    (camera,) = config.cameras
    assert camera.analysis_fps == 5.0 and camera.calibration is None and camera.start is None
    assert config.analytics == AnalyticsConfig()
    assert config.analytics.model_dump() == {
        "min_inside_s": 1.0,
        "min_outside_s": 1.0,
        "line_margin_m": 0.3,
        "bucket_s": 60,
        "staff_share": 0.5,
        "heatmap_cell_m": 0.25,
        "max_gap_s": 2.0,
        "top_sequences": 10,
    }


def test_empty_sections_are_empty_lists_and_defaults(tmp_path: Path) -> None:
    text = MINIMAL + "zones:\n  # none yet\nlines:\nfunnels:\nanalytics:\n"
    config = load_site_config(write(tmp_path, "site.yaml", text))
    assert config.zones == [] and config.lines == [] and config.funnels == []
    assert config.analytics == AnalyticsConfig()


def test_zone_kind_and_line_side_defaults(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + "zones:\n  - name: z\n    polygon: [[0, 0], [1, 0], [0, 1]]\nlines:\n  - {name: l, a: [0, 0], b: [1, 0]}\n"
    )
    config = load_site_config(write(tmp_path, "site.yaml", text))
    assert config.zones[0].kind == "area" and config.zones[0].counts_on("cam1")
    assert config.lines[0].in_side == "left" and config.lines[0].cameras is None


def test_floor_plan_size_without_image(tmp_path: Path) -> None:
    text = MINIMAL + "floor_plan:\n  size_m: [20.0, 15.0]\n"
    config = load_site_config(write(tmp_path, "site.yaml", text))
    assert config.floor_plan is not None and config.floor_plan.origin == (0.0, 0.0)
    assert floor_extent(config) == (0.0, 0.0, 20.0, 15.0)


def test_relative_paths_resolve_against_the_yaml_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = MINIMAL.replace("videos/cam1.mp4", "../footage/cam1.mp4") + (
        "    calibration: calib/cam1.json\nfloor_plan:\n  image: plan.png\n  metres_per_pixel: 0.1\n"
    )
    write(tmp_path, "sites/north/site.yaml", text)
    monkeypatch.chdir(tmp_path / "sites")  # the working folder does not matter, the YAML's folder does

    config = load_site_config(Path("north/site.yaml"))

    (camera,) = config.cameras
    assert camera.source == str(tmp_path / "sites" / "footage" / "cam1.mp4")
    assert camera.calibration == tmp_path / "sites" / "north" / "calib" / "cam1.json"
    assert config.floor_plan is not None and config.floor_plan.image == tmp_path / "sites" / "north" / "plan.png"
    assert Path(camera.source).is_absolute() and camera.calibration.is_absolute()


def test_models_built_in_code_keep_paths_as_given() -> None:
    config = SiteConfig.model_validate(
        {"version": 1, "site": {"id": "s"}, "cameras": [{"id": "c", "source": "a.mp4", "calibration": "c.json"}]}
    )
    assert config.cameras[0].source == "a.mp4" and config.cameras[0].calibration == Path("c.json")


def test_model_validation_in_code_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"zones\[1\]\.name: 'a' is already the name of zones\[0\]"):
        SiteConfig.model_validate(
            {
                "version": 1,
                "site": {"id": "s"},
                "cameras": [{"id": "c", "source": "a.mp4"}],
                "zones": [{"name": "a", "polygon": [[0, 0], [1, 0], [0, 1]]}] * 2,
            }
        )
    with pytest.raises(ValueError, match="intersects itself"):
        ZoneConfig(name="z", polygon=[(0, 0), (1, 1), (1, 0), (0, 1)])


# --- bad configs ------------------------------------------------------------------------------------------------

BASE = """\
version: 1
site:
  id: store-01
  timezone: Asia/Shanghai
cameras:
  - id: entrance
    source: videos/entrance.mp4
  - id: back
    source: videos/back.mp4
zones:
  - name: shelves
    polygon: [[0, 0], [4, 0], [4, 3], [0, 3]]
  - name: checkout
    kind: queue
    polygon: [[5, 0], [8, 0], [8, 3], [5, 3]]
lines:
  - name: door
    a: [0, 5]
    b: [2, 5]
funnels:
  - name: browse
    steps: [shelves, checkout]
"""

# (id, text replaced in BASE ("" appends), replacement, field path, text on the reported line, words in the message)
BAD_CASES = [
    (
        "bow-tie polygon",
        "polygon: [[5, 0], [8, 0], [8, 3], [5, 3]]",
        "polygon: [[5, 0], [8, 3], [8, 0], [5, 3]]",
        "zones[1].polygon",
        "polygon: [[5, 0], [8, 3]",
        ["intersects itself", "in order around the edge"],
    ),
    (
        "polygon with two points",
        "polygon: [[5, 0], [8, 0], [8, 3], [5, 3]]",
        "polygon: [[5, 0], [8, 0]]",
        "zones[1].polygon",
        "polygon: [[5, 0], [8, 0]]",
        ["at least 3 corners, got 2"],
    ),
    (
        "polygon closed on two points",
        "polygon: [[5, 0], [8, 0], [8, 3], [5, 3]]",
        "polygon: [[5, 0], [8, 0], [5, 0]]",
        "zones[1].polygon",
        "polygon: [[5, 0], [8, 0], [5, 0]]",
        ["at least 3 corners, got 2"],
    ),
    (
        "zero-area polygon",
        "polygon: [[5, 0], [8, 0], [8, 3], [5, 3]]",
        "polygon: [[5, 0], [6, 1], [7, 2], [8, 3]]",
        "zones[1].polygon",
        "polygon: [[5, 0], [6, 1]",
        ["no area"],
    ),
    (
        "point with three numbers",
        "polygon: [[5, 0], [8, 0], [8, 3], [5, 3]]",
        "polygon:\n      - [5, 0]\n      - [8, 0, 1]\n      - [8, 3]",
        "zones[1].polygon[1]",
        "- [8, 0, 1]",
        ["[x, y]"],
    ),
    (
        "unknown top-level field",
        "site:\n",
        "colour: red\nsite:\n",
        "colour",
        "colour: red",
        ["unknown field (allowed: version, site, floor_plan, cameras, zones, lines, funnels, analytics, recordings)"],
    ),
    (
        "unknown nested field",
        "  timezone: Asia/Shanghai\n",
        "  timezone: Asia/Shanghai\n  colour: red\n",
        "site.colour",
        "  colour: red",
        ["unknown field (allowed: id, timezone)"],
    ),
    (
        "misspelt field deep down",
        "    a: [0, 5]\n",
        "    a: [0, 5]\n    inside: left\n",
        "lines[0].inside",
        "    inside: left",
        ["unknown field", "did you mean in_side?"],
    ),
    (
        "zero-length line",
        "    b: [2, 5]",
        "    b: [0, 5]",
        "lines[0]",
        "  - name: door",
        ["a and b are the same point"],
    ),
    (
        "duplicate zone names",
        "  - name: checkout\n",
        "  - name: shelves  # again\n",
        "zones[1].name",
        "  - name: shelves  # again",
        ["'shelves' is already the name of zones[0] (line 11)"],
    ),
    (
        "zone and line with one name",
        "  - name: door\n",
        "  - name: checkout  # a line\n",
        "lines[0].name",
        "  - name: checkout  # a line",
        ["'checkout' is already the name of zones[1] (line 13)"],
    ),
    (
        "duplicate camera ids",
        "  - id: back\n",
        "  - id: entrance  # again\n",
        "cameras[1].id",
        "  - id: entrance  # again",
        ["'entrance' is already used by cameras[0] (line 6)"],
    ),
    (
        "duplicate funnel names",
        "",
        "  - name: browse\n    steps: [checkout, shelves]  # second\n",
        "funnels[1].name",
        "  - name: browse\n    steps: [checkout, shelves]",
        ["already the name of funnels[0] (line 21)"],
    ),
    (
        "funnel step naming an unknown zone",
        "steps: [shelves, checkout]",
        "steps: [shelves, tills]",
        "funnels[0].steps[1]",
        "steps: [shelves, tills]",
        ["no zone is named 'tills'", "zones: shelves, checkout"],
    ),
    (
        "funnel step naming a line",
        "steps: [shelves, checkout]",
        "steps:\n      - shelves\n      - door",
        "funnels[0].steps[1]",
        "      - door",
        ["'door' is a counting line"],
    ),
    (
        "funnel with one step",
        "steps: [shelves, checkout]",
        "steps: [shelves]",
        "funnels[0].steps",
        "steps: [shelves]",
        ["at least 2 steps"],
    ),
    (
        "zone counted on an unknown camera",
        "    kind: queue\n",
        "    kind: queue\n    cameras: [entrance, side]\n",
        "zones[1].cameras[1]",
        "    cameras: [entrance, side]",
        ["no camera has the id 'side'", "cameras: entrance, back"],
    ),
    (
        "line counted on an unknown camera",
        "    b: [2, 5]\n",
        "    b: [2, 5]\n    cameras:\n      - entrance\n      - roof\n",
        "lines[0].cameras[1]",
        "      - roof",
        ["no camera has the id 'roof'"],
    ),
    (
        "bad timezone",
        "timezone: Asia/Shanghai",
        "timezone: Asia/Shangai",
        "site.timezone",
        "timezone: Asia/Shangai",
        ["unknown time zone 'Asia/Shangai'", "did you mean Asia/Shanghai?"],
    ),
    (
        "unsupported version",
        "version: 1",
        "version: 2",
        "version",
        "version: 2",
        ["version 2 is not supported", "reads version 1"],
    ),
    (
        "version as text",
        "version: 1",
        "version: '1'",
        "version",
        "version: '1'",
        ["must be 1"],
    ),
    (
        "negative min_inside_s",
        "",
        "analytics:\n  min_inside_s: -1\n",
        "analytics.min_inside_s",
        "  min_inside_s: -1",
        ["greater than or equal to 0", "got -1"],
    ),
    (
        "bucket that does not divide a day",
        "",
        "analytics:\n  bucket_s: 7\n",
        "analytics.bucket_s",
        "  bucket_s: 7",
        ["divide a day"],
    ),
    (
        "staff share above 1",
        "",
        "analytics:\n  staff_share: 1.5\n",
        "analytics.staff_share",
        "  staff_share: 1.5",
        ["less than or equal to 1"],
    ),
    (
        "bad in_side",
        "    b: [2, 5]\n",
        "    b: [2, 5]\n    in_side: up\n",
        "lines[0].in_side",
        "    in_side: up",
        ["'left' or 'right'", "got 'up'"],
    ),
    (
        "text where a number is expected",
        "    source: videos/back.mp4\n",
        "    source: videos/back.mp4\n    analysis_fps: fast\n",
        "cameras[1].analysis_fps",
        "    analysis_fps: fast",
        ["expected a number, got 'fast'"],
    ),
    (
        "boolean where a number is expected",
        "",
        "analytics:\n  max_gap_s: yes\n",
        "analytics.max_gap_s",
        "  max_gap_s: yes",
        ["expected a number, got True"],
    ),
    (
        "number where text is expected",
        "  id: store-01",
        "  id: 12",
        "site.id",
        "  id: 12",
        ["expected text, got 12", "quotes"],
    ),
    (
        "bad camera id",
        "  - id: back\n",
        "  - id: back door\n",
        "cameras[1].id",
        "  - id: back door",
        ["letters, digits"],
    ),
    (
        "start time without a zone",
        "    source: videos/back.mp4\n",
        "    source: videos/back.mp4\n    start: 2026-11-22T09:00:00\n",
        "cameras[1].start",
        "    start: 2026-11-22T09:00:00",
        ["no time zone"],
    ),
    (
        "missing site id",
        "  id: store-01\n",
        "",
        "site.id",
        "site:",
        ["required, but missing"],
    ),
    (
        "missing cameras",
        "cameras:\n  - id: entrance\n    source: videos/entrance.mp4\n  - id: back\n    source: videos/back.mp4\n",
        "",
        "cameras",
        "version: 1",
        ["required, but missing"],
    ),
    (
        "no cameras",
        "cameras:\n  - id: entrance\n    source: videos/entrance.mp4\n  - id: back\n    source: videos/back.mp4\n",
        "cameras: []\n",
        "cameras",
        "cameras: []",
        ["at least one camera"],
    ),
    (
        "image without scale",
        "",
        "floor_plan:\n  image: plan.png\n",
        "floor_plan.metres_per_pixel",
        "floor_plan:",
        ["required with image"],
    ),
    (
        "floor plan with neither image nor size",
        "",
        "floor_plan:\n  origin: [1, 1]\n",
        "floor_plan.size_m",
        "floor_plan:",
        ["[width, depth]"],
    ),
    (
        "a list where a mapping is expected",
        "site:\n  id: store-01\n  timezone: Asia/Shanghai\n",
        "site: [store-01]\n",
        "site",
        "site: [store-01]",
        ["expected a mapping"],
    ),
    (
        "key given twice",
        "  timezone: Asia/Shanghai\n",
        "  timezone: Asia/Shanghai\n  id: store-02\n",
        "site.id",
        "  id: store-02",
        ["given twice (first on line 3)"],
    ),
    (
        "a millimetre heatmap cell, in scientific notation",
        "",
        "analytics:\n  heatmap_cell_m: 1e-3\n",
        "analytics.heatmap_cell_m",
        "  heatmap_cell_m: 1e-3",
        ["0.001 m", "smaller than the 0.05 m"],
    ),
    (
        "a floor 20 km wide",
        "",
        "floor_plan:\n  size_m: [2e4, 15]\n",
        "floor_plan.size_m",
        "  size_m: [2e4, 15]",
        ["20000 x 15 m", "2000 m a side"],
    ),
    (
        "a heatmap grid of 300 million cells",
        "",
        "floor_plan:\n  size_m: [2000, 1500]\nanalytics:\n  heatmap_cell_m: 0.1\n",
        "analytics.heatmap_cell_m",
        "  heatmap_cell_m: 0.1",
        ["300,000,000 cells", "4,000,000", "at least 0.87"],
    ),
    (
        "zones 5 km apart without a floor plan",
        "polygon: [[5, 0], [8, 0], [8, 3], [5, 3]]",
        "polygon: [[5000, 0], [5003, 0], [5003, 3]]",
        "zones[1]",
        "  - name: checkout",
        ["span 5003 x 5 m", "farthest out"],
    ),
    (
        "an implausible plan scale",
        "",
        "floor_plan:\n  image: plan.png\n  metres_per_pixel: 1e-9\n",
        "floor_plan.metres_per_pixel",
        "  metres_per_pixel: 1e-9",
        ["implausible"],
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "path", "marker", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_CASES],
)
def test_bad_config_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, path: str, marker: str, fragments: list[str]
) -> None:
    if old:
        assert BASE.count(old) == 1, old
        text = BASE.replace(old, new)
    else:
        text = BASE + new
    assert text.count(marker) == 1, marker
    expected_line = text[: text.index(marker)].count("\n") + 1
    config = write(tmp_path, "site.yaml", text)

    with pytest.raises(SiteConfigError) as raised:
        load_site_config(config)

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{config}:{expected_line}: {path}: "), message
    for fragment in fragments:
        assert fragment in message, message


def test_a_value_yaml_reads_but_python_cannot_build_gives_its_line(tmp_path: Path) -> None:
    text = BASE.replace(
        "    source: videos/back.mp4\n", "    source: videos/back.mp4\n    start: 2026-02-30T09:00:00Z\n"
    )
    config = write(tmp_path, "site.yaml", text)
    with pytest.raises(SiteConfigError) as raised:
        load_site_config(config)
    assert str(raised.value).startswith(f"{config}:10: '2026-02-30T09:00:00Z' cannot be read (day is out of range")


def test_scientific_notation_reads_as_numbers(tmp_path: Path) -> None:
    text = BASE + "floor_plan:\n  size_m: [2e1, 1.5E+1]\nanalytics:\n  heatmap_cell_m: 5e-1\n  min_inside_s: 2E0\n"
    config = load_site_config(write(tmp_path, "site.yaml", text))
    assert config.floor_plan.size_m == (20.0, 15.0)
    assert (config.analytics.heatmap_cell_m, config.analytics.min_inside_s) == (0.5, 2.0)


def test_base_of_the_bad_table_is_valid(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, "site.yaml", BASE))
    assert [zone.name for zone in config.zones] == ["shelves", "checkout"]


def test_several_problems_report_the_first_and_count_the_rest(tmp_path: Path) -> None:
    text = BASE.replace("  id: store-01", "  id: store-01\n  colour: red") + "analytics:\n  bucket_s: -5\n"
    with pytest.raises(SiteConfigError) as raised:
        load_site_config(write(tmp_path, "site.yaml", text))
    assert str(raised.value) == (
        f"{tmp_path / 'site.yaml'}:4: site.colour: unknown field (allowed: id, timezone) (and 1 more problem)"
    )


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param("version: 1\nsite:\n  id: store-01: x\n", [":3: not valid YAML", "column"], id="colon"),
        pytest.param(
            "version: 1\nsite:\n  id: [store\ncameras: []\n",
            [":4: not valid YAML", "flow sequence on line 3"],
            id="open-bracket",
        ),
        pytest.param("version: 1\n\tsite: x\n", [":2: not valid YAML"], id="tab"),
    ],
)
def test_invalid_yaml_gives_the_line(tmp_path: Path, text: str, fragments: list[str]) -> None:
    config = write(tmp_path, "site.yaml", text)
    with pytest.raises(SiteConfigError) as raised:
        load_site_config(config)
    message = str(raised.value)
    assert message.startswith(str(config)) and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    config = write(tmp_path, "site.yaml", text)
    with pytest.raises(SiteConfigError, match=r"site\.yaml: the file is empty"):
        load_site_config(config)


def test_a_list_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match=r"site\.yaml:1: a site config is a mapping .* holds a list"):
        load_site_config(write(tmp_path, "site.yaml", "- version: 1\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match=r"nowhere\.yaml: no such site config file"):
        load_site_config(tmp_path / "nowhere.yaml")
    with pytest.raises(SiteConfigError, match="is a folder"):
        load_site_config(tmp_path)
    assert issubclass(SiteConfigError, FootfallError)


# --- the files a config names -----------------------------------------------------------------------------------


def test_site_files_of_a_good_config(site_folder: Path) -> None:
    text = (site_folder / "site.yaml").read_text().replace("rtsp://user:secret@10.0.0.7/stream1", str(PETS_VIDEO))
    config = load_site_config(write(site_folder, "site.yaml", text))
    assert check_site_files(config) == []


def test_site_files_problems_one_line_each(tmp_path: Path) -> None:
    write(tmp_path, "broken.json", '{"format": "footfall-calibration", "version": 1,')
    small = pets_calibration_document() | {"image_size": [PETS_SIZE[0] // 2, PETS_SIZE[1] // 2]}
    write(tmp_path, "small.json", json.dumps(small))
    write(tmp_path, "plan.png", "not a picture")
    text = f"""\
version: 1
site: {{id: s}}
floor_plan: {{image: plan.png, metres_per_pixel: 0.1}}
cameras:
  - {{id: gone, source: missing.mp4}}
  - {{id: both, source: also-missing.mp4, calibration: broken.json}}
  - {{id: size, source: {PETS_VIDEO}, calibration: small.json}}
  - {{id: nocal, source: {PETS_VIDEO}, calibration: nocal.json}}
"""
    config = load_site_config(write(tmp_path, "site.yaml", text))

    problems = check_site_files(config)

    assert len(problems) == 6, problems
    assert all("\n" not in problem for problem in problems)
    gone, both_calibration, both_source, size, nocal, plan = problems
    assert gone.startswith("camera gone: ") and str(tmp_path / "missing.mp4") in gone
    assert both_calibration.startswith("camera both: ") and "broken.json: not valid JSON" in both_calibration
    assert both_source.startswith("camera both: ") and "also-missing.mp4" in both_source
    assert size.startswith("camera size: ") and "384x288" in size and "768x576" in size
    assert nocal.startswith("camera nocal: ") and "no such calibration file" in nocal
    assert plan.startswith(str(tmp_path / "plan.png")) and "not a readable image" in plan

    with pytest.raises(SiteConfigError, match="not a readable image"):
        floor_extent(config)


# --- footfall validate ------------------------------------------------------------------------------------------


def footfall(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vision", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_validate_good_config(site_folder: Path) -> None:
    text = (site_folder / "site.yaml").read_text().replace("rtsp://user:secret@10.0.0.7/stream1", str(PETS_VIDEO))
    write(site_folder, "site.yaml", text)

    result = footfall("validate", "site.yaml", cwd=site_folder)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "ok"
    assert "site store-01 (Asia/Shanghai)" in result.stdout
    assert "2 cameras: view001, side" in result.stdout
    assert "4 zones (1 area, 1 entrance, 1 queue, 1 staff)" in result.stdout
    assert "1 line, 1 funnel" in result.stdout
    assert "floor plan: 20 x 15 m" in result.stdout


def test_validate_missing_source(tmp_path: Path) -> None:
    write(tmp_path, "site.yaml", MINIMAL)

    result = footfall("validate", tmp_path / "site.yaml")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: camera cam1: ")
    assert str(tmp_path / "videos" / "cam1.mp4") in lines[0]


def test_validate_bad_config(tmp_path: Path) -> None:
    write(tmp_path, "site.yaml", BASE.replace("b: [2, 5]", "b: [0, 5]"))

    result = footfall("validate", "site.yaml", cwd=tmp_path)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: site.yaml:17: lines[0]: a and b are the same point; a counting line needs two distinct points"
    ]


def test_validate_missing_config(tmp_path: Path) -> None:
    result = footfall("validate", tmp_path / "none.yaml")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'none.yaml'}: no such site config file; check the path"
    ]
