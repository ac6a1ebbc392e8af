"""`footfall batch` and `run` under hostile use (issue: nothing doubled, nothing leaked, nothing silently dead): a
rerun after a file or a setting changed, a file still being written, Ctrl-C and SIGTERM with one and two workers,
symbolic link loops, a start format that does not fit the names, odd --out and Ray addresses, `run --overwrite`
into a batch's folder. The real CLI on real footage (PETS cut short), real signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.helpers import PETS_VIDEO, TFLITE_MODEL, remux_faststart, write_clip
from tests.rtsp import free_port
from tests.test_bad_input import assert_one_clear_line
from tests.test_batch import batch

HOUR_AGO = time.time() - 3600


def _settle(path: Path, when: float = HOUR_AGO) -> Path:
    os.utime(path, (when, when))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two cameras' recordings: the first 5 s of PETS each (real people), finished an hour ago."""
    folder = tmp_path_factory.mktemp("clips")
    first = remux_faststart(PETS_VIDEO, folder / "ch01_20261122100000.mp4", packets=35)
    shutil.copy(first, folder / "ch02_20261122100000.mp4")
    for clip in folder.iterdir():
        _settle(clip)
    return folder


def _tracks_per_camera(out: Path) -> dict[str, int]:
    rows = duckdb.sql(
        f"SELECT camera, count(DISTINCT track) FROM read_parquet('{out}/tracks/**/*.parquet', hive_partitioning = "
        "true) GROUP BY camera"
    ).fetchall()
    return dict(rows)


def test_a_rerun_after_a_file_changed_replaces_its_rows_and_other_settings_are_refused(
    clips: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "clips"
    shutil.copytree(clips, folder)
    for clip in folder.iterdir():
        _settle(clip)
    out = tmp_path / "out"
    first = batch(str(folder), "--out", str(out))
    assert first.returncode == 0, first.stderr
    before = _tracks_per_camera(out)
    assert before["ch01"] == before["ch02"] > 0

    _settle(folder / "ch02_20261122100000.mp4", HOUR_AGO + 60)  # touched (or rewritten) since
    rerun = batch(str(folder), "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    assert "1 of 2 tasks done now (1 before)" in rerun.stdout, rerun.stdout
    assert _tracks_per_camera(out) == before  # replaced, not added to
    assert len(list((out / "_manifest").glob("*.json"))) == 2

    other = batch(str(folder), "--out", str(out), "--conf", "0.3")
    assert_one_clear_line(other, "analysed with other settings", "--overwrite")
    assert _tracks_per_camera(out) == before
    replaced = batch(str(folder), "--out", str(out), "--conf", "0.3", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    fresh = tmp_path / "fresh"
    assert batch(str(folder), "--out", str(fresh), "--conf", "0.3").returncode == 0
    assert _tracks_per_camera(out) == _tracks_per_camera(fresh)
    assert len(list((out / "_manifest").glob("*.json"))) == 2


def test_a_file_still_being_written_is_analysed_then_replaced_once_it_grew(clips: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    growing = folder / "ch01_20261122100000.mp4"
    remux_faststart(PETS_VIDEO, growing, packets=18)  # modified just now: half of what it will hold
    out = tmp_path / "out"
    result = batch(str(folder), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "ch01_20261122100000.mp4: modified" in result.stderr and "replaces these rows" in result.stderr
    assert json.loads((out / "run.json").read_text())["recent"][0]["path"] == str(growing)

    shutil.copy(clips / "ch01_20261122100000.mp4", growing)  # the recording went on
    _settle(growing)
    rerun = batch(str(folder), "--out", str(out))
    assert rerun.returncode == 0 and "warning" not in rerun.stderr, rerun.stderr
    reference = tmp_path / "reference"
    assert batch(str(clips / "ch01_20261122100000.mp4"), "--out", str(reference)).returncode == 0
    assert _tracks_per_camera(out) == _tracks_per_camera(reference)


def _many_clips(folder: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):
        write_clip(folder / f"cam{index:02d}_20261122100000.mp4", frames=21)
    return folder


@pytest.mark.parametrize(
    ("signum", "workers"), [(signal.SIGINT, "1"), (signal.SIGTERM, "2"), (signal.SIGINT, "2")], ids=str
)
def test_an_interrupted_batch_stops_within_seconds_and_its_record_agrees_with_the_manifest(
    tmp_path: Path, signum: int, workers: str
) -> None:
    folder = _many_clips(tmp_path / "clips", 12)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vision", "batch", "--model", str(TFLITE_MODEL), str(folder), "--out", str(out),
               "--workers", workers]  # fmt: skip

    def as_a_background_job() -> None:  # a script's `footfall batch … &`: the shell ignores SIGINT for it
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=as_a_background_job)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "_manifest").glob("*.json"))) < 2:
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
    process.send_signal(signum)
    started = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    stopped_s = time.monotonic() - started
    assert process.returncode == 130, stderr
    assert stopped_s < 15, stopped_s
    assert "interrupted; finished tasks are kept" in stderr
    record = json.loads((out / "run.json").read_text())
    finished = len(list((out / "_manifest").glob("*.json")))
    assert record["status"] == "interrupted" and record["done"] == finished < 12, (record["done"], finished)
    rerun = batch(str(folder), "--out", str(out), "--workers", "2")
    assert rerun.returncode == 0, rerun.stderr
    assert f"{12 - finished} of 12 tasks done now ({finished} before)" in rerun.stdout


def test_a_symbolic_link_loop_under_a_double_star_gives_each_file_once(clips: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    _settle(shutil.copy(clips / "ch01_20261122100000.mp4", folder / "ch01_20261122100000.mp4"))
    (folder / "again").symlink_to(folder)
    (folder / "twin.mp4").symlink_to(folder / "ch01_20261122100000.mp4")
    out = tmp_path / "out"
    result = batch(f"{folder}/**/*.mp4", "--out", str(out), "--camera", "ch01")
    assert result.returncode == 0, result.stderr
    assert "1 of 1 tasks done now" in result.stdout, result.stdout


def test_a_start_format_that_does_not_fit_the_names_is_an_error(clips: Path, tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(
        "version: 1\nsite: {id: shop, timezone: Europe/London}\ncameras:\n  - id: ch01\n    source: "
        f"{clips / 'ch01_20261122100000.mp4'}\n    recordings: 'ch01_*.mp4'\n"
        "recordings:\n  start_pattern: 'ch01_(\\d+)'\n  start_format: '%Y%m%d%H%M'\n"
    )
    out = tmp_path / "out"
    result = batch(str(clips / "ch01_20261122100000.mp4"), "--site", str(site), "--out", str(out))
    assert result.returncode == 1
    assert "does not read" in result.stderr and "start_format" in result.stderr, result.stderr
    assert not list(out.rglob("*.parquet"))
    site.write_text(site.read_text().replace("  start_pattern: 'ch01_(\\d+)'\n", ""))
    validate = subprocess.run([sys.executable, "-m", "vision", "validate", str(site)], capture_output=True,
                              text=True, timeout=60)  # fmt: skip
    assert_one_clear_line(validate, "start_format", "14 digits")


def test_odd_outputs_and_unreachable_clusters_are_one_line_and_no_running_record(clips: Path, tmp_path: Path) -> None:
    clip = str(clips / "ch01_20261122100000.mp4")
    assert_one_clear_line(batch(clip, "--out", "foo://bar/x"), "foo://bar/x", "not an output location")
    out = tmp_path / "out"
    started = time.monotonic()
    refused = batch(clip, "--out", str(out), "--backend", "ray", "--address", f"127.0.0.1:{free_port()}")
    assert_one_clear_line(refused, "cannot reach the Ray cluster", "--address")
    assert time.monotonic() - started < 60
    assert json.loads((out / "run.json").read_text())["status"] == "failed"


def test_run_overwrite_refuses_a_batch_folder(clips: Path, tmp_path: Path) -> None:
    clip = str(clips / "ch01_20261122100000.mp4")
    out = tmp_path / "out"
    assert batch(clip, "--out", str(out)).returncode == 0
    held = sorted(str(path.relative_to(out)) for path in out.rglob("*"))
    command = [sys.executable, "-m", "vision", "run", clip, "--model", str(TFLITE_MODEL), "--out", str(out),
               "--overwrite"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert_one_clear_line(result, "footfall batch", "--overwrite does not remove")
    assert sorted(str(path.relative_to(out)) for path in out.rglob("*")) == held


def test_more_workers_than_tasks_are_not_started_nor_reported(clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = batch(str(clips), "--out", str(out), "--workers", "64")
    assert result.returncode == 0, result.stderr
    assert "2 workers" in result.stdout
    assert json.loads((out / "run.json").read_text())["workers"] == 2
    assert_one_clear_line(batch(str(clips), "--out", str(tmp_path / "o2"), "--workers", "100000"), "--workers")


@pytest.mark.parametrize("model", ["/nowhere/model.tflite", "yolo11n-that-does-not-exist.pt"])
def test_a_missing_model_with_two_workers_is_one_line(clips: Path, tmp_path: Path, model: str) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vision", "batch", "--model", model, str(clips), "--out", str(out),
               "--workers", "2"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert_one_clear_line(result, model.split("/")[-1])
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
