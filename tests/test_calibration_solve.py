"""The homography solver: exact recovery, robustness to an outlier, degenerate inputs, lens distortion, and the
`solve` command on real PETS point pairs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from calibration.solve import (
    PointPairs,
    error_table,
    estimate_intrinsics,
    fit_homography,
    read_point_pairs_csv,
    write_point_pairs_csv,
)
from calibration.solve_cli import solve_command
from tests.helpers import ground_truth_feet, pets_ground_truth, pets_view001
from vision.config.calibration_file import load_calibration, projector_from_calibration
from vision.core.errors import CalibrationError

KNOWN_H = np.array([[0.02, 0.004, -3.0], [-0.001, 0.03, -5.0], [0.00001, 0.0004, 1.0]])


def image_points_for(floor_xy: np.ndarray, homography: np.ndarray = KNOWN_H) -> np.ndarray:
    inverse = np.linalg.inv(homography)
    homogeneous = np.column_stack([floor_xy, np.ones(len(floor_xy))]) @ inverse.T
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def floor_grid(count: int = 12, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform([0.5, 1.0], [8.0, 9.0], size=(count, 2))


def test_exact_recovery_of_a_known_homography():
    floor = floor_grid()
    fit = fit_homography(image_points_for(floor), floor)
    np.testing.assert_allclose(fit.homography / fit.homography[2, 2], KNOWN_H / KNOWN_H[2, 2], rtol=1e-4, atol=1e-9)
    assert fit.rms_m < 1e-6
    assert fit.inliers.all()
    np.testing.assert_allclose(fit.projector().to_floor(image_points_for(floor)), floor, atol=1e-6)


def test_four_pairs_are_enough():
    floor = np.array([[0.0, 0.0], [5.0, 0.0], [5.0, 4.0], [0.0, 4.0]])
    fit = fit_homography(image_points_for(floor), floor)
    assert fit.rms_m < 1e-6


def test_an_outlier_is_flagged_and_does_not_spoil_the_fit():
    floor = floor_grid(10)
    image = image_points_for(floor)
    image[3] += [60.0, -40.0]  # a pair clicked at the wrong place
    fit = fit_homography(image, floor)
    assert not fit.inliers[3]
    assert fit.inliers.sum() == 9
    assert fit.errors_m[3] > 1.0
    assert fit.rms_m < 1e-6
    assert "OUTLIER" in error_table(fit).splitlines()[4]


@pytest.mark.parametrize(
    ("image", "floor", "fragment"),
    [
        ([[0, 0], [10, 0], [0, 10]], [[0, 0], [1, 0], [0, 1]], "3 point pairs given; at least 4"),
        ([[0, 0], [10, 0], [20, 0], [30, 0.01]], [[0, 0], [1, 0], [0, 1], [1, 1]], "the image points lie on one line"),
        ([[0, 0], [10, 0], [0, 10], [10, 10]], [[0, 0], [1, 1], [2, 2], [3, 3]], "the floor points lie on one line"),
        ([[0, 0], [10, 0], [0, 10], [0.2, 0.3]], [[0, 0], [1, 0], [0, 1], [1, 1]], "pairs 1 and 4 have the same image"),
        ([[0, 0], [10, 0], [0, 10], [10, 10]], [[0, 0], [1, 0], [1, 0], [1, 1]], "pairs 2 and 3 have the same floor"),
        ([[0, 0], [10, 0], [0, 10], [np.nan, 10]], [[0, 0], [1, 0], [0, 1], [1, 1]], "missing or non-numeric"),
    ],
)
def test_degenerate_inputs_are_refused(image, floor, fragment):
    with pytest.raises(CalibrationError, match=None) as caught:
        fit_homography(np.array(image, dtype=float), np.array(floor, dtype=float))
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_fit_far_too_wrong_is_refused():
    rng = np.random.default_rng(7)
    image = rng.uniform(0, 700, size=(8, 2))
    floor = rng.uniform(0, 30, size=(8, 2))  # pairs that have nothing to do with each other
    with pytest.raises(CalibrationError) as caught:
        fit_homography(image, floor, max_rms_m=0.5)
    assert "pairs agree on one mapping" in str(caught.value)


def test_a_fit_whose_error_is_too_large_is_refused():
    floor = floor_grid(8)
    image = image_points_for(floor) + np.random.default_rng(2).normal(0, 8, size=(8, 2))  # sloppy clicks
    fit = fit_homography(image, floor, max_rms_m=5.0)
    with pytest.raises(CalibrationError) as caught:
        fit_homography(image, floor, max_rms_m=fit.rms_m / 2)
    assert f"limit {fit.rms_m / 2:g} m" in str(caught.value) and "worst at pair" in str(caught.value)


def pets_pairs(count: int = 12) -> PointPairs:
    """Ground-truth foot points and world positions from frames spread over the PETS clip."""
    gt = pets_ground_truth()
    rows = gt[np.linspace(0, len(gt) - 1, count).astype(int)]
    return PointPairs(ground_truth_feet(rows), rows[:, 7:9])


def test_real_pets_pairs_give_a_fit_good_to_a_few_centimetres():
    pairs = pets_pairs(16)
    fit = fit_homography(pairs.image_uv, pairs.floor_xy)
    assert fit.rms_m < 0.12
    gt = pets_ground_truth()
    floor = fit.projector().to_floor(ground_truth_feet(gt))
    assert np.median(np.linalg.norm(floor - gt[:, 7:9], axis=1)) < 0.1


def distorted_pets_pairs(count: int = 20) -> tuple[PointPairs, np.ndarray, np.ndarray]:
    """Floor points seen through the real PETS camera, lens distortion included (k1 = -0.15)."""
    view = pets_view001()
    camera_matrix, distortion = np.array(view["K"]), np.array(view["dist"])
    rvec, _ = cv2.Rodrigues(np.array(view["R"]))
    floor = np.random.default_rng(3).uniform([-13, -15], [4, 6], size=(count, 2))
    world_mm = np.column_stack([floor * 1000, np.zeros(count)])
    image, _ = cv2.projectPoints(world_mm, rvec, np.array(view["t"]), camera_matrix, distortion)
    image = image.reshape(-1, 2)
    inside = (image[:, 0] > 0) & (image[:, 0] < 768) & (image[:, 1] > 0) & (image[:, 1] < 576)
    return PointPairs(image[inside], floor[inside]), camera_matrix, distortion


def test_given_intrinsics_remove_the_lens_distortion_before_the_fit():
    pairs, camera_matrix, distortion = distorted_pets_pairs()
    plain = fit_homography(pairs.image_uv, pairs.floor_xy)
    undistorted = fit_homography(pairs.image_uv, pairs.floor_xy, camera_matrix, distortion)
    assert undistorted.rms_m < 1e-3 < plain.rms_m
    document = undistorted.calibration_document((768, 576), "view001")
    assert document["intrinsics"]["K"] == camera_matrix.tolist()


def test_distortion_estimated_from_enough_points_beats_none():
    pairs, _, _ = distorted_pets_pairs(40)
    camera_matrix, distortion = estimate_intrinsics(pairs, (768, 576))
    assert distortion[0] < -0.05, "the barrel distortion of the PETS lens is found"
    estimated = fit_homography(pairs.image_uv, pairs.floor_xy, camera_matrix, distortion)
    plain = fit_homography(pairs.image_uv, pairs.floor_xy)
    assert estimated.rms_m < plain.rms_m / 2


def test_estimating_distortion_needs_enough_points():
    pairs, _, _ = distorted_pets_pairs()
    with pytest.raises(CalibrationError, match="at least 8 point pairs"):
        estimate_intrinsics(PointPairs(pairs.image_uv[:5], pairs.floor_xy[:5]), (768, 576))


def test_points_csv_round_trip_and_errors(tmp_path: Path):
    pairs = pets_pairs(6)
    path = tmp_path / "points.csv"
    write_point_pairs_csv(path, pairs)
    again = read_point_pairs_csv(path)
    np.testing.assert_allclose(again.image_uv, pairs.image_uv, atol=1e-3)
    np.testing.assert_allclose(again.floor_xy, pairs.floor_xy, atol=1e-4)
    (tmp_path / "bad.csv").write_text("u,v,x\n1,2,3\n")
    with pytest.raises(CalibrationError, match="missing y"):
        read_point_pairs_csv(tmp_path / "bad.csv")
    (tmp_path / "text.csv").write_text("u,v,x,y\n1,2,3,4\n1,two,3,4\n")
    with pytest.raises(CalibrationError, match=r"text.csv:3: u, v, x and y must be numbers"):
        read_point_pairs_csv(tmp_path / "text.csv")
    with pytest.raises(CalibrationError, match="no such points file"):
        read_point_pairs_csv(tmp_path / "missing.csv")


def solve_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(solve_command)
    return app


def test_solve_command_prints_the_error_table_and_writes_a_loadable_calibration(tmp_path: Path):
    points = tmp_path / "points.csv"
    write_point_pairs_csv(points, pets_pairs(12))
    out = tmp_path / "calib.json"
    result = CliRunner().invoke(solve_app(), [str(points), "--out", str(out), "--image-size", "768x576"])
    assert result.exit_code == 0, result.output
    assert "RMS over 12 inliers" in result.output
    assert len([line for line in result.output.splitlines() if line.strip().endswith("ok")]) == 12
    calibration = load_calibration(out)
    assert calibration.image_size == [768, 576]
    gt = pets_ground_truth()
    floor = projector_from_calibration(calibration).to_floor(ground_truth_feet(gt))
    assert np.median(np.linalg.norm(floor - gt[:, 7:9], axis=1)) < 0.1
    assert json.loads(out.read_text())["rms_error_m"] < 0.12


def test_solve_command_refuses_too_few_points_in_one_line(tmp_path: Path):
    points = tmp_path / "points.csv"
    points.write_text("u,v,x,y\n1,2,0,0\n5,2,1,0\n1,9,0,1\n")
    result = CliRunner().invoke(solve_app(), [str(points), "--out", str(tmp_path / "calib.json")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: 3 point pairs given; at least 4 are needed (more, spread over the floor, give a better fit)"
    ]
    assert not (tmp_path / "calib.json").exists()


def test_points_csv_from_a_spreadsheet_with_a_byte_order_mark(tmp_path: Path):
    pairs = pets_pairs(6)
    rows = "".join(f"{u},{v},{x},{y}\r\n" for (u, v), (x, y) in zip(pairs.image_uv, pairs.floor_xy, strict=True))
    (tmp_path / "excel.csv").write_text("u,v,x,y\r\n" + rows, encoding="utf-8-sig")
    again = read_point_pairs_csv(tmp_path / "excel.csv")
    np.testing.assert_allclose(again.image_uv, pairs.image_uv)


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        (["1,2,3,4", "5,6,nan,8"], "bad.csv:3: u, v, x and y must be finite numbers"),
        (["inf,2,3,4"], "bad.csv:2: u, v, x and y must be finite numbers"),
        (["1,2,3,-1e20"], "within ±1e+07"),
        ([f"{i},{i},{i},{i}" for i in range(501)], "more than 500 point pairs"),
    ],
)
def test_points_csv_refuses_numbers_no_fit_can_use(tmp_path: Path, rows: list[str], fragment: str):
    (tmp_path / "bad.csv").write_text("u,v,x,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(CalibrationError, match=None) as caught:
        read_point_pairs_csv(tmp_path / "bad.csv")
    assert fragment in str(caught.value)


def test_solve_command_refuses_a_folder_as_out_and_leaves_nothing_behind(tmp_path: Path):
    points = tmp_path / "points.csv"
    write_point_pairs_csv(points, pets_pairs(12))
    (tmp_path / "calibs").mkdir()
    result = CliRunner().invoke(solve_app(), [str(points), "--out", str(tmp_path / "calibs")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: --out {tmp_path / 'calibs'} is a folder; give the calibration file's path, e.g. "
        f"{tmp_path / 'calibs' / 'calib.json'}"
    ]
    assert list((tmp_path / "calibs").iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["calibs", "points.csv"]
