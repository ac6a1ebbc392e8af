"""The image-space dwell heatmap (vision.sinks.image_heatmap, vision.analytics.image_heatmap): on the real PETS
frames with the ground-truth tracks, and end to end through `footfall run` with the real detector.

Measured: the median background of 40 frames differs from a frame by 140-205 (summed over B, G, R, mean) inside
the ground-truth boxes and 6-11 outside. The engine's hottest cell is the ground truth's hottest at 5 fps and a
neighbour of it (0.89 of its density) at 3 fps; the smoothed grids correlate with the ground truth's at 0.88 and
0.86.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.helpers import (
    PETS_FPS,
    PETS_FRAMES,
    PETS_SIZE,
    PETS_VIDEO,
    TFLITE_MODEL,
    ground_truth_feet,
    pets_ground_truth,
)
from vision.analytics.heatmap import presence_seconds
from vision.analytics.site import TrackFlow
from vision.core.errors import OutputError
from vision.core.types import Frame, TrackHistory
from vision.sinks.image_heatmap import (
    BACKGROUND_CAPACITY,
    PLAIN_BACKGROUND,
    BackgroundReservoir,
    ImageHeatmapSink,
    analysed_frames_estimate,
    temporal_median,
)
from vision.sinks.pictures import IMAGE_SIGMA_CELLS

START_S = 1236852000.0  # 2009-03-12T10:00:00Z
KEPT_FRAMES = (100, 133, 200, 300)  # 1-based frame numbers with 5-8 people in view
TITLE_PX = 52  # two title lines
SCALE_PX = 100  # the colour scale's width


def ground_truth_tracks() -> list[TrackHistory]:
    rows = pets_ground_truth()
    feet = ground_truth_feet(rows)
    tracks = []
    for identity in np.unique(rows[:, 1]):
        mine = np.flatnonzero(rows[:, 1] == identity)
        mine = mine[np.argsort(rows[mine, 0])]
        frames = rows[mine, 0].astype(np.int64) - 1
        tracks.append(
            TrackHistory(
                camera="view001",
                track=f"gt{int(identity)}",
                time_s=START_S + frames / PETS_FPS,
                frame=frames,
                foot_uv=feet[mine],
                floor_xy=np.full((len(mine), 2), np.nan),
                confidence=np.ones(len(mine), np.float32),
            )
        )
    return tracks


def smoothed(grid: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(grid.astype(np.float32), (0, 0), IMAGE_SIGMA_CELLS)


def ground_truth_density(cell_px: int, shape: tuple[int, int]) -> np.ndarray:
    """Seconds of ground-truth feet per cell (each annotated frame stands for 1/7 s)."""
    feet = ground_truth_feet(pets_ground_truth())
    rows = np.clip((feet[:, 1] // cell_px).astype(int), 0, shape[0] - 1)
    cols = np.clip((feet[:, 0] // cell_px).astype(int), 0, shape[1] - 1)
    density = np.zeros(shape)
    np.add.at(density, (rows, cols), 1.0 / PETS_FPS)
    return density


def assert_hot_where_the_feet_are(grid: np.ndarray, cell_px: int, min_correlation: float) -> None:
    engine, truth = smoothed(grid), smoothed(ground_truth_density(cell_px, grid.shape))
    hottest = np.unravel_index(np.argmax(engine), engine.shape)
    assert truth[hottest] >= 0.7 * truth.max(), (hottest, np.unravel_index(np.argmax(truth), truth.shape))
    assert np.corrcoef(engine.ravel(), truth.ravel())[0, 1] >= min_correlation


@pytest.fixture(scope="module")
def pets_sink(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageHeatmapSink, dict[int, np.ndarray], list[Path]]:
    """The sink fed every real PETS frame and the ground-truth tracks, closed; with a few frames kept to compare."""
    folder = tmp_path_factory.mktemp("image-heatmap") / "heatmaps"
    sink = ImageHeatmapSink(folder, "view001", "view001", max_gap_s=2.0, expected_frames=PETS_FRAMES)
    kept: dict[int, np.ndarray] = {}
    with av.open(str(PETS_VIDEO)) as container:
        for index, decoded in enumerate(container.decode(video=0)):
            image = decoded.to_ndarray(format="bgr24")
            sink.observe_frame(Frame("view001", index, index / PETS_FPS, START_S + index / PETS_FPS, image))
            if index + 1 in KEPT_FRAMES:
                kept[index + 1] = image
    tracks = ground_truth_tracks()
    for track in tracks:
        sink.write_track(TrackFlow(track, [], [], 0.0, False))
    sink.write_track(TrackFlow(tracks[0], [], [], 0.9, True))  # a staff track: left out, as on the floor
    written = sink.close(completed=True)
    return sink, kept, written


def test_temporal_median_is_the_median():
    rng = np.random.default_rng(7)
    for count in (1, 2, 7, 40):
        frames = [rng.integers(0, 256, (9, 11, 3), dtype=np.uint8) for _ in range(count)]
        expected = np.sort(np.stack(frames), axis=0)[count // 2]
        np.testing.assert_array_equal(temporal_median(frames), expected)


def test_reservoir_spreads_frames_evenly_in_bounded_memory():
    def frame(index: int) -> np.ndarray:
        return np.dstack([np.full((4, 6), index // 256), np.full((4, 6), index % 256), np.zeros((4, 6))]).astype(
            np.uint8
        )

    def kept_indices(reservoir: BackgroundReservoir) -> list[int]:
        return [int(image[0, 0, 0]) * 256 + int(image[0, 0, 1]) for image in reservoir.frames]

    unknown = BackgroundReservoir()
    for index in range(5000):
        unknown.offer(frame(index))
        assert len(unknown.frames) <= BACKGROUND_CAPACITY
    indices = kept_indices(unknown)
    assert BACKGROUND_CAPACITY // 2 <= len(indices) <= BACKGROUND_CAPACITY
    assert indices == list(range(0, 5000, unknown.stride)), "every stride-th frame from the first"
    assert indices[-1] >= 5000 - 2 * unknown.stride, "spread over all of the footage"

    known = BackgroundReservoir(expected=286)
    for index in range(286):
        known.offer(frame(index))
    assert kept_indices(known) == list(range(0, 286, 8))
    assert analysed_frames_estimate(400, 7.0, 5.0) == 286
    assert analysed_frames_estimate(None, 7.0, 5.0) is None

    large = BackgroundReservoir()
    large.offer(np.zeros((1080, 1920, 3), np.uint8))
    assert large.frames[0].shape == (360, 640, 3), "downscaled to 640 px a side"


def test_background_has_the_people_removed(pets_sink):
    sink, kept, _ = pets_sink
    background = sink.background.median()
    height, width = background.shape[:2]
    assert (width, height) == (640, 480)
    assert len(sink.background.frames) == 40, "400 frames, every 10th"
    scale = width / PETS_SIZE[0]
    truth = pets_ground_truth()
    for number, image in kept.items():
        picture = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        difference = np.abs(picture.astype(np.int32) - background.astype(np.int32)).sum(axis=2)
        people = np.zeros((height, width), bool)
        for x, y, w, h in truth[truth[:, 0] == number, 2:6] * scale:
            people[max(0, int(y)) : int(y + h), max(0, int(x)) : int(x + w)] = True
        assert people.any()
        inside, outside = difference[people].mean(), difference[~people].mean()
        assert outside < 15, f"frame {number}: the background is the scene ({outside:.1f})"
        assert inside > 8 * outside, f"frame {number}: people stand out ({inside:.1f} vs {outside:.1f})"


def test_heatmap_counts_presence_seconds_of_the_tracks(pets_sink):
    _, _, written = pets_sink
    tracks = ground_truth_tracks()
    expected = sum(float(presence_seconds(track.time_s, 2.0).sum()) for track in tracks)
    grid = np.load(written[0])
    assert grid.shape == (58, 77), "10 px cells over 768x576"
    assert grid.sum() == pytest.approx(expected, rel=1e-9)
    document = json.loads(written[1].read_text())
    assert document["total_person_seconds"] == pytest.approx(expected, rel=1e-9)
    assert document["cell_px"] == 10 and document["picture_size"] == [768, 576]
    assert (document["tracks"], document["staff_tracks_left_out"]) == (len(tracks), 1)
    assert document["period"] == {"start": "2009-03-12T10:00:00+00:00", "end": "2009-03-12T10:00:57+00:00"}
    assert_hot_where_the_feet_are(grid, 10, min_correlation=0.99)


def test_picture_size_title_and_untouched_background(pets_sink):
    sink, _, written = pets_sink
    assert [path.name for path in written] == ["view001.image.npy", "view001.image.json", "view001.image.png"]
    picture = cv2.imread(str(written[2]))
    assert picture.shape == (TITLE_PX + 480, 640 + SCALE_PX, 3)
    assert (picture[:TITLE_PX] < 128).any(), "a title"
    background = sink.background.median()
    body = picture[TITLE_PX:, :640]
    # nobody walks on the lawn at the bottom left: no heat drawn there
    np.testing.assert_array_equal(body[400:, :200], background[400:, :200])
    heat = np.abs(body.astype(int) - background.astype(int)).sum(axis=2) > 30
    assert 0.05 < heat.mean() < 0.6, "the heat covers the walkways, not the whole picture"
    assert not list(written[0].parent.glob(".*")), "no temporary files left"


def test_aborted_run_still_writes_and_a_failed_write_leaves_nothing(tmp_path):
    image = np.full((576, 768, 3), 90, np.uint8)
    track = ground_truth_tracks()[0]
    sink = ImageHeatmapSink(tmp_path / "heatmaps", "cam", "cam", max_gap_s=2.0, timezone="Europe/London")
    for index in range(3):  # too few frames for a median to remove anyone: a plain background
        sink.observe_frame(Frame("cam", index, index / 7, START_S + index / 7, image))
    sink.write_track(TrackFlow(track, [], [], 0.0, False))
    written = sink.close(completed=False)
    assert [path.exists() for path in written] == [True, True, True], "what was analysed is kept"
    document = json.loads(written[1].read_text())
    assert document["timezone"] == "Europe/London"
    assert document["picture"]["background"].startswith("plain grey")
    body = cv2.imread(str(written[2]))[TITLE_PX:, :640]
    np.testing.assert_array_equal(body[400:, :200], PLAIN_BACKGROUND)

    blocked = tmp_path / "blocked"
    (blocked / "cam.image.png").mkdir(parents=True)  # the picture cannot take its place
    sink = ImageHeatmapSink(blocked, "cam", "cam", max_gap_s=2.0)
    sink.observe_frame(Frame("cam", 0, 0.0, START_S, image))
    with pytest.raises(OutputError, match=r"cam\.image\.png"):
        sink.close(completed=True)
    assert sorted(path.name for path in blocked.iterdir()) == ["cam.image.png"], "all three or none, no leftovers"

    assert ImageHeatmapSink(tmp_path / "none", "cam", "cam", 2.0).close(completed=True) == [], "no frame, no file"
    assert not (tmp_path / "none").exists()


@pytest.fixture(scope="module")
def pets_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    command = [
        sys.executable, "-m", "vision", "run", str(PETS_VIDEO), "--model", str(TFLITE_MODEL), "--camera", "view001",
        "--analysis-fps", "3", "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return out


def test_footfall_run_writes_the_image_heatmap_and_lists_it(pets_run):
    names = ["heatmaps/view001.image.npy", "heatmaps/view001.image.json", "heatmaps/view001.image.png"]
    record = json.loads((pets_run / "run.json").read_text())
    outputs = record["cameras"][0]["outputs"]
    assert outputs[-3:] == names
    assert all((pets_run / name).is_file() for name in names)
    assert cv2.imread(str(pets_run / names[2])).shape == (TITLE_PX + 480, 640 + SCALE_PX, 3)

    tracks = pq.read_table(pets_run / "tracks", columns=["track", "t"]).to_pandas().sort_values(["track", "t"])
    expected = sum(
        float(presence_seconds(group["t"].astype("int64").to_numpy() / 1e6, 2.0).sum())
        for _, group in tracks.groupby("track")
    )
    grid = np.load(pets_run / names[0])
    document = json.loads((pets_run / names[1]).read_text())
    assert grid.sum() == pytest.approx(expected, rel=1e-6)
    assert document["total_person_seconds"] == pytest.approx(expected, rel=1e-6)
    assert document["tracks"] == record["cameras"][0]["tracks"]
    assert_hot_where_the_feet_are(grid, document["cell_px"], min_correlation=0.75)
