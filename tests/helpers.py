"""Small helpers shared by the unit tests: where the real footage lives, and builders for the typed objects."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import numpy as np

from vision.core.types import Detections, FloorTracks, TrackHistory

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOOTFALL_SHARED", REPO.parent / "shared"))
PETS = SHARED / "data" / "pets09-s2l1"
PETS_VIDEO = PETS / "pets09-s2l1_0001-0400.mp4"
PETS_GT = PETS / "gt_0001-0400.txt"
PETS_FIRST_FRAME = PETS / "frames" / "000001.jpg"
PETS_OPENCV_JSON = PETS / "calibration" / "view001_opencv.json"
PETS_FPS = 7
PETS_FRAMES = 400
PETS_SIZE = (768, 576)
VTEST_VIDEO = SHARED / "data" / "vtest" / "vtest_480x360.avi"
TFLITE_MODEL = SHARED / "models" / "yolov8n_int8.tflite"
PERSON_PT_MODEL = SHARED / "models" / "person_yolov8s.pt"


def pets_view001() -> dict:
    """The OpenCV calibration of PETS View 001 as published: K, dist, R and t in millimetres."""
    return json.loads(PETS_OPENCV_JSON.read_text(encoding="utf-8"))["View_001"]


def pets_calibration_document() -> dict:
    """The PETS calibration wrapped as a footfall calibration document."""
    return {
        "format": "footfall-calibration",
        "version": 1,
        "model": "opencv",
        "units": "mm",
        "image_size": list(PETS_SIZE),
        **pets_view001(),
    }


def pets_ground_truth() -> np.ndarray:
    """The PETS ground-truth rows to be scored (flag 1): frame,id,x,y,w,h,flag,worldX,worldY,worldZ."""
    rows = np.loadtxt(PETS_GT, delimiter=",")
    return rows[rows[:, 6] == 1]


def ground_truth_feet(rows: np.ndarray) -> np.ndarray:
    """Bottom-centre of each ground-truth box, (N, 2) pixels."""
    return np.column_stack([rows[:, 2] + rows[:, 4] / 2.0, rows[:, 3] + rows[:, 5]])


def detections(boxes: list[list[float]], confidences: list[float] | float = 0.9) -> Detections:
    xyxy = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    confidence = np.broadcast_to(np.asarray(confidences, dtype=np.float32), (len(xyxy),)).copy()
    return Detections(xyxy, confidence, np.zeros(len(xyxy), np.int64))


def floor_tracks(
    time_s: float,
    frame_index: int = 0,
    names: list[str] = ("a", "b"),
    floor_xy: np.ndarray | None = None,
    camera: str = "cam-1",
) -> FloorTracks:
    """A FloorTracks with one row per name; boxes and positions derived from the row number."""
    count = len(names)
    rows = np.arange(count, dtype=np.float32)
    xyxy = np.column_stack([10 + 50 * rows, 20 + rows, 40 + 50 * rows, 100 + rows]).astype(np.float32)
    foot_uv = np.column_stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]]).astype(np.float32)
    if floor_xy is None:
        floor_xy = np.column_stack([rows * 1.5, rows * -0.5]).astype(np.float64)
    return FloorTracks(
        camera=camera,
        frame_index=frame_index,
        time_s=time_s,
        track=np.array(list(names), dtype=object),
        track_id=np.arange(1, count + 1, dtype=np.int64),
        xyxy=xyxy,
        foot_uv=foot_uv,
        floor_xy=floor_xy,
        confidence=np.linspace(0.5, 0.9, count, dtype=np.float32),
        ended_tracks=np.array([], dtype=object),
    )


def write_clip(path: Path, frames: int = 14, fps: int = 7, creation_time: datetime | str | None = None) -> Path:
    """A small H.264 MP4 written with PyAV, with a `creation_time` tag when one is given."""
    import av

    with av.open(str(path), "w") as container:
        if creation_time is not None:
            if isinstance(creation_time, datetime):
                creation_time = creation_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            container.metadata["creation_time"] = creation_time
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(frames):
            image = np.full((48, 64, 3), (index * 17) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def remux_faststart(source: Path, target: Path, packets: int) -> Path:
    """The first `packets` video packets of `source` copied (no re-encoding) into a faststart MP4 (moov first)."""
    import av

    with av.open(str(source)) as reader, av.open(str(target), "w", options={"movflags": "+faststart"}) as writer:
        in_stream = reader.streams.video[0]
        out_stream = writer.add_stream_from_template(in_stream)
        copied = 0
        for packet in reader.demux(in_stream):
            if packet.dts is None:  # the demuxer's end-of-stream flush packet
                continue
            packet.stream = out_stream
            writer.mux(packet)
            copied += 1
            if copied == packets:
                break
    return target


def track_history(
    times: list[float] | np.ndarray, xy: list[tuple[float, float]] | np.ndarray, camera: str = "cam", track: str = "t1"
) -> TrackHistory:
    """A TrackHistory from sample times and floor points (metres); image points and confidences are filler."""
    time_s = np.asarray(times, dtype=np.float64).reshape(-1)
    floor_xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    count = len(time_s)
    return TrackHistory(
        camera=camera,
        track=track,
        time_s=time_s,
        frame=np.arange(count, dtype=np.int64),
        foot_uv=np.zeros((count, 2), dtype=np.float64),
        floor_xy=floor_xy,
        confidence=np.full(count, 0.9, dtype=np.float32),
    )


def sample_times(count: int, period_s: float = 0.25, start_s: float = 0.0) -> np.ndarray:
    """`count` sample times `period_s` apart from `start_s` (0.25 s by default: exact in binary floating point)."""
    return start_s + period_s * np.arange(count, dtype=np.float64)
