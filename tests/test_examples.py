"""The example site in examples/pets: with the calibration its README's first command makes, it validates, the
calibration is PETS View 001's, and a run of it gives the floor heatmaps, the visits and the image heatmap
(analysed at 3 fps to keep the test short)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.helpers import PETS_OPENCV_JSON, PETS_VIDEO, REPO, TFLITE_MODEL, pets_calibration_document
from vision.config.site import load_site_config

EXAMPLE = REPO / "examples" / "pets"


def footfall(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vision", *map(str, args)], capture_output=True, text=True, timeout=600, cwd=REPO
    )


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's site.yaml in a folder of its own, with the calibration made by the README's first command
    (the repository ships no data from shared/) and the source pointing at the footage wherever it is."""
    folder = tmp_path_factory.mktemp("example")
    made = subprocess.run(
        [sys.executable, "scripts/wrap_opencv_calibration.py", str(PETS_OPENCV_JSON), "--units", "mm",
         "--image-size", "768x576", "--camera", "view001", "--out", str(folder / "view001.json")],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    text = (EXAMPLE / "site.yaml").read_text(encoding="utf-8")
    assert "../../../shared/data/pets09-s2l1/pets09-s2l1_0001-0400.mp4" in text
    site = folder / "site.yaml"
    site.write_text(text.replace("../../../shared/data/pets09-s2l1/pets09-s2l1_0001-0400.mp4", str(PETS_VIDEO)))
    return site


def test_example_site_validates_and_names_the_pets_clip(example_site):
    result = footfall("validate", example_site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "site pets-campus (Europe/London)"
    assert result.stdout.splitlines()[-1] == "ok"
    config = load_site_config(example_site)
    assert Path(config.cameras[0].source).resolve() == PETS_VIDEO.resolve()
    calibration = json.loads((example_site.parent / "view001.json").read_text(encoding="utf-8"))
    assert {key: value for key, value in calibration.items() if key != "camera"} == pets_calibration_document()


def test_example_site_run_gives_floor_heatmaps_visits_and_the_image_heatmap(example_site, tmp_path):
    out = tmp_path / "pets-site"
    result = footfall(
        "run", "--site", example_site, "--model", TFLITE_MODEL, "--analysis-fps", "3", "--out", out
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    heatmaps = out / "heatmaps"
    for name in ("view001", "site"):
        grid = np.load(heatmaps / f"{name}.npy")
        assert grid.shape == (96, 80) and grid.sum() > 100, "a 0.25 m grid over 20 x 24 m, people on it"
        assert cv2.imread(str(heatmaps / f"{name}.png")) is not None
    assert cv2.imread(str(heatmaps / "view001.image.png")) is not None
    image = json.loads((heatmaps / "view001.image.json").read_text())
    assert image["timezone"] == "Europe/London" and image["period"]["start"] == "2009-03-12T10:00:00+00:00"
    visits = pq.read_table(out / "visits").to_pandas()
    assert set(visits["zone"]) == {"north", "centre", "south"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lines"]["crossing"]["in"] > 0
