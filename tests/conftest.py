"""Shared fixtures: the real footage, models and calibration in ../shared (FOOTFALL_SHARED overrides)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers import (
    PERSON_PT_MODEL,
    PETS_GT,
    PETS_VIDEO,
    TFLITE_MODEL,
    VTEST_VIDEO,
    pets_calibration_document,
    remux_faststart,
)
from vision.perception.detector_base import ultralytics_installed


@pytest.fixture(scope="session")
def pets_calibration_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("calibration") / "view001.json"
    path.write_text(json.dumps(pets_calibration_document()))
    return path


def session_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder of this test session by that name, shared by its xdist workers (they share the parent of their
    base temporary folders), or of this process when there are none."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name


@pytest.fixture(scope="session")
def pets_site_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(site.yaml, OUT) of one `footfall run --site` of the PETS example site (tests.test_site_e2e.SITE_YAML) on the
    whole clip, shared by the tests that only read its outputs (and by every xdist worker: the first one to need it
    makes it while the others wait): do not write into OUT."""
    from filelock import FileLock

    from tests.test_site_e2e import SITE_YAML

    folder = session_folder(tmp_path_factory, "pets-site-run")
    folder.mkdir(exist_ok=True)
    site, out, made = folder / "site.yaml", folder / "out", folder / "made"
    with FileLock(str(folder / ".lock")):
        if not made.exists():
            (folder / "view001.json").write_text(json.dumps(pets_calibration_document()))
            site.write_text(SITE_YAML.format(video=PETS_VIDEO))
            command = [sys.executable, "-m", "vision", "run", "--site", str(site), "--model", str(TFLITE_MODEL),
                       "--out", str(out)]  # fmt: skip
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, result.stderr
            made.touch()
    return site, out


@pytest.fixture(scope="session")
def pets_short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PETS frames 1–140 (its first 20 s, 14 people tracked), copied without re-encoding. For the tests of what
    happens around a run (kills, reruns, chunks, workers, permissions), where the whole 57 s clip would only cost
    time; the accuracy tests use the whole clip."""
    folder = tmp_path_factory.mktemp("pets-short")
    return remux_faststart(PETS_VIDEO, folder / "pets09-s2l1_0001-0140.mp4", packets=140)


ULTRALYTICS_INSTALLED = ultralytics_installed()


def pytest_configure(config: pytest.Config) -> None:
    _pin_xdist_worker()
    config.addinivalue_line("markers", "needs_ultralytics: needs the footfall[ultralytics] extra (torch, Ultralytics)")
    config.addinivalue_line("markers", "lean_install: checks the install without the ultralytics extra")


def _pin_xdist_worker() -> None:
    """Under pytest-xdist, each worker (and every process it starts, which inherit it) gets its own share of the
    CPUs: footfall sizes its inference threads by the CPUs it may use (vision.core.cpus), so two workers on a
    2-CPU machine run one thread each instead of four threads fighting over two cores."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= count:
        os.sched_setaffinity(0, cpus[int(worker[2:]) :: count])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each install runs the tests it can: the lean one everything but the extra's tests, the one with the extra
    everything but the checks of the lean install. They are deselected, not skipped, and the count is said, so
    nothing passes unseen; CI runs both installs (.ci/run)."""
    unwanted = "lean_install" if ULTRALYTICS_INSTALLED else "needs_ultralytics"
    kept = [item for item in items if item.get_closest_marker(unwanted) is None]
    dropped = [item for item in items if item.get_closest_marker(unwanted) is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
        install = "with" if ULTRALYTICS_INSTALLED else "without"
        print(f"\nan install {install} the ultralytics extra: {len(dropped)} {unwanted} tests are for the other one")


def pytest_sessionstart(session: pytest.Session) -> None:
    if "FOOTFALL_CACHE_DIR" not in os.environ:  # exports of .pt weights go to a folder of this session, not ~/.cache
        os.environ["FOOTFALL_CACHE_DIR"] = tempfile.mkdtemp(prefix="footfall-test-cache-")
    missing = [p for p in (PETS_VIDEO, PETS_GT, TFLITE_MODEL, PERSON_PT_MODEL, VTEST_VIDEO) if not p.exists()]
    if missing:
        raise pytest.UsageError(
            f"test data missing: {', '.join(map(str, missing))}; set FOOTFALL_SHARED to the shared/ folder"
        )
