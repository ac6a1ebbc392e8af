"""footfall's own YOLO runtimes (vision.perception.yolo, .runtimes): the letterbox and decoding on their own, and the
predictions of exported models against Ultralytics' predictor on the same weights and PETS frames.

The comparison needs the ultralytics extra; the rest runs in the lean install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from tests.helpers import PERSON_PT_MODEL, PETS_VIDEO, TFLITE_MODEL
from vision.core.boxes import iou_xyxy
from vision.core.errors import ModelError
from vision.perception import yolo
from vision.perception.detect import BUILTIN_MODEL, DetectorSettings, YoloDetector, build_detector

FRAME_STEP = 40  # 10 frames spread over the clip


@pytest.fixture(scope="module")
def pets_frames() -> list[np.ndarray]:
    frames = []
    with av.open(str(PETS_VIDEO)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % FRAME_STEP == 0:
                frames.append(frame.to_ndarray(format="bgr24"))
    return frames


@pytest.mark.parametrize(
    ("frame_hw", "size", "fixed", "expected"),
    [
        ((576, 768), 640, True, (640, 640)),
        ((576, 768), 640, False, (480, 640)),  # 4:3 scaled to 640 wide, already a multiple of 32
        ((1080, 1920), 640, False, (384, 640)),  # 360 rounded up to the stride
        ((288, 384), 640, False, (480, 640)),  # small frames are scaled up, as Ultralytics does
        ((1920, 1080), 320, False, (320, 192)),
    ],
)
def test_letterbox_shape_follows_ultralytics(frame_hw, size, fixed, expected) -> None:
    assert yolo.letterbox_shape(frame_hw, size, 32, fixed) == expected


def test_a_box_goes_through_the_letterbox_and_back_to_the_same_pixels() -> None:
    frame = np.zeros((576, 768, 3), np.uint8)
    letterboxed, placement = yolo.letterbox(frame, (640, 640))
    assert letterboxed.shape == (640, 640, 3)
    assert (placement.pad_x, placement.pad_y) == (0, 80)
    assert letterboxed[:80].min() == yolo.PAD_VALUE and letterboxed[80:560].max() == 0
    person = np.array([[100.0, 50.0, 140.0, 170.0]], np.float32)  # x1 y1 x2 y2 on the frame
    in_model = person * placement.gain_x + np.array([0, 80, 0, 80], np.float32)
    centre_size = np.concatenate([(in_model[:, :2] + in_model[:, 2:]) / 2, in_model[:, 2:] - in_model[:, :2]], 1)
    raw = np.zeros((1, 4 + 3, 5), np.float32)  # three classes, five anchors; anchor 2 holds the person
    raw[0, :4, 2] = centre_size[0]
    raw[0, 4, 2] = 0.9
    found = yolo.decode(raw, placement, (576, 768), class_ids=[0], conf=0.1, class_count=3)
    np.testing.assert_allclose(found.xyxy, person, atol=1e-3)
    assert found.confidence.tolist() == pytest.approx([0.9])


def test_decoding_keeps_the_best_class_only_and_suppresses_overlaps() -> None:
    placement = yolo.Letterbox((100, 100), 1.0, 1.0, 0, 0)
    raw = np.zeros((1, 4 + 2, 4), np.float32)
    raw[0, :4] = np.array([[20, 20, 10, 30], [21, 20, 10, 30], [70, 50, 10, 30], [40, 80, 10, 10]], np.float32).T
    raw[0, 4:] = np.array([[0.8, 0.1], [0.7, 0.0], [0.6, 0.0], [0.3, 0.5]], np.float32).T  # anchor 3: class 1 best
    found = yolo.decode(raw, placement, (100, 100), class_ids=[0], conf=0.25, class_count=2)
    assert found.confidence.tolist() == pytest.approx([0.8, 0.6]), "anchor 1 overlaps anchor 0; anchor 3 is class 1"


def test_an_end_to_end_head_is_filtered_not_suppressed_again() -> None:
    placement = yolo.Letterbox((100, 100), 0.5, 0.5, 0, 10)
    rows = np.array([[[10, 20, 30, 60, 0.9, 0], [11, 20, 31, 60, 0.8, 0], [0, 0, 5, 5, 0.05, 0], [1, 1, 2, 2, 0.9, 3]]])
    found = yolo.decode(rows.astype(np.float32), placement, (200, 200), class_ids=[0], conf=0.1, class_count=80)
    np.testing.assert_allclose(found.xyxy, [[20, 20, 60, 100], [22, 20, 62, 100]])


def test_the_built_in_model_runs_without_pytorch() -> None:
    """The default detector in a fresh process: Ultralytics and torch are never imported."""
    code = (
        "import sys, numpy as np\n"
        "from vision.perception.detect import DetectorSettings, build_detector\n"
        "detector = build_detector(DetectorSettings())\n"
        "detector(np.zeros((576, 768, 3), np.uint8))\n"
        "print(sorted(m for m in ('torch', 'ultralytics', 'torchvision') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_the_built_in_model_is_the_shared_coco_detector(pets_frames) -> None:
    assert BUILTIN_MODEL.read_bytes() == TFLITE_MODEL.read_bytes()
    detector = build_detector(DetectorSettings())
    assert detector.class_names[0] == "person" and detector.imgsz == 640
    assert sum(len(detector(frame)) for frame in pets_frames) >= 50, "PETS has 4 to 8 people in each frame"


def test_an_export_without_ultralytics_metadata_is_refused(tmp_path: Path) -> None:
    bare = tmp_path / "bare.tflite"
    data = TFLITE_MODEL.read_bytes()
    bare.write_bytes(data[: data.rfind(b"PK\x03\x04")])  # the model without its appended metadata zip
    with pytest.raises(ModelError, match="carries no class names"):
        YoloDetector(DetectorSettings(model=str(bare)))


def assert_same_predictions(ours, theirs, frames: list[np.ndarray]) -> dict[str, float]:
    """Same count per frame, each box matched with IoU >= 0.99, confidence within 0.01."""
    boxes, worst_iou, worst_conf = 0, 1.0, 0.0
    for frame in frames:
        mine, reference = ours(frame), theirs(frame)
        assert len(mine) == len(reference)
        if len(reference) == 0:
            continue
        iou = iou_xyxy(mine.xyxy.astype(np.float64), reference.xyxy.astype(np.float64))
        best = iou.argmax(axis=1)
        assert sorted(best.tolist()) == list(range(len(reference))), "one-to-one"
        worst_iou = min(worst_iou, float(iou.max(axis=1).min()))
        worst_conf = max(worst_conf, float(np.abs(mine.confidence - reference.confidence[best]).max()))
        boxes += len(reference)
    assert boxes >= 40
    assert worst_iou >= 0.99 and worst_conf <= 0.01, (worst_iou, worst_conf)
    return {"boxes": boxes, "min_iou": worst_iou, "max_conf_diff": worst_conf}


@pytest.mark.needs_ultralytics
def test_tflite_predictions_match_ultralytics(pets_frames) -> None:
    from vision.perception.ultralytics_detect import UltralyticsDetector

    settings = DetectorSettings(model=str(TFLITE_MODEL))
    assert_same_predictions(YoloDetector(settings), UltralyticsDetector(settings), pets_frames)


@pytest.mark.needs_ultralytics
@pytest.mark.parametrize("export", ["openvino", "onnx"])
def test_exported_pt_predictions_match_ultralytics(pets_frames, export: str) -> None:
    """The fine-tuned YOLOv8s exported once (dynamic input size, so frames keep their aspect), run here and by
    Ultralytics' predictor on the same export."""
    from vision.perception.ultralytics_detect import UltralyticsDetector

    settings = DetectorSettings(model=str(PERSON_PT_MODEL), classes=("Normal",), export=export)
    ours = build_detector(settings)
    assert isinstance(ours, YoloDetector) and ours.model_path != PERSON_PT_MODEL
    theirs = UltralyticsDetector(DetectorSettings(model=str(ours.model_path), classes=("Normal",)))
    assert_same_predictions(ours, theirs, pets_frames)
