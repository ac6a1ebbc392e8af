"""Bad input through the real command: one clear line on stderr, a non-zero exit, no traceback, and nothing
written that could pass for a result."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PETS_VIDEO, TFLITE_MODEL, VTEST_VIDEO


def footfall(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vision", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def assert_one_clear_line(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    video_bytes = PETS_VIDEO.read_bytes()
    files = {
        "truncated": folder / "truncated.mp4",
        "not_video": folder / "notes.mp4",
        "empty": folder / "empty.avi",
        "fake_pt": folder / "weights.pt",
        "fake_tflite": folder / "weights.tflite",
        "bad_json": folder / "broken.json",
        "short_matrix": folder / "short.json",
        "foreign_calibration": folder / "foreign.json",
    }
    files["truncated"].write_bytes(video_bytes[: len(video_bytes) // 2])
    files["not_video"].write_text("this is not a video\n")
    files["empty"].write_bytes(b"")
    files["fake_pt"].write_text("not weights")
    files["fake_tflite"].write_bytes(b"\x00" * 512)
    files["bad_json"].write_text('{"format": "footfall-calibration", "version": 1,')
    files["short_matrix"].write_text(
        json.dumps({"format": "footfall-calibration", "version": 1, "model": "homography", "homography": [[1, 0, 0]]})
    )
    shutil.copy(PETS_VIDEO.parent / "calibration" / "view001_opencv.json", files["foreign_calibration"])
    return files


def run_args(video: Path, out: Path, *extra: str | Path) -> list[str | Path]:
    return ["run", video, "--model", TFLITE_MODEL, "--out", out, *extra]


@pytest.mark.parametrize(
    ("video_key", "fragments"),
    [
        ("truncated", ("truncated.mp4", "not a readable video", "truncated")),
        ("not_video", ("notes.mp4", "not a readable video")),
        ("empty", ("empty.avi", "not a readable video")),
    ],
)
def test_unreadable_video(bad_files, tmp_path, video_key, fragments):
    out = tmp_path / "out"
    result = footfall(*run_args(bad_files[video_key], out))
    assert_one_clear_line(result, *fragments)
    assert not out.exists(), "nothing is written when no input could be read"


def test_missing_video(tmp_path):
    result = footfall(*run_args(tmp_path / "nowhere.mp4", tmp_path / "out"))
    assert_one_clear_line(result, "nowhere.mp4: no such file or folder")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("model_key", "fragments"),
    [
        pytest.param(
            "fake_pt", ("weights.pt is not a model Ultralytics can load",), marks=pytest.mark.needs_ultralytics
        ),
        pytest.param(
            "fake_pt",
            ("weights.pt is PyTorch weights, which needs the Ultralytics extra", "pip install 'footfall[ultralytics]'"),
            marks=pytest.mark.lean_install,
        ),
        ("fake_tflite", ("weights.tflite is not a TFLite model LiteRT can load",)),
    ],
)
def test_file_that_is_not_a_model(bad_files, tmp_path, model_key, fragments):
    out = tmp_path / "out"
    result = footfall("run", PETS_VIDEO, "--model", bad_files[model_key], "--out", out)
    assert_one_clear_line(result, *fragments)
    assert not out.exists()


def test_missing_model_file(tmp_path):
    result = footfall("run", PETS_VIDEO, "--model", tmp_path / "missing.pt", "--out", tmp_path / "out")
    assert_one_clear_line(result, "missing.pt not found", "--model")


@pytest.mark.lean_install
def test_a_model_name_without_the_ultralytics_extra_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = footfall("run", PETS_VIDEO, "--model", "yolo11n.pt", "--out", tmp_path / "out")
    assert_one_clear_line(result, "yolo11n.pt is a model name, which needs the Ultralytics extra", "yolo export")
    assert not (tmp_path / "out").exists()


@pytest.mark.needs_ultralytics
def test_model_name_that_cannot_be_downloaded_offline(tmp_path, monkeypatch):
    # This machine has no internet, and CI neither: Ultralytics' download of its default model fails for real.
    monkeypatch.chdir(tmp_path)
    result = footfall("run", PETS_VIDEO, "--model", "yolo11n.pt", "--out", tmp_path / "out")
    assert_one_clear_line(result, "could not download model 'yolo11n.pt'", "--model PATH")
    assert not (tmp_path / "yolo11n.pt").exists()


def test_unknown_person_class(tmp_path):
    result = footfall(*run_args(PETS_VIDEO, tmp_path / "out", "--classes", "Normal"))
    assert_one_clear_line(result, "no class named Normal", "person", "--classes")


@pytest.mark.parametrize(
    ("calibration_key", "fragments"),
    [
        ("bad_json", ("broken.json: not valid JSON", "line 1")),
        ("short_matrix", ("short.json: field homography",)),
        ("foreign_calibration", ("foreign.json: not a footfall calibration", "README")),
    ],
)
def test_malformed_calibration(bad_files, tmp_path, calibration_key, fragments):
    out = tmp_path / "out"
    result = footfall(*run_args(PETS_VIDEO, out, "--calibration", bad_files[calibration_key]))
    assert_one_clear_line(result, *fragments)
    assert not out.exists()


def test_calibration_for_another_resolution(tmp_path, pets_calibration_file):
    result = footfall(*run_args(VTEST_VIDEO, tmp_path / "out", "--calibration", pets_calibration_file))
    assert_one_clear_line(result, "768x576", "480x360")


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--start", "yesterday", "not an ISO 8601 time"),
        ("--start", "2026-11-22T09:30:00", "has no time zone"),
        ("--analysis-fps", "0", "analysis fps must be a positive number"),
        ("--conf", "1.5", "confidence threshold must be between 0 and 1"),
        ("--imgsz", "100", "multiple of 32"),
        ("--camera", "front door", "camera id 'front door'"),
        ("--track-buffer", "-1", "track buffer"),
    ],
)
def test_bad_options(tmp_path, option, value, fragment):
    result = footfall(*run_args(PETS_VIDEO, tmp_path / "out", option, value))
    assert_one_clear_line(result, fragment)
    assert not (tmp_path / "out").exists()


def test_batch_goes_on_past_a_bad_file(bad_files, tmp_path):
    """Two short clips of real footage around one bad file: the good ones are analysed, the bad one reported,
    and the exit status and run.json say that not everything went through."""
    out = tmp_path / "out"
    result = footfall(
        "run", bad_files["not_video"], PETS_VIDEO, "--model", TFLITE_MODEL, "--analysis-fps", "0.5", "--out", out
    )
    assert result.returncode == 1
    assert "notes.mp4: not a readable video" in result.stderr
    assert "pets09-s2l1_0001-0400: analysed 29 of 400 frames" in result.stdout
    report = json.loads((out / "run.json").read_text())
    assert report["status"] == "partial"
    assert [camera["status"] for camera in report["cameras"]] == ["failed", "complete"]
    assert list((out / "tracks").glob("camera=pets09-s2l1_0001-0400/date=*/part-*.parquet"))


def faststart_copy(source: Path, target: Path) -> None:
    """Remuxes `source` with its index (moov) first, as streaming recorders write: cut short, such a file still
    opens and plays up to the cut."""
    import av

    with av.open(str(source)) as reader, av.open(str(target), "w", options={"movflags": "faststart"}) as writer:
        video_in = reader.streams.video[0]
        video_out = writer.add_stream_from_template(video_in)
        for packet in reader.demux(video_in):
            if packet.dts is None:
                continue
            packet.stream = video_out
            writer.mux(packet)


def test_video_cut_short_keeps_what_was_analysed_and_says_so(tmp_path):
    complete = tmp_path / "complete.mp4"
    faststart_copy(PETS_VIDEO, complete)
    data = complete.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    result = footfall(*run_args(cut, out, "--analysis-fps", "2"))
    line = assert_one_clear_line(result, "cut.mp4: the video ends after", "of the 400 frames", "truncated")
    assert "[partial:" in line
    report = json.loads((out / "run.json").read_text())
    assert report["status"] == "partial"
    camera = report["cameras"][0]
    assert 150 < camera["frames_read"] < 250
    assert camera["track_rows"] > 0
    assert list((out / "tracks").rglob("part-*.parquet"))
