"""Tracking-accuracy evaluation against MOTChallenge ground truth.

Two metric families are computed on the same pre-processed per-frame data:

* CLEAR MOT (MOTA, MOTP, FP, FN, ID switches, fragmentations) and IDF1 with py-motmetrics, using IoU distance
  (``1 - IoU``) and counting a pair as a possible match when ``IoU >= iou_threshold``. MOTP is reported as the mean
  IoU of matched pairs (``1 - motmetrics.motp``), i.e. a fraction where higher is better.
* HOTA, DetA and AssA with TrackEval's own metric class, ``trackeval.metrics.HOTA().eval_sequence(data)``, fed a
  hand-built data dict (per-frame gt/tracker ids remapped to 0..n-1 and IoU similarity matrices). PyPI ``trackeval``
  1.3.0 is JonathonLuiten's TrackEval and its HOTA class runs unchanged on numpy 2; its dataset loaders are bypassed
  because they expect the MOTChallenge folder layout. HOTA is the mean over TrackEval's 19 alpha thresholds
  (0.05..0.95), so ``iou_threshold`` does not apply to it.

IoU is computed here (motmetrics 1.4.0's ``iou_matrix`` uses ``np.asfarray``, which numpy 2 removed).

Ground-truth rows whose 7th column (the "consider" flag) is 0 are *ignore regions*, handled like the MOTChallenge
devkit/TrackEval treat distractors: in each frame, predictions are matched to all ground-truth boxes (flag 0 and 1)
with the Hungarian algorithm on IoU, pairs with ``IoU >= 0.5`` count, predictions matched to a flag-0 box are
dropped, and then all flag-0 boxes are dropped. Such boxes therefore never count as misses, and a prediction on
them never counts as a false positive. (Stock TrackEval only drops the flag-0 boxes themselves for MOT15/17 and
removes matching predictions only for distractor classes; the PETS09-S2L1 ground truth has no classes.)

The heavy libraries (motmetrics, trackeval, scipy) are imported inside the functions that use them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vision.core.boxes import iou_xyxy, xywh_to_xyxy
from vision.core.types import TrackHistory

# Column layout of the array returned by load_mot_file.
FRAME, TRACK_ID, X, Y, WIDTH, HEIGHT, CONF = range(7)
MOT_COLUMNS = 7
MIN_FIELDS = 6
IGNORE_MATCH_IOU = 0.5
_FIELD_SEPARATOR = re.compile(r"[,\s]+")
_EPS = float(np.finfo(float).eps)


# --------------------------------------------------------------------------------------------------------------------
# Loading


def load_mot_file(path: str | Path) -> np.ndarray:
    """Read a MOTChallenge text file into a float array of shape (N, 7).

    Columns: ``frame, id, x, y, w, h, conf_or_flag`` (see the FRAME..CONF constants). Extra columns (world
    coordinates, ``-1`` placeholders) are discarded; a missing 7th column reads as 1. Fields may be separated by
    commas or whitespace; blank lines and lines starting with ``#`` are skipped. Frames are 1-based.

    Raises ValueError naming the file and the 1-based line number for malformed input (too few fields, non-numeric or
    non-finite values, non-integer or non-positive frame, non-integer id, negative width/height, or the same id twice
    in one frame). A missing file raises FileNotFoundError.
    """
    path = Path(path)
    rows: list[list[float]] = []
    first_line_of_key: dict[tuple[int, int], int] = {}
    with path.open(encoding="utf-8") as handle:
        for line_number, text in enumerate(handle, start=1):
            stripped = text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            row = _parse_mot_line(stripped, path, line_number)
            key = (int(row[FRAME]), int(row[TRACK_ID]))
            if key in first_line_of_key:
                raise ValueError(
                    f"{path}:{line_number}: id {key[1]} appears twice in frame {key[0]} "
                    f"(first on line {first_line_of_key[key]})"
                )
            first_line_of_key[key] = line_number
            rows.append(row)
    if not rows:
        return np.empty((0, MOT_COLUMNS), dtype=float)
    return np.asarray(rows, dtype=float)


def _parse_mot_line(text: str, path: Path, line_number: int) -> list[float]:
    fields = [field for field in _FIELD_SEPARATOR.split(text) if field]
    where = f"{path}:{line_number}"
    if len(fields) < MIN_FIELDS:
        raise ValueError(f"{where}: expected at least {MIN_FIELDS} fields (frame,id,x,y,w,h,...), got {len(fields)}")
    values: list[float] = []
    for position, field in enumerate(fields[:MOT_COLUMNS], start=1):
        try:
            value = float(field)
        except ValueError:
            raise ValueError(f"{where}: field {position} is not a number: {field!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"{where}: field {position} is not finite: {field!r}")
        values.append(value)
    if len(values) == MIN_FIELDS:
        values.append(1.0)
    _validate_row(values, where)
    return values


def _validate_row(values: list[float], where: str) -> None:
    frame, track_id = values[FRAME], values[TRACK_ID]
    if not frame.is_integer() or frame < 1:
        raise ValueError(f"{where}: frame must be a positive integer, got {frame:g}")
    if not track_id.is_integer():
        raise ValueError(f"{where}: id must be an integer, got {track_id:g}")
    if values[WIDTH] < 0 or values[HEIGHT] < 0:
        raise ValueError(f"{where}: width and height must be >= 0, got {values[WIDTH]:g} x {values[HEIGHT]:g}")


# --------------------------------------------------------------------------------------------------------------------
# Scores


@dataclass(frozen=True)
class MotScores:
    """Tracking-accuracy scores for one sequence. Ratios are fractions (1.0 = perfect); NaN means undefined
    (e.g. MOTA with no ground-truth boxes, MOTP with no matches)."""

    mota: float
    idf1: float
    hota: float
    deta: float
    assa: float
    motp: float
    num_frames: int
    num_gt_ids: int
    num_pred_ids: int
    gt_boxes: int
    pred_boxes: int
    fp: int
    fn: int
    id_switches: int
    fragmentations: int
    ignored_gt_boxes: int
    ignored_pred_boxes: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class _FrameData:
    """Per-frame evaluation input after frame selection and ignore-region handling."""

    frame: int
    gt_ids: np.ndarray
    pred_ids: np.ndarray
    iou: np.ndarray  # shape (len(gt_ids), len(pred_ids))


@dataclass(frozen=True)
class _IgnoreCounts:
    gt_boxes: int
    pred_boxes: int


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU matrix between two arrays of ``x, y, w, h`` boxes, shape (len(a), len(b))."""
    return iou_xyxy(xywh_to_xyxy(boxes_a), xywh_to_xyxy(boxes_b))


def score_mot(
    gt_path: str | Path,
    pred_path: str | Path,
    frames: Iterable[int] | None = None,
    iou_threshold: float = 0.5,
) -> MotScores:
    """Score a tracker's MOTChallenge output against ground truth.

    ``frames`` (1-based) restricts evaluation to those frames: ground truth and predictions of other frames are
    discarded, so frames the tracker never analysed cause no misses. Default: every frame in 1..max GT frame (all
    frames of the prediction file if the GT is empty). ``iou_threshold`` is the CLEAR/IDF1 match threshold
    (``IoU >= iou_threshold``). Flag-0 ground-truth rows are ignore regions (see the module docstring).
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    gt_rows = load_mot_file(gt_path)
    pred_rows = load_mot_file(pred_path)
    frame_numbers = _frames_to_evaluate(gt_rows, pred_rows, frames)
    frame_data, ignored = _prepare_frames(gt_rows, pred_rows, frame_numbers)
    clear = _clear_and_identity_scores(frame_data, iou_threshold)
    hota = _hota_scores(frame_data)
    all_gt_ids = np.concatenate([frame.gt_ids for frame in frame_data]) if frame_data else np.empty(0)
    all_pred_ids = np.concatenate([frame.pred_ids for frame in frame_data]) if frame_data else np.empty(0)
    return MotScores(
        **clear,
        **hota,
        num_frames=len(frame_data),
        num_gt_ids=len(np.unique(all_gt_ids)),
        num_pred_ids=len(np.unique(all_pred_ids)),
        gt_boxes=len(all_gt_ids),
        pred_boxes=len(all_pred_ids),
        ignored_gt_boxes=ignored.gt_boxes,
        ignored_pred_boxes=ignored.pred_boxes,
    )


def _frames_to_evaluate(gt_rows: np.ndarray, pred_rows: np.ndarray, frames: Iterable[int] | None) -> list[int]:
    if frames is None:
        reference = gt_rows if len(gt_rows) else pred_rows
        if not len(reference):
            raise ValueError("nothing to evaluate: ground truth and predictions are both empty")
        return list(range(1, int(reference[:, FRAME].max()) + 1))
    selected = sorted(set(frames))
    if not selected:
        raise ValueError("frames is empty: nothing to evaluate")
    bad = [frame for frame in selected if not float(frame).is_integer() or frame < 1]
    if bad:
        raise ValueError(f"frames must be positive integers (1-based), got {bad[:5]}")
    return [int(frame) for frame in selected]


def _prepare_frames(
    gt_rows: np.ndarray, pred_rows: np.ndarray, frame_numbers: list[int]
) -> tuple[list[_FrameData], _IgnoreCounts]:
    gt_by_frame = _group_rows_by_frame(gt_rows)
    pred_by_frame = _group_rows_by_frame(pred_rows)
    empty = np.empty((0, MOT_COLUMNS))
    frame_data: list[_FrameData] = []
    ignored_gt = ignored_pred = 0
    for frame in frame_numbers:
        gt = gt_by_frame.get(frame, empty)
        pred = pred_by_frame.get(frame, empty)
        is_ignore_gt = gt[:, CONF] == 0
        kept_pred = pred[~_predictions_on_ignored_gt(gt, pred, is_ignore_gt)]
        care_gt = gt[~is_ignore_gt]
        ignored_gt += int(is_ignore_gt.sum())
        ignored_pred += len(pred) - len(kept_pred)
        iou = box_iou(care_gt[:, X : HEIGHT + 1], kept_pred[:, X : HEIGHT + 1])
        gt_ids = care_gt[:, TRACK_ID].astype(np.int64)
        frame_data.append(_FrameData(frame, gt_ids, kept_pred[:, TRACK_ID].astype(np.int64), iou))
    return frame_data, _IgnoreCounts(ignored_gt, ignored_pred)


def _group_rows_by_frame(rows: np.ndarray) -> dict[int, np.ndarray]:
    frames = rows[:, FRAME].astype(np.int64)
    return {int(frame): rows[frames == frame] for frame in np.unique(frames)}


def _predictions_on_ignored_gt(gt: np.ndarray, pred: np.ndarray, is_ignore_gt: np.ndarray) -> np.ndarray:
    """Mask of predictions that the Hungarian matching (IoU >= 0.5, against all GT boxes) assigns to an ignored box."""
    on_ignored = np.zeros(len(pred), dtype=bool)
    if not is_ignore_gt.any() or not len(pred):
        return on_ignored
    from scipy.optimize import linear_sum_assignment

    iou = box_iou(gt[:, X : HEIGHT + 1], pred[:, X : HEIGHT + 1])
    iou[iou < IGNORE_MATCH_IOU - _EPS] = 0.0
    gt_index, pred_index = linear_sum_assignment(-iou)
    matched = iou[gt_index, pred_index] > _EPS
    on_ignored[pred_index[matched & is_ignore_gt[gt_index]]] = True
    return on_ignored


def _clear_and_identity_scores(frame_data: list[_FrameData], iou_threshold: float) -> dict[str, float | int]:
    import motmetrics as mm

    accumulator = mm.MOTAccumulator(auto_id=False)
    for frame in frame_data:
        distance = 1.0 - frame.iou
        distance[frame.iou < iou_threshold - _EPS] = np.nan
        accumulator.update(frame.gt_ids.tolist(), frame.pred_ids.tolist(), distance, frameid=frame.frame)
    metric_names = ["mota", "motp", "idf1", "num_false_positives", "num_misses", "num_switches", "num_fragmentations"]
    summary = mm.metrics.create().compute(accumulator, metrics=metric_names, name="sequence")
    values = summary.loc["sequence"]
    return {
        "mota": _finite_or_nan(values["mota"]),
        "idf1": _finite_or_nan(values["idf1"]),
        "motp": _finite_or_nan(1.0 - float(values["motp"])),
        "fp": int(values["num_false_positives"]),
        "fn": int(values["num_misses"]),
        "id_switches": int(values["num_switches"]),
        "fragmentations": int(values["num_fragmentations"]),
    }


def _finite_or_nan(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else math.nan


def _hota_scores(frame_data: list[_FrameData]) -> dict[str, float]:
    from trackeval.metrics import HOTA

    result = HOTA().eval_sequence(_trackeval_sequence_data(frame_data))
    return {
        "hota": float(np.mean(result["HOTA"])),
        "deta": float(np.mean(result["DetA"])),
        "assa": float(np.mean(result["AssA"])),
    }


def _trackeval_sequence_data(frame_data: list[_FrameData]) -> dict[str, object]:
    """The per-sequence dict TrackEval's metrics consume, with ids remapped to contiguous 0..n-1 indices."""
    gt_ids = [frame.gt_ids for frame in frame_data]
    pred_ids = [frame.pred_ids for frame in frame_data]
    unique_gt = np.unique(np.concatenate(gt_ids)) if gt_ids else np.empty(0, dtype=np.int64)
    unique_pred = np.unique(np.concatenate(pred_ids)) if pred_ids else np.empty(0, dtype=np.int64)
    return {
        "num_timesteps": len(frame_data),
        "num_gt_ids": len(unique_gt),
        "num_tracker_ids": len(unique_pred),
        "num_gt_dets": sum(len(ids) for ids in gt_ids),
        "num_tracker_dets": sum(len(ids) for ids in pred_ids),
        "gt_ids": [np.searchsorted(unique_gt, ids).astype(int) for ids in gt_ids],
        "tracker_ids": [np.searchsorted(unique_pred, ids).astype(int) for ids in pred_ids],
        "similarity_scores": [frame.iou for frame in frame_data],
    }


@dataclass(frozen=True)
class FloorErrors:
    """Floor-position error of engine rows paired with ground-truth people, in metres."""

    errors_m: np.ndarray
    engine_rows: int

    @property
    def median_m(self) -> float:
        return float(np.median(self.errors_m)) if len(self.errors_m) else math.nan

    def percentile_m(self, q: float) -> float:
        return float(np.percentile(self.errors_m, q)) if len(self.errors_m) else math.nan


def floor_errors(
    gt_path: str | Path, frame: np.ndarray, foot_uv: np.ndarray, floor_xy: np.ndarray, max_pixel_distance: float = 25.0
) -> FloorErrors:
    """Pairs each engine row (0-based source `frame`, image foot point `foot_uv`, floor position `floor_xy`) with
    a ground-truth person of the same frame by foot-point distance in the image (Hungarian, within
    `max_pixel_distance`), and measures the distance between the engine's floor position and the ground truth's
    world position (2DMOT2015 columns 8-9, metres; flag-0 rows are left out)."""
    from scipy.optimize import linear_sum_assignment

    gt = load_mot_file(gt_path)
    world = _world_columns(Path(gt_path))
    keep = gt[:, 6] != 0
    gt, world = gt[keep], world[keep]
    errors: list[float] = []
    for frame_number in np.unique(frame):
        rows = np.flatnonzero(frame == frame_number)
        truth = np.flatnonzero(gt[:, 0] == frame_number + 1)
        if len(truth) == 0 or len(rows) == 0:
            continue
        truth_foot = np.column_stack([gt[truth, 2] + gt[truth, 4] / 2, gt[truth, 3] + gt[truth, 5]])
        distance = np.linalg.norm(foot_uv[rows][:, None, :] - truth_foot[None, :, :], axis=2)
        engine_index, truth_index = linear_sum_assignment(distance)
        for e, t in zip(engine_index, truth_index, strict=True):
            if distance[e, t] < max_pixel_distance:
                errors.append(float(np.linalg.norm(floor_xy[rows[e]] - world[truth[t]])))
    return FloorErrors(np.asarray(errors), engine_rows=len(frame))


def _world_columns(path: Path) -> np.ndarray:
    """Columns 8-9 (world x, y) of a 2DMOT2015 ground-truth file, row for row with `load_mot_file`."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    if rows.shape[1] < 9:
        raise ValueError(f"{path}: has no world coordinates (columns 8-9 of 2DMOT2015 ground truth)")
    return rows[:, 7:9]


def ground_truth_tracks(
    gt_path: str | Path, camera: str, start_s: float, fps: float, frames: Iterable[int] | None = None
) -> list[TrackHistory]:
    """The ground truth's people as finished tracks on the floor: world x, y (2DMOT2015 columns 8-9, metres) at
    time start + (frame - 1) / fps, flag-0 rows left out. `frames` (1-based) keeps only those frames, so the
    truth is sampled like the engine's analysis."""
    gt = load_mot_file(gt_path)
    world = _world_columns(Path(gt_path))
    keep = gt[:, 6] != 0
    if frames is not None:
        keep &= np.isin(gt[:, 0], np.fromiter(frames, dtype=np.float64))
    gt, world = gt[keep], world[keep]
    tracks = []
    for identity in np.unique(gt[:, 1]):
        rows = np.flatnonzero(gt[:, 1] == identity)
        rows = rows[np.argsort(gt[rows, 0])]
        feet = np.column_stack([gt[rows, 2] + gt[rows, 4] / 2, gt[rows, 3] + gt[rows, 5]])
        tracks.append(
            TrackHistory(
                camera=camera,
                track=f"gt-{int(identity)}",
                time_s=start_s + (gt[rows, 0] - 1) / fps,
                frame=(gt[rows, 0] - 1).astype(np.int64),
                foot_uv=feet.astype(np.float64),
                floor_xy=world[rows].astype(np.float64),
                confidence=np.ones(len(rows), dtype=np.float32),
            )
        )
    return tracks


def flow_comparison(engine_summary: dict, truth_summary: dict) -> dict:
    """Per zone: visits, unique visitors and dwell (total and mean seconds); per line: in and out crossings; per
    zone-to-zone move (where both summaries have paths): how many; each as engine, truth and error (engine -
    truth)."""

    def entry(engine: float | None, truth: float | None) -> dict:
        error = None if engine is None or truth is None else round(engine - truth, 3)
        return {"engine": engine, "truth": truth, "error": error}

    def total_dwell(zone: dict) -> float:
        stats = zone["dwell_s"]
        return round((stats["mean"] or 0.0) * stats["count"], 3)

    zones = {}
    for name, truth in truth_summary["zones"].items():
        engine = engine_summary["zones"][name]
        zones[name] = {
            "visits": entry(engine["visits"], truth["visits"]),
            "unique_visitors": entry(engine["unique_visitors"], truth["unique_visitors"]),
            "dwell_total_s": entry(total_dwell(engine), total_dwell(truth)),
            "dwell_mean_s": entry(engine["dwell_s"]["mean"], truth["dwell_s"]["mean"]),
            "person_seconds": entry(engine["person_seconds"], truth["person_seconds"]),
        }
    lines = {
        name: {
            direction: entry(engine_summary["lines"][name][direction], truth[direction]) for direction in ("in", "out")
        }
        for name, truth in truth_summary["lines"].items()
    }
    moves = {}
    if "paths" in engine_summary and "paths" in truth_summary:
        pairs = {
            (move["from"], move["to"])
            for summary in (engine_summary, truth_summary)
            for move in summary["paths"]["transitions"]
        }

        def count(summary: dict, pair: tuple[str, str]) -> int:
            return sum(m["count"] for m in summary["paths"]["transitions"] if (m["from"], m["to"]) == pair)

        moves = {
            f"{a} → {b}": entry(count(engine_summary, (a, b)), count(truth_summary, (a, b))) for a, b in sorted(pairs)
        }
    return {"zones": zones, "lines": lines, "moves": moves}
