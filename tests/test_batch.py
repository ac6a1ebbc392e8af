"""`footfall batch` on the PETS clip with the real detector: chunks stitched so that people crossing a chunk
boundary are one track, counted once; resume after `kill -9` equal, figure by figure through `footfall report`, to
an uninterrupted run; a corrupt file reported while the rest is done; the Ray backend on a local Ray instance
equal to the local backend; cameras and start times from NVR file names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow.fs as pafs
import pytest

from tests.helpers import PETS_VIDEO, TFLITE_MODEL, pets_calibration_document, write_clip
from tests.test_site_e2e import SITE_YAML
from vision.config.recordings import StartFromName, camera_from_name, expand_inputs, recording_jobs
from vision.config.site import load_site_config
from vision.runtime.tasks import Destination, plan_tasks

START = datetime(2009, 3, 12, 10, 0, tzinfo=UTC)
CHUNK_MINUTES = "0.17"  # the 20 s clip (pets_short_video) in 2 chunks: 10.2 s and 9.8 s
CHUNK_S = 10.2


def batch_site(folder: Path) -> Path:
    """The PETS site with camera view001 claiming files named view001_<start>.mp4, at 5 analysed frames/s."""
    (folder / "view001.json").write_text(json.dumps(pets_calibration_document()))
    text = SITE_YAML.format(video="rtsp://nvr.example/ch1")
    text = text.replace("    start: 2009-03-12T10:00:00+00:00\n", "    recordings: 'view001_*.mp4'\n")
    text = text.replace("analysis_fps: 7", "analysis_fps: 5") + "recordings:\n  timezone: UTC\n"
    site = folder / "site.yaml"
    site.write_text(text)
    return site


def footage(folder: Path, video: Path) -> Path:
    folder.mkdir(exist_ok=True)
    clip = folder / f"view001_{START:%Y%m%d%H%M%S}.mp4"
    if not clip.exists():
        clip.symlink_to(video)
    return clip


def batch(*arguments: str, timeout: float = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vision", "batch", "--model", str(TFLITE_MODEL), *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def report_figures(out: Path, folder: Path) -> dict:
    """What `footfall report` makes of an output folder, without what names the run (folders, time made)."""
    result = subprocess.run([sys.executable, "-m", "vision", "report", str(out), "--out", str(folder)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads((folder / "summary.json").read_text())
    for key in ("generated_at", "folders"):
        document.pop(key, None)
    return document


def track_spans(out: Path) -> list[tuple[float, float, int]]:
    return duckdb.sql(
        f"SELECT epoch(min(t)), epoch(max(t)), count(*) FROM read_parquet('{out}/tracks/**/*.parquet', "
        "hive_partitioning = true) GROUP BY track ORDER BY 1, 2, 3"
    ).fetchall()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, pets_short_video: Path) -> tuple[Path, Path, Path, dict]:
    """The clip in 2 chunks by 2 worker processes: (site, footage folder, OUT, report figures)."""
    folder = tmp_path_factory.mktemp("batch")
    site, clips = batch_site(folder), footage(folder / "footage", pets_short_video)
    out = folder / "out"
    result = batch(str(clips.parent), "--site", str(site), "--out", str(out), "--workers", "2",
                   "--chunk-minutes", CHUNK_MINUTES)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 of 2 tasks done now" in result.stdout and "2 workers" in result.stdout
    return site, clips.parent, out, report_figures(out, folder / "report")


def test_people_crossing_a_chunk_boundary_are_one_track_counted_once(
    uninterrupted: tuple[Path, Path, Path, dict], tmp_path: Path
) -> None:
    site, clips, chunked, _ = uninterrupted
    whole = tmp_path / "whole"
    result = batch(str(clips), "--site", str(site), "--out", str(whole), "--chunk-minutes", "0")
    assert result.returncode == 0, result.stderr
    spans = track_spans(chunked)
    boundary = START.timestamp() + CHUNK_S
    crossing = [span for span in spans if span[0] < boundary < span[1]]
    assert len(crossing) >= 3  # the test means something: people are in view across the boundaries
    assert spans == track_spans(whole)  # every track the same, whether the file was cut or not
    whole_summary = json.loads((whole / "summary.json").read_text())
    chunked_summary = json.loads((chunked / "summary.json").read_text())
    assert chunked_summary["zones"] == whole_summary["zones"] and chunked_summary["lines"] == whole_summary["lines"]


def test_kill_9_mid_batch_then_rerun_equals_an_uninterrupted_run(
    uninterrupted: tuple[Path, Path, Path, dict], tmp_path: Path
) -> None:
    site, clips, _, figures = uninterrupted
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vision", "batch", "--model", str(TFLITE_MODEL), str(clips), "--site", str(site),
               "--out", str(out), "--workers", "1", "--chunk-minutes", CHUNK_MINUTES]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list((out / "_manifest").glob("*.json")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the whole batch, workers included, mid-way through the second task
    process.wait(10)
    finished = list((out / "_manifest").glob("*.json"))
    assert len(finished) == 1, "the kill came too late to test anything"

    rerun = batch(
        str(clips), "--site", str(site), "--out", str(out), "--workers", "1", "--chunk-minutes", CHUNK_MINUTES
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "1 of 2 tasks done now (1 before)" in rerun.stdout
    assert not list(out.rglob(".*.tmp")) and not (out / ".staging").exists()
    assert report_figures(out, tmp_path / "report") == figures

    again = batch(str(clips), "--site", str(site), "--out", str(out), "--chunk-minutes", CHUNK_MINUTES)
    assert "0 of 2 tasks done now (2 before)" in again.stdout  # nothing left to do
    assert report_figures(out, tmp_path / "report-2") == figures


def test_a_corrupt_file_is_reported_and_the_rest_is_done(tmp_path: Path) -> None:
    folder = tmp_path / "footage"
    folder.mkdir()
    write_clip(folder / "door_20261122100000.mp4", frames=14)
    (folder / "till_20261122100000.mp4").write_bytes(PETS_VIDEO.read_bytes()[:4000])  # cut short: no picture
    (folder / "empty_20261122100000.mp4").write_bytes(b"")
    out = tmp_path / "out"
    result = batch(str(folder), "--out", str(out), "--workers", "1")
    assert result.returncode == 1
    assert "1 of 1 tasks done now" in result.stdout
    assert "2 inputs failed" in result.stderr
    for name in ("till_20261122100000.mp4", "empty_20261122100000.mp4"):
        assert any(name in line and "not a readable video" in line for line in result.stderr.splitlines()), name
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "failed" and len(record["failed"]) == 2
    assert record["detection_plans"]["door"]["frames_per_call"] in (1, 2)  # the plan of the camera that ran
    parts = list((out / "tracks").glob("camera=door/date=2026-11-22/*.parquet"))
    assert parts  # the good file, under the camera and date its name gives


def test_the_ray_backend_gives_the_results_of_the_local_one(
    uninterrupted: tuple[Path, Path, Path, dict], tmp_path: Path
) -> None:
    site, clips, _, figures = uninterrupted
    out = tmp_path / "out"
    result = batch(str(clips), "--site", str(site), "--out", str(out), "--backend", "ray", "--workers", "2",
                   "--chunk-minutes", CHUNK_MINUTES)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 of 2 tasks done now" in result.stdout
    assert report_figures(out, tmp_path / "report") == figures


def test_inputs_cameras_and_start_times_from_file_names(tmp_path: Path) -> None:
    reader = StartFromName.of(None)
    hikvision = Path("192.168.1.20_01_20261122100000_20261122110000.mp4")
    assert reader.start(Path("ch01_20261122100000.mp4")) == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert reader.start(hikvision) == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert reader.start(Path("pets.mp4")) is None
    assert camera_from_name(Path("ch01_20261122100000.mp4"), reader) == "ch01"
    assert camera_from_name(hikvision, reader) == "192.168.1.20_01"

    folder = tmp_path / "export"
    (folder / "entrance").mkdir(parents=True)
    (folder / "till").mkdir()
    for path in (folder / "entrance" / "ch01_20261122100000.mp4", folder / "till" / "ch02_20261122093000.mkv"):
        path.write_bytes(b"x")
    (folder / "notes.txt").write_text("not a video")
    listing = tmp_path / "inputs.txt"
    listing.write_text("# the till camera\nexport/till/ch02_20261122093000.mkv\nmissing.mp4\n")
    files, problems = expand_inputs([str(folder / "entrance"), str(folder / "**" / "*.mp4")], [listing])
    assert [f.name for f in files] == ["ch01_20261122100000.mp4", "ch02_20261122093000.mkv"]
    assert problems == ["missing.mp4: no such file or folder"]

    site = batch_site(tmp_path)
    text = site.read_text().replace("recordings:\n  timezone: UTC\n", "recordings:\n  timezone: Asia/Shanghai\n")
    site.write_text(text.replace("'view001_*.mp4'", "'entrance/*'"))
    jobs, unclaimed = recording_jobs(files, load_site_config(site))
    assert [(job.camera, job.start) for job in jobs] == [
        ("view001", datetime(2026, 11, 22, 10, tzinfo=timezone(timedelta(hours=8))))
    ]
    assert unclaimed == [f"{files[1]}: matches no camera's recordings pattern; check the site config's `recordings`"]


def test_a_task_is_published_to_a_filesystem_url_and_again_over_itself(tmp_path: Path) -> None:
    """The path for s3:// and other pyarrow filesystems (here pyarrow's in-memory one): files copied into place,
    the manifest entry last, and a second publication of the same task replacing the first's files."""
    clip = write_clip(tmp_path / "door_20261122100000.mp4", frames=14)
    job = recording_jobs([clip], None)[0][0]
    task = plan_tasks(job, 2.0, "mov,mp4,m4a,3gp,3g2,mj2", None, 10.0, "settings")[0]
    destination = Destination("mock:///shared/out")
    for number, attempt in enumerate(("first", "second")):
        staging = tmp_path / attempt
        name = f"part-{task.task_id}-0-{number:05d}.parquet"
        part = staging / "tracks" / "camera=door" / "date=2026-11-22" / name
        part.parent.mkdir(parents=True)
        part.write_bytes(attempt.encode())
        destination.publish(task, staging, {"attempt": attempt})
    files = destination.filesystem.get_file_info(pafs.FileSelector("shared/out", recursive=True))
    parts = [info.path for info in files if info.path.endswith(".parquet")]
    assert parts == [f"shared/out/tracks/camera=door/date=2026-11-22/part-{task.task_id}-0-00001.parquet"]
    assert destination.finished() == {task.task_id}


def test_a_worker_that_dies_on_a_file_fails_that_task_and_the_batch_goes_on(
    tmp_path: Path, pets_short_video: Path
) -> None:
    import psutil

    folder = tmp_path / "footage"
    folder.mkdir()
    doomed = folder / "till_20261122100000.mp4"
    doomed.symlink_to(pets_short_video)
    write_clip(folder / "door_20261122100000.mp4", frames=14)
    write_clip(folder / "exit_20261122100000.mp4", frames=14)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vision", "batch", "--model", str(TFLITE_MODEL), str(folder), "--out", str(out),
               "--workers", "1"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    coordinator = psutil.Process(process.pid)
    victim: psutil.Process | None = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and process.poll() is None:
        for worker in coordinator.children(recursive=True):
            try:
                if any(Path(opened.path) == pets_short_video.resolve() for opened in worker.open_files()):
                    victim = worker
            except psutil.Error:
                continue
        time.sleep(0.05)
    assert victim is not None, "no worker ever opened the PETS clip"
    victim.send_signal(signal.SIGSEGV)  # as a decoder or model runtime crashing on that file would
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr
    assert "2 of 3 tasks done now" in stdout, stdout
    failed = [line for line in stderr.splitlines() if "till_20261122100000.mp4" in line]
    assert failed and "the worker crashed (signal 11, SIGSEGV) while analysing it" in failed[0], stderr
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "failed" and [row["path"] for row in record["failed"]] == [str(doomed)]
    for camera in ("door", "exit"):
        assert list((out / "tracks").glob(f"camera={camera}/date=2026-11-22/*.parquet")), camera
    assert not list((out / "tracks").glob("camera=till/**/*.parquet"))  # nothing half-done of the doomed file
    assert not (out / ".staging").exists()

    rerun = batch(str(folder), "--out", str(out), "--workers", "1")  # retries the failed task, and only it
    assert rerun.returncode == 0, rerun.stderr
    assert "1 of 3 tasks done now (2 before)" in rerun.stdout
    assert list((out / "tracks").glob("camera=till/date=2026-11-22/*.parquet"))


def test_a_model_that_does_not_load_stops_the_batch_with_one_line(tmp_path: Path) -> None:
    from tests.test_bad_input import assert_one_clear_line

    clip = write_clip(tmp_path / "door_20261122100000.mp4", frames=7)
    model = tmp_path / "model.tflite"
    model.write_text("not a model")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vision", "batch", "--model", str(model), str(clip), "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert_one_clear_line(result, "not a TFLite model LiteRT can load")  # from the worker, said once, no traceback
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    assert not list(out.rglob("*.parquet"))
