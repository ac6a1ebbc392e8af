"""Shared fixtures: the real footage, models and calibration in ../shared (FOOTFALL_SHARED overrides)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOOTFALL_SHARED", REPO.parent / "shared"))
PETS = SHARED / "data" / "pets09-s2l1"
PETS_VIDEO = PETS / "pets09-s2l1_0001-0400.mp4"
PETS_GT = PETS / "gt_0001-0400.txt"
PETS_OPENCV_CALIBRATION = PETS / "calibration" / "view001_opencv.json"
VTEST_VIDEO = SHARED / "data" / "vtest" / "vtest_480x360.avi"
TFLITE_MODEL = SHARED / "models" / "yolov8n_int8.tflite"
PERSON_PT_MODEL = SHARED / "models" / "person_yolov8s.pt"


def pets_calibration_document() -> dict:
    view = json.loads(PETS_OPENCV_CALIBRATION.read_text())["View_001"]
    return {
        "format": "footfall-calibration",
        "version": 1,
        "model": "opencv",
        "camera": "view001",
        "image_size": [768, 576],
        "units": "mm",
        **view,
    }


@pytest.fixture(scope="session")
def pets_calibration_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("calibration") / "view001.json"
    path.write_text(json.dumps(pets_calibration_document()))
    return path


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = [p for p in (PETS_VIDEO, PETS_GT, TFLITE_MODEL, PERSON_PT_MODEL, VTEST_VIDEO) if not p.exists()]
    if missing:
        raise pytest.UsageError(
            f"test data missing: {', '.join(map(str, missing))}; set FOOTFALL_SHARED to the shared/ folder"
        )
