"""Faults through the real command on real footage: `kill -9` at several moments, two runs on one folder, SIGTERM,
a read-only folder and a full disk (real tmpfs mounts; CI runs as root), --overwrite beside a user's own files,
an unexpected error inside a run, and footage with nobody in it. After each, what is on disk is readable, says
what happened, and a rerun neither loses nor doubles rows."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from tests.helpers import PETS_VIDEO, TFLITE_MODEL, pets_calibration_document
from tests.test_bad_input import assert_one_clear_line
from tests.test_site_e2e import SITE_YAML
from vision.config.build import CameraJob
from vision.core.types import Detections
from vision.perception.detect import DetectorSettings, YoloDetector
from vision.runtime.batch import RunSettings, run_batch

DATASETS = ("tracks", "events", "visits", "zone_seconds", "heatmap_cells")


def command(site: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "vision", "run", "--site", str(site), "--model", str(TFLITE_MODEL), "--out", str(out),
        *extra,
    ]  # fmt: skip


def footfall(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vision", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def rows_on_disk(out: Path) -> dict[str, int]:
    """Rows per dataset, read back the way any reader would (hidden temporary files are skipped by pyarrow)."""
    return {name: read_dataset(out / name).count_rows() if (out / name).exists() else 0 for name in DATASETS}


def read_dataset(folder: Path) -> ds.Dataset:
    return ds.dataset(folder, format="parquet", partitioning="hive", exclude_invalid_files=True)


def leftovers(out: Path) -> list[Path]:
    return [path for path in out.rglob(".*") if path.is_file()]


def run_record(out: Path) -> dict:
    return json.loads((out / "run.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, pets_short_video: Path) -> Path:
    """The PETS site on the clip's first 20 s, at 5 analysed frames/s: 100 frames, about 530 track rows."""
    folder = tmp_path_factory.mktemp("faults")
    (folder / "view001.json").write_text(json.dumps(pets_calibration_document()))
    path = folder / "site.yaml"
    path.write_text(SITE_YAML.format(video=pets_short_video).replace("analysis_fps: 7", "analysis_fps: 5"))
    return path


@pytest.fixture(scope="module")
def uninterrupted(site: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("uninterrupted") / "out"
    result = subprocess.run(command(site, out), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = rows_on_disk(out)
    assert rows["tracks"] > 400 and rows["events"] > 20 and rows["visits"] > 10, rows
    return out, rows


def rows_analysed_by(full_run: Path, record: dict) -> dict[str, int]:
    """Rows the uninterrupted run holds up to the footage time a killed run's run.json had reached: what the killed
    run had analysed by its last checkpoint (the analysis is deterministic)."""
    camera = record["cameras"][0]
    start = datetime.fromisoformat(camera["source_info"]["start_time"])
    reached = pa.scalar(start + timedelta(seconds=camera["media_seconds_analysed"]), pa.timestamp("us", tz="UTC"))
    columns = {"tracks": "t", "events": "t", "visits": "t_out"}
    return {
        name: read_dataset(full_run / name).count_rows(filter=ds.field(column) < reached)
        for name, column in columns.items()
    }


def wait_for(condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def checkpointed_rows(out: Path) -> int:
    try:
        record = run_record(out)
    except (OSError, ValueError):
        return -1
    return sum(camera.get("track_rows", 0) for camera in record.get("cameras", []))


KILL_MOMENTS = {
    "while the model loads": lambda out: True,
    "after the first rows reached disk": lambda out: checkpointed_rows(out) > 0,
    "halfway": lambda out: checkpointed_rows(out) > 250,
}


@pytest.mark.parametrize("moment", list(KILL_MOMENTS))
def test_kill_9_keeps_what_reached_disk_and_a_rerun_neither_loses_nor_doubles(site, uninterrupted, tmp_path, moment):
    _, expected = uninterrupted
    out = tmp_path / "out"
    process = subprocess.Popen(command(site, out, "--flush-interval", "1"), stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: KILL_MOMENTS[moment](out) or process.poll() is not None, what=moment)
        assert process.poll() is None, f"the run ended before the kill: {process.stderr.read()}"
    finally:
        process.kill()  # SIGKILL: no cleanup of any kind runs
        process.wait()

    on_disk = rows_on_disk(out)
    if (out / "run.json").exists():
        record = run_record(out)  # always whole: written atomically
        assert record["status"] == "running"
        recorded = checkpointed_rows(out)
        # rows reach disk first and run.json is brought up to date right after, so disk holds at least its figure
        assert recorded <= on_disk["tracks"] <= expected["tracks"], (recorded, on_disk, expected)
        analysed = rows_analysed_by(uninterrupted[0], record)
        assert on_disk["tracks"] <= analysed["tracks"], (on_disk, analysed)
        print(
            f"\nkilled {moment}: rows on disk {on_disk}; rows analysed by the last checkpoint {analysed} "
            f"(the rest belong to tracks still live then); run.json says {recorded} track rows; full run {expected}"
        )
    else:
        assert on_disk == dict.fromkeys(DATASETS, 0)
        print(f"\nkilled {moment}: nothing on disk yet")
    assert not leftovers(out) or all(path.name.endswith(".tmp") for path in leftovers(out))

    if (out / "run.json").exists():
        refused = subprocess.run(command(site, out), capture_output=True, text=True, timeout=300)
        assert_one_clear_line(refused, "did not finish", "--overwrite")
        assert rows_on_disk(out) == on_disk, "a refused rerun must not touch the folder"
    rerun = subprocess.run(command(site, out, "--overwrite"), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert rows_on_disk(out) == expected
    assert not leftovers(out)
    assert run_record(out)["status"] == "complete"


def test_two_runs_on_one_folder_one_is_refused(site, uninterrupted, tmp_path):
    _, expected = uninterrupted
    out = tmp_path / "out"
    first, second = (
        subprocess.Popen(command(site, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    )
    results = [(process.wait(timeout=300), process.stderr.read()) for process in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    refusal = next(stderr for code, stderr in results if code == 1).strip().splitlines()
    assert len(refusal) == 1 and refusal[0].startswith("error: "), refusal
    assert "in use by another footfall run" in refusal[0] or "already holds a run" in refusal[0]
    assert rows_on_disk(out) == expected, "the refused run must add nothing"
    assert run_record(out)["status"] == "complete"


def test_sigterm_saves_what_was_analysed_and_says_interrupted(site, uninterrupted, tmp_path):
    _, expected = uninterrupted
    out = tmp_path / "out"
    process = subprocess.Popen(command(site, out, "--flush-interval", "1"), stderr=subprocess.PIPE, text=True)
    wait_for(lambda: checkpointed_rows(out) > 0 or process.poll() is not None, what="first rows")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 130
    stderr = process.stderr.read()
    assert "Traceback" not in stderr and "interrupted" in stderr
    record = run_record(out)
    assert record["status"] == "interrupted"
    assert record["cameras"][0]["status"] == "interrupted"
    on_disk = rows_on_disk(out)
    assert 0 < on_disk["tracks"] < expected["tracks"]
    assert on_disk["tracks"] == record["cameras"][0]["track_rows"], "run.json's account matches the disk"
    image_heatmap = {f"heatmaps/view001.image.{suffix}" for suffix in ("npy", "json", "png")}  # kept, as the rows
    assert set(record["cameras"][0]["outputs"]) == image_heatmap | {
        str(path.relative_to(out)) for name in DATASETS for path in (out / name).rglob("*.parquet")
    }
    assert not leftovers(out)


@contextmanager
def mounted_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "footfall-test", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_read_only_output_folder_is_refused_before_any_analysis(site, tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
        started = time.monotonic()
        result = subprocess.run(command(site, folder / "out"), capture_output=True, text=True, timeout=300)
        line = assert_one_clear_line(result, "cannot create output folder", "Read-only file system")
        assert time.monotonic() - started < 30, "refused before the footage was analysed"
        assert list(folder.iterdir()) == []
    with mounted_tmpfs(tmp_path / "ro2", "size=1m") as folder:
        (folder / "out").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        result = subprocess.run(command(site, folder / "out"), capture_output=True, text=True, timeout=300)
        line = assert_one_clear_line(result, "cannot write to output folder", "Read-only file system")
        assert "choose another --out" in line
        assert list((folder / "out").iterdir()) == []


def test_full_disk_before_the_run_is_one_line(site, tmp_path):
    with mounted_tmpfs(tmp_path / "tiny", "size=4k") as folder:
        (folder / "filler").write_bytes(b"\0" * 4096)
        result = subprocess.run(command(site, folder / "out"), capture_output=True, text=True, timeout=300)
        assert_one_clear_line(result, "No space left on device", "free some space")
        assert sorted(path.name for path in folder.rglob("*")) == ["filler"]


def test_disk_filling_up_during_the_run_leaves_no_temporary_files(site, tmp_path):
    with mounted_tmpfs(tmp_path / "small", "size=48k") as folder:
        out = folder / "out"
        result = subprocess.run(
            command(site, out, "--flush-interval", "1"), capture_output=True, text=True, timeout=300
        )
        assert_one_clear_line(result, "No space left on device")
        assert not leftovers(out), leftovers(out)
        record = run_record(out)  # readable: the last version that fitted
        assert record["status"] in {"running", "failed"}
        rows_on_disk(out)  # every part that is there reads


def test_overwrite_removes_only_what_the_earlier_run_wrote(site, uninterrupted, tmp_path):
    _, expected = uninterrupted
    out = tmp_path / "out"
    assert subprocess.run(command(site, out), capture_output=True, timeout=300).returncode == 0
    mine = [out / "notes.txt", out / "heatmaps" / "my-annotated.png", out / "events" / "README.md", out / "mot" / "x"]
    for path in mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine")
    earlier = run_record(out)
    result = subprocess.run(command(site, out, "--overwrite"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert all(path.read_text() == "mine" for path in mine)
    assert rows_on_disk(out) == expected
    later = run_record(out)
    assert later["run_id"] != earlier["run_id"]
    assert not list(out.rglob(f"part-{earlier['run_id']}-*"))


def test_umask_decides_the_permissions_of_outputs(site, tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(command(site, out), capture_output=True, text=True, timeout=300, umask=0o027)
    assert result.returncode == 0, result.stderr
    modes = {oct(path.stat().st_mode & 0o777) for path in out.rglob("*") if path.is_file()}
    assert modes == {oct(0o640)}, modes


def test_footage_with_nobody_in_it_writes_empty_datasets_with_their_schema(site, tmp_path):
    video = tmp_path / "empty-corridor.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=320x240:r=10", "-t", "3", "-pix_fmt",
         "yuv420p", str(video)],
        check=True,
    )  # fmt: skip
    out = tmp_path / "out"
    result = footfall("run", video, "--model", TFLITE_MODEL, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "0 tracks, 0 rows" in result.stdout
    dataset = ds.dataset(out / "tracks", format="parquet", partitioning="hive")
    assert dataset.count_rows() == 0
    assert {"track", "t", "x", "y", "camera"} <= set(dataset.schema.names)
    assert f"wrote {out / 'tracks'}" in result.stdout


class FailingDetector:
    """The real detector, with a fault injected after some frames: what an error footfall did not foresee (a bug,
    a runtime crash) looks like from inside a run."""

    def __init__(self, settings: DetectorSettings, fail_after: int = 60) -> None:
        self._detector = YoloDetector(settings)
        self.class_names, self.class_ids = self._detector.class_names, self._detector.class_ids
        self._left = fail_after

    def __call__(self, image: np.ndarray) -> Detections:
        self._left -= 1
        if self._left < 0:
            raise ZeroDivisionError("injected fault")
        return self._detector(image)


def test_an_unexpected_error_still_leaves_run_json_with_status_and_error(tmp_path):
    out = tmp_path / "out"
    jobs = [CameraJob(str(PETS_VIDEO), "view001"), CameraJob(str(PETS_VIDEO), "view002")]
    settings = RunSettings(detector=DetectorSettings(model=str(TFLITE_MODEL)), flush_interval_s=1.0)
    report = run_batch(jobs, settings, out, FailingDetector)
    record = run_record(out)
    assert report.status == record["status"] == "failed"
    first, second = record["cameras"]
    assert first["status"] == "failed"
    assert first["error"].startswith("unexpected error (ZeroDivisionError: injected fault)")
    assert first["frames_analysed"] == 60
    assert second["status"] == "failed", "the batch went on to the next input"
    rows = ds.dataset(out / "tracks", format="parquet", partitioning="hive").count_rows()
    assert rows == first["track_rows"] + second["track_rows"] > 0
    assert not leftovers(out)
