"""Per-camera tracking (vision.perception.track) on synthetic detections: Roboflow's ByteTrack and BoT-SORT (the
defaults, no PyTorch) and Ultralytics' (with the ultralytics extra), held to the same behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.helpers import detections, pets_calibration_document
from vision.config.calibration_file import OpenCVCalibration, projector_from_calibration
from vision.core.geometry import GroundProjector
from vision.core.types import Detections, Tracks
from vision.perception.track import Tracker, TrackerSettings, build_tracker, frames_for_seconds

ULTRALYTICS = pytest.mark.needs_ultralytics
KINDS = [
    "floor",
    "bytetrack",
    "botsort",
    pytest.param("ultralytics-bytetrack", marks=ULTRALYTICS),
    pytest.param("ultralytics-botsort", marks=ULTRALYTICS),
]
FPS = 5.0
BUFFER_S = 1.0
BUFFER_FRAMES = frames_for_seconds(BUFFER_S, FPS)  # 5
PERSON = [300.0, 100.0, 340.0, 200.0]  # a 40x100 px box


def pets_projector() -> GroundProjector:
    """PETS View 001's calibration: the floor tracker's, which needs one."""
    return projector_from_calibration(OpenCVCalibration.model_validate(pets_calibration_document()))


def tracker(kind: str, buffer_s: float = BUFFER_S, fps: float = FPS) -> Tracker:
    projector = pets_projector() if kind == "floor" else None
    return build_tracker(TrackerSettings(kind=kind, track_buffer_s=buffer_s), analysis_fps=fps, projector=projector)


def walking_apart(frame: int) -> tuple[list[float], list[float]]:
    """Two people side by side at frame 0 (10 px apart), walking away from each other at 6 px a frame."""
    left = [255.0 - 6 * frame, 100.0, 295.0 - 6 * frame, 200.0 + frame]
    right = [305.0 + 6 * frame, 102.0, 345.0 + 6 * frame, 202.0 - frame]
    return left, right


def box_of(tracks: Tracks, track_id: int) -> np.ndarray:
    (row,) = np.flatnonzero(tracks.track_id == track_id)
    return tracks.xyxy[row]


def missing_for(kind: str, gap_frames: int) -> tuple[int, list[int], list[list[int]], list[list[int]]]:
    """One person seen for 10 frames, absent for `gap_frames`, then back in the same place for 5 frames. Returns
    the first id, the ids seen after the return, and the ended ids and reported ids of every frame."""
    camera = tracker(kind)
    reported: list[list[int]] = []
    ended: list[list[int]] = []
    plan = [[PERSON]] * 10 + [[]] * gap_frames + [[PERSON]] * 5
    for boxes in plan:
        tracks = camera.update(detections(boxes) if boxes else Detections.empty())
        assert len(tracks) <= len(boxes)
        reported.append(tracks.track_id.tolist())
        ended.append(tracks.ended_track_ids.tolist())
    (first_id,) = reported[9]
    after = [track_id for frame_ids in reported[10 + gap_frames :] for track_id in frame_ids]
    return first_id, after, ended, reported


@pytest.mark.parametrize("kind", KINDS)
def test_two_people_walking_apart_keep_two_stable_ids(kind: str) -> None:
    camera = tracker(kind)
    ids_of = {"left": set(), "right": set()}
    for frame in range(30):
        left, right = walking_apart(frame)
        # A clutter detection below the low threshold comes first, and the order of the people alternates, so that
        # detection indices must be in the full detection list and follow the person rather than the position.
        order = ["left", "right"] if frame % 2 else ["right", "left"]
        boxes = {"left": left, "right": right}
        found = detections([[0, 0, 20, 50]] + [boxes[name] for name in order], [0.05, 0.9, 0.85])

        tracks = camera.update(found)

        # A new track is reported once it is confirmed, by a second sighting; Ultralytics' trackers also confirm at
        # once on a video's first frame.
        assert len(tracks) == 2 or (frame == 0 and len(tracks) == 0)
        assert tracks.ended_track_ids.tolist() == []
        np.testing.assert_array_equal(tracks.xyxy, found.xyxy[tracks.detection_index])
        np.testing.assert_array_equal(tracks.confidence, found.confidence[tracks.detection_index])
        assert 0 not in tracks.detection_index.tolist()
        for track_id, index in zip(tracks.track_id.tolist(), tracks.detection_index.tolist(), strict=True):
            ids_of[order[index - 1]].add(track_id)

    assert len(ids_of["left"]) == 1
    assert len(ids_of["right"]) == 1
    assert ids_of["left"] != ids_of["right"]


@pytest.mark.parametrize("kind", KINDS)
def test_reported_box_is_the_detection_not_the_prediction(kind: str) -> None:
    camera = tracker(kind)
    for frame in range(10):
        jitter = 3.0 if frame % 2 else -3.0  # a detector's jitter, which a Kalman filter would smooth out
        box = [PERSON[0] + jitter, PERSON[1], PERSON[2] + jitter, PERSON[3] + 2 * jitter]
        found = detections([box], 0.8)

        tracks = camera.update(found)
        if frame == 0 and len(tracks) == 0:
            continue  # not confirmed yet (see test_two_people_walking_apart_keep_two_stable_ids)

        np.testing.assert_array_equal(tracks.xyxy, [box])
        assert tracks.confidence.tolist() == pytest.approx([0.8])
        assert tracks.detection_index.tolist() == [0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gap_s", [0.2, 0.6, BUFFER_S - 1 / FPS, BUFFER_S])
def test_a_person_missing_briefly_keeps_the_id(kind: str, gap_s: float) -> None:
    gap_frames = round(gap_s * FPS)

    first_id, after, ended, _ = missing_for(kind, gap_frames)

    assert after == [first_id] * 5
    assert all(not frame_ended for frame_ended in ended)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gap_s", [BUFFER_S + 1 / FPS, BUFFER_S + 2 / FPS, 2 * BUFFER_S, 5 * BUFFER_S])
def test_a_person_missing_longer_than_the_buffer_gets_a_new_id(kind: str, gap_s: float) -> None:
    gap_frames = round(gap_s * FPS)

    first_id, after, ended, _ = missing_for(kind, gap_frames)

    assert first_id not in after, f"id {first_id} came back after {gap_s} s away (buffer {BUFFER_S} s)"
    assert len(set(after)) == 1
    ended_ids = [track_id for frame_ended in ended for track_id in frame_ended]
    assert first_id in ended_ids
    # It ends during the gap, once the buffer has run out: Ultralytics' trackers at the frame after BUFFER_FRAMES
    # empty frames, Roboflow's at the first frame more than buffer + one frame period after the last sighting.
    first_end = next(i for i, frame_ended in enumerate(ended) if first_id in frame_ended)
    assert first_end in (10 + BUFFER_FRAMES, 10 + BUFFER_FRAMES + 1)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gap_frames", [BUFFER_FRAMES + 1, BUFFER_FRAMES + 2, 3 * BUFFER_FRAMES])
def test_an_ended_id_is_reported_once_and_never_reused(kind: str, gap_frames: int) -> None:
    """`ended_track_ids` are the tracks given up on at this frame: each appears once, and a track reported ended
    is never reported again (its pseudonym has been forgotten)."""
    first_id, _, ended, reported = missing_for(kind, gap_frames)

    ended_ids = [track_id for frame_ended in ended for track_id in frame_ended]
    assert ended_ids.count(first_id) == 1, f"ended ids per frame: {ended}"
    end_frame = next(i for i, frame_ended in enumerate(ended) if first_id in frame_ended)
    assert all(first_id not in frame_ids for frame_ids in reported[end_frame:]), f"ids per frame: {reported}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fps", [5.0, 15.0])
def test_track_buffer_is_in_seconds_at_the_analysis_rate(kind: str, fps: float) -> None:
    """A person missing for 1.8 s keeps the id with a 2 s buffer, at 5 and at 15 frames a second; 2.6 s does not."""
    for gap_s, kept in [(1.8, True), (2.6, False)]:
        camera = tracker(kind, buffer_s=2.0, fps=fps)
        plan = [[PERSON]] * 10 + [[]] * round(gap_s * fps) + [[PERSON]] * 3
        seen = []
        for frame, boxes in enumerate(plan):
            found = detections(boxes) if boxes else Detections.empty()
            seen.append(camera.update(found, time_s=frame / fps).track_id.tolist())
        assert (seen[-1] == seen[9]) is kept, f"gap {gap_s} s at {fps} fps: ids {seen}"


@pytest.mark.parametrize("kind", KINDS)
def test_no_detections_give_empty_tracks(kind: str) -> None:
    tracks = tracker(kind).update(Detections.empty())

    assert len(tracks) == 0
    assert tracks.xyxy.shape == (0, 4)
    assert tracks.ended_track_ids.tolist() == []


@pytest.mark.parametrize("kind", KINDS)
def test_low_confidence_detections_start_no_track(kind: str) -> None:
    camera = tracker(kind)
    for _ in range(5):
        tracks = camera.update(detections([PERSON], 0.3))  # above low (0.1), below new-track (0.5)

    assert len(tracks) == 0


@pytest.mark.parametrize(
    ("seconds", "fps", "frames"),
    [(2.0, 5, 10), (2.0, 7, 14), (1.0, 15, 15), (0.5, 7, 4), (0.01, 5, 1), (0.0, 5, 1), (30.0, 0.5, 15)],
)
def test_frames_for_seconds(seconds: float, fps: float, frames: int) -> None:
    assert frames_for_seconds(seconds, fps) == frames


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        pytest.param({"kind": "sort"}, "bytetrack, botsort", id="unknown-kind"),
        pytest.param({"kind": "ByteTrack"}, "bytetrack, botsort", id="kind-capitalised"),
        pytest.param({"track_buffer_s": 0}, "track buffer", id="buffer-zero"),
        pytest.param({"track_buffer_s": -2.0}, "track buffer", id="buffer-negative"),
        pytest.param({"track_buffer_s": math.nan}, "track buffer", id="buffer-nan"),
        pytest.param({"track_buffer_s": math.inf}, "track buffer", id="buffer-inf"),
        pytest.param({"low_threshold": 0.0}, "thresholds", id="low-zero"),
        pytest.param({"low_threshold": 0.5, "high_threshold": 0.4}, "thresholds", id="low-above-high"),
        pytest.param({"high_threshold": 1.0}, "thresholds", id="high-one"),
        pytest.param({"low_threshold": -0.1}, "thresholds", id="low-negative"),
    ],
)
def test_invalid_settings_are_refused(settings: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        TrackerSettings(**settings)


def test_default_settings_are_valid() -> None:
    settings = TrackerSettings()

    assert settings.kind == "floor"
    assert 0 < settings.low_threshold <= settings.high_threshold < 1


@pytest.mark.lean_install
def test_ultralytics_trackers_without_the_extra_say_how_to_get_them() -> None:
    with pytest.raises(ValueError, match=r"needs the Ultralytics extra: install it with `pip install 'footfall\[ultra"):
        TrackerSettings(kind="ultralytics-bytetrack")


# ----------------------------------------------------------------------------------------------------------------
# The floor tracker: people walking on the PETS floor, drawn into the image through its real calibration


def person_box(projector: GroundProjector, floor_xy: tuple[float, float]) -> list[float]:
    """The box of a person standing at `floor_xy` (metres): foot point through the calibration, head 1.7 m above
    (approximated by the image scale there: the pixels per metre of the floor around the foot, times 1.7)."""
    foot, beside = projector.to_image(np.array([floor_xy, (floor_xy[0] + 0.5, floor_xy[1])]))
    metre_px = 2 * float(np.hypot(*(beside - foot)))
    height, width = 1.7 * metre_px, 0.5 * metre_px
    return [foot[0] - width / 2, foot[1] - height, foot[0] + width / 2, foot[1]]


def test_floor_tracker_keeps_two_walkers_who_cross_at_uneven_frame_times() -> None:
    """Two people walk towards each other at 1.4 m/s and pass 0.7 m apart, analysed at about 5 frames/s with the
    uneven gaps of a live stream (0.1 to 0.4 s, some frames dropped): each keeps one identity throughout."""
    projector = pets_projector()
    camera = tracker("floor", buffer_s=2.0)
    rng = np.random.default_rng(7)
    times = np.cumsum(rng.uniform(0.1, 0.4, size=40))
    ids_of: dict[str, set[int]] = {"east": set(), "west": set()}
    for time_s in times:
        walkers = {"east": (-14.0 + 1.4 * time_s, -8.0), "west": (-14.0 + 14.0 - 1.4 * time_s, -8.7)}
        names = list(walkers)
        found = detections([person_box(projector, walkers[name]) for name in names], 0.8)
        tracks = camera.update(found, time_s=float(time_s))
        for track_id, index in zip(tracks.track_id.tolist(), tracks.detection_index.tolist(), strict=True):
            ids_of[names[index]].add(track_id)
    assert len(ids_of["east"]) == 1 and len(ids_of["west"]) == 1, ids_of
    assert ids_of["east"] != ids_of["west"]


def test_floor_tracker_does_not_match_a_detection_no_walk_could_reach() -> None:
    """A person lost for 0.4 s is not the detection that appears 6 m away (15 m/s): that is someone else."""
    projector = pets_projector()
    camera = tracker("floor", buffer_s=2.0)
    seen = []
    for frame in range(6):
        seen.append(camera.update(detections([person_box(projector, (-12.0, -8.0))]), time_s=0.2 * frame).track_id)
    far = camera.update(detections([person_box(projector, (-12.0, -2.0))]), time_s=1.4)
    again = camera.update(detections([person_box(projector, (-12.0, -2.0))]), time_s=1.6)
    assert far.track_id.tolist() == []  # a new person: not reported until seen twice
    assert len(again.track_id) == 1 and again.track_id[0] != seen[-1][0]


def test_floor_tracker_finds_a_person_again_where_their_walk_took_them() -> None:
    """Hidden for 1.2 s while walking on at 1.2 m/s, a person reappears 1.44 m further on: the same track."""
    projector = pets_projector()
    camera = tracker("floor", buffer_s=2.0)
    ids = []
    for frame in range(25):
        time_s = 0.2 * frame
        if 10 <= frame < 16:  # behind a pillar
            camera.update(Detections.empty(), time_s=time_s)
            continue
        place = (-14.0 + 1.2 * time_s, -8.0)
        ids.extend(camera.update(detections([person_box(projector, place)]), time_s=time_s).track_id.tolist())
    assert len(set(ids)) == 1, ids


def test_floor_tracking_needs_a_calibration_and_falls_back_to_botsort_without_one() -> None:
    from vision.perception.floor_track import FloorTracker
    from vision.perception.track import RoboflowTracker

    assert isinstance(build_tracker(TrackerSettings(), analysis_fps=5.0, projector=pets_projector()), FloorTracker)
    assert isinstance(build_tracker(TrackerSettings(), analysis_fps=5.0), RoboflowTracker)
