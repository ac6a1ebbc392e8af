"""scripts/make_two_camera_set.py: the two crops' calibrations put one person at one place on the floor, the one the
PETS ground truth gives, and each crop's ground truth is that crop's people, in its pixels."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from tests.helpers import PETS_GT, REPO
from vision.config.calibration_file import load_calibration, projector_from_calibration


def builder():
    spec = importlib.util.spec_from_file_location("make_two_camera_set", REPO / "scripts" / "make_two_camera_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_crops_put_a_person_where_the_ground_truth_does(tmp_path: Path) -> None:
    make = builder()
    gt = np.loadtxt(PETS_GT, delimiter=",")
    gt = gt[gt[:, 6] == 1]
    floor = {}
    for camera, columns, skip in (("left", (0, 480), 0), ("right", (300, 768), 7)):
        make.crop_calibration(tmp_path / f"{camera}.json", columns, camera)
        calibration = load_calibration(tmp_path / f"{camera}.json")
        assert list(calibration.image_size) == [columns[1] - columns[0], 576]
        rows = make.crop_truth(gt, columns, skip)
        feet = np.column_stack([rows[:, 2] + rows[:, 4] / 2, rows[:, 3] + rows[:, 5]])
        assert (feet[:, 0] >= 0).all() and (feet[:, 0] <= columns[1] - columns[0]).all()
        assert rows[:, 0].min() >= 1 and rows[:, 0].max() <= 400 - skip
        projected = projector_from_calibration(calibration).to_floor(feet)
        # The PETS ground truth's own foot points land a median 0.11 m from its world positions (README Accuracy)
        error = np.linalg.norm(projected - rows[:, 7:9], axis=1)
        assert np.median(error) < 0.15, np.median(error)
        floor[camera] = projector_from_calibration(calibration)
    # A person wholly inside the overlap (no box cut by a crop's edge), seen by both at once: one place on the floor
    inside = gt[(gt[:, 2] >= 300) & (gt[:, 2] + gt[:, 4] <= 480)]
    assert len(inside) > 200
    feet = np.column_stack([inside[:, 2] + inside[:, 4] / 2, inside[:, 3] + inside[:, 5]])
    left = floor["left"].to_floor(feet)
    right = floor["right"].to_floor(feet - [300, 0])
    assert np.abs(left - right).max() < 1e-6
