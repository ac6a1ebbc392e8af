"""Shared fixtures: the real footage, models and calibration in ../shared (FOOTFALL_SHARED overrides)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from tests.helpers import PERSON_PT_MODEL, PETS_GT, PETS_VIDEO, TFLITE_MODEL, VTEST_VIDEO, pets_calibration_document


@pytest.fixture(scope="session")
def pets_calibration_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("calibration") / "view001.json"
    path.write_text(json.dumps(pets_calibration_document()))
    return path


def pytest_sessionstart(session: pytest.Session) -> None:
    if "FOOTFALL_CACHE_DIR" not in os.environ:  # exports of .pt weights go to a folder of this session, not ~/.cache
        os.environ["FOOTFALL_CACHE_DIR"] = tempfile.mkdtemp(prefix="footfall-test-cache-")
    missing = [p for p in (PETS_VIDEO, PETS_GT, TFLITE_MODEL, PERSON_PT_MODEL, VTEST_VIDEO) if not p.exists()]
    if missing:
        raise pytest.UsageError(
            f"test data missing: {', '.join(map(str, missing))}; set FOOTFALL_SHARED to the shared/ folder"
        )
