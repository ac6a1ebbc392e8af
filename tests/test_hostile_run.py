"""Hostile input to `footfall run` that must be refused before any footage is analysed: one `error:` line, no
traceback, a non-zero exit, and the output folder exactly as it was (absent, or holding only what was there)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.helpers import PETS_VIDEO, TFLITE_MODEL
from tests.test_bad_input import assert_one_clear_line, footfall


def snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def run(out: Path, *extra: str | Path, video: str | Path = PETS_VIDEO):
    return footfall("run", video, "--model", TFLITE_MODEL, "--out", out, *extra)


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (("--flush-interval", "0"), ("flush interval must be a positive number",)),
        (("--flush-interval", "nan"), ("flush interval must be a positive number",)),
        (("--flush-interval", "-5"), ("flush interval must be a positive number",)),
        (("--analysis-fps", "nan"), ("analysis fps must be a positive number",)),
        (("--analysis-fps", "inf"), ("analysis fps must be a positive number",)),
        (("--conf", "nan"), ("confidence threshold must be between 0 and 1",)),
        (("--imgsz", "320"), ("takes 640x640 pictures only", "leave out --imgsz")),
        (("--classes", " , "), ("at least one person class",)),
        (("--camera", "../../etc"), ("camera id",)),
        (("--camera", "x" * 300), ("camera id",)),
        (("--start", "2026-13-45T99:00:00Z"), ("not an ISO 8601 time",)),
        (("--start", "9999-12-31T23:00:00-14:00"), ("not a plausible recording time",)),
    ],
)
def test_bad_settings_leave_no_output_folder(tmp_path, extra, fragments):
    out = tmp_path / "out"
    assert_one_clear_line(run(out, *extra), *fragments)
    assert not out.exists()


def test_live_stream_in_run_is_explained_and_its_password_never_shown(tmp_path):
    out = tmp_path / "out"
    result = run(out, video="rtsp://admin:s3cret@192.168.1.64:554/Streaming/Channels/102")
    line = assert_one_clear_line(result, "not live streams", "ffmpeg")
    assert "s3cret" not in result.stderr + result.stdout and "admin" not in line
    assert not out.exists()


LEAN = pytest.mark.lean_install


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        # TensorRT engines load through Ultralytics only, and TensorRT is not installed on a CPU machine
        pytest.param("detector.engine", ("pip install tensorrt",), marks=pytest.mark.needs_ultralytics),
        pytest.param("detector.engine", ("is a .engine model, which needs the Ultralytics",), marks=LEAN),
        pytest.param("detector.onnx", ("needs onnxruntime", "pip install onnxruntime"), marks=LEAN),
        pytest.param("detector.xml", ("needs openvino", "pip install openvino"), marks=LEAN),
    ],
)
def test_model_without_its_runtime_names_the_package(tmp_path, name, fragments):
    model = tmp_path / name
    model.write_bytes(b"\x08\x07" + bytes(range(256)) * 4)
    result = footfall("run", PETS_VIDEO, "--model", model, "--out", tmp_path / "out")
    assert_one_clear_line(result, *fragments)
    assert not (tmp_path / "out").exists()


@pytest.mark.needs_ultralytics  # ONNX Runtime comes with the extras of the second CI install
def test_damaged_onnx_model_is_one_line(tmp_path):
    model = tmp_path / "detector.onnx"
    model.write_bytes(b"\x08\x07" + bytes(range(256)) * 4)
    result = footfall("run", PETS_VIDEO, "--model", model, "--out", tmp_path / "out")
    assert_one_clear_line(result, "is not an ONNX model ONNX Runtime can load", "detector.onnx")
    assert not (tmp_path / "out").exists()


def test_output_that_is_a_file(tmp_path):
    out = tmp_path / "out"
    out.write_text("my notes")
    assert_one_clear_line(run(out), "exists and is not a folder")
    assert out.read_text() == "my notes"


def test_output_below_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    assert_one_clear_line(run(tmp_path / "file" / "out"), "cannot create output folder")


def test_unreadable_run_json_is_not_overwritten_silently(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text("{ not json")
    before = snapshot(out)
    assert_one_clear_line(run(out), "already holds a run", "unreadable", "--overwrite")
    assert snapshot(out) == before


def test_stray_parts_of_an_unrecorded_run_are_refused_then_removed_alone_by_overwrite(tmp_path):
    """Part files without a run.json (e.g. left by an older version killed mid-run): refused, and --overwrite
    removes only those part files, not a user's own file beside them."""
    out = tmp_path / "out"
    stray = out / "tracks" / "camera=cam" / "date=2026-11-22" / "part-0123456789ab-0-00000.parquet"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"PAR1")
    mine = out / "tracks" / "camera=cam" / "my-notes.txt"
    mine.write_text("mine")
    before = snapshot(out)
    assert_one_clear_line(run(out), "part files without a run.json", "--overwrite")
    assert snapshot(out) == before
    result = run(out, "--overwrite", "--analysis-fps", "1")
    assert result.returncode == 0, result.stderr
    assert not stray.exists() and mine.read_text() == "mine"
    dataset = ds.dataset(out / "tracks", format="parquet", partitioning="hive", exclude_invalid_files=True)
    assert dataset.count_rows() == json.loads((out / "run.json").read_text())["cameras"][0]["track_rows"]


def test_run_json_listing_paths_outside_the_folder_removes_nothing_outside(tmp_path):
    """A hostile run.json cannot make --overwrite delete files outside OUT."""
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    record = {"run_id": "0123456789ab", "status": "complete", "cameras": [{"outputs": ["../precious.txt"]}]}
    (out / "run.json").write_text(json.dumps(record))
    result = run(out, "--overwrite", "--analysis-fps", "1")
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "keep me"
