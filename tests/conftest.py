"""Shared fixtures: the real footage, models and calibration in ../shared (FOOTFALL_SHARED overrides)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers import PERSON_PT_MODEL, PETS_GT, PETS_VIDEO, TFLITE_MODEL, VTEST_VIDEO, pets_calibration_document


@pytest.fixture(scope="session")
def pets_calibration_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("calibration") / "view001.json"
    path.write_text(json.dumps(pets_calibration_document()))
    return path


@pytest.fixture(scope="session")
def pets_site_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(site.yaml, OUT) of one `footfall run --site` of the PETS example site (tests.test_site_e2e.SITE_YAML) on the
    whole clip, shared by the tests that only read its outputs: do not write into OUT."""
    from tests.test_site_e2e import SITE_YAML

    folder = tmp_path_factory.mktemp("site")
    (folder / "view001.json").write_text(json.dumps(pets_calibration_document()))
    site = folder / "site.yaml"
    site.write_text(SITE_YAML.format(video=PETS_VIDEO))
    out = folder / "out"
    command = [sys.executable, "-m", "vision", "run", "--site", str(site), "--model", str(TFLITE_MODEL), "--out",
               str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return site, out


def pytest_sessionstart(session: pytest.Session) -> None:
    if "FOOTFALL_CACHE_DIR" not in os.environ:  # exports of .pt weights go to a folder of this session, not ~/.cache
        os.environ["FOOTFALL_CACHE_DIR"] = tempfile.mkdtemp(prefix="footfall-test-cache-")
    missing = [p for p in (PETS_VIDEO, PETS_GT, TFLITE_MODEL, PERSON_PT_MODEL, VTEST_VIDEO) if not p.exists()]
    if missing:
        raise pytest.UsageError(
            f"test data missing: {', '.join(map(str, missing))}; set FOOTFALL_SHARED to the shared/ folder"
        )
