"""`footfall report` under hostile use (issue: nothing doubled, nothing leaked, nothing silently dead): one run
given twice or copied, two layouts of one site, folder names that are glob patterns, damaged part files and
site.json, absurd options. Real outputs of a real site run on PETS, the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.test_bad_input import assert_one_clear_line
from tests.test_report import footfall


@pytest.fixture(scope="module")
def reference(pets_site_run: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(OUT of the PETS site run, the summary.json of its report)."""
    _, out = pets_site_run
    report = tmp_path_factory.mktemp("reference") / "report"
    result = footfall("report", out, "--out", report, "--min-visitors", "1")
    assert result.returncode == 0, result.stderr
    return out, json.loads((report / "summary.json").read_text())


def _copy(out: Path, to: Path, new_run_id: bool = False) -> Path:
    shutil.copytree(out, to)
    if new_run_id:
        record = json.loads((to / "run.json").read_text())
        record["run_id"] = "0123456789ab"
        (to / "run.json").write_text(json.dumps(record))
    return to


def _tables(report: Path) -> dict:
    return json.loads((report / "summary.json").read_text())["tables"]


def test_one_run_given_twice_or_copied_is_refused_rather_than_counted_twice(reference, tmp_path: Path) -> None:
    out, _ = reference
    report = tmp_path / "report"
    same = assert_one_clear_line(footfall("report", out, out, "--out", report), "given twice", "count twice")
    assert str(out) in same
    link = tmp_path / "link"
    link.symlink_to(out)
    assert_one_clear_line(footfall("report", out, link, "--out", report), "given twice")
    copy = _copy(out, tmp_path / "copy")
    assert_one_clear_line(footfall("report", out, copy, "--out", report), "a copy of one run", "count twice")
    assert not report.exists()


def test_two_layouts_of_one_site_are_refused(reference, tmp_path: Path) -> None:
    out, _ = reference
    other = _copy(out, tmp_path / "other", new_run_id=True)
    site = json.loads((other / "site.json").read_text())
    site["zones"] = site["zones"][:1]
    (other / "site.json").write_text(json.dumps(site))
    for order in ((out, other), (other, out)):
        assert_one_clear_line(footfall("report", *order, "--out", tmp_path / "r"), "other zones", "each layout")
    assert not (tmp_path / "r").exists()


def test_folder_names_are_names_not_glob_patterns(reference, tmp_path: Path) -> None:
    out, summary = reference
    pattern = _copy(out, tmp_path / "site[ab]")
    sibling = _copy(out, tmp_path / "sitea", new_run_id=True)
    shutil.rmtree(sibling / "visits")  # were `site[ab]` a pattern, these would be read in its place: different
    for folder in (pattern, _copy(out, tmp_path / "out[1]*?")):
        report = tmp_path / f"report-{folder.name}"
        result = footfall("report", folder, "--out", report, "--min-visitors", "1")
        assert result.returncode == 0, result.stderr
        assert _tables(report) == summary["tables"]
    backslash = _copy(out, tmp_path / "back\\slash")
    assert_one_clear_line(footfall("report", backslash, "--out", tmp_path / "r"), "backslash", "rename it")


def test_damaged_part_files_are_named_and_nothing_is_written(reference, tmp_path: Path) -> None:
    out, _ = reference
    report = tmp_path / "report"

    cut = _copy(out, tmp_path / "cut")
    part = sorted((cut / "visits").rglob("*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:-100])
    line = assert_one_clear_line(footfall("report", cut, "--out", report), "damaged part file", "move it out")
    assert str(part) in line

    alien = _copy(out, tmp_path / "alien")
    stray = next((alien / "tracks").glob("camera=*/date=*")) / "part-stray-00000.parquet"
    pq.write_table(pa.table({"name": ["x"], "value": [1.0]}), stray)
    line = assert_one_clear_line(footfall("report", alien, "--out", report), "damaged part file", "not a footfall")
    assert str(stray) in line

    bad_site = _copy(out, tmp_path / "bad_site")
    site = json.loads((bad_site / "site.json").read_text())
    site["zones"] = "entrance"
    (bad_site / "site.json").write_text(json.dumps(site))
    assert_one_clear_line(footfall("report", bad_site, "--out", report), "site.json", "damaged")
    (bad_site / "site.json").write_text('{"site": "x", "zones": [{"name": 1}]')
    assert_one_clear_line(footfall("report", bad_site, "--out", report), "site.json", "damaged")
    assert not report.exists()


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (("--to", "9999-12-31"), "--to"),
        (("--from", "0001-01-01"), "--from"),
        (("--smooth-m", "inf"), "--smooth-m"),
        (("--smooth-m", "nan"), "--smooth-m"),
        (("--smooth-m", "1000000"), "--smooth-m"),
    ],
)
def test_absurd_options_are_one_line(reference, tmp_path: Path, options: tuple[str, str], fragment: str) -> None:
    out, _ = reference
    assert_one_clear_line(footfall("report", out, *options, "--out", tmp_path / "r"), fragment)
    assert not (tmp_path / "r").exists()


def test_the_widest_smoothing_spreads_the_heat_evenly(reference, tmp_path: Path) -> None:
    """100 m on 0.25 m cells: a kernel of 3,200 cells, capped at the grid's size (it looked hung before)."""
    out, _ = reference
    result = footfall("report", out, "--smooth-m", "100", "--out", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r" / "index.html").is_file()


def test_a_report_on_a_run_that_never_finished_says_so(reference, tmp_path: Path) -> None:
    out, summary = reference
    killed = _copy(out, tmp_path / "killed")
    record = json.loads((killed / "run.json").read_text())
    record["status"] = "running"  # what a run killed with -9 leaves
    (killed / "run.json").write_text(json.dumps(record))
    result = footfall("report", killed, "--out", tmp_path / "r", "--min-visitors", "1")
    assert result.returncode == 0, result.stderr
    assert "has not finished" in result.stderr and str(killed) in result.stderr
    assert _tables(tmp_path / "r") == summary["tables"]
