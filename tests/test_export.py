"""The export cache: .pt weights exported once (for real, to OpenVINO / ONNX), reused, keyed by settings, never half
written. The model is YOLO11n built from `yolo11n.yaml` (random weights, real architecture) at a small input size."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import pytest

from tests.helpers import PETS, PETS_FIRST_FRAME, REPO
from vision.core.errors import ModelError
from vision.perception.detect import DetectorSettings, build_detector
from vision.perception.export import ExportSettings, cache_dir, runtime_model

pytestmark = pytest.mark.needs_ultralytics

IMGSZ = 160
LOGGER = "vision.perception.export"


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("weights") / "yolo11n_random.pt"
    YOLO("yolo11n.yaml").save(str(path))
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("FOOTFALL_CACHE_DIR", str(folder))
    return folder


def entries(cache: Path) -> list[Path]:
    return sorted(cache.iterdir()) if cache.exists() else []


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER]


def test_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FOOTFALL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "footfall" / "exports"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "footfall" / "exports"
    monkeypatch.setenv("FOOTFALL_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_pt_weights_are_exported_once_then_reused_by_the_detector(
    weights: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    detector = build_detector(DetectorSettings(model=str(weights), classes=("0",), imgsz=IMGSZ))
    exported = Path(detector.model_path)
    assert exported.parent.parent == cache
    assert exported.name.endswith("_openvino_model") and (exported / "yolo11n_random.xml").is_file()
    assert any(m.startswith("exporting") for m in messages(caplog))
    record = json.loads((exported.parent / "export.json").read_text())
    assert record["format"] == "openvino" and record["imgsz"] == IMGSZ and record["int8"] is False
    assert len(record["weights_sha256"]) == 64 and record["versions"]["ultralytics"]
    made_at = (exported.parent / "export.json").stat().st_mtime_ns
    frame = cv2.imread(str(PETS_FIRST_FRAME))
    detector(frame)  # runs in OpenVINO; random weights, so what it finds means nothing

    caplog.clear()
    again = build_detector(DetectorSettings(model=str(weights), classes=("0",), imgsz=IMGSZ))
    assert again.model_path == detector.model_path
    assert [m for m in messages(caplog) if m.startswith("using the cached openvino export")]
    assert not [m for m in messages(caplog) if m.startswith("exporting")]
    assert (exported.parent / "export.json").stat().st_mtime_ns == made_at
    assert len(entries(cache)) == 1, "one entry, no temporary folder left"


def test_export_none_keeps_pytorch_and_other_formats_pass_through(weights: Path, cache: Path) -> None:
    assert runtime_model(str(weights), ExportSettings("none", IMGSZ)) == str(weights)
    assert runtime_model("model.onnx", ExportSettings("auto", IMGSZ)) == "model.onnx"
    assert not cache.exists()


def test_different_settings_make_different_entries(weights: Path, cache: Path) -> None:
    small = runtime_model(str(weights), ExportSettings("openvino", IMGSZ))
    larger = runtime_model(str(weights), ExportSettings("openvino", IMGSZ + 32))
    onnx = runtime_model(str(weights), ExportSettings("onnx", IMGSZ))
    assert len({small, larger, onnx}) == 3
    assert onnx.endswith(".onnx") and Path(onnx).is_file()
    assert [p.name.split("-")[1:3] for p in entries(cache)] == [
        ["onnx", "160"],
        ["openvino", "160"],
        ["openvino", "192"],
    ]
    assert runtime_model(str(weights), ExportSettings("auto", IMGSZ)) == small, "auto is OpenVINO"


def test_int8_is_calibrated_on_the_footage_and_keyed_by_it(weights: Path, cache: Path, tmp_path: Path) -> None:
    frames = PETS / "frames"  # three PETS frames
    int8 = runtime_model(str(weights), ExportSettings("openvino", IMGSZ, int8=True, calibration=(str(frames),)))
    assert Path(int8).name.endswith("_int8_openvino_model")
    record = json.loads((Path(int8).parent / "export.json").read_text())
    assert record["int8"] is True and len(record["calibration_sha256"]) == 64
    other = tmp_path / "other_frames"
    other.mkdir()
    (other / "one.jpg").write_bytes(PETS_FIRST_FRAME.read_bytes())
    recalibrated = runtime_model(str(weights), ExportSettings("openvino", IMGSZ, int8=True, calibration=(str(other),)))
    assert recalibrated != int8
    detector = build_detector(
        DetectorSettings(
            model=str(weights), classes=("0",), imgsz=IMGSZ, int8=True, calibration=(str(frames),), export="openvino"
        )
    )
    assert str(detector.model_path) == int8, "the same footage reuses the INT8 export"


def test_int8_without_footage_or_export_is_refused(weights: Path, cache: Path) -> None:
    with pytest.raises(ModelError, match="calibrated on frames of the footage"):
        runtime_model(str(weights), ExportSettings("openvino", IMGSZ, int8=True))
    with pytest.raises(ValueError, match="INT8 quantisation needs an export"):
        DetectorSettings(model=str(weights), export="none", int8=True)
    with pytest.raises(ValueError, match="export must be one of"):
        DetectorSettings(model=str(weights), export="tensorrt")
    assert not cache.exists()


def test_a_killed_exports_leftovers_are_removed_and_a_running_ones_kept(weights: Path, cache: Path) -> None:
    cache.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = cache / f".tmp-{dead.stdout.strip()}-abc123"  # that process has exited: its export died with it
    (killed / "work").mkdir(parents=True)
    (killed / "work" / "half.onnx").write_bytes(b"\x00" * 100)
    running = cache / f".tmp-{os.getppid()}-def456"  # a live process: an export in progress
    running.mkdir()
    exported = runtime_model(str(weights), ExportSettings("openvino", IMGSZ))
    assert not killed.exists()
    assert running.exists()
    assert sorted(p.name for p in entries(cache)) == sorted([running.name, Path(exported).parent.name])


def test_two_processes_exporting_at_once_share_one_complete_entry(weights: Path, cache: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from vision.perception.export import ExportSettings, runtime_model
        print(runtime_model({str(weights)!r}, ExportSettings("openvino", {IMGSZ})))
        """
    )
    env = {**os.environ, "FOOTFALL_CACHE_DIR": str(cache)}
    processes = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(2)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err.decode()[-500:] for _, err in results]
    paths = {out.decode().strip().splitlines()[-1] for out, _ in results}
    assert len(paths) == 1
    assert [p.name for p in entries(cache)] == [Path(paths.pop()).parent.name], "one entry, no temporary folder"


def test_a_corrupt_pt_file_gives_one_clear_line_and_leaves_nothing(tmp_path: Path, cache: Path) -> None:
    corrupt = tmp_path / "weights.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a checkpoint" * 10)
    with pytest.raises(ModelError) as error:
        runtime_model(str(corrupt), ExportSettings("openvino", IMGSZ))
    message = str(error.value)
    assert "weights.pt is not a model Ultralytics can load" in message
    assert "\n" not in message
    assert entries(cache) == [], "no cache entry and no temporary folder"
    with pytest.raises(ModelError, match=r"missing\.pt not found"):
        runtime_model(str(tmp_path / "missing.pt"), ExportSettings("openvino", IMGSZ))
