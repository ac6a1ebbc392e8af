"""How tall a person looks at each point of a calibrated picture (vision.core.person_scale), against the PETS
ground truth's own boxes, and the motion gate sized by it: a small far person moving a little wakes it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.helpers import PETS_GT, PETS_VIDEO, pets_calibration_document
from vision.config.calibration_file import load_calibration, projector_from_calibration
from vision.core.geometry import GroundProjector
from vision.core.person_scale import PersonScale
from vision.perception.gate import GateSettings, MotionGate

SIZE = (768, 576)


@pytest.fixture(scope="module")
def pets_projector(tmp_path_factory: pytest.TempPathFactory) -> GroundProjector:
    path = tmp_path_factory.mktemp("calibration") / "view001.json"
    path.write_text(json.dumps(pets_calibration_document()))
    return projector_from_calibration(load_calibration(path))


def whole_boxes() -> np.ndarray:
    """Ground-truth boxes of people wholly in the picture (a box cut by the edge is shorter than its person)."""
    gt = np.loadtxt(PETS_GT, delimiter=",")
    gt = gt[gt[:, 6] == 1]
    return gt[
        (gt[:, 3] > 2) & (gt[:, 3] + gt[:, 5] < SIZE[1] - 2) & (gt[:, 2] > 2) & (gt[:, 2] + gt[:, 4] < SIZE[0] - 2)
    ]


@pytest.mark.parametrize("with_camera_matrix", [True, False])
def test_a_person_is_as_tall_as_the_ground_truth_boxes_say(
    pets_projector: GroundProjector, with_camera_matrix: bool
) -> None:
    # Without the camera matrix (a homography drawn from clicked points) the focal length is recovered from the
    # homography itself; lens distortion is then ignored.
    projector = pets_projector if with_camera_matrix else GroundProjector(pets_projector.image_to_floor)
    scale = PersonScale.from_projector(projector, SIZE)
    assert scale is not None
    boxes = whole_boxes()
    assert len(boxes) > 2000
    feet = np.column_stack([boxes[:, 2] + boxes[:, 4] / 2, boxes[:, 3] + boxes[:, 5]])
    ratio = boxes[:, 5] / scale.height_px(feet, projector)
    # Measured: median 1.03 (10-90%: 0.97-1.10) with the camera matrix, 1.06 (0.99-1.13) without; the PETS
    # walkers' boxes include some of their shadows and hair, and not all are 1.7 m.
    assert 0.95 <= np.median(ratio) <= 1.10, np.median(ratio)
    assert np.percentile(ratio, 90) - np.percentile(ratio, 10) < 0.2
    if not with_camera_matrix:
        focal = scale.camera_matrix[0, 0]
        assert abs(focal / pets_projector.camera_matrix[0, 0] - 1) < 0.1, focal


def empty_scene() -> tuple[np.ndarray, np.ndarray]:
    """(the PETS scene with nobody in it, the first frame)."""
    capture = cv2.VideoCapture(str(PETS_VIDEO))
    frames = []
    for _ in range(400):
        ok, image = capture.read()
        assert ok
        frames.append(image)
    capture.release()
    return np.median(np.stack(frames[::8]), axis=0).astype(np.uint8), frames[0]


def test_the_gate_wakes_for_a_small_far_person_moving_a_little(pets_projector: GroundProjector) -> None:
    empty, first = empty_scene()
    gt = np.loadtxt(PETS_GT, delimiter=",")
    x, y, w, h = gt[(gt[:, 0] == 1) & (gt[:, 6] == 1)][0, 2:6].astype(int)
    person = cv2.resize(first[y : y + h, x : x + w], (max(2, w // 2), max(4, h // 2)), interpolation=cv2.INTER_AREA)
    scale = PersonScale.from_projector(pets_projector, SIZE)
    # Where a person half that size stands: far up the floor.
    far = next(
        (u, v)
        for v in range(300, 0, -2)
        for u in (380,)
        if abs(scale.height_px(np.array([[u, v]]), pets_projector)[0] - person.shape[0]) < 3
    )

    def with_person_at(u: int) -> np.ndarray:
        picture = empty.copy()
        top, left = far[1] - person.shape[0], u - person.shape[1] // 2
        picture[top : far[1], left : left + person.shape[1]] = person
        return picture

    for projector, expected in ((pets_projector, True), (None, False)):
        gate = MotionGate(GateSettings(), projector)
        gate.moved(with_person_at(far[0]))
        moved = gate.moved(with_person_at(far[0] + person.shape[1] // 2))  # half a body width in 0.2 s
        assert moved is expected, (projector is not None, person.shape, far)
