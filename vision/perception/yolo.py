"""The arithmetic around a YOLO detection model, without PyTorch: the letterbox that makes a frame the model's
input, and the decoding of the model's output into person boxes on the frame.

Both follow Ultralytics' predictor step by step (`LetterBox`, `non_max_suppression`, `scale_boxes` of
ultralytics 8.4), so an exported model run here gives the predictions Ultralytics gives for it:
`tests/test_yolo_runtimes.py` checks that on PETS frames. Heads understood:

- YOLOv8, YOLO11 and other anchor-free heads: one (4 + classes) x anchors output, centre-size boxes then one score
  per class, decoded with NMS;
- end-to-end heads (YOLOv10, YOLO26 exports): an (N, 6) output of corner boxes, score and class, already
  suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.core.types import Detections

PAD_VALUE = 114  # Ultralytics' letterbox grey
NMS_IOU = 0.7  # Ultralytics' predict default
MAX_DETECTIONS = 300
MAX_NMS_CANDIDATES = 30000
_CLASS_OFFSET = 7680.0  # per-class box offset so one NMS call never suppresses across classes (Ultralytics' max_wh)


@dataclass(frozen=True, slots=True)
class Letterbox:
    """Where a frame went in the model's input: scaled by (gain_x, gain_y), then shifted by (pad_x, pad_y)."""

    input_hw: tuple[int, int]
    gain_x: float
    gain_y: float
    pad_x: int
    pad_y: int


def letterbox_shape(frame_hw: tuple[int, int], size: int, stride: int, fixed: bool) -> tuple[int, int]:
    """The model input's height and width for a frame: `size` x `size` for a model with a fixed input, else the
    smallest multiple of `stride` around the frame scaled to fit `size` (Ultralytics' `auto` letterbox)."""
    if fixed:
        return size, size
    height, width = frame_hw
    ratio = min(size / height, size / width)
    unpad_w, unpad_h = max(round(width * ratio), 1), max(round(height * ratio), 1)
    return unpad_h + (size - unpad_h) % stride, unpad_w + (size - unpad_w) % stride


def letterbox(frame: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """The BGR frame resized to fit `input_hw` with its aspect kept, centred on grey: still BGR uint8."""
    height, width = frame.shape[:2]
    target_h, target_w = input_hw
    ratio = min(target_h / height, target_w / width)
    unpad_w, unpad_h = max(round(width * ratio), 1), max(round(height * ratio), 1)
    pad_w, pad_h = (target_w - unpad_w) / 2, (target_h - unpad_h) / 2
    if (width, height) != (unpad_w, unpad_h):
        frame = cv2.resize(frame, (unpad_w, unpad_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(pad_h - 0.1), round(pad_h + 0.1)
    left, right = round(pad_w - 0.1), round(pad_w + 0.1)
    if top or bottom or left or right:
        frame = cv2.copyMakeBorder(frame, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    placement = Letterbox(input_hw, unpad_w / width, unpad_h / height, left, top)
    return frame, placement


def model_input(letterboxed: np.ndarray, channels_last: bool) -> np.ndarray:
    """A batch of one: RGB, float32 in 0..1, NHWC or NCHW."""
    rgb = letterboxed[:, :, ::-1]
    if not channels_last:
        rgb = rgb.transpose(2, 0, 1)
    batch = np.ascontiguousarray(rgb[None], dtype=np.float32)
    batch /= np.float32(255)  # a division, as Ultralytics does: an INT8 model's input rounding follows the last bit
    return batch


def _nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by class-wise greedy NMS, best score first (torchvision's rule: a box goes when its IoU with a
    kept box is above `iou`)."""
    shifted = boxes + (classes[:, None] * _CLASS_OFFSET).astype(boxes.dtype)
    xywh = np.column_stack([shifted[:, :2], shifted[:, 2:] - shifted[:, :2]]).astype(np.float64)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(np.float64).tolist(), 0.0, iou)
    return np.asarray(keep, dtype=np.int64).reshape(-1)


def decode(
    output: np.ndarray,
    placement: Letterbox,
    frame_hw: tuple[int, int],
    class_ids: list[int],
    conf: float,
    class_count: int,
    iou: float = NMS_IOU,
) -> Detections:
    """Boxes on the frame for the wanted classes from one image's raw output, as Ultralytics' predictor makes them:
    each anchor's best class only, kept if above `conf` and among `class_ids`, then NMS per class."""
    rows = output[0] if output.ndim == 3 else output
    if rows.shape[-1] == 6 and rows.shape[0] != 4 + class_count:  # end-to-end: (N, x1 y1 x2 y2 score class)
        xyxy, scores, classes = rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64)
        keep = np.flatnonzero((scores > conf) & np.isin(classes, class_ids))[:MAX_DETECTIONS]
        xyxy, scores, classes = xyxy[keep], scores[keep], classes[keep]
    else:
        class_scores = rows[4 : 4 + class_count]
        best = class_scores.argmax(axis=0)
        scores = class_scores[best, np.arange(class_scores.shape[1])]
        keep = (scores > conf) & np.isin(best, class_ids)
        if not keep.any():
            return Detections.empty()
        centre_size, scores, classes = rows[:4, keep].T, scores[keep], best[keep].astype(np.int64)
        if len(scores) > MAX_NMS_CANDIDATES:
            top = np.argsort(-scores, kind="stable")[:MAX_NMS_CANDIDATES]
            centre_size, scores, classes = centre_size[top], scores[top], classes[top]
        half = centre_size[:, 2:] / 2
        xyxy = np.concatenate([centre_size[:, :2] - half, centre_size[:, :2] + half], axis=1)
        kept = _nms(xyxy, scores, classes, iou)[:MAX_DETECTIONS]
        xyxy, scores, classes = xyxy[kept], scores[kept], classes[kept]
    if len(scores) == 0:
        return Detections.empty()
    return Detections(
        xyxy=_to_frame(xyxy.astype(np.float32), placement, frame_hw),
        confidence=scores.astype(np.float32),
        class_id=classes,
    )


def _to_frame(xyxy: np.ndarray, placement: Letterbox, frame_hw: tuple[int, int]) -> np.ndarray:
    xyxy = xyxy.copy()
    xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] - placement.pad_x) / placement.gain_x
    xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] - placement.pad_y) / placement.gain_y
    height, width = frame_hw
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
    return xyxy
