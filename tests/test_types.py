"""Shape and dtype checks of the objects that cross stage boundaries (vision.core.types)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from vision.core.types import Detections, FloorTracks, Frame, Tracks


def f32(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.float32)


def i64(n: int) -> np.ndarray:
    return np.zeros(n, np.int64)


def names(n: int) -> np.ndarray:
    return np.array([f"t{i}" for i in range(n)], dtype=object)


def frame_kwargs(**override: Any) -> dict[str, Any]:
    return {
        "camera": "cam",
        "index": 0,
        "pts_s": 0.0,
        "time_s": 1.7e9,
        "image": np.zeros((4, 6, 3), np.uint8),
    } | override


def detections_kwargs(n: int = 2, **override: Any) -> dict[str, Any]:
    return {"xyxy": f32(n, 4), "confidence": f32(n), "class_id": i64(n)} | override


def tracks_kwargs(n: int = 2, **override: Any) -> dict[str, Any]:
    return {
        "track_id": i64(n),
        "xyxy": f32(n, 4),
        "confidence": f32(n),
        "detection_index": i64(n),
        "ended_track_ids": i64(0),
    } | override


def floor_kwargs(n: int = 2, **override: Any) -> dict[str, Any]:
    return {
        "camera": "cam",
        "frame_index": 3,
        "time_s": 1.7e9,
        "track": names(n),
        "track_id": i64(n),
        "xyxy": f32(n, 4),
        "foot_uv": f32(n, 2),
        "floor_xy": np.zeros((n, 2), np.float64),
        "confidence": f32(n),
        "ended_tracks": names(1),
    } | override


VALID = [
    pytest.param(Frame, frame_kwargs(), id="frame"),
    pytest.param(Frame, frame_kwargs(image=np.zeros((576, 768, 3), np.uint8), index=399), id="frame-pets-size"),
    pytest.param(Frame, frame_kwargs(image=np.zeros((2, 2, 3), np.uint16)), id="frame-uint16"),
    pytest.param(Detections, detections_kwargs(), id="detections"),
    pytest.param(Detections, detections_kwargs(0), id="detections-empty"),
    pytest.param(Detections, detections_kwargs(xyxy=np.zeros((2, 4), np.float64)), id="detections-float64"),
    pytest.param(Detections, detections_kwargs(class_id=np.zeros(2, np.uint8)), id="detections-uint-class"),
    pytest.param(Tracks, tracks_kwargs(), id="tracks"),
    pytest.param(Tracks, tracks_kwargs(0, ended_track_ids=i64(3)), id="tracks-empty-with-ended"),
    pytest.param(FloorTracks, floor_kwargs(), id="floor"),
    pytest.param(FloorTracks, floor_kwargs(0, ended_tracks=names(0)), id="floor-empty"),
    pytest.param(
        FloorTracks,
        floor_kwargs(track=np.array(["a", "b"]), ended_tracks=np.array(["c"])),
        id="floor-unicode-names",
    ),
    pytest.param(FloorTracks, floor_kwargs(floor_xy=np.full((2, 2), np.nan)), id="floor-nan-positions"),
]


@pytest.mark.parametrize(("cls", "kwargs"), VALID)
def test_valid_constructions(cls: type, kwargs: dict[str, Any]) -> None:
    obj = cls(**kwargs)

    if cls is not Frame:  # the objects of parallel arrays have one row per element of their first array
        first_array = next(value for value in kwargs.values() if isinstance(value, np.ndarray))
        assert len(obj) == len(first_array)


# (class, kwargs, error type, fragments the message must contain: what was expected and what came)
INVALID = [
    pytest.param(
        Frame,
        frame_kwargs(image=np.zeros((4, 6), np.uint8)),
        ValueError,
        ["Frame.image", "(N, N, 3)", "(4, 6)"],
        id="frame-grey-image",
    ),
    pytest.param(
        Frame,
        frame_kwargs(image=np.zeros((4, 6, 4), np.uint8)),
        ValueError,
        ["Frame.image", "(N, N, 3)", "(4, 6, 4)"],
        id="frame-bgra-image",
    ),
    pytest.param(
        Frame,
        frame_kwargs(image=np.zeros((4, 6, 3), np.float32)),
        TypeError,
        ["Frame.image", "'u'", "float32"],
        id="frame-float-image",
    ),
    pytest.param(
        Frame,
        frame_kwargs(image=np.zeros((4, 6, 3), np.int8)),
        TypeError,
        ["Frame.image", "'u'", "int8"],
        id="frame-signed-image",
    ),
    pytest.param(
        Frame,
        frame_kwargs(image=[[[0, 0, 0]]]),
        TypeError,
        ["Frame.image", "numpy array", "list"],
        id="frame-list-image",
    ),
    pytest.param(Frame, frame_kwargs(index=-1), ValueError, ["Frame.index", ">= 0", "-1"], id="frame-negative-index"),
    pytest.param(
        Detections,
        detections_kwargs(xyxy=f32(2, 5)),
        ValueError,
        ["Detections.xyxy", "(N, 4)", "(2, 5)"],
        id="detections-xywhr",
    ),
    pytest.param(
        Detections,
        detections_kwargs(xyxy=f32(8)),
        ValueError,
        ["Detections.xyxy", "(N, 4)", "(8,)"],
        id="detections-flat-boxes",
    ),
    pytest.param(
        Detections,
        detections_kwargs(xyxy=np.zeros((2, 4), np.int32)),
        TypeError,
        ["Detections.xyxy", "'f'", "int32"],
        id="detections-int-boxes",
    ),
    pytest.param(
        Detections,
        detections_kwargs(confidence=f32(2, 1)),
        ValueError,
        ["Detections.confidence", "(N)", "(2, 1)"],
        id="detections-column-confidence",
    ),
    pytest.param(
        Detections,
        detections_kwargs(class_id=f32(2)),
        TypeError,
        ["Detections.class_id", "'iu'", "float32"],
        id="detections-float-class",
    ),
    pytest.param(
        Detections,
        detections_kwargs(confidence=f32(3)),
        ValueError,
        ["Detections arrays must have the same length", "'xyxy': 2", "'confidence': 3", "'class_id': 2"],
        id="detections-length-mismatch",
    ),
    pytest.param(
        Detections,
        detections_kwargs(confidence=[0.5, 0.6]),
        TypeError,
        ["Detections.confidence", "numpy array", "list"],
        id="detections-list-confidence",
    ),
    pytest.param(
        Tracks,
        tracks_kwargs(track_id=f32(2)),
        TypeError,
        ["Tracks.track_id", "'iu'", "float32"],
        id="tracks-float-ids",
    ),
    pytest.param(
        Tracks, tracks_kwargs(xyxy=f32(2, 2)), ValueError, ["Tracks.xyxy", "(N, 4)", "(2, 2)"], id="tracks-points"
    ),
    pytest.param(
        Tracks,
        tracks_kwargs(detection_index=np.zeros(2, np.float64)),
        TypeError,
        ["Tracks.detection_index", "'iu'", "float64"],
        id="tracks-float-detection-index",
    ),
    pytest.param(
        Tracks,
        tracks_kwargs(ended_track_ids=np.zeros((1, 1), np.int64)),
        ValueError,
        ["Tracks.ended_track_ids", "(N)", "(1, 1)"],
        id="tracks-2d-ended",
    ),
    pytest.param(
        Tracks,
        tracks_kwargs(detection_index=i64(1)),
        ValueError,
        ["Tracks arrays must have the same length", "'track_id': 2", "'detection_index': 1"],
        id="tracks-length-mismatch",
    ),
    pytest.param(
        FloorTracks,
        floor_kwargs(track=np.arange(2)),
        TypeError,
        ["FloorTracks.track", "'OU'", "int64"],
        id="floor-integer-names",
    ),
    pytest.param(
        FloorTracks,
        floor_kwargs(foot_uv=f32(2, 3)),
        ValueError,
        ["FloorTracks.foot_uv", "(N, 2)", "(2, 3)"],
        id="floor-foot-uv-shape",
    ),
    pytest.param(
        FloorTracks,
        floor_kwargs(floor_xy=np.zeros((2, 2), np.int64)),
        TypeError,
        ["FloorTracks.floor_xy", "'f'", "int64"],
        id="floor-integer-positions",
    ),
    pytest.param(
        FloorTracks,
        floor_kwargs(ended_tracks=np.zeros(1, np.int64)),
        TypeError,
        ["FloorTracks.ended_tracks", "'OU'", "int64"],
        id="floor-integer-ended",
    ),
    pytest.param(
        FloorTracks,
        floor_kwargs(confidence=f32(5)),
        ValueError,
        ["FloorTracks arrays must have the same length", "'track': 2", "'confidence': 5"],
        id="floor-length-mismatch",
    ),
]


@pytest.mark.parametrize(("cls", "kwargs", "error", "fragments"), INVALID)
def test_invalid_constructions_say_what_was_expected_and_what_came(
    cls: type, kwargs: dict[str, Any], error: type[Exception], fragments: list[str]
) -> None:
    with pytest.raises(error) as raised:
        cls(**kwargs)

    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_frame_reports_its_size() -> None:
    frame = Frame(**frame_kwargs(image=np.zeros((576, 768, 3), np.uint8)))

    assert (frame.width, frame.height) == (768, 576)


def test_objects_are_frozen() -> None:
    frame = Frame(**frame_kwargs())

    with pytest.raises((AttributeError, TypeError)):
        frame.index = 5  # type: ignore[misc]


def test_empty_detections() -> None:
    empty = Detections.empty()

    assert len(empty) == 0
    assert empty.xyxy.shape == (0, 4)


def test_foot_points_are_bottom_centre() -> None:
    xyxy = np.array([[10, 20, 30, 100], [100.5, 50, 141.5, 250.25]], np.float32)
    tracks = Tracks(**tracks_kwargs(xyxy=xyxy))

    feet = tracks.foot_points()

    assert feet.shape == (2, 2)
    np.testing.assert_allclose(feet, [[20, 100], [121, 250.25]])


def test_foot_points_of_no_tracks() -> None:
    assert Tracks(**tracks_kwargs(0)).foot_points().shape == (0, 2)


def test_message_quotes_the_shape_exactly() -> None:
    with pytest.raises(ValueError, match=re.escape("Detections.xyxy must have shape (N, 4), got (3, 2)")):
        Detections(**detections_kwargs(3, xyxy=f32(3, 2)))
