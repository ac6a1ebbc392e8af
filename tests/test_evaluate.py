"""Tests for vision.evaluate (MOTChallenge scoring) on synthetic sequences and the PETS09-S2L1 ground truth."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vision.evaluate import MotScores, load_mot_file, score_mot

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("FOOTFALL_SHARED", REPO_ROOT.parent / "shared"))
PETS_GT = SHARED_DIR / "data" / "pets09-s2l1" / "gt_0001-0400.txt"

NUM_FRAMES = 10
# Two well-separated people standing still: id -> (x, y, w, h).
PERSON_BOXES = {1: (10.0, 10.0, 20.0, 50.0), 2: (200.0, 10.0, 20.0, 50.0)}

Row = tuple[int, int, tuple[float, float, float, float]]


def write_gt(path: Path, rows: list[Row], ignored_rows: list[Row] | None = None) -> Path:
    """2DMOT2015-style ground truth: frame,id,x,y,w,h,flag,worldX,worldY,worldZ (flag 0 for ``ignored_rows``)."""
    flagged = [(frame, track_id, box, 1) for frame, track_id, box in rows]
    flagged += [(frame, track_id, box, 0) for frame, track_id, box in ignored_rows or []]
    return _write(path, sorted(flagged, key=lambda row: row[0]), "{},-1,-1,0")


def write_pred(path: Path, rows: list[Row]) -> Path:
    """Tracker output: frame,id,x,y,w,h,conf,-1,-1,-1."""
    return _write(path, [(frame, track_id, box, 0.9) for frame, track_id, box in rows], "{},-1,-1,-1")


def _write(path: Path, rows: list[tuple[int, int, tuple[float, ...], float]], tail: str) -> Path:
    lines = [f"{frame},{track_id},{x},{y},{w},{h}," + tail.format(last) for frame, track_id, (x, y, w, h), last in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def two_people_rows(frames: range = range(1, NUM_FRAMES + 1)) -> list[Row]:
    return [(frame, track_id, box) for frame in frames for track_id, box in PERSON_BOXES.items()]


@pytest.fixture
def gt_file(tmp_path: Path) -> Path:
    return write_gt(tmp_path / "gt.txt", two_people_rows())


def test_ground_truth_against_itself_is_perfect(tmp_path: Path, gt_file: Path) -> None:
    pred_file = write_pred(tmp_path / "pred.txt", two_people_rows())

    scores = score_mot(gt_file, pred_file)

    assert scores.mota == pytest.approx(1.0)
    assert scores.idf1 == pytest.approx(1.0)
    assert scores.hota == pytest.approx(1.0)
    assert scores.deta == pytest.approx(1.0)
    assert scores.assa == pytest.approx(1.0)
    assert scores.motp == pytest.approx(1.0)
    assert (scores.fp, scores.fn, scores.id_switches, scores.fragmentations) == (0, 0, 0, 0)
    assert (scores.num_frames, scores.gt_boxes, scores.num_gt_ids, scores.num_pred_ids) == (NUM_FRAMES, 20, 2, 2)


def test_missing_half_the_boxes_counts_misses(tmp_path: Path, gt_file: Path) -> None:
    only_person_1 = [row for row in two_people_rows() if row[1] == 1]
    pred_file = write_pred(tmp_path / "pred.txt", only_person_1)

    scores = score_mot(gt_file, pred_file)

    assert scores.fn == NUM_FRAMES
    assert scores.fp == 0
    assert scores.mota == pytest.approx(0.5)
    assert scores.idf1 == pytest.approx(2 * 10 / (20 + 10))
    assert scores.deta == pytest.approx(0.5)
    assert scores.assa == pytest.approx(1.0)
    assert scores.hota == pytest.approx(math.sqrt(0.5))


def test_identity_swap_mid_sequence(tmp_path: Path, gt_file: Path) -> None:
    # Frames 1-6: track 10 follows person 1 and track 20 person 2; frames 7-10 the tracks are swapped.
    swap_frame = 7
    rows = []
    for frame, person, box in two_people_rows():
        correct = frame < swap_frame
        track = {1: 10, 2: 20}[person] if correct else {1: 20, 2: 10}[person]
        rows.append((frame, track, box))
    pred_file = write_pred(tmp_path / "pred.txt", rows)

    scores = score_mot(gt_file, pred_file)

    assert scores.id_switches == 2
    assert (scores.fp, scores.fn) == (0, 0)
    assert scores.mota == pytest.approx(1 - 2 / 20)
    # Best global identity assignment 1<->10, 2<->20 keeps 6 of 10 boxes per person: IDF1 = 2*12 / (20 + 20).
    assert scores.idf1 == pytest.approx(0.6)
    # Every box is detected perfectly, so DetA = 1. Association: 12 TPs on pairs with 6 shared frames
    # (A = 6 / (10 + 10 - 6)) and 8 TPs on pairs with 4 shared frames (A = 4 / (10 + 10 - 4)).
    expected_assa = (12 * 6 / 14 + 8 * 4 / 16) / 20
    assert expected_assa == pytest.approx(5 / 14)
    assert scores.deta == pytest.approx(1.0)
    assert scores.assa == pytest.approx(expected_assa)
    assert scores.hota == pytest.approx(math.sqrt(expected_assa))


def test_frames_restriction_excludes_ground_truth_of_other_frames(tmp_path: Path, gt_file: Path) -> None:
    analysed = {1, 3, 5, 7, 9}
    pred_file = write_pred(tmp_path / "pred.txt", [row for row in two_people_rows() if row[0] in analysed])

    restricted = score_mot(gt_file, pred_file, frames=analysed)
    unrestricted = score_mot(gt_file, pred_file)

    assert restricted.num_frames == len(analysed)
    assert restricted.gt_boxes == 2 * len(analysed)
    assert restricted.fn == 0
    assert restricted.mota == pytest.approx(1.0)
    assert restricted.hota == pytest.approx(1.0)
    assert unrestricted.num_frames == NUM_FRAMES
    assert unrestricted.fn == 2 * (NUM_FRAMES - len(analysed))


def test_flag_zero_ground_truth_rows_are_ignored(tmp_path: Path) -> None:
    ignored_box = (400.0, 10.0, 20.0, 50.0)
    ignored_rows = [(frame, 3, ignored_box) for frame in range(1, NUM_FRAMES + 1)]
    gt_path = write_gt(tmp_path / "gt.txt", two_people_rows(), ignored_rows)
    # The tracker reports the ignored person in frames 1-5 (slightly shifted, IoU >= 0.5): neither FP nor FN.
    shifted = (ignored_box[0] + 2.0, *ignored_box[1:])
    on_ignored = [(frame, 30, shifted) for frame in range(1, 6)]
    stray = [(4, 99, (600.0, 300.0, 20.0, 50.0))]  # matches nothing: a genuine false positive
    pred_file = write_pred(tmp_path / "pred.txt", two_people_rows() + on_ignored + stray)

    scores = score_mot(gt_path, pred_file)

    assert scores.ignored_gt_boxes == NUM_FRAMES
    assert scores.ignored_pred_boxes == 5
    assert scores.gt_boxes == 20
    assert scores.num_gt_ids == 2
    assert (scores.fp, scores.fn) == (1, 0)
    assert scores.mota == pytest.approx(1 - 1 / 20)


def test_six_column_file_reads_flag_as_one(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_text("1,1,10,20,30,40\n2,1,11,20,30,40\n", encoding="utf-8")

    rows = load_mot_file(path)

    assert rows.shape == (2, 7)
    np.testing.assert_array_equal(rows[:, 6], [1.0, 1.0])


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("2,1,abc,20,30,40,1,-1,-1,-1", "not a number"),
        ("2,1,10,20", "at least 6 fields"),
        ("0,1,10,20,30,40,1,-1,-1,-1", "frame must be a positive integer"),
        ("1,1,10,20,30,40,1,-1,-1,-1", "appears twice in frame 1"),
    ],
)
def test_malformed_file_names_file_and_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(f"1,1,10,20,30,40,1,-1,-1,-1\n\n{bad_line}\n", encoding="utf-8")

    with pytest.raises(ValueError, match=message) as raised:
        load_mot_file(path)

    assert f"{path}:3" in str(raised.value)


def test_scores_as_dict_round_trips(tmp_path: Path, gt_file: Path) -> None:
    scores = score_mot(gt_file, write_pred(tmp_path / "pred.txt", two_people_rows()))

    assert MotScores(**scores.as_dict()) == scores


def test_pets09_ground_truth_against_itself_frames_1_to_100() -> None:
    assert PETS_GT.is_file(), f"PETS09-S2L1 ground truth not found at {PETS_GT} (set FOOTFALL_SHARED)"

    scores = score_mot(PETS_GT, PETS_GT, frames=set(range(1, 101)))

    assert scores.num_frames == 100
    assert scores.gt_boxes > 0
    assert scores.mota == pytest.approx(1.0)
    assert scores.idf1 == pytest.approx(1.0)
    assert scores.hota == pytest.approx(1.0)
    assert (scores.fp, scores.fn, scores.id_switches) == (0, 0, 0)


def run_eval_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(REPO_ROOT / "scripts" / "eval_mot.py"), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO_ROOT)


def test_cli_uses_analysed_frames_file_beside_prediction(tmp_path: Path, gt_file: Path) -> None:
    analysed = [2, 4, 6]
    pred_file = write_pred(tmp_path / "cam.txt", [row for row in two_people_rows() if row[0] in analysed])
    (tmp_path / "cam.analysed.txt").write_text("".join(f"{frame}\n" for frame in analysed), encoding="utf-8")

    result = run_eval_cli("--gt", gt_file, "--pred", pred_file, "--json")

    assert result.returncode == 0, result.stderr
    assert "cam.analysed.txt" in result.stderr
    scores = json.loads(result.stdout)
    assert scores["num_frames"] == len(analysed)
    assert scores["fn"] == 0
    assert scores["mota"] == pytest.approx(1.0)


def test_cli_reports_bad_input_on_one_line_with_exit_code_2(tmp_path: Path, gt_file: Path) -> None:
    bad_pred = tmp_path / "bad.txt"
    bad_pred.write_text("1,1,10,20,30,40,1,-1,-1,-1\n1,2,x,20,30,40,1,-1,-1,-1\n", encoding="utf-8")

    result = run_eval_cli("--gt", gt_file, "--pred", bad_pred, "--frames", "1-10")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert f"{bad_pred}:2" in result.stderr
    assert "Traceback" not in result.stderr
