"""Cameras fused on the floor plan, end to end: `footfall run` and `footfall batch` of the two-camera set
(scripts/make_two_camera_set.py: PETS View 001 cut into two overlapping cameras, the right one's clock 1 s late)
write site tracks that count a person once, scored against the set's floor ground truth; the report says visitors;
per-camera tracks stay on record, linked to their site track; a one-camera site is as before."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from tests.helpers import REPO, TFLITE_MODEL

TRUE_OFFSET_S = 1.0


def footfall(*arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vision", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def two_cameras(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the two-camera set, the OUT of `footfall run --site` over it)."""
    folder = tmp_path_factory.mktemp("two-cameras")
    built = subprocess.run([sys.executable, str(REPO / "scripts" / "make_two_camera_set.py"), str(folder / "set")],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert built.returncode == 0, built.stderr
    out = folder / "out"
    ran = footfall("run", "--site", str(folder / "set" / "site.yaml"), "--model", str(TFLITE_MODEL), "--out", str(out))
    assert ran.returncode == 0, ran.stderr
    return folder / "set", out


def parquet(folder: Path) -> str:
    return f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"


def test_run_counts_each_person_once_and_finds_the_late_clock(two_cameras: tuple[Path, Path]) -> None:
    dataset, out = two_cameras
    summary = json.loads((out / "summary.json").read_text())
    fusion = json.loads((out / "run.json").read_text())["fusion"]
    people = json.loads((dataset / "truth.json").read_text())["people"]["site"]
    assert "tracks" not in summary and summary["fusion"] == fusion
    visitors = summary["visitors"]["customers"]
    camera_tracks = sum(figures["tracks"]["customers"] for figures in summary["cameras"].values())
    assert visitors == fusion["site_tracks"] and camera_tracks == fusion["camera_tracks"]
    # Measured: 27 camera tracks, 18 visitors, for 10 people.
    assert abs(visitors - people) <= abs(camera_tracks - people) * 0.6, (visitors, camera_tracks, people)
    assert abs(fusion["estimated_offset_s"]["right"]["median"] - TRUE_OFFSET_S) <= 0.15, fusion

    scores = _scores(dataset, out)
    written, apart = scores["site tracks written by the run"], scores["cameras apart"]
    # Measured: site tracks MOTA 0.61, IDF1 0.72; the cameras' own tracks side by side -0.08 and 0.40.
    assert written["MOTA"] >= 0.55 and written["IDF1"] >= 0.65, written
    assert written["IDF1"] >= apart["IDF1"] + 0.25 and written["MOTA"] >= apart["MOTA"] + 0.5, scores

    # The site heatmap counts a person in the overlap once: its person-seconds come nearer the truth's than the
    # cameras' added up (measured: truth 317, site 391, cameras 427).
    truth = np.loadtxt(dataset / "gt_floor.txt", delimiter=",", ndmin=2)
    true_seconds = len(truth) / 7
    heat = {name: json.loads((out / "heatmaps" / f"{name}.json").read_text())["total_person_seconds"]
            for name in ("left", "right", "site")}  # fmt: skip
    assert abs(heat["site"] - true_seconds) < abs(heat["left"] + heat["right"] - true_seconds), heat


def _scores(dataset: Path, out: Path) -> dict:
    """scripts/eval_fusion.py's scores: each person matched within 1 m on the floor, MOTA and IDF1."""
    command = [sys.executable, str(REPO / "scripts" / "eval_fusion.py"), str(dataset), str(out), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_camera_track_is_linked_to_one_site_track_under_a_fresh_pseudonym(two_cameras: tuple[Path, Path]) -> None:
    _, out = two_cameras
    camera_tracks = set(duckdb.sql(f"SELECT DISTINCT camera, track FROM {parquet(out / 'tracks')}").fetchall())
    links = duckdb.sql(f"SELECT camera, track, site_track FROM {parquet(out / 'site' / 'links')}").fetchall()
    assert len(links) == len({(c, t) for c, t, _ in links}) == len(camera_tracks)
    assert {(c, t) for c, t, _ in links} == camera_tracks
    site_tracks = {
        row[0] for row in duckdb.sql(f"SELECT DISTINCT track FROM {parquet(out / 'site' / 'tracks')}").fetchall()
    }
    assert {s for _, _, s in links} == site_tracks
    assert not site_tracks & {t for _, t in camera_tracks}  # a site pseudonym is not any camera track's
    # Site tracks hold floor positions only: no image position, no frame.
    unplaced = duckdb.sql(f"SELECT count(*) FROM {parquet(out / 'site' / 'tracks')} WHERE NOT isnan(u) OR frame <> -1")
    assert unplaced.fetchall() == [(0,)]


def test_a_second_fusion_pass_gives_the_same_figures_under_new_pseudonyms(
    two_cameras: tuple[Path, Path], tmp_path: Path
) -> None:
    from vision.config.build import flow_plan
    from vision.config.site import load_site_config
    from vision.runtime.site_fusion import fuse_record

    dataset, out = two_cameras
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / ".site-fusing" / "tracks").mkdir(parents=True)  # what a pass killed halfway leaves
    (copy / ".site-fusing" / "tracks" / "junk.parquet").write_bytes(b"not parquet")
    report, _ = fuse_record(copy, flow_plan(load_site_config(dataset / "site.yaml")))
    assert not (copy / ".site-fusing").exists() and not (copy / ".site-old").exists()
    before = json.loads((out / "run.json").read_text())["fusion"]
    assert (report.site_tracks, report.camera_tracks, report.estimated_offset_s) == (
        before["site_tracks"], before["camera_tracks"], before["estimated_offset_s"])  # fmt: skip

    def rows(folder: Path, dataset_name: str) -> list[tuple]:
        return duckdb.sql(
            f"SELECT * EXCLUDE (track) FROM {parquet(folder / 'site' / dataset_name)} ORDER BY ALL"
        ).fetchall()

    for name in ("visits", "events", "zone_seconds"):
        assert rows(copy, name) == rows(out, name), name
    old = {r[0] for r in duckdb.sql(f"SELECT DISTINCT track FROM {parquet(out / 'site' / 'tracks')}").fetchall()}
    new = {r[0] for r in duckdb.sql(f"SELECT DISTINCT track FROM {parquet(copy / 'site' / 'tracks')}").fetchall()}
    assert len(old) == len(new) and not old & new  # two runs' visitors cannot be linked by name


def test_the_report_says_visitors_and_keeps_each_camera(two_cameras: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = two_cameras
    summary = json.loads((out / "summary.json").read_text())
    made = footfall("report", str(out), "--out", str(tmp_path / "all"), "--min-visitors", "1")
    assert made.returncode == 0, made.stderr
    figures = json.loads((tmp_path / "all" / "summary.json").read_text())["figures"]
    assert figures["visitors"] == summary["visitors"] and figures["zones"] == summary["zones"]
    assert figures["lines"] == summary["lines"]
    cameras = (tmp_path / "all" / "cameras.csv").read_text().splitlines()[1:]
    assert {line.split(",")[0]: int(line.split(",")[1]) for line in cameras} == {
        camera: f["tracks"]["customers"] for camera, f in summary["cameras"].items()
    }
    page = (tmp_path / "all" / "index.html").read_text()
    estimate = summary["fusion"]["estimated_offset_s"]["right"]["median"]
    assert "Tracks are visitors" in page and f"Camera right's clock was moved by {estimate:+.2f} s" in page

    # One camera picked: its own tracks, as its part of the run's summary says.
    made = footfall("report", str(out), "--out", str(tmp_path / "left"), "--cameras", "left", "--min-visitors", "1")
    assert made.returncode == 0, made.stderr
    left = json.loads((tmp_path / "left" / "summary.json").read_text())["figures"]
    assert (
        left["tracks"] == summary["cameras"]["left"]["tracks"] and left["zones"] == summary["cameras"]["left"]["zones"]
    )


def batch_inputs(dataset: Path, folder: Path) -> tuple[Path, Path]:
    """(the footage folder, the site file) of a batch over the two-camera set: each camera claims its files by name."""
    clips = folder / "clips"
    clips.mkdir()
    for camera in ("left", "right"):
        (clips / f"{camera}_20090312100000.mp4").symlink_to(dataset / f"{camera}.mp4")
    text = (dataset / "site.yaml").read_text()
    for camera in ("left", "right"):
        text = text.replace(
            f"    source: {camera}.mp4\n",
            f"    source: rtsp://nvr.example/{camera}\n    recordings: '{camera}_*.mp4'\n",
        )
    text = text.replace("    start: 2009-03-12T10:00:00+00:00  # in truth", "    # in truth")
    text = text.replace("    start: 2009-03-12T10:00:00+00:00\n", "")
    site = folder / "batch-site.yaml"
    for camera in ("left", "right"):
        text = text.replace(f"calibration: {camera}.json", f"calibration: {dataset / camera}.json")
    site.write_text(text + "recordings:\n  timezone: UTC\n")
    return clips, site


def test_batch_fuses_once_its_tasks_are_done_and_again_on_a_rerun(
    two_cameras: tuple[Path, Path], tmp_path: Path
) -> None:
    dataset, run_out = two_cameras
    clips, site = batch_inputs(dataset, tmp_path)
    out = tmp_path / "out"
    arguments = ["batch", "--model", str(TFLITE_MODEL), str(clips), "--site", str(site), "--out", str(out),
                 "--workers", "1", "--chunk-minutes", "0"]  # fmt: skip
    first = footfall(*arguments)
    assert first.returncode == 0, first.stderr + first.stdout
    summary = json.loads((out / "summary.json").read_text())
    run_summary = json.loads((run_out / "summary.json").read_text())
    assert summary["visitors"] == run_summary["visitors"] and summary["zones"] == run_summary["zones"]
    assert json.loads((out / "run.json").read_text())["fusion"]["site_tracks"] == summary["visitors"]["customers"]

    # A fusion pass killed halfway: the site folder gone, the hidden one half written. The rerun has no task left
    # to do and fuses again, to the same figures.
    shutil.rmtree(out / "site")
    (out / ".site-fusing" / "visits").mkdir(parents=True)
    again = footfall(*arguments)
    assert again.returncode == 0, again.stderr
    assert "0 of 2 tasks done now (2 before)" in again.stdout, again.stdout
    rerun = json.loads((out / "summary.json").read_text())
    assert rerun["visitors"] == summary["visitors"] and rerun["zones"] == summary["zones"]
    assert not (out / ".site-fusing").exists()


def test_a_one_camera_site_has_no_site_tracks_and_counts_tracks(pets_site_run: tuple[Path, Path]) -> None:
    _, out = pets_site_run
    summary = json.loads((out / "summary.json").read_text())
    assert not (out / "site").exists() and "fusion" not in summary and "cameras" not in summary
    assert summary["tracks"]["customers"] > 0 and "visitors" not in summary
    assert json.loads((out / "run.json").read_text())["fusion"] is None


def test_batch_on_ray_fuses_as_the_local_batch_does(two_cameras: tuple[Path, Path], tmp_path: Path) -> None:
    dataset, run_out = two_cameras
    clips, site = batch_inputs(dataset, tmp_path)
    out = tmp_path / "out"
    result = footfall("batch", "--model", str(TFLITE_MODEL), str(clips), "--site", str(site), "--out", str(out),
                      "--backend", "ray", "--workers", "2", "--chunk-minutes", "0")  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    record = json.loads((out / "run.json").read_text())
    assert record["backend"] == "ray" and record["fusion"]["site_tracks"] > 0
    summary = json.loads((out / "summary.json").read_text())
    expected = json.loads((run_out / "summary.json").read_text())
    assert summary["visitors"] == expected["visitors"] and summary["zones"] == expected["zones"]
