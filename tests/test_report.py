"""`footfall report`: figures for any period from the outputs on disk.

A real site run on PETS is reported and its figures checked against independent reads of the Parquet outputs (with
pyarrow and numpy, not DuckDB) and against the run's own summary.json; synthetic multi-day, multi-camera outputs in
two folders check period filtering, buckets across a daylight-saving change, camera selection, suppression and
before/after; bad input gets one line; the page renders in headless Chromium."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow.dataset as ds
import pytest

from tests.helpers import REPO
from tests.test_bad_input import assert_one_clear_line
from vision.core.types import Visit
from vision.sinks.atomic import write_json_atomic
from vision.sinks.parquet import (
    EVENTS_SCHEMA,
    TRACKS_SCHEMA,
    VISITS_SCHEMA,
    PartitionedTableWriter,
    epoch_us,
    event_rows,
    visit_rows,
)

SCREENSHOT = REPO / "test-artifacts" / "report.png"
CHROMIUM = Path("/usr/bin/chromium")
LONDON = ZoneInfo("Europe/London")


def footfall(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vision", *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def read(folder: Path):
    return ds.dataset(folder, format="parquet", partitioning="hive").to_table().to_pandas()


# ---- a real site run on PETS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pets_report(pets_site_run: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    _, out = pets_site_run
    folder = tmp_path_factory.mktemp("report")
    report = folder / "report"
    result = footfall("report", out, "--out", report, "--min-visitors", "1")
    assert result.returncode == 0, result.stderr
    assert f"{report / 'index.html'}" in result.stdout
    return out, json.loads((report / "summary.json").read_text()), report


def test_report_agrees_with_independent_reads_of_the_outputs(pets_report):
    out, report, _ = pets_report
    tables = report["tables"]
    visits = read(out / "visits")
    visits = visits[~visits["staff"]]
    for zone in tables["zones"]:
        mine = visits[visits["zone"] == zone["zone"]]
        assert zone["visits"] == len(mine)
        assert zone["visitors"] == mine[["camera", "track"]].drop_duplicates().shape[0]
        if len(mine):
            assert zone["dwell_median_s"] == pytest.approx(np.median(mine["dwell_s"]), abs=1e-3)
            assert zone["dwell_p90_s"] == pytest.approx(np.percentile(mine["dwell_s"], 90), abs=1e-3)
    events = read(out / "events")
    crossings = events[(events["place_kind"] == "line") & ~events["staff"]]
    (line,) = tables["lines_by_bucket"]
    assert (line["in"], line["out"]) == ((crossings["event"] == "in").sum(), (crossings["event"] == "out").sum())
    tracks = read(out / "tracks")
    assert sum(row["tracks"] for row in tables["cameras"]) == tracks[~tracks["staff"]]["track"].nunique()


def test_report_over_the_run_period_equals_the_runs_summary(pets_report):
    out, report, _ = pets_report
    summary = json.loads((out / "summary.json").read_text())
    figures = {key: value for key, value in summary.items() if key not in ("site", "timezone", "settings", "heatmaps")}
    assert figures == report["figures"]
    assert figures["tracks"]["customers"] > 10 and figures["lines"]["crossing"]["in"] > 0
    # the report's own tables say the same
    zones = {row["zone"]: row for row in report["tables"]["zones"]}
    for name, zone in summary["zones"].items():
        assert (zones[name]["visits"], zones[name]["person_seconds"]) == (zone["visits"], zone["person_seconds"])
    moves = {(row["from"], row["to"]): row["moves"] for row in report["tables"]["transitions"]}
    assert moves == {(row["from"], row["to"]): row["count"] for row in summary["paths"]["transitions"]}


def test_zone_time_and_heatmap_agree_with_the_samples(pets_report):
    """Zone person-seconds and the heatmap, recomputed from the track samples alone: each sample stands for the step
    to its track's next sample (none across a gap over max_gap_s)."""
    from matplotlib.path import Path as Polygon

    out, _, _ = pets_report
    summary = json.loads((out / "summary.json").read_text())
    site = json.loads((out / "site.json").read_text())
    tracks = read(out / "tracks").sort_values(["camera", "track", "t"])
    tracks = tracks[~tracks["staff"]]
    seconds = tracks.groupby(["camera", "track"])["t"].diff(-1).dt.total_seconds().abs().fillna(0.0)
    seconds = seconds.where(seconds <= site["settings"]["max_gap_s"], 0.0).to_numpy()
    xy = tracks[["x", "y"]].to_numpy()
    known = ~np.isnan(xy).any(axis=1)
    for zone in site["zones"]:
        inside = Polygon(zone["polygon"]).contains_points(np.nan_to_num(xy, nan=-1e9)) & known
        assert summary["zones"][zone["name"]]["person_seconds"] == pytest.approx(seconds[inside].sum(), abs=2e-3)
    grid = site["grid"]
    columns = np.floor((xy[:, 0] - grid["x0_m"]) / grid["cell_m"])
    rows = np.floor((xy[:, 1] - grid["y0_m"]) / grid["cell_m"])
    on_grid = known & (columns >= 0) & (columns < grid["columns"]) & (rows >= 0) & (rows < grid["rows"])
    expected = np.zeros((grid["rows"], grid["columns"]))
    np.add.at(expected, (rows[on_grid].astype(int), columns[on_grid].astype(int)), seconds[on_grid])
    np.testing.assert_allclose(np.load(out / "heatmaps" / "site.npy"), expected, atol=1e-4)  # times kept to the µs
    cells = read(out / "heatmap_cells")
    from_cells = np.zeros_like(expected)
    np.add.at(from_cells, (cells["row"].to_numpy(), cells["col"].to_numpy()), cells["seconds"].to_numpy())
    np.testing.assert_allclose(from_cells, expected, atol=1e-4)
    assert (cells["t"].dt.minute % 15 == 0).all() and (cells["t"].dt.second == 0).all()


def test_report_files_and_csv(pets_report):
    _, report, folder = pets_report
    files = sorted(path.name for path in folder.iterdir())
    assert "index.html" in files and "summary.json" in files
    assert {f"{name}.csv" for name in report["tables"]} <= set(files)
    assert not [name for name in files if name.startswith(".")]
    page = (folder / "index.html").read_text()
    assert "<script src" not in page and "<link" not in page, "one self-contained file: nothing is fetched"
    assert "https://" not in page.rsplit("</script>", 1)[1], "nothing after the embedded Plotly refers elsewhere"
    tracks = json.dumps(report)
    assert "track" not in {key for table in report["tables"].values() for row in table for key in row} - {"tracks"}
    assert '"track":' not in tracks, "no pseudonyms in a report"
    assert "<img alt='dwell heatmap of camera view001'" in page, "the run's camera-view heatmap is shown"


def test_report_page_renders_in_chromium(pets_report):
    from playwright.sync_api import sync_playwright

    _, _, folder = pets_report
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto((folder / "index.html").as_uri())
            page.wait_for_function("() => document.querySelectorAll('.plotly-graph-div').length > 0")
            charts = page.locator(".plotly-graph-div")
            assert charts.count() >= 10
            page.wait_for_function(
                "() => [...document.querySelectorAll('.plotly-graph-div')].every(d => d.querySelector('.main-svg'))"
            )
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            assert errors == []
        finally:
            browser.close()


# ---- synthetic outputs: many days, two cameras, two folders ----------------------------------------------------


SITE = {
    "site": "shop",
    "timezone": "Europe/London",
    "settings": {"max_gap_s": 2.0},
    "zones": [
        {"name": "door", "kind": "entrance", "area_m2": 4.0, "polygon": [[0, 0], [2, 0], [2, 2], [0, 2]]},
        {"name": "till", "kind": "queue", "area_m2": 4.0, "polygon": [[4, 0], [6, 0], [6, 2], [4, 2]]},
    ],
    "lines": [{"name": "entry", "a": [0, 3], "b": [6, 3], "in_side": "left"}],
    "funnels": [{"name": "buy", "steps": ["door", "till"]}],
    "grid": {"x0_m": 0.0, "y0_m": 0.0, "cell_m": 0.5, "columns": 12, "rows": 8},
}


def write_output(out: Path, camera: str, people: list[tuple[datetime, float]]) -> None:
    """A run's output folder: each person walks the door for 5 s, then (if `dwell` > 0) queues at the till for
    `dwell` seconds, sampled once a second, crossing the line inwards on the way."""
    run_id = hashlib.sha1(str(out).encode()).hexdigest()[:12]  # one run per folder, as footfall writes them
    track_writer = PartitionedTableWriter(out / "tracks", camera, run_id, TRACKS_SCHEMA, "t", "Europe/London")
    visit_writer = PartitionedTableWriter(out / "visits", camera, run_id, VISITS_SCHEMA, "t_in", "Europe/London")
    event_writer = PartitionedTableWriter(out / "events", camera, run_id, EVENTS_SCHEMA, "t", "Europe/London")
    import pyarrow as pa

    for index, (start, dwell) in enumerate(people):
        name = f"{camera}-{index:06d}"
        t0 = start.timestamp()
        times = np.arange(0.0, 5.0 + dwell + 1e-9, 1.0) + t0
        xs = np.where(times - t0 < 5.0, 1.0, 5.0)
        track = pa.Table.from_arrays(
            [
                pa.array([name] * len(times)), epoch_us(times), pa.array(np.arange(len(times)), pa.int64()),
                pa.array(np.zeros(len(times)), pa.float32()), pa.array(np.zeros(len(times)), pa.float32()),
                pa.array(xs), pa.array(np.ones(len(times))), pa.array(np.ones(len(times)), pa.float32()),
                pa.array(np.zeros(len(times), bool)),
            ],
            schema=TRACKS_SCHEMA,
        )  # fmt: skip
        track_writer.write(track)
        visits = [Visit(camera, name, "door", "entrance", t0, t0 + 4.0)]
        if dwell > 0:
            visits.append(Visit(camera, name, "till", "queue", t0 + 5.0, t0 + 5.0 + dwell))
        visit_writer.write(visit_rows(name, visits, False))
        from vision.core.types import Crossing

        crossings = [Crossing(camera, name, "entry", "in", t0 + 4.5)]
        event_writer.write(event_rows(name, visits, crossings, "line", False))
    for writer in (track_writer, visit_writer, event_writer):
        writer.close()
    write_json_atomic(out / "site.json", SITE)
    write_json_atomic(out / "run.json", {"run_id": run_id, "status": "complete", "cameras": []})


def local(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LONDON)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two folders: camera a on 27–30 March 2026 (the clocks go forward on the 29th), camera b on the 28th."""
    root = tmp_path_factory.mktemp("shop")
    people_a = [
        (local(day, hour, minute), dwell)
        for day in (27, 28, 29, 30)
        for hour in (9, 12)
        for minute, dwell in ((0, 0.0), (10, 30.0), (20, 60.0), (30, 200.0), (40, 0.0), (50, 15.0))
    ]
    people_b = [(local(28, 12, minute), 20.0) for minute in range(0, 60, 5)]
    write_output(root / "a", "a", people_a)
    write_output(root / "b", "b", people_b)
    return root / "a", root / "b"


def report_of(tmp_path: Path, *args: str | Path) -> dict:
    out = tmp_path / "report"
    result = footfall("report", *args, "--out", out, "--overwrite")
    assert result.returncode == 0, result.stderr
    return json.loads((out / "summary.json").read_text())


def test_two_folders_one_report_and_camera_selection(shop, tmp_path):
    a, b = shop
    both = report_of(tmp_path / "1", a, b, "--min-visitors", "1")
    assert {row["camera"]: row["tracks"] for row in both["tables"]["cameras"]} == {"a": 48, "b": 12}
    only_b = report_of(tmp_path / "2", a, b, "--cameras", "b", "--min-visitors", "1")
    assert [row["camera"] for row in only_b["tables"]["cameras"]] == ["b"]
    (till,) = [row for row in only_b["tables"]["zones"] if row["zone"] == "till"]
    assert (till["visits"], till["dwell_median_s"]) == (12, 20.0)


def test_period_is_whole_local_days(shop, tmp_path):
    a, b = shop
    report = report_of(tmp_path, a, b, "--from", "2026-03-28", "--to", "2026-03-29", "--min-visitors", "1")
    counts = {row["camera"]: row["tracks"] for row in report["tables"]["cameras"]}
    assert counts == {"a": 24, "b": 12}, "two local days of camera a, all of b"


def test_day_and_hour_buckets_across_the_daylight_saving_change(shop, tmp_path):
    a, _ = shop
    days = report_of(tmp_path / "d", a, "--bucket", "day", "--min-visitors", "1")
    per_day = {row["bucket"][:10]: row["tracks"] for row in days["tables"]["tracks_per_bucket"]}
    assert per_day == {"2026-03-27": 12, "2026-03-28": 12, "2026-03-29": 12, "2026-03-30": 12}
    hours = report_of(tmp_path / "h", a, "--bucket", "hour", "--min-visitors", "1")
    by_hour = {row["bucket"]: row["tracks"] for row in hours["tables"]["tracks_per_bucket"]}
    # 09:00 and 12:00 local on every day, before (GMT) and after (BST) the change: local hours stay put
    assert set(by_hour) == {f"2026-03-{day}T{hour}:00:00" for day in (27, 28, 29, 30) for hour in ("09", "12")}
    in_by_hour = {row["hour"]: row["in"] for row in hours["tables"]["lines_by_hour_of_day"]}
    assert in_by_hour == {9: 24, 12: 24}


def test_segments_and_funnel(shop, tmp_path):
    a, _ = shop
    report = report_of(tmp_path, a, "--min-visitors", "1", "--browser-s", "10", "--dweller-s", "120")
    shares = {row["segment"]: row["tracks"] for row in report["tables"]["segments"]}
    # time in view = 5 s + dwell: 5, 35, 65, 205, 5, 20 → pass-by 2, browser 3, dweller 1 per hour slot
    assert shares == {"pass-by": 16, "browser": 24, "dweller": 8}
    funnel = [row["tracks"] for row in report["tables"]["funnels"]]
    assert funnel == [48, 32]


def test_small_figures_are_suppressed(shop, tmp_path):
    _, b = shop
    report = report_of(tmp_path, b, "--min-visitors", "13")
    (till,) = [row for row in report["tables"]["zones"] if row["zone"] == "till"]
    assert till["visits"] == till["dwell_median_s"] == "<13"
    figures = report["figures"]
    assert figures["zones"]["till"]["visits"] == figures["zones"]["till"]["dwell_s"] == "<13"
    assert figures["tracks"]["customers"] == "<13"
    assert figures["lines"]["entry"]["in"] == "<13"
    csv_text = (tmp_path / "report" / "zones.csv").read_text()
    assert "<13" in csv_text and "20.0" not in csv_text
    assert "&lt;13" in (tmp_path / "report" / "index.html").read_text()


def test_before_and_after(shop, tmp_path):
    a, b = shop
    report = report_of(
        tmp_path, a, b, "--from", "2026-03-28", "--to", "2026-03-28",
        "--compare-from", "2026-03-27", "--compare-to", "2026-03-27", "--min-visitors", "1",
    )  # fmt: skip
    rows = {row["figure"]: row for row in report["comparison"]}
    assert (rows["tracks"]["before"], rows["tracks"]["after"], rows["tracks"]["change_pct"]) == (12, 24, 100.0)
    changes = [abs(row["change_pct"]) for row in report["comparison"] if row["change_pct"] is not None]
    assert changes == sorted(changes, reverse=True), "largest changes first"


# ---- bad input -------------------------------------------------------------------------------------------------


def test_bad_input_is_one_line_and_leaves_no_report(shop, tmp_path):
    a, _ = shop
    out = tmp_path / "report"
    cases = [
        ((tmp_path,), "not a footfall output"),
        ((tmp_path / "nowhere",), "no such folder"),
        ((a, "--from", "28/03/2026"), "not a date or time"),
        ((a, "--from", "2026-04-02"), "no tracks in the period"),
        ((a, "--from", "2026-03-29", "--to", "2026-03-28"), "is not after"),
        ((a, "--cameras", "z"), "no tracks for cameras z"),
        ((a, "--bucket", "month"), "--bucket 'month'"),
        ((a, "--compare-from", "2026-03-27"), "go together"),
        ((a, "--min-visitors", "0"), "--min-visitors"),
        ((a, "--browser-s", "200"), "--browser-s"),
    ]
    for args, fragment in cases:
        assert_one_clear_line(footfall("report", *args, "--out", out), fragment)
        assert not out.exists()
        assert not [path for path in tmp_path.iterdir() if path.name.startswith(".report")]
    (out).mkdir()
    (out / "mine.txt").write_text("mine")
    assert_one_clear_line(footfall("report", a, "--out", out), "not a footfall report")
    assert [path.name for path in out.iterdir()] == ["mine.txt"]


def test_a_report_never_silently_replaces_another(shop, tmp_path):
    a, _ = shop
    first = report_of(tmp_path, a, "--from", "2026-03-27", "--to", "2026-03-27", "--min-visitors", "1")
    out = tmp_path / "report"
    refused = footfall("report", a, "--from", "2026-03-30", "--to", "2026-03-30", "--out", out)
    assert_one_clear_line(refused, "already holds a report; pass --overwrite")
    assert json.loads((out / "summary.json").read_text()) == first
    second = report_of(tmp_path, a, "--from", "2026-03-30", "--to", "2026-03-30", "--min-visitors", "1")
    assert first["period"]["first"].startswith("2026-03-27") and second["period"]["first"].startswith("2026-03-30")
    assert [path.name for path in tmp_path.iterdir()] == ["report"]


def test_without_out_each_report_gets_its_own_folder_beside_the_record(shop, tmp_path):
    a, _ = shop
    made = [footfall("report", a, "--min-visitors", "1", cwd=tmp_path) for _ in range(2)]
    assert all(result.returncode == 0 for result in made), made[0].stderr
    folders = sorted((Path(a) / "reports").iterdir())
    assert len(folders) == 2 and all((folder / "index.html").is_file() for folder in folders)
    assert str(folders[0]) in made[0].stdout or str(folders[1]) in made[0].stdout
    assert not (tmp_path / "report").exists()


def test_timezone_of_synthetic_site_is_respected():
    assert local(29, 12).astimezone(UTC).hour == 11 and local(28, 12).astimezone(UTC).hour == 12
    assert (local(30, 9) - local(29, 9)) == timedelta(days=1)


def test_a_run_without_a_site_gets_the_figures_that_need_no_floor(tmp_path):
    import shutil

    out = tmp_path / "plain"
    write_output(out, "cam", [(local(27, 10, minute), 30.0) for minute in range(0, 60, 6)])
    for name in ("visits", "events", "site.json"):
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    report = report_of(tmp_path, out, "--min-visitors", "1")
    assert list(report["tables"]) == ["cameras", "people_in_view", "tracks_per_bucket", "segments"]
    assert report["timezone"] == "UTC" and report["tables"]["cameras"][0]["tracks"] == 10


def test_heatmap_is_drawn_over_the_floor_plan_the_run_recorded(tmp_path):
    import cv2

    from vision.config.build import FlowPlan
    from vision.core.floorplan import FloorPlanMapping, PlanPicture
    from vision.core.flow import FlowSettings
    from vision.core.grid import GridGeometry
    from vision.runtime.site_outputs import write_site_description

    out = tmp_path / "out"
    write_output(out, "cam", [(local(27, 10, minute), 30.0) for minute in range(0, 60, 6)])
    picture = np.full((40, 60, 3), 200, np.uint8)
    plan = FlowPlan(
        site_id="shop", zones=[], lines=[], funnels=[], settings=FlowSettings(), timezone="Europe/London",
        grid=GridGeometry(0.0, 0.0, 0.5, 12, 8), plan=PlanPicture(picture, FloorPlanMapping(0.1, (0.0, 0.0))),
    )  # fmt: skip
    assert write_site_description(out, plan) == ["site.json", "floor_plan.png"]
    site = json.loads((out / "site.json").read_text())
    expected = {"image": "floor_plan.png", "metres_per_pixel": 0.1, "origin": [0.0, 0.0], "size_px": [60, 40]}
    assert site["floor_plan"] == expected
    assert cv2.imread(str(out / "floor_plan.png")).shape == (40, 60, 3)
    report_of(tmp_path, out, "--min-visitors", "1")
    page = (tmp_path / "report" / "index.html").read_text()
    # Plotly writes the layout image's data URI with "/" escaped as \u002f
    assert page.count('"images":[{"layer":"below"') == 1, "the plan lies under the heatmap"
    assert page.count('"source":"data:image\\u002fpng;base64,') == 1, "embedded, not fetched"


def test_a_camera_without_data_in_the_period_is_named(shop, tmp_path):
    a, b = shop
    out = tmp_path / "report"
    result = footfall("report", a, b, "--from", "2026-03-30", "--min-visitors", "1", "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == ["warning: camera b has no tracks in 2026-03-30 to …; it is left out"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cameras"] == ["a"] and summary["cameras_without_data"] == ["b"]


def test_occupancy_is_averaged_over_the_footage_and_gaps_stay_gaps(tmp_path):
    """Footage 09:00-09:30 and 11:00-11:10: a person in view 09:00-09:15 is 0.5 people in hour 9 (not 0.25 over
    the whole hour), hour 10 has no footage and no row, and hour 11 is covered with nobody: 0 people."""
    out = tmp_path / "out"
    write_output(out, "a", [(local(27, 9), 900.0 - 5.0)])
    record = json.loads((out / "run.json").read_text())
    record["cameras"] = [
        {"camera": "a", "source_info": {"start_time": local(27, 9).isoformat()}, "media_seconds_analysed": 1800.0},
        {"camera": "a", "source_info": {"start_time": local(27, 11).isoformat()}, "media_seconds_analysed": 600.0},
    ]
    write_json_atomic(out / "run.json", record)
    report = report_of(tmp_path, out, "--min-visitors", "1")
    in_view = [(row["bucket"][11:16], row["people"], row["footage_s"]) for row in report["tables"]["people_in_view"]]
    assert in_view == [("09:00", pytest.approx(0.5, abs=0.01), 1800.0), ("11:00", 0.0, 600.0)]
    till = [row for row in report["tables"]["people_per_zone"] if row["place"] == "till"]
    assert [row["bucket"][11:16] for row in till] == ["09:00", "11:00"]
    assert till[0]["people"] == pytest.approx(890.0 / 1800.0, abs=0.01) and till[1]["people"] == 0.0
    summary = report["figures"]["occupancy"]["in_view"]  # summary.json's, per minute: the same rule
    assert {row["start"][11:13] for row in summary} == {"09"}, "its buckets span the tracks: 09:00 to 09:15"
    assert [row["mean"] for row in summary if row["start"][11:16] < "09:14"] == [1.0] * 14


def test_charts_say_what_they_hide_and_read_from_zero(pets_site_run):
    """The report's figures as drawn: one bucket is one labelled bar, counts start at zero, a hidden figure is a
    `<k` label, the segment chart and table agree in percent, booleans read yes/no, and the heat colours are the
    PNG pictures' colours."""
    from vision.core.heat_colours import heat_lut_bgr, plotly_colorscale
    from vision.report.build import ReportOptions, build_report, suppressed_tables
    from vision.report.charts import charts, heatmap_figure
    from vision.report.inputs import open_run_folders
    from vision.report.write import _cell, span_text

    _, out = pets_site_run
    report = build_report(open_run_folders([out]), ReportOptions(min_visitors=5))
    tables = suppressed_tables(report)
    figures = charts(report, tables)
    in_view = figures["people_in_view"]
    (bar,) = in_view.data
    assert len(bar.x) == 1 and bar.y[0] == tables["people_in_view"][0]["people"] > 1.0
    (minute,) = json.loads((out / "summary.json").read_text())["occupancy"]["in_view"]  # 57 s of footage
    assert minute["mean"] == pytest.approx(tables["people_in_view"][0]["people"], abs=1e-3), "both over the footage"
    assert in_view.layout.yaxis.rangemode == "tozero" and list(in_view.layout.xaxis.ticktext) == ["12 Mar 10:00"]
    hidden = [row["zone"] for row in tables["zones"] if row["visitors"] == "<5"]
    assert hidden, "the PETS clip has a zone with fewer than 5 visitors"
    texts = dict(zip(figures["zones"].data[0].x, figures["zones"].data[0].text, strict=True))
    assert all(texts[zone] == "<5" for zone in hidden)
    segments = figures["segments"].data[0]
    for row, text in zip(tables["segments"], segments.text, strict=True):
        assert text == (row["share_pct"] if row["share_pct"] == "<5" else f"{row['share_pct']:g} %")
    assert _cell(False) == "no" and _cell(True) == "yes"
    assert span_text(report.main.span) == "2009-03-12 10:00:00 to 10:00:57"
    heat = heatmap_figure(report)
    assert [list(stop) for stop in heat.data[0].colorscale] == plotly_colorscale()
    low, high = (heat_lut_bgr()[level, 0][::-1].astype(int) for level in (0, 255))
    assert plotly_colorscale()[0][1] == f"rgb({low[0]},{low[1]},{low[2]})"
    assert plotly_colorscale()[-1][1] == f"rgb({high[0]},{high[1]},{high[2]})"
    assert sum(low) > sum(high), "light for little time, dark for the most"
