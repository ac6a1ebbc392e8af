"""The runtime unit (vision.runtime.camera_run): one camera's loop built from a source, a detector, a tracker, a
projector, analytics and sinks, on the real PETS clip with the real detector; and the tracker seam."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import PETS_FPS, PETS_FRAMES, PETS_VIDEO, TFLITE_MODEL, pets_calibration_document
from vision.analytics.camera import CameraAnalytics
from vision.analytics.site import TrackFlow
from vision.config.calibration_file import parse_calibration, projector_from_calibration
from vision.core.types import Detections, FloorTracks, Frame, Tracks
from vision.perception.detect import DetectorSettings, YoloDetector
from vision.perception.track import Tracker, TrackerSettings, build_tracker
from vision.runtime.camera_run import CameraRun
from vision.sinks.mot import MotSink
from vision.sources.base import EvenTimeSampler, FrameSource
from vision.sources.files import open_source

START = datetime(2009, 3, 12, 10, 0, tzinfo=UTC)
ANALYSIS_FPS = 2.0


@dataclass
class RecordingSink:
    """Keeps what a sink is given, to check what the run hands on (a sink of its own, not a stand-in for one)."""

    frames: list[FloorTracks] = field(default_factory=list)
    tracks: list[TrackFlow] = field(default_factory=list)
    closed_with: list[bool] = field(default_factory=list)

    def write_frame(self, tracks: FloorTracks) -> None:
        self.frames.append(tracks)

    def write_track(self, track: TrackFlow) -> None:
        self.tracks.append(track)

    def close(self, completed: bool) -> list[Path]:
        self.closed_with.append(completed)
        return []


class OneFrameTracker:
    """A second `Tracker`: every detection is a new track that ends at the next frame. Shows the camera run works
    with any implementation of the protocol, not only the Ultralytics adapter."""

    def __init__(self) -> None:
        self._next_id = 1
        self._live = np.zeros(0, np.int64)

    @property
    def tracking(self) -> bool:
        return len(self._live) > 0

    def update(self, detections: Detections, image: np.ndarray | None = None, time_s: float | None = None) -> Tracks:
        ended, count = self._live, len(detections)
        self._live = np.arange(self._next_id, self._next_id + count, dtype=np.int64)
        self._next_id += count
        return Tracks(
            track_id=self._live,
            xyxy=detections.xyxy,
            confidence=detections.confidence,
            detection_index=np.arange(count, dtype=np.int64),
            ended_track_ids=ended,
        )


class InterruptedAfter:
    """A real source that the user interrupts (Ctrl+C) after a number of analysed frames."""

    def __init__(self, source: FrameSource, frames: int) -> None:
        self._source, self._frames = source, frames
        self.info, self.counters = source.info, source.counters

    def frames(self, camera: str, sampler: EvenTimeSampler) -> Iterator[Frame]:
        for taken, frame in enumerate(self._source.frames(camera, sampler), start=1):
            yield frame
            if taken == self._frames:
                raise KeyboardInterrupt

    def close(self) -> None:
        self._source.close()


@pytest.fixture(scope="module")
def detector() -> YoloDetector:
    return YoloDetector(DetectorSettings(model=str(TFLITE_MODEL)))


def camera_run(detector: YoloDetector, tracker: Tracker, sinks: list) -> CameraRun:
    projector = projector_from_calibration(parse_calibration(pets_calibration_document()))
    return CameraRun(
        camera="view001",
        source=open_source(str(PETS_VIDEO), START),
        sampler=EvenTimeSampler(ANALYSIS_FPS),
        detector=detector,
        tracker=tracker,
        projector=projector,
        analytics=CameraAnalytics("view001", None),
        sinks=sinks,
    )


def test_a_camera_run_hands_every_frame_and_every_finished_track_to_each_sink(
    detector: YoloDetector, tmp_path: Path
) -> None:
    first, second = RecordingSink(), RecordingSink()
    run = camera_run(detector, build_tracker(TrackerSettings(), ANALYSIS_FPS), [first, second])
    try:
        run.run()
        files = run.close(completed=True)
    finally:
        run.source.close()

    expected_frames = int(np.ceil(PETS_FRAMES / PETS_FPS * ANALYSIS_FPS))
    assert len(first.frames) == expected_frames == run.source.counters.frames_analysed
    assert [f.frame_index for f in first.frames] == [f.frame_index for f in second.frames]
    times = [f.time_s - START.timestamp() for f in first.frames]
    np.testing.assert_allclose(np.diff(times), 1 / ANALYSIS_FPS, atol=1 / PETS_FPS)

    # Every pseudonym seen in a frame comes back exactly once as a finished track, with all of its samples.
    seen: dict[str, int] = {}
    for frame in first.frames:
        for name in frame.track.tolist():
            seen[name] = seen.get(name, 0) + 1
    finished = {flow.track.track: len(flow.track) for flow in first.tracks}
    assert len(first.tracks) == len(finished) == run.stats.tracks > 3
    assert finished == seen
    assert [flow.track.track for flow in second.tracks] == [flow.track.track for flow in first.tracks]
    assert run.stats.detections >= sum(len(frame) for frame in first.frames)
    assert first.closed_with == second.closed_with == [True] and files == []

    # Floor positions come from the projector: people walk on the PETS ground plane, within the calibrated area.
    floor = np.concatenate([frame.floor_xy for frame in first.frames])
    assert np.isfinite(floor).mean() > 0.9
    assert np.nanpercentile(np.abs(floor), 95) < 30


def test_the_camera_run_works_with_any_tracker(detector: YoloDetector, tmp_path: Path) -> None:
    sink = RecordingSink()
    mot = MotSink(tmp_path / "mot", "view001")
    run = camera_run(detector, OneFrameTracker(), [sink, mot])
    try:
        run.run()
        files = run.close(completed=True)
    finally:
        run.source.close()

    assert all(len(flow.track) == 1 for flow in sink.tracks)  # each track lived one frame
    assert len(sink.tracks) == sum(len(frame) for frame in sink.frames) == run.stats.tracks
    assert files == [tmp_path / "mot" / "view001.txt"]
    rows = np.loadtxt(files[0], delimiter=",", ndmin=2)
    assert len(rows) == len(sink.tracks) and len(np.unique(rows[:, 1])) == len(rows)


def test_an_aborted_camera_run_keeps_what_datasets_keep_and_discards_the_mot_export(
    detector: YoloDetector, tmp_path: Path
) -> None:
    sink = RecordingSink()
    mot = MotSink(tmp_path / "mot", "view001")
    run = camera_run(detector, build_tracker(TrackerSettings(), ANALYSIS_FPS), [sink, mot])
    run.source = InterruptedAfter(run.source, frames=5)
    try:
        with pytest.raises(KeyboardInterrupt):
            run.run()
        files = run.close(completed=False)
    finally:
        run.source.close()

    assert len(sink.frames) == 5
    assert {flow.track.track for flow in sink.tracks} == {name for f in sink.frames for name in f.track.tolist()}
    assert sink.closed_with == [False] and files == []
    assert not (tmp_path / "mot").exists() or list((tmp_path / "mot").iterdir()) == []
