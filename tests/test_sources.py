"""Frame sources on real footage: PETS09-S2L1 (MP4), OpenCV's vtest (AVI) and MOTChallenge image sequences."""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import (
    PETS_FIRST_FRAME,
    PETS_FPS,
    PETS_FRAMES,
    PETS_SIZE,
    PETS_VIDEO,
    VTEST_VIDEO,
    remux_faststart,
    write_clip,
)
from vision.core.errors import SourceError, SourceTruncatedError
from vision.core.ids import redact_url
from vision.sources.base import EvenTimeSampler
from vision.sources.files import ImageSequenceSource, VideoFileSource, open_source

START = datetime(2024, 3, 5, 9, 30, tzinfo=UTC)


def kept(sampler: EvenTimeSampler, times: list[float] | np.ndarray) -> list[float]:
    return [t for t in times if sampler.keep(float(t))]


# --- EvenTimeSampler ---------------------------------------------------------------------------------------------


def test_seven_fps_sampled_at_five_keeps_five_a_second_evenly() -> None:
    times = np.arange(10 * PETS_FPS) / PETS_FPS  # ten seconds of 7 fps

    chosen = np.array(kept(EvenTimeSampler(5), times))

    per_second = np.bincount(np.floor(chosen + 1e-9).astype(int))
    assert per_second.tolist() == [5] * 10
    # Evenly spread: exactly one kept frame in every 0.2 s slot, and gaps of one or two source frames only.
    assert np.bincount(np.floor(chosen * 5 + 1e-6).astype(int)).tolist() == [1] * 50
    gaps = np.round(np.diff(chosen) * PETS_FPS).astype(int)
    assert set(gaps.tolist()) == {1, 2}


@pytest.mark.parametrize("fps", [7, 7.0001, 10, 30, 1000])
def test_rate_at_or_above_the_source_keeps_every_frame(fps: float) -> None:
    times = 12.5 + np.arange(100) / PETS_FPS  # a stream that does not start at zero

    assert len(kept(EvenTimeSampler(fps), times)) == 100


def test_first_frame_is_always_kept() -> None:
    sampler = EvenTimeSampler(0.5)

    assert sampler.keep(1234.5)
    assert not sampler.keep(1235.0)
    assert sampler.keep(1236.5)


@pytest.mark.parametrize("fps", [0, -1, -0.5, math.nan, math.inf, -math.inf])
def test_invalid_fps_is_refused(fps: float) -> None:
    with pytest.raises(ValueError, match="analysis fps must be a positive number"):
        EvenTimeSampler(fps)


@settings(max_examples=300, deadline=None)
@given(
    fps=st.floats(min_value=0.2, max_value=60),
    start=st.floats(min_value=0, max_value=5000),
    steps=st.lists(st.floats(min_value=1e-3, max_value=3.0), min_size=1, max_size=200),
)
def test_sampler_spacing_and_coverage(fps: float, start: float, steps: list[float]) -> None:
    """Kept frames are at most one per 1/fps slot, so any two kept frames with one kept frame between them are at
    least 1/fps apart (neighbours alone can straddle a slot boundary); and no frame is left without a kept frame
    in the 1/fps window that ends at it (the first frame of each slot is kept)."""
    times = np.concatenate([[start], start + np.cumsum(steps)])
    sampler = EvenTimeSampler(fps)
    keep = np.array([sampler.keep(float(t)) for t in times])
    chosen = times[keep]
    period = 1.0 / fps
    eps = 2e-6 * period + 1e-9 * max(1.0, start)

    assert keep[0]
    assert np.all(chosen[2:] - chosen[:-2] > period - eps)
    # Every frame has a kept frame at or before it, less than one period earlier.
    last_kept = np.maximum.accumulate(np.where(keep, times, -np.inf))
    assert np.all(times - last_kept < period + eps)
    # Frames spaced a period or more apart are all kept.
    if min(steps) >= period * (1 + 1e-5):
        assert keep.all()


# --- VideoFileSource on PETS09-S2L1 ------------------------------------------------------------------------------


@dataclass
class Run:
    indices: list[int]
    pts: np.ndarray
    times: np.ndarray
    frames_read: int
    frames_analysed: int
    source: VideoFileSource


def read_all(path: Path, fps: float, start: datetime | None = None) -> Run:
    source = open_source(str(path), start)
    assert isinstance(source, VideoFileSource)
    indices, pts, times = [], [], []
    try:
        for frame in source.frames("cam", EvenTimeSampler(fps)):
            indices.append(frame.index)
            pts.append(frame.pts_s)
            times.append(frame.time_s)
    finally:
        source.close()
    return Run(
        indices, np.array(pts), np.array(times), source.counters.frames_read, source.counters.frames_analysed, source
    )


@pytest.fixture(scope="module")
def pets_all() -> Run:
    return read_all(PETS_VIDEO, 1000, START)


def test_pets_reads_all_frames_with_their_times(pets_all: Run) -> None:
    assert pets_all.frames_read == PETS_FRAMES
    assert pets_all.frames_analysed == PETS_FRAMES
    assert pets_all.indices == list(range(PETS_FRAMES))
    np.testing.assert_allclose(pets_all.pts, np.arange(PETS_FRAMES) / PETS_FPS, atol=1e-3, rtol=0)
    np.testing.assert_allclose(pets_all.times, START.timestamp() + pets_all.pts, atol=1e-6, rtol=0)


def test_an_undamaged_video_counts_no_decode_errors(pets_all: Run) -> None:
    assert pets_all.source.counters.decode_errors == 0


def test_pets_source_info(pets_all: Run) -> None:
    info = pets_all.source.info

    assert info.kind == "video"
    assert (info.width, info.height) == PETS_SIZE
    assert info.nominal_fps == pytest.approx(PETS_FPS)
    assert info.frame_count == PETS_FRAMES
    assert info.duration_s == pytest.approx(PETS_FRAMES / PETS_FPS, abs=0.2)
    assert info.codec == "h264"
    assert info.start_time == START
    assert info.start_time_origin == "cli"


def test_pets_sampled_at_five_fps() -> None:
    run = read_all(PETS_VIDEO, 5)

    assert run.frames_read == PETS_FRAMES
    assert run.frames_analysed == 286  # 57.1 s of video in 0.2 s slots
    assert run.source.counters.frames_skipped == PETS_FRAMES - 286
    assert np.all(np.diff(run.pts) > 0.1)
    assert np.all(np.diff(run.pts) < 0.3)


def test_start_time_falls_back_to_file_mtime_without_creation_time() -> None:
    source = VideoFileSource(PETS_VIDEO)  # the PETS MP4 carries no creation_time tag
    source.close()

    assert source.info.start_time_origin == "file_mtime"
    assert source.info.start_time == datetime.fromtimestamp(os.stat(PETS_VIDEO).st_mtime, tz=UTC)


def test_start_time_from_the_container_creation_time(tmp_path: Path) -> None:
    created = datetime(2023, 11, 2, 17, 45, 12, tzinfo=UTC)  # MP4 keeps whole seconds
    clip = write_clip(tmp_path / "clip.mp4", frames=14, fps=7, creation_time=created)

    source = open_source(str(clip))
    frames = list(source.frames("cam", EvenTimeSampler(100)))
    source.close()

    assert source.info.start_time_origin == "container"
    assert source.info.start_time == created
    assert len(frames) == 14
    np.testing.assert_allclose([f.time_s for f in frames], created.timestamp() + np.arange(14) / 7, atol=1e-3)


def test_a_given_start_overrides_the_creation_time(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=3, creation_time=datetime(2023, 11, 2, tzinfo=UTC))
    start = datetime(2024, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))

    source = open_source(str(clip), start)
    source.close()

    assert source.info.start_time_origin == "cli"
    assert source.info.start_time == start


@pytest.mark.parametrize("stamp", ["1970-01-01T00:00:00.000000Z", "1904-01-01T00:00:00Z", "not a date"])
def test_meaningless_creation_times_are_ignored(tmp_path: Path, stamp: str) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=2, creation_time=stamp)

    source = open_source(str(clip))
    source.close()

    assert source.info.start_time_origin == "file_mtime"


def test_frames_are_bgr_uint8_matching_the_original_jpeg() -> None:
    source = open_source(str(PETS_VIDEO))
    try:
        frame = next(iter(source.frames("cam", EvenTimeSampler(100))))
    finally:
        source.close()
    reference = cv2.imread(str(PETS_FIRST_FRAME), cv2.IMREAD_COLOR)

    assert frame.image.dtype == np.uint8
    assert frame.image.shape == (576, 768, 3)
    assert frame.camera == "cam"
    assert frame.index == 0
    difference = np.abs(frame.image.astype(np.int16) - reference).mean()
    swapped = np.abs(frame.image[..., ::-1].astype(np.int16) - reference).mean()
    assert difference < 4.0  # measured 1.9 (CRF 20 H.264 against the original JPEG)
    assert swapped > 10.0  # RGB order would be far off (measured 20.6)


# --- VideoFileSource on vtest (AVI whose PTS come out in decode order) ----------------------------------------------


def test_vtest_avi_times_increase_evenly() -> None:
    run = read_all(VTEST_VIDEO, 10)  # 10 fps: the sampler keeps every frame whose time is right

    assert run.frames_read == 795
    assert np.all(np.diff(run.pts) > 0)
    np.testing.assert_allclose(np.diff(run.pts), 0.1, atol=1e-3, err_msg=f"first times {run.pts[:5]}")
    np.testing.assert_allclose(run.pts, np.arange(len(run.pts)) / 10, atol=1e-3)
    assert run.indices == list(range(795))
    assert run.frames_analysed == 795


# --- ImageSequenceSource ---------------------------------------------------------------------------------------

SEQUENCE_FRAMES = 20
SEQINFO = """[Sequence]
name=PETS09-S2L1-head
imDir=img1
frameRate=7
seqLength={length}
imWidth=768
imHeight=576
imExt=.jpg
"""


@pytest.fixture(scope="module")
def pets_head_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first PETS frames decoded once and saved as JPEGs."""
    folder = tmp_path_factory.mktemp("pets-head")
    source = open_source(str(PETS_VIDEO))
    try:
        for frame in source.frames("cam", EvenTimeSampler(100)):
            cv2.imwrite(str(folder / f"{frame.index + 1:06d}.jpg"), frame.image)
            if frame.index + 1 == SEQUENCE_FRAMES:
                break
    finally:
        source.close()
    return folder


@pytest.fixture
def sequence(tmp_path: Path, pets_head_images: Path) -> Path:
    folder = tmp_path / "PETS09-S2L1-head"
    shutil.copytree(pets_head_images, folder / "img1")
    (folder / "seqinfo.ini").write_text(SEQINFO.format(length=SEQUENCE_FRAMES), encoding="utf-8")
    return folder


def test_image_sequence_reads_every_frame_at_frame_rate_times(sequence: Path, pets_head_images: Path) -> None:
    source = open_source(str(sequence), START)
    assert isinstance(source, ImageSequenceSource)

    frames = list(source.frames("cam", EvenTimeSampler(100)))

    assert [f.index for f in frames] == list(range(SEQUENCE_FRAMES))
    np.testing.assert_allclose([f.pts_s for f in frames], np.arange(SEQUENCE_FRAMES) / 7, atol=1e-9)
    np.testing.assert_allclose([f.time_s for f in frames], START.timestamp() + np.arange(SEQUENCE_FRAMES) / 7)
    assert source.counters.frames_read == source.counters.frames_analysed == SEQUENCE_FRAMES
    assert source.info.kind == "image_sequence"
    assert (source.info.width, source.info.height, source.info.nominal_fps) == (768, 576, 7.0)
    assert source.info.frame_count == SEQUENCE_FRAMES
    assert source.info.start_time_origin == "cli"
    assert frames[5].image.dtype == np.uint8
    np.testing.assert_array_equal(frames[5].image, cv2.imread(str(pets_head_images / "000006.jpg")))


def test_image_sequence_start_defaults_to_seqinfo_mtime(sequence: Path) -> None:
    source = open_source(str(sequence))

    assert source.info.start_time_origin == "file_mtime"
    assert source.info.start_time == datetime.fromtimestamp((sequence / "seqinfo.ini").stat().st_mtime, tz=UTC)


def test_image_sequence_skipped_frames_are_not_read(sequence: Path) -> None:
    sampler = EvenTimeSampler(5)
    kept_indices = {i for i in range(SEQUENCE_FRAMES) if sampler.keep(i / 7)}
    skipped = sorted(set(range(SEQUENCE_FRAMES)) - kept_indices)
    assert skipped  # 7 → 5 fps skips some
    for index in skipped:
        (sequence / "img1" / f"{index + 1:06d}.jpg").unlink()

    source = open_source(str(sequence))
    frames = list(source.frames("cam", EvenTimeSampler(5)))

    assert [f.index for f in frames] == sorted(kept_indices)
    assert source.counters.frames_read == SEQUENCE_FRAMES
    assert source.counters.frames_analysed == len(kept_indices)


def test_image_sequence_missing_kept_frame_is_truncation(sequence: Path) -> None:
    (sequence / "img1" / "000004.jpg").unlink()  # index 3, kept at 5 fps (slots 0, 0, 1, 2, …)

    source = open_source(str(sequence))
    delivered = []
    with pytest.raises(SourceTruncatedError, match=r"000004\.jpg") as raised:
        for frame in source.frames("cam", EvenTimeSampler(5)):
            delivered.append(frame.index)

    assert delivered == [0, 2]
    assert raised.value.frames_read == 3


def test_image_sequence_seqlength_beyond_the_images_is_truncation(sequence: Path) -> None:
    (sequence / "seqinfo.ini").write_text(SEQINFO.format(length=SEQUENCE_FRAMES + 5), encoding="utf-8")

    source = open_source(str(sequence))
    with pytest.raises(SourceTruncatedError) as raised:
        list(source.frames("cam", EvenTimeSampler(100)))

    assert raised.value.frames_read == SEQUENCE_FRAMES


@pytest.mark.parametrize(
    ("seqinfo", "fragment"),
    [
        pytest.param("[Sequence]\nframeRate=7\nimWidth=768\nimHeight=576\n", "seqLength", id="no-length"),
        pytest.param(
            "[Sequence]\nframeRate=fast\nseqLength=20\nimWidth=768\nimHeight=576\n", "frameRate", id="bad-fps"
        ),
        pytest.param("[Other]\nframeRate=7\n", "Sequence", id="no-section"),
        pytest.param("frameRate=7\n", "seqinfo.ini", id="no-header"),
        pytest.param("[Sequence]\nframeRate=0\nseqLength=20\nimWidth=768\nimHeight=576\n", "positive", id="zero-fps"),
        pytest.param("[Sequence]\nframeRate=7\nseqLength=-3\nimWidth=768\nimHeight=576\n", "positive", id="neg-len"),
    ],
)
def test_malformed_seqinfo(sequence: Path, seqinfo: str, fragment: str) -> None:
    (sequence / "seqinfo.ini").write_text(seqinfo, encoding="utf-8")

    with pytest.raises(SourceError, match=fragment) as raised:
        open_source(str(sequence))

    assert "seqinfo.ini" in str(raised.value)


def test_folder_without_seqinfo(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"seqinfo\.ini"):
        open_source(str(tmp_path))


def test_sequence_without_image_folder(sequence: Path) -> None:
    shutil.rmtree(sequence / "img1")

    with pytest.raises(SourceError, match="img1"):
        open_source(str(sequence))


# --- open_source errors ----------------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"

    with pytest.raises(SourceError, match="no such file") as raised:
        open_source(str(missing))

    assert str(missing) in str(raised.value)


def test_text_file_named_mp4(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 20, encoding="utf-8")

    with pytest.raises(SourceError) as raised:
        open_source(str(fake))

    assert not isinstance(raised.value, SourceTruncatedError)
    assert str(fake) in str(raised.value)


def test_mp4_cut_in_half_before_its_moov_atom(tmp_path: Path) -> None:
    data = PETS_VIDEO.read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])

    with pytest.raises(SourceError) as raised:
        source = open_source(str(half))
        list(source.frames("cam", EvenTimeSampler(100)))

    assert str(half) in str(raised.value)


def test_faststart_mp4_cut_in_half_delivers_frames_before_the_break(tmp_path: Path) -> None:
    whole = remux_faststart(PETS_VIDEO, tmp_path / "faststart.mp4", packets=60)
    data = whole.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # the index comes first, so half the file still opens
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])

    source = open_source(str(cut))
    delivered = []
    with pytest.raises(SourceError) as raised:
        for frame in source.frames("cam", EvenTimeSampler(100)):
            delivered.append(frame.index)
    source.close()

    assert 5 < len(delivered) < 60
    assert delivered == list(range(len(delivered)))
    assert str(cut) in str(raised.value)
    if isinstance(raised.value, SourceTruncatedError):
        assert raised.value.frames_read >= len(delivered)


def test_naive_start_time_is_refused() -> None:
    with pytest.raises(SourceError, match="time zone"):
        open_source(str(PETS_VIDEO), datetime(2024, 1, 1, 8, 0))


# --- redact_url ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "secrets", "kept_parts"),
    [
        ("rtsp://admin:hunter2@10.0.0.7:554/Streaming/Channels/101", ["admin", "hunter2"], ["rtsp://", "10.0.0.7:554"]),
        ("rtsp://user:p%40ss@cam.local/live?channel=1", ["user", "p%40ss"], ["cam.local/live?channel=1"]),
        ("rtsp://user:p@ss@cam.local/live", ["user", "p@ss"], ["cam.local/live"]),
        ("http://operator@cam.example.com/video.mjpg", ["operator"], ["cam.example.com/video.mjpg"]),
    ],
)
def test_redact_url_hides_credentials(uri: str, secrets: list[str], kept_parts: list[str]) -> None:
    redacted = redact_url(uri)

    for secret in secrets:
        assert secret not in redacted
    for part in kept_parts:
        assert part in redacted


@pytest.mark.parametrize(
    "uri",
    [
        "/data/cameras/entrance.mp4",
        "videos/shop@night.mp4",
        "C:\\videos\\me@home.mp4",
        "rtsp://10.0.0.7:554/stream",
        str(PETS_VIDEO),
    ],
)
def test_redact_url_leaves_plain_locations_alone(uri: str) -> None:
    assert redact_url(uri) == uri


@pytest.fixture(scope="module")
def pets_first_frames() -> list[np.ndarray]:
    source = open_source(str(PETS_VIDEO))
    try:
        return [frame.image for _, frame in zip(range(21), source.frames("c", EvenTimeSampler(100)), strict=False)]
    finally:
        source.close()


@pytest.mark.parametrize(
    ("suffix", "codec", "pix_fmt"),
    [
        (".mp4", "libx264", "yuv420p"),
        (".mkv", "libx265", "yuv420p"),
        (".mp4", "libx265", "yuv420p"),
        (".avi", "mjpeg", "yuvj420p"),
        (".mkv", "mjpeg", "yuvj420p"),
    ],
)
def test_containers_and_codecs_ffmpeg_reads(
    tmp_path: Path, pets_first_frames: list[np.ndarray], suffix: str, codec: str, pix_fmt: str
) -> None:
    """Real PETS frames encoded at 7 fps in each container/codec come back complete, on time and recognisable."""
    import av

    path = tmp_path / f"clip{suffix}"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=7)
        stream.width, stream.height, stream.pix_fmt = 768, 576, pix_fmt
        if codec == "libx265":
            stream.options = {"x265-params": "log-level=error"}
        for image in pets_first_frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format=pix_fmt)))
        container.mux(stream.encode(None))

    source = open_source(str(path))
    try:
        frames = list(source.frames("c", EvenTimeSampler(100)))
    finally:
        source.close()
    assert len(frames) == len(pets_first_frames)
    np.testing.assert_allclose([f.pts_s for f in frames], np.arange(len(frames)) / 7, atol=2e-3)
    for original, frame in zip(pets_first_frames, frames, strict=True):
        assert frame.image.shape == (576, 768, 3)
        assert np.abs(frame.image.astype(int) - original.astype(int)).mean() < 6
